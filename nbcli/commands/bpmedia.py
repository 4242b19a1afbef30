"""bpmedia: freeze, unfreeze, suspend or unsuspend one medium.

nbemm keeps the state (media_state, TAPE-PLAN §1) and enforces NetBackup's rules: a frozen
medium is never written and never unassigned; a suspended one is not written but is
unassigned when its last image expires. Prints nothing on success, as NetBackup's does.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands.options import first_master_option, media_id_options, verbose_accepted
from nbcli.commands.stufmt import emm_request
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpmedia -freeze | -unfreeze | -suspend | -unsuspend -m media_id
          [-h host] [-v] [-M master_server,...]"""

EXIT_STATUS = """
\b
EXIT STATUS
  0    done
  20   invalid option: give one action and -m
  25   cannot connect to nbemm on the master
  227  the EMM database has no such medium
"""

ACTIONS = ("freeze", "unfreeze", "suspend", "unsuspend")


@command("bpmedia", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-freeze", "action", flag_value="freeze",
              help="Never write this medium again, never unassign it.")
@click.option("-unfreeze", "action", flag_value="unfreeze", help="Undo -freeze.")
@click.option("-suspend", "action", flag_value="suspend",
              help="Do not write this medium again (it is unassigned when it expires).")
@click.option("-unsuspend", "action", flag_value="unsuspend", help="Undo -suspend.")
@media_id_options("The medium")
@click.option("-h", "host", metavar="HOST",
              help="The media server whose media database holds it (accepted: nbcli keeps "
                   "one EMM database on the master).")
@first_master_option
@verbose_accepted
@root_option
def cli(action: str | None, media_id: str | None, ev: str | None, host: str | None,
        masters: str | None, verbose: bool, root: str | None) -> int:
    """Freeze, unfreeze, suspend or unsuspend a medium."""
    media_id = media_id or ev
    if action is None or not media_id:
        raise NbuError(INVALID_PARAMETER, "give -freeze, -unfreeze, -suspend or -unsuspend, "
                                          "and -m media_id")
    cfg = load_cfg(root)
    emm_request(cfg, master_list(cfg, masters)[0], "media_state", media_id=media_id,
                action=action)
    return 0


main = entry(cli)
