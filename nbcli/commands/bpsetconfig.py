"""bpsetconfig: set bp.conf entries from `KEY = value` lines (files, or stdin), or replace one
of a client's exclude or include lists.

As in NetBackup, a key given replaces its whole value: SERVER lines replace the whole SERVER
list. `--add` and `--remove` edit list keys (SERVER, MEDIA_SERVER, EXCLUDE, ...) value by value,
so a runbook need not read, edit and rewrite the list.

`-e file` / `-i file` [-c policy [-s schedule]] write the file as the host's exclude_list or
include_list, or the one of a policy (and schedule) (NetBackup Commands Reference, bpsetconfig:
"bpsetconfig -i | -e filename [-c class [-s schedule]]"); nbcli.exclude_lists says where each
one lives and which one a backup uses. `-u user` sets the entries of that user's
$HOME/bp.conf, which `bpgetconfig -u` reads.
"""

from __future__ import annotations

import pwd
import sys
from pathlib import Path

import click

from nbcli import atomic, config, exclude_lists
from nbcli.cli import admin_log, command, entry, load_cfg, root_option
from nbcli.commands.policyfmt import check_reason
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NbuError

SYNOPSIS = """bpsetconfig [-h host] [-u user] [--add | --remove] [filename ...] [-r "reason"]
bpsetconfig -e filename | -i filename [-c policy [-s schedule]] [-h host] [-r "reason"]"""


@command("bpsetconfig", SYNOPSIS)
@click.option("-h", "host", help="Set the configuration of this host (through its bpcd).")
@click.option("-u", "user", help="Set this user's $HOME/bp.conf instead of the host's.")
@click.option("--add", "-add", "add", is_flag=True, help="Add the values to list keys.")
@click.option("--remove", "-remove", "remove", is_flag=True,
              help="Remove the values from list keys.")
@click.option("-e", "exclude_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write FILE as the host's exclude list (-c/-s: a policy's).")
@click.option("-i", "include_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write FILE as the host's include list (-c/-s: a policy's).")
@click.option("-c", "policy", metavar="POLICY", help="With -e/-i: the list of this policy.")
@click.option("-s", "schedule", metavar="SCHEDULE",
              help="With -e/-i and -c: the list of this schedule of the policy.")
@click.option("-r", "-reason", "reason", metavar="TEXT",
              help="Why (written to the admin log).")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@root_option
def cli(host: str | None, user: str | None, add: bool, remove: bool, exclude_file: str | None,
        include_file: str | None, policy: str | None, schedule: str | None,
        reason: str | None, files: tuple[str, ...], root: str | None) -> int:
    """Set configuration entries from KEY = value lines, or write an exclude or include list.

    \b
    EXIT STATUS
      0    set
      12   a file cannot be read or written
      20   a line is not KEY = value, --add/--remove on a key that is not a list, bad
           -e/-i/-c/-s use
      46   this host is not in the other host's SERVER list
    """
    why = check_reason(reason)
    if add and remove:
        raise NbuError(INVALID_PARAMETER, "--add and --remove exclude each other")
    cfg = load_cfg(root)
    if exclude_file and include_file:
        raise NbuError(INVALID_PARAMETER, "-e and -i cannot be used together")
    list_file = exclude_file or include_file
    if list_file:
        if files or user or add or remove:
            raise NbuError(INVALID_PARAMETER, "-e/-i take no other files, -u, --add or --remove")
        kind = "exclude" if exclude_file else "include"
        set_list(cfg, host, kind, read_text(list_file).splitlines(), policy, schedule)
        done = f"{kind} list{f' of {policy}' if policy else ''}" \
               f"{f'.{schedule}' if schedule else ''} set on {host or cfg.client_name}"
    else:
        if policy or schedule:
            raise NbuError(INVALID_PARAMETER, "-c and -s go with -e or -i")
        text = "".join(read_text(f) for f in files) if files else sys.stdin.read()
        if user:
            set_user_config(user, text, add, remove)
            done = f"bp.conf of user {user} set"
        elif host and not cfg.is_local(host):
            client.call(cfg, host, "bpcd", "setconfig", text=text, add=add, remove=remove)
            done = f"configuration of {host} set"
        else:
            config.apply_settings(cfg, config.parse_bpconf(text), add=add, remove=remove)
            cfg.save()
            done = "configuration set"
    if why:
        admin_log(cfg).info("bpsetconfig: %s (reason: %s)", done, why)
    return 0


def read_text(name: str) -> str:
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"{name}: {e.strerror}") from e
    return text if not text or text.endswith("\n") else text + "\n"


def set_list(cfg: HostConfig, host: str | None, kind: str, lines: list[str],
             policy: str | None, schedule: str | None) -> None:
    exclude_lists.check(kind, policy, schedule)
    if host and not cfg.is_local(host):
        client.call(cfg, host, "bpcd", "setlist", kind=kind, lines=lines, policy=policy,
                    schedule=schedule)
    else:
        exclude_lists.write(cfg, kind, lines, policy, schedule)


def set_user_config(user: str, text: str, add: bool, remove: bool) -> None:
    """-u: the entries of ~user/bp.conf, rewritten in bp.conf's form (atomically)."""
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise NbuError(INVALID_PARAMETER, f"no such user: {user}") from None
    path = home / "bp.conf"
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot read {path}: {e.strerror}") from e
    user_cfg = HostConfig(home, config.parse_bpconf(old))
    config.apply_settings(user_cfg, config.parse_bpconf(text), add=add, remove=remove)
    lines = config.to_bpconf_lines(user_cfg, [k for k in user_cfg.data if k != "hosts"]
                                   + (["HOSTS"] if user_cfg.data.get("hosts") else []))
    try:
        atomic.write_text(path, "".join(f"{x}\n" for x in lines))
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot write {path}: {e.strerror}") from e


main = entry(cli)
