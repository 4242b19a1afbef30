"""nbseccmd: the master's security configuration - here its global data-in-transit encryption
(DTE) mode, in NetBackup's forms:

    nbseccmd -setsecurityconfig -dteglobalmode 0|1|2 [-masterserver M]
    nbseccmd -getsecurityconfig -dteglobalmode [-masterserver M]

0 is Preferred Off, 1 Preferred On (a fresh installation's), 2 Enforced (NetBackup Commands
Reference, nbseccmd). bprd on the master writes the mode and has the running daemons use it
from the next job on (nbcli.daemons.dte_config); no restart. What `-getsecurityconfig` prints is
ours: the mode's name as NetBackup's REST API spells it (`PREFERRED_ON`). A client's own mode is
its bp.conf DTE_CLIENT_MODE (AUTOMATIC, ON, OFF), set with bpsetconfig as in NetBackup; a media
server's is its MEDIA_DTE_MODE (ON, OFF) and the master's DTE_IGNORE_IMAGE_MODE (NEVER,
WHERE_UNSUPPORTED, ALWAYS) says how a restore honours an image's mode, both set with
bpsetconfig too (nbcli.net.dte; man/nbseccmd.8 says where the media server's name comes from).
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client, dte
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """nbseccmd -setsecurityconfig -dteglobalmode 0|1|2 [-masterserver master_server_name]
nbseccmd -getsecurityconfig -dteglobalmode [-masterserver master_server_name]"""

EXIT_STATUS = """
\b
EXIT STATUS
  0    done
  20   no action, an action without -dteglobalmode, or a mode that is not 0, 1 or 2
  25   cannot connect to bprd on the master
  46   this host is not a server of the master (root on a server is needed)
"""


@command("nbseccmd", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-setsecurityconfig", "set_", is_flag=True, help="Change a security setting.")
@click.option("-getsecurityconfig", "get", is_flag=True, help="Show a security setting.")
@click.option("-dteglobalmode", "mode", is_flag=False, flag_value="", default=None,
              metavar="0|1|2", help="The global DTE mode: 0 preferred off, 1 preferred on, "
                                    "2 enforced (-setsecurityconfig); alone with "
                                    "-getsecurityconfig.")
@click.option("-masterserver", "master", metavar="MASTER", help="The master (default: this "
                                                                  "host's first SERVER).")
@root_option
def cli(set_: bool, get: bool, mode: str | None, master: str | None, root: str | None) -> int:
    """Set or show the master's global data-in-transit encryption mode."""
    if set_ == get:
        raise NbuError(INVALID_PARAMETER, "one of -setsecurityconfig and -getsecurityconfig")
    if mode is None or (set_ and not mode):
        raise NbuError(INVALID_PARAMETER, "-dteglobalmode" + (" 0|1|2" if set_ else "")
                       + " is needed")
    if get and mode:
        raise NbuError(INVALID_PARAMETER, "-getsecurityconfig takes -dteglobalmode alone")
    cfg = load_cfg(root)
    to = master or cfg.master
    if set_:
        client.call(cfg, to, "bprd", "dte_global_set", mode=dte.global_from_number(mode))
        return 0
    click.echo(client.call(cfg, to, "bprd", "dte_global_get")["mode"])
    return 0


main = entry(cli)
