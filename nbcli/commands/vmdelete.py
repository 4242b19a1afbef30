"""vmdelete: delete a volume from the EMM database (through the master's nbemm).

A volume that is assigned (it holds images) or in use cannot be deleted: expire its images
first (bpexpdate -m ID -d 0). Prints nothing when it succeeds.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request

SYNOPSIS = """vmdelete [-h EMM_server] -m media_id"""


@command("vmdelete", SYNOPSIS)
@click.option("-m", "media_id", required=True, help="Media id of the volume to delete.")
@emm_server_option
@root_option
def cli(media_id: str, emm_server: str | None, root: str | None) -> int:
    """Delete a volume from the EMM database.

    \b
    EXIT STATUS
      0     the volume was deleted
      20    invalid parameter
      25    the master's nbemm (or its PBX) is not running
      97    the volume is in use by a job
      168   the volume is assigned (it holds images)
      227   no such volume
    """
    cfg = load_cfg(root)
    emm_request(cfg, emm_server or cfg.master, "media_delete", media_id=media_id)
    return 0


main = entry(cli)
