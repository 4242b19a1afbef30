"""bpsetconfig: set bp.conf entries from `KEY = value` lines (a file, or stdin).

As in NetBackup, a key given replaces its whole value: SERVER lines replace the whole SERVER
list. `--add` and `--remove` edit list keys (SERVER, MEDIA_SERVER, EXCLUDE, ...) value by value,
so a runbook need not read, edit and rewrite the list.
"""

from __future__ import annotations

import sys

import click

from nbcli import config
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NbuError

SYNOPSIS = "bpsetconfig [-h host] [--add | --remove] [file]"


@command("bpsetconfig", SYNOPSIS)
@click.option("-h", "host", help="Set the configuration of this host (through its bpcd).")
@click.option("--add", "-add", "add", is_flag=True, help="Add the values to list keys.")
@click.option("--remove", "-remove", "remove", is_flag=True,
              help="Remove the values from list keys.")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@root_option
def cli(host: str | None, add: bool, remove: bool, file: str | None, root: str | None) -> int:
    """Set configuration entries from KEY = value lines.

    \b
    EXIT STATUS
      0    set
      20   a line is not KEY = value, or --add/--remove on a key that is not a list
      46   this host is not in the other host's SERVER list
    """
    if add and remove:
        raise NbuError(INVALID_PARAMETER, "--add and --remove exclude each other")
    cfg = load_cfg(root)
    if file:
        try:
            text = open(file, encoding="utf-8").read()
        except OSError as e:
            raise NbuError(FILE_OPEN_FAILED, f"{file}: {e.strerror}") from e
    else:
        text = sys.stdin.read()
    settings = config.parse_bpconf(text)
    if host and not cfg.is_local(host):
        client.call(cfg, host, "bpcd", "setconfig", text=text, add=add, remove=remove)
        return 0
    config.apply_settings(cfg, settings, add=add, remove=remove)
    cfg.save()
    return 0


main = entry(cli)
