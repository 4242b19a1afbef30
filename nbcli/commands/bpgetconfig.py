"""bpgetconfig: print a host's bp.conf entries in bp.conf's `KEY = value` form, or (-g) what the
host is.

`-g host` prints NetBackup's eight host-information lines in NetBackup's order; collectors read
them by position or split them on `= `, so there are always eight: values alone by default,
`Label = value` with -L or -U; -A adds a ninth, last, `Patch Level = version`. The host's
bpcd answers them (ping); an older bpcd that does not send its platform gets "unknown" there,
never a shorter block.

`-e file` / `-i file` [-c policy [-s schedule]] [host] copy one of the host's exclude or
include lists (nbcli.exclude_lists) into a local file, one pattern a line, as inventory scripts
use them (`bpgetconfig -e $DEST/excl_$client $client`, then `[[ -e ... ]] && cat`): no list, no
file. With -e/-i, -s names the schedule (NetBackup's bpsetconfig uses the same letters).
"""

from __future__ import annotations

from pathlib import Path

import click

from nbcli import atomic, config, exclude_lists
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """bpgetconfig [-u | -h] [-x | -X | -d | -M host] [-L | -U | -l] [-r] [config_item ...]
bpgetconfig -e filename | -i filename [-c policy [-s schedule]] [host]
bpgetconfig -g host [-L | -U] [-A]
bpgetconfig -s host [-L | -U] [-A]"""

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
    roles = list(info.get("roles") or [])  # type: ignore[call-overload]  # bpcd sends a list
    kind = "Master" if "master" in roles else "Media" if "media" in roles else "Client"
    version = str(info.get("version", "0"))
    system = str(info.get("system") or "unknown")
    release = str(info.get("release") or "unknown")
    return [kind, f"{system}, {system}{release.split('-')[0]}", version, "NetBackup",
            version, version_number(version), str(info.get("install_path") or "unknown"),
            f"{system} {release}"]


# -h is NetBackup's "the host's configuration" here, so help is -help and --help only.
@command("bpgetconfig", SYNOPSIS, context_settings={"help_option_names": ["-help", "--help"]})
@click.option("-M", "host", help="Read the configuration of this host (through its bpcd).")
@click.option("-g", "info_host", help="Print what this host is: name, roles, version.")
@click.option("-L", "long_form", is_flag=True, help="With -g: `Label = value` lines.")
@click.option("-U", "user_form", is_flag=True, help="With -g: `Label = value` lines, as -L.")
@click.option("-s", "server_host",
              help="The same as -g, for a server; with -e/-i: the schedule of -c's policy.")
@click.option("-A", "all_info", is_flag=True,
              help="With -g/-s: a ninth line, the patch level (Patch Level = version).")
@click.option("-l", "list_form", is_flag=True, help="Accepted; `KEY = value` lines always.")
@click.option("-x", "set_only", is_flag=True, help="Only the entries set in bp.toml.")
@click.option("-X", "with_defaults", is_flag=True,
              help="Every entry, defaults included (the default).")
@click.option("-d", "defaults_only", is_flag=True, help="The default values only.")
@click.option("-e", "exclude_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the exclude list of the host (the operand) to FILE.")
@click.option("-u", "user_config", is_flag=True,
              help="The user's configuration ($HOME/bp.conf) instead of the host's.")
@click.option("-h", "host_config", is_flag=True, help="The host's configuration (the default).")
@click.option("-i", "include_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the include list of the host (the operand) to FILE.")
@click.option("-c", "policy", metavar="POLICY",
              help="With -e/-i: the list of this policy (-s: and schedule), not the host's.")
