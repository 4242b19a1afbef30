"""bpstudel: delete a storage unit from the master's EMM database (through nbemm).

Images already written to the unit's folder stay where they are; only the unit goes. Jobs
holding an allocation on it keep it until they release it.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import stufmt

SYNOPSIS = "bpstudel -label storage_unit_label [-M master_server,...]"


@command("bpstudel", SYNOPSIS)
@click.option("-label", "label", required=True, help="Storage unit to delete.")
@click.option("-M", "master", help="Master server(s) to delete the unit on, comma-separated.")
@root_option
def cli(label: str, master: str | None, root: str | None) -> int:
    """Delete a storage unit.

    \b
    EXIT STATUS
      0     the storage unit was deleted
      20    invalid parameter (no -label)
      25    the master's nbemm (or its PBX) is not running
      227   no storage unit has this label
    """
    cfg = load_cfg(root)
    for m in master_list(cfg, master):
        stufmt.emm_request(cfg, m, "stu_delete", label=label)
    return 0


main = entry(cli)
