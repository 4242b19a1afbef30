"""bpstuadd: create a disk storage unit in the master's EMM database (through nbemm).

NetBackup's bpstuadd prints nothing when it succeeds; so does this one. nbemm checks every value
and fills in the defaults (docs/protocol.md, stu_add), so a mistake gets the same status however
the request is made.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import stufmt

SYNOPSIS = """bpstuadd -label storage_unit_label -path path_name [-dt 1] [-host host_name]
         [-cj max_jobs] [-mfs max_fragment_size] [-odo 0|1] [-M master_server,...]"""


@command("bpstuadd", SYNOPSIS)
@click.option("-label", "label", required=True, help="Name of the new storage unit.")
@click.option("-path", "path", required=True,
              help="Absolute folder on the media server where images are written.")
@click.option("-dt", "disk_type", type=int, default=1, show_default=True,
              help="Disk type: 1 = BasicDisk (the only type nbcli has).")
@click.option("-host", "host", help="Media server that writes to the unit (default: this host).")
@click.option("-cj", "cj", type=int,
              help="Maximum concurrent jobs (0 disables the unit)  [default: 1]")
@click.option("-mfs", "mfs", type=int,
              help="Maximum fragment size in MB, 20 to 524288  [default: 524288]")
@click.option("-odo", "odo", type=click.IntRange(0, 1), default=0, show_default=True,
              help="On demand only: 1 = used only by policies that name it.")
@click.option("-M", "master", help="Master server(s) to add the unit on, comma-separated.")
@root_option
def cli(label: str, path: str, disk_type: int, host: str | None, cj: int | None,
        mfs: int | None, odo: int, master: str | None, root: str | None) -> int:
    """Create a disk storage unit.

    \b
    EXIT STATUS
      0     the storage unit was added
      20    invalid parameter (label, -dt, -cj, -mfs or path characters)
      25    the master's nbemm (or its PBX) is not running
      141   the path is not absolute
      225   the label is too long
      226   a storage unit with this label, or on this host and path, exists
      2101  the host is not a media server in the EMM database
    """
    cfg = load_cfg(root)
    for m in master_list(cfg, master):
        stufmt.emm_request(cfg, m, "stu_add", label=label, path=path, host=host, cj=cj,
                    mfs_mb=mfs, stype=disk_type, odo=odo)
    return 0


main = entry(cli)