@click.option("-r", "raw", is_flag=True, help="Accepted; no effect (see the man page).")
@click.argument("items", nargs=-1)
@root_option
def cli(host: str | None, info_host: str | None, long_form: bool, user_form: bool,
        server_host: str | None, all_info: bool, list_form: bool, set_only: bool,
        with_defaults: bool, defaults_only: bool, exclude_file: str | None, user_config: bool,
        host_config: bool, include_file: str | None, policy: str | None, raw: bool,
        items: tuple[str, ...], root: str | None) -> int:
    """Print configuration entries (all of them, or the named items).

    \b
    EXIT STATUS
      0    printed (-e/-i: the list written, or there is none)
      12   -e/-i: the file cannot be written
      46   this host is not in the other host's SERVER list
      227  none of the named items is set
    """
    sources = [n for n, on in (("x", set_only), ("X", with_defaults), ("d", defaults_only),
                                ("M", host), ("u", user_config), ("e", exclude_file),
                                ("i", include_file)) if on]
    if len(sources) > 1:
        raise NbuError(INVALID_PARAMETER, f"-{sources[0]} and -{sources[1]} cannot be used "
                                          "together")
    cfg = load_cfg(root)
    if exclude_file or include_file:
        if info_host:
            raise NbuError(INVALID_PARAMETER, "-g cannot be used with -e or -i")
        if len(items) > 1:
            raise NbuError(INVALID_PARAMETER, "-e and -i take one host operand")
        kind, out = ("exclude", exclude_file) if exclude_file else ("include", include_file)
        assert out is not None
        write_list(cfg, items[0] if items else None, kind, policy, server_host, Path(out))
        return 0
    if policy:
        raise NbuError(INVALID_PARAMETER, "-c policy goes with -e or -i")
    info_host = info_host or server_host
    if info_host:
        values = host_info(client.call(cfg, info_host, "bpcd", "ping"))
        labelled = long_form or user_form
        pairs = list(zip(INFO_LABELS, values, strict=True))
        if all_info:  # nbuworker: bpgetconfig -g $C -AL | grep "Patch Level" | awk '{print $4}'
            pairs.append(("Patch Level", values[4]))
        for label, value in pairs:
            click.echo(f"{label} = {value}" if labelled else value)
        return 0
    keys = [k.upper() for k in items] or None
    if host and not cfg.is_local(host):
        lines = client.call(cfg, host, "bpcd", "getconfig", keys=keys)["lines"]
    elif user_config:
        lines = file_lines(Path.home() / "bp.conf", keys)
    elif set_only or defaults_only:
        data = dict(cfg.data) if set_only else dict(config.DEFAULTS)
        lines = config.to_bpconf_lines(HostConfig(cfg.root, data), keys)
        if set_only:
            unset = set(config.DEFAULTS) - set(cfg.data)
            lines = [line for line in lines if line.split(" = ")[0] not in unset]
    else:
        lines = config.to_bpconf_lines(cfg, keys)
    if not lines:
        raise NbuError(NO_ENTITY, f"not set: {' '.join(items)}")
    for line in lines:
        click.echo(line)
    return 0


def write_list(cfg: HostConfig, host: str | None, kind: str, policy: str | None,
               schedule: str | None, out: Path) -> None:
    """-e/-i: one of the host's lists into `out`, one line a line (atomically); none, no file."""
    exclude_lists.check(kind, policy, schedule)
    if host and not cfg.is_local(host):
        lines = client.call(cfg, host, "bpcd", "getlist", kind=kind, policy=policy,
                            schedule=schedule)["lines"]
    else:
        lines = exclude_lists.read(cfg, kind, policy, schedule)
    if lines is None:
        return
    try:
        atomic.write_text(out, "".join(f"{x}\n" for x in lines))
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot write {out}: {e.strerror}") from e


def file_lines(path: Path, keys: list[str] | None) -> list[str]:
    """-u: the entries of a bp.conf-format file (none when there is no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot read {path}: {e.strerror}") from e
    data = config.parse_bpconf(text)
    return [f"{k} = {v}" for k, value in data.items() if keys is None or k in keys
            for v in (value if isinstance(value, list) else [value])]


main = entry(cli)
