"""The admin and user commands, one module per NetBackup command, and the renderers of their
output (*fmt.py). A command asks a daemon over the wire and renders the answer.

May import the bottom floor (status, kinds, timefmt, render, model, atomic, clock, config,
pidfile, programs), nbcli.wire, nbcli.net, nbcli.cli and nbcli.procs; never nbcli.catalog,
media, client, daemons or sched. Nothing imports this package: the launcher and nbcmdd run a
command by name through nbcli.programs.COMMANDS (docs/architecture.md).
"""
