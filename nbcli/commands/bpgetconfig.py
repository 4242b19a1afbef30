"""bpgetconfig: print a host's bp.conf entries in bp.conf's `KEY = value` form."""

from __future__ import annotations

import click

from nbcli import config
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = """bpgetconfig [-M host] [config_item ...]
bpgetconfig -g host [-L | -U]"""


@command("bpgetconfig", SYNOPSIS)
@click.option("-M", "host", help="Read the configuration of this host (through its bpcd).")
@click.option("-g", "info_host", help="Print what this host is: name, roles, version.")
@click.option("-L", "long_form", is_flag=True, help="With -g: long form (default).")
@click.option("-U", "user_form", is_flag=True, help="With -g: user form.")
@click.argument("items", nargs=-1)
@root_option
def cli(host: str | None, info_host: str | None, long_form: bool, user_form: bool,
        items: tuple[str, ...], root: str | None) -> int:
    """Print configuration entries (all of them, or the named items).

    \b
    EXIT STATUS
      0    printed
      46   this host is not in the other host's SERVER list
      227  none of the named items is set
    """
    cfg = load_cfg(root)
    if info_host:
        info = client.call(cfg, info_host, "bpcd", "ping")
        click.echo(f"Client/Master = {'Master' if 'master' in info['roles'] else 'Client'}")
        click.echo("NetBackup Client Platform = Linux")
        click.echo("Product = NetBackup")
        click.echo(f"Version Name = nbcli {info['version']}")
        click.echo(f"Version Number = {info['version']}")
        click.echo(f"Roles = {', '.join(info['roles'])}")
        return 0
    keys = [k.upper() for k in items] or None
    if host and not cfg.is_local(host):
        lines = client.call(cfg, host, "bpcd", "getconfig", keys=keys)["lines"]
    else:
        lines = config.to_bpconf_lines(cfg, keys)
    if not lines:
        raise NbuError(NO_ENTITY, f"not set: {' '.join(items)}")
    for line in lines:
        click.echo(line)
    return 0


main = entry(cli)
