"""The only package where messages meet sockets: framed connections (conn), reaching a service
through a host's PBX (client), registering and serving op tables (service), the control channel
and spares of agents (control, spare), and the SERVER list check (trust).

May import nbcli.wire and the bottom floor (status, config, programs, ...); nothing above it
(docs/architecture.md).
"""
