"""vmchange: change a volume's pool, place in a robot, maximum mounts or description (through
the master's nbemm).

`-p POOL#` moves an unassigned volume to another pool (an assigned one keeps its pool, 168);
`-rn N -rc1 SLOT` (with `-rt tld`) records that the volume is now in slot SLOT of robot N, and
`-rt none` that it is out of every robot; `-maxmounts N` limits its mounts (0: unlimited);
`-n N` gives a cleaning tape N cleanings left. Prints nothing when it succeeds.

`-res -multi_eject -rn N -ml ID1:ID2...` ejects volumes, as a vault run does: tldcd (on the
robot's control host) moves each cartridge from its slot into a free mail slot, then nbemm
records it standalone; a line each says what was done. A volume a job holds, or whose
cartridge is in a drive, is not ejected (97); what did not fit in the free mail slots waits
for the next run (1: partially successful).
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request
from nbcli.commands.tapecfgfmt import STANDALONE
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import INVALID_PARAMETER, MEDIA_IN_USE, NO_ENTITY, PARTIAL_SUCCESS, NbuError

SYNOPSIS = """vmchange [-h EMM_server] -m media_id -p pool_number
vmchange [-h EMM_server] -m media_id -maxmounts max_mounts
vmchange [-h EMM_server] -m media_id -n cleanings
vmchange [-h EMM_server] -m media_id -rt robot_type -rn robot_number -rc1 rob_slot
         [-rh robot_host]
