"""bpstuadd: create a disk or tape storage unit in the master's EMM database (through nbemm).

A disk unit names a path (-dt 1, BasicDisk); a tape unit (-dt 2, Media Manager, also meant
when -rt, -rn or -den is given without -dt) names the robot type, robot number and density of
the drives it writes with.

NetBackup's bpstuadd prints nothing when it succeeds; so does this one. nbemm checks every value
and fills in the defaults (docs/protocol.md, stu_add), so a mistake gets the same status however
the request is made.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import stufmt

SYNOPSIS = """bpstuadd -label storage_unit_label -path path_name [-dt 1] [-host host_name]
         [-cj max_jobs] [-mfs max_fragment_size] [-odo 0|1] [-M master_server,...]
bpstuadd -label storage_unit_label -dt 2 -rt tld -rn robot_number -den density
         [-host host_name] [-cj max_drives] [-mfs max_fragment_size] [-odo 0|1]
         [-M master_server,...]"""


@command("bpstuadd", SYNOPSIS)
@click.option("-label", "label", required=True, help="Name of the new storage unit.")
@click.option("-path", "path",
              help="Disk: absolute folder on the media server where images are written.")
@click.option("-dt", "disk_type", type=int,
              help="Type: 1 = BasicDisk, 2 = Media Manager (tape)  [default: 1]")
@click.option("-rt", "rt", help="Tape: robot type (tld).")
@click.option("-rn", "rn", type=int, help="Tape: robot number.")
@click.option("-den", "-density", "density", help="Tape: density of the drives (hcart...).")
@click.option("-host", "host", help="Media server that writes to the unit (default: this host).")
@click.option("-cj", "cj", type=int,
              help="Maximum concurrent jobs, for tape the drives used (0 disables the unit)"
                   "  [default: 1]")
@click.option("-mfs", "mfs", type=int,
              help="Maximum fragment size in MB: disk 20 to 524288 [524288], tape 20 to "
                   "1048576 [1048576]")
@click.option("-odo", "odo", type=click.IntRange(0, 1), default=0, show_default=True,
              help="On demand only: 1 = used only by policies that name it.")
@click.option("-M", "master", help="Master server(s) to add the unit on, comma-separated.")
@root_option
@click.pass_context
def cli(ctx: click.Context, label: str, path: str | None, disk_type: int | None,
        rt: str | None, rn: int | None, density: str | None, host: str | None,
        cj: int | None, mfs: int | None, odo: int, master: str | None,
        root: str | None) -> int:
    """Create a disk or tape storage unit.

    \b
    EXIT STATUS
      0     the storage unit was added
      20    invalid parameter (label, -dt, -cj, -mfs, -rt, -rn, -den, path)
      25    the master's nbemm (or its PBX) is not running
      141   the path is not absolute
      225   the label is too long
      226   a storage unit with this label, or on this host and path, exists
      2101  the host is not a media server in the EMM database
    """
    if disk_type is None:
        tape = rt is not None or rn is not None or density is not None
        disk_type = stufmt.STU_TYPE_TAPE if tape else 1
    if disk_type != stufmt.STU_TYPE_TAPE and path is None:
        raise click.UsageError("a disk storage unit needs -path", ctx)
    cfg = load_cfg(root)
    for m in master_list(cfg, master):
        stufmt.emm_request(cfg, m, "stu_add", label=label, path=path, host=host, cj=cj,
                           mfs_mb=mfs, stype=disk_type, odo=odo, rt=rt, rn=rn,
                           density=density)
    return 0


main = entry(cli)
