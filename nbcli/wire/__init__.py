"""The protocol without I/O: message framing (frames), each op's declared fields and the one
validator (schema), and a command launcher's request to nbcmdd (cmdreq).

Imports nothing from nbcli but nbcli.status, and no sockets: bytes in, messages out
(docs/architecture.md).
"""