vmchange [-h EMM_server] -m media_id -d "media_description\"
vmchange [-h EMM_server] -res -multi_eject -rt robot_type -rn robot_number
         [-rh robot_host] [-mt media_type] [-single_cycle] -ml media_id1:media_id2:..."""


@command("vmchange", SYNOPSIS)
@click.option("-m", "media_id", help="Media id of the volume.")
@emm_server_option
@click.option("-p", "pool", type=int, help="New volume pool number.")
@click.option("-maxmounts", "-mm", "max_mounts", type=int, help="Maximum mounts (0: no limit).")
@click.option("-n", "cleanings", type=int, help="Cleanings left (a cleaning tape's).")
@click.option("-rt", "rt", help="Robot type: tld, or none (out of every robot).")
@click.option("-rn", "rn", type=int, help="Robot number.")
@click.option("-rc1", "slot", type=int, help="Slot in the robot.")
@click.option("-rh", "rh", help="Robot control host (accepted: the robot's own).")
@click.option("-d", "description", help="New description (at most 25 characters).")
@click.option("-res", "res", is_flag=True, help="A robot operation (with -multi_eject).")
@click.option("-multi_eject", "multi_eject", is_flag=True,
              help="Eject the volumes -ml lists through the robot's mail slots.")
@click.option("-ml", "media_list", metavar="ID1:ID2:...", help="The volumes to eject.")
@click.option("-mt", "media_type", help="Media type (accepted).")
@click.option("-single_cycle", "single_cycle", is_flag=True,
              help="One cycle of the mail slots (the only way nbcli ejects).")
@root_option
@click.pass_context
def cli(ctx: click.Context, media_id: str | None, emm_server: str | None, pool: int | None,
        max_mounts: int | None, cleanings: int | None, rt: str | None, rn: int | None,
        slot: int | None,
        rh: str | None, description: str | None, res: bool, multi_eject: bool,
        media_list: str | None, media_type: str | None, single_cycle: bool,
        root: str | None) -> int:
    """Change a volume's attributes, or eject volumes from a robot.

    \b
    EXIT STATUS
      0     the volume was changed; every volume was ejected
      1     -multi_eject: some volumes did not fit in the free mail slots
      20    invalid parameter (slot, robot type, usage; -n for a data tape)
      25    the master's nbemm (or its PBX) is not running
      97    -multi_eject: a volume is in use by a job, or in a drive
      167   no volume pool has this number
      168   the volume is assigned: its pool cannot change
      226   the slot holds another volume
      227   no such volume or robot; a volume not in that robot
    """
    if res or multi_eject or media_list is not None:
        if not (res and multi_eject and media_list and rn is not None) or media_id:
            raise click.UsageError("eject: -res -multi_eject -rt tld -rn N -ml ID1:ID2:...",
                                   ctx)
        cfg = load_cfg(root)
        return _eject(cfg, emm_server or cfg.master, rt or "tld", rn, rh,
                      [m for m in media_list.split(":") if m])
    if media_id is None:
        raise click.UsageError("-m media_id is needed", ctx)
    if all(v is None for v in (pool, max_mounts, cleanings, rt, rn, slot, description)):
        raise click.UsageError("nothing to change: give -p, -maxmounts, -n, -rt/-rn/-rc1 or "
                               "-d", ctx)
    standalone = rt is not None and rt.lower() == "none"
    fields = {"pool": None if pool is None else str(pool), "max_mounts": max_mounts,
              "cleanings": cleanings, "description": description,
              "rt": None if rt is None or standalone else rt.lower(),
              "rn": STANDALONE if standalone else rn, "slot": None if standalone else slot}
    cfg = load_cfg(root)
    emm_request(cfg, emm_server or cfg.master, "media_change", media_id=media_id, **fields)
    return 0


def _eject(cfg: HostConfig, emm: str, rt: str, rn: int, rh: str | None,
           ids: list[str]) -> int:
    """-multi_eject: each volume's cartridge from its slot into a free mail slot (tldcd),
    then standalone in EMM; 97 when one cannot go, 1 when the mail slots filled up."""
    if rt.lower() != "tld":
        raise NbuError(INVALID_PARAMETER, f"robot type {rt}: nbcli has TLD robots only")
    robots = {int(r["rn"]): r for r in emm_request(cfg, emm, "robot_list")["robots"]}
    if rn not in robots:
        raise NbuError(NO_ENTITY, f"robot {rn} is not configured")
    host = rh or str(robots[rn].get("host") or cfg.client_name)
    records = []
    for media_id in ids:
        (rec,) = emm_request(cfg, emm, "media_list", media_id=media_id)["media"] or [None]
        if rec is None:
            raise NbuError(NO_ENTITY, f"media id {media_id} is not in the EMM database")
        if rec.get("rn") != rn:
            raise NbuError(NO_ENTITY, f"media {rec['media_id']} is not in robot {rn}")
        if rec.get("jobid"):
            raise NbuError(MEDIA_IN_USE, f"media {rec['media_id']} is in use by job "
                                         f"{rec['jobid']}: it cannot be ejected")
        records.append(rec)
    inv = client.call(cfg, host, "tldcd", "inventory", rn=rn)
    slots = {str(s["barcode"]): int(s["number"]) for s in inv["slots"] if s["full"]}
    drives = {str(d["barcode"]): int(d["number"]) for d in inv["drives"] if d["full"]}
    free = [int(m["number"]) for m in inv["mailslots"] if not m["full"]]
    for rec in records:
        if rec["barcode"] in drives:
            raise NbuError(MEDIA_IN_USE, f"media {rec['media_id']} is in drive "
                                         f"{drives[rec['barcode']]}: it cannot be ejected "
                                         "until ltid unloads it (tpunmount, or its unmount "
                                         "delay)")
        if rec["barcode"] not in slots:
            raise NbuError(NO_ENTITY, f"media {rec['media_id']} (barcode {rec['barcode']}) "
                                      f"is not in robot {rn}")
    left = []
    for rec in records:
        if not free:
            left.append(rec["media_id"])
            continue
        source, target = slots[rec["barcode"]], free.pop(0)
        client.call(cfg, host, "tldcd", "transfer", rn=rn, source=source, target=target)
        emm_request(cfg, emm, "media_change", media_id=rec["media_id"], rn=STANDALONE)
        click.echo(f"Ejected media {rec['media_id']} (barcode {rec['barcode']}) from slot "
                   f"{source} into mail slot {target}; it is standalone now.")
    if left:
        raise NbuError(PARTIAL_SUCCESS, f"no free mail slot for {', '.join(left)}: empty the "
                                        "mail slots and eject them again")
    return 0


main = entry(cli)
