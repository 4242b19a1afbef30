"""bpgetconfig: print a host's bp.conf entries in bp.conf's `KEY = value` form, or (-g) what the
host is.

`-g host` prints NetBackup's eight host-information lines in NetBackup's order; collectors read
them by position or split them on `= `, so there are always eight: values alone by default,
`Label = value` with -L or -U. The host's bpcd answers them (ping); an older bpcd that does not
send its platform gets "unknown" there, never a shorter block.
"""

from __future__ import annotations

import click

from nbcli import config
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = """bpgetconfig [-M host] [config_item ...]
bpgetconfig -g host [-L | -U]"""

INFO_LABELS = ("Client/Master", "NetBackup Client Platform", "NetBackup Client Protocol Level",
               "Product", "Version Name", "Version Number", "NetBackup Installation Path",
               "Client OS/Release")


def version_number(version: str) -> str:
    """NetBackup's version number: 8.1 -> 810000, 10.0 -> 1000000, 7.7.3 -> 773000."""
    parts = [p for p in version.split(".")[:3]]
    digits = [p if p.isdigit() else "0" for p in parts] + ["0"] * (3 - len(parts))
    return "".join(digits) + "000"


def host_info(info: dict[str, object]) -> list[str]:
    """The eight values of `bpgetconfig -g`, in INFO_LABELS' order, from bpcd's ping answer."""
    roles = list(info.get("roles") or [])  # type: ignore[call-overload]
    kind = "Master" if "master" in roles else "Media" if "media" in roles else "Client"
    version = str(info.get("version", "0"))
    system = str(info.get("system") or "unknown")
    release = str(info.get("release") or "unknown")
    return [kind, f"{system}, {system}{release.split('-')[0]}", version, "NetBackup",
            version, version_number(version), str(info.get("install_path") or "unknown"),
            f"{system} {release}"]


@command("bpgetconfig", SYNOPSIS)
@click.option("-M", "host", help="Read the configuration of this host (through its bpcd).")
@click.option("-g", "info_host", help="Print what this host is: name, roles, version.")
@click.option("-L", "long_form", is_flag=True, help="With -g: `Label = value` lines.")
@click.option("-U", "user_form", is_flag=True, help="With -g: `Label = value` lines, as -L.")
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
        values = host_info(client.call(cfg, info_host, "bpcd", "ping"))
        labelled = long_form or user_form
        for label, value in zip(INFO_LABELS, values, strict=True):
            click.echo(f"{label} = {value}" if labelled else value)
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
