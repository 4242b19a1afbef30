"""vmoprcmd: the operator's view of a media server's drives, and their UP/DOWN/RESET.

Asks ltid on the host (-h, default this one): `drive_status` for the displays, `drive_state`
for the changes (ltid tells nbemm, which allocates drives). When ltid does not answer, prints
NetBackup's line for it. Arguments are parsed by hand: NetBackup's `-d` takes an optional
word (pr, ds, ad), which click cannot express.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mmfmt
from nbcli.net import client
from nbcli.render import echo_lines
from nbcli.status import CANNOT_CONNECT, CONNECTION_TIMED_OUT, INVALID_PARAMETER, NbuError

SYNOPSIS = """vmoprcmd [-h host] [-d [pr|ds|ad] | -dp [pr|ds|ad] | -up drive_index
  | -down drive_index | -reset drive_index | -resetdrive drive_index
  | -upbyname drive_name | -downbyname drive_name]"""

DISPLAYS = ("-d", "-dp")
CHANGES = {"-up": "UP", "-down": "DOWN", "-reset": "RESET", "-resetdrive": "RESET",
           "-upbyname": "UP", "-downbyname": "DOWN"}
SECTIONS = ("pr", "ds", "ad")


def parse(words: list[str]) -> tuple[str | None, str, str, str]:
    """(host, action, argument, sections): action is -d, -dp or a key of CHANGES."""
    host: str | None = None
    action, argument, sections = "-d", "", ""
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-h" and i + 1 < len(words):
            host, i = words[i + 1], i + 2
        elif w in DISPLAYS:
            action = w
            if i + 1 < len(words) and words[i + 1] in SECTIONS:
                sections, i = words[i + 1], i + 2
            else:
                i += 1
        elif w in CHANGES and i + 1 < len(words):
            action, argument, i = w, words[i + 1], i + 2
        else:
            raise NbuError(INVALID_PARAMETER, f"unexpected argument {w!r}")
    if action in ("-up", "-down", "-reset", "-resetdrive") and not argument.isdigit():
        raise NbuError(INVALID_PARAMETER, f"{action} takes a drive index, not {argument!r}")
    return host, action, argument, sections


@command("vmoprcmd", SYNOPSIS, context_settings={"ignore_unknown_options": True,
                                                 "help_option_names": ["-help", "--help"]})
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
@root_option
def cli(words: tuple[str, ...], root: str | None) -> int:
    """Show the drives of a media server and its pending requests; set a drive UP, DOWN or
    reset it.

    \b
    EXIT STATUS
      0    done
      20   invalid argument
      25   ltid is not active on the host (the line says so)
      97   -resetdrive: a process still has the drive open; its cartridge stays
      227  no such drive on the host
    """
    cfg = load_cfg(root)
    host, action, argument, sections = parse(list(words))
    target = host or cfg.client_name
    try:
        conn = client.connect(cfg, target, "ltid")
    except NbuError as e:
        if e.status in (CANNOT_CONNECT, CONNECTION_TIMED_OUT):
            click.echo(mmfmt.ltid_down(target))
            return CANNOT_CONNECT
        raise
    with conn:
        if action in DISPLAYS:
            reply = conn.request("drive_status")
            echo_lines(mmfmt.vmoprcmd_lines(reply, sections, paths=action == "-dp"))
            return 0
        by_name = action.endswith("byname")
        fields = {"name": argument} if by_name else {"index": int(argument)}
        conn.request("drive_state", state=CHANGES[action], **fields)
    return 0


main = entry(cli)
