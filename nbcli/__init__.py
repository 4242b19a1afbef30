"""nbcli: a backup system that mirrors Veritas NetBackup's daemons, commands and formats."""

__version__ = "0.1.0"
