"""vmadd: add a volume (a tape medium) to the EMM database (through the master's nbemm).

NetBackup's form: the media id (at most 6 characters), the media type, and where the volume is:
a robot (-rt, -rn, -rc1 slot) or nowhere (-rt none, the default: standalone). The volume pool
is a number (vmpool -listall shows them); without -p the volume goes to pool 0, None, as
NetBackup's vmadd does - give -p 1 for the NetBackup pool. Prints nothing when it succeeds.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mediacodes
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request

SYNOPSIS = """vmadd -m media_id -mt media_type [-h EMM_server] [-verbose] [-b barcode]
      [-rt robot_type] [-rn robot_number] [-rh robot_host] [-rc1 rob_slot]
      [-rc2 rob_side] [-p pool_number] [-mm max_mounts | -n cleanings]
      [-d "media_description"]"""


@command("vmadd", SYNOPSIS)
@click.option("-m", "media_id", required=True, help="Media id (1 to 6 characters).")
@click.option("-mt", "media_type", required=True,
              help="Media type: hcart, hcart2, hcart3, 4mm, 8mm, dlt ... (hc_cln ... cleaning).")
@emm_server_option
@click.option("-verbose", is_flag=True, help="Accepted.")
@click.option("-b", "barcode", default="", help="Barcode (at most 16 characters).")
@click.option("-rt", "rt", default="none", show_default=True,
              help="Robot type: tld, or none (standalone).")
@click.option("-rn", "rn", type=int, help="Robot number.")
@click.option("-rh", "rh", help="Robot control host (accepted: the robot's own).")
@click.option("-rc1", "slot", type=int, help="Robot slot.")
@click.option("-rc2", "side", help="Side (accepted; tapes have one).")
@click.option("-p", "pool", type=int, default=0, show_default=True,
              help="Volume pool number (1 = NetBackup).")
@click.option("-mm", "max_mounts", type=int, default=0, show_default=True,
              help="Maximum mounts (0 = unlimited).")
@click.option("-n", "cleanings", type=click.IntRange(0), default=None,
              help="Cleanings (a cleaning tape's; counted down by its mounts).")
@click.option("-d", "description", default="", help="Description (at most 25 characters).")
@root_option
@click.pass_context
def cli(ctx: click.Context, media_id: str, media_type: str, emm_server: str | None,
        verbose: bool, barcode: str, rt: str, rn: int | None, rh: str | None,
        slot: int | None, side: str | None, pool: int, max_mounts: int,
        cleanings: int | None, description: str, root: str | None) -> int:
    """Add a volume to the EMM database.

    \b
    EXIT STATUS
      0     the volume was added
      20    invalid parameter (media type, robot type, slot, barcode, usage, -n)
      25    the master's nbemm (or its PBX) is not running
      167   no volume pool has this number
      171   the media id is longer than 6 characters
      225   the description is too long
      226   the media id or barcode exists, or the slot holds another volume
      227   no such robot
    """
    robotic = rt.lower() != "none"
    if robotic and (rn is None or slot is None):
        raise click.UsageError("a volume in a robot needs -rn and -rc1", ctx)
    if cleanings is not None:
        # A new cleaning tape has no mounts: its cleanings left are its maximum mounts.
        if not mediacodes.is_cleaning({"type": media_type}):
            raise click.UsageError(f"-n: {media_type} is not a cleaning tape type", ctx)
        max_mounts = cleanings
    cfg = load_cfg(root)
    emm_request(cfg, emm_server or cfg.master, "media_add", media_id=media_id,
                type=media_type, barcode=barcode, pool=str(pool),
                rt=rt.lower() if robotic else None, rn=rn if robotic else -1,
                slot=slot if robotic else 0, max_mounts=max_mounts, description=description)
    return 0


main = entry(cli)
