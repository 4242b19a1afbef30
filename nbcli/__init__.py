"""nbcli: a backup system that mirrors Veritas NetBackup's daemons, commands and formats.

Top-level modules are the bottom floor (status, kinds, config, atomic, ...) and the runtime
(cli, launcher, procs, jobreport); the packages wire, net, catalog, client, media, sched,
daemons and commands sit on them. Which may import which: docs/architecture.md, checked by
tests/unit/test_layers.py. This file holds only __version__ and imports nothing.
"""

__version__ = "0.1.0"
