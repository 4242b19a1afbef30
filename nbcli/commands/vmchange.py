"""vmchange: change a volume's pool, place in a robot, maximum mounts or description (through
the master's nbemm).

`-p POOL#` moves an unassigned volume to another pool (an assigned one keeps its pool, 168);
`-rn N -rc1 SLOT` (with `-rt tld`) records that the volume is now in slot SLOT of robot N, and
`-rt none` that it is out of every robot; `-maxmounts N` limits its mounts (0: unlimited).
Prints nothing when it succeeds.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request

SYNOPSIS = """vmchange [-h EMM_server] -m media_id -p pool_number
vmchange [-h EMM_server] -m media_id -maxmounts max_mounts
vmchange [-h EMM_server] -m media_id -rt robot_type -rn robot_number -rc1 rob_slot
         [-rh robot_host]
vmchange [-h EMM_server] -m media_id -d "media_description\""""


@command("vmchange", SYNOPSIS)
@click.option("-m", "media_id", required=True, help="Media id of the volume.")
@emm_server_option
@click.option("-p", "pool", type=int, help="New volume pool number.")
@click.option("-maxmounts", "-mm", "max_mounts", type=int, help="Maximum mounts (0: no limit).")
@click.option("-rt", "rt", help="Robot type: tld, or none (out of every robot).")
@click.option("-rn", "rn", type=int, help="Robot number.")
@click.option("-rc1", "slot", type=int, help="Slot in the robot.")
@click.option("-rh", "rh", help="Robot control host (accepted: the robot's own).")
@click.option("-d", "description", help="New description (at most 25 characters).")
@root_option
@click.pass_context
def cli(ctx: click.Context, media_id: str, emm_server: str | None, pool: int | None,
        max_mounts: int | None, rt: str | None, rn: int | None, slot: int | None,
        rh: str | None, description: str | None, root: str | None) -> int:
    """Change a volume's attributes.

    \b
    EXIT STATUS
      0     the volume was changed
      20    invalid parameter (slot, robot type, usage)
      25    the master's nbemm (or its PBX) is not running
      167   no volume pool has this number
      168   the volume is assigned: its pool cannot change
      226   the slot holds another volume
      227   no such volume or robot
    """
    if all(v is None for v in (pool, max_mounts, rt, rn, slot, description)):
        raise click.UsageError("nothing to change: give -p, -maxmounts, -rt/-rn/-rc1 or -d",
                               ctx)
    standalone = rt is not None and rt.lower() == "none"
    fields = {"pool": None if pool is None else str(pool), "max_mounts": max_mounts,
              "description": description,
              "rt": None if rt is None or standalone else rt.lower(),
              "rn": -1 if standalone else rn, "slot": None if standalone else slot}
    cfg = load_cfg(root)
    emm_request(cfg, emm_server or cfg.master, "media_change", media_id=media_id, **fields)
    return 0


main = entry(cli)
