"""vmupdate: inventory a robot and update the volume configuration to match.

Reads the robot's inventory from tldcd (on the robot control host), EMM's media through vmd
on the master, and plans (mmfmt.vmupdate_plan): with -empty_map, cartridges in the mail
slots move into free slots first (tldcd transfer; without it the mail slots are left alone,
as NetBackup leaves the media access port), barcodes EMM does not know become media (media
id: the barcode's last six characters, NetBackup's default barcode rule) in the pool -p
names, else the scratch pool, else NetBackup (vmd media_add); known media whose slot
changed get it updated (media_change), and media whose cartridge is no longer in the robot
become standalone (media_change to no robot), as NetBackup's inventory does. `-recommend`
prints the plan and changes nothing.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mmfmt
from nbcli.commands.tapecfgfmt import STANDALONE
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """vmupdate -rt robot_type -rn robot_number [-rh robot_host] [-mt media_type]
  [-p pool_name] [-use_barcode_rules] [-empty_map] [-recommend] [-interactive]"""
DEFAULT_POOL = "NetBackup"
DEFAULT_TYPE = "hcart"


def _vmd(cfg: HostConfig, op: str, **fields: Any) -> dict[str, Any]:
    return client.master_call(cfg, "vmd", op, **fields)


def _pool(cfg: HostConfig, asked: str | None) -> str:
    pools = _vmd(cfg, "pool_list").get("pools", [])
    if asked:
        if not any(p.get("name") == asked for p in pools):
            raise NbuError(NO_ENTITY, f"volume pool {asked} does not exist")
        return asked
    scratch = [p["name"] for p in pools if p.get("scratch")]
    return str(scratch[0]) if scratch else DEFAULT_POOL


def _media_type(cfg: HostConfig, rn: int, asked: str | None) -> str:
    if asked:
        return asked
    drives = _vmd(cfg, "drive_list").get("drives", [])
    types = [str(d["type"]) for d in drives if d.get("rn") == rn and d.get("type")]
    return types[0] if types else DEFAULT_TYPE


@command("vmupdate", SYNOPSIS)
@click.option("-rt", "rt", required=True, help="Robot type (tld).")
@click.option("-rn", "rn", type=click.IntRange(0, 32767), required=True, help="Robot number.")
@click.option("-rh", "rh", default=None, help="Robot control host (default: EMM's).")
@click.option("-mt", "mtype", default=None, help="Media type of new media (default: the "
                                                   "robot's drive type).")
@click.option("-p", "pool", default=None, help="Volume pool of new media (default: the "
                                                 "scratch pool, else NetBackup).")
@click.option("-use_barcode_rules", "barcode_rules", is_flag=True,
              help="Media ids from barcodes (the default rule: the last six characters).")
@click.option("-empty_map", "empty_map", is_flag=True,
              help="First move the cartridges in the mail slots (the media access port) "
                   "into free slots.")
@click.option("-recommend", "recommend", is_flag=True, help="Print the changes; make none.")
@click.option("-interactive", "interactive", is_flag=True,
              help="Accepted for compatibility: changes are made without asking.")
@root_option
def cli(rt: str, rn: int, rh: str | None, mtype: str | None, pool: str | None,
        barcode_rules: bool, empty_map: bool, recommend: bool, interactive: bool,
        root: str | None) -> int:
    """Inventory robot RN: new barcodes into EMM, media no longer in the robot to
    standalone; with -empty_map, mail slot cartridges into free slots first.

    \b
    EXIT STATUS
      0    the volume configuration matches the robot
      20   invalid argument (robot type other than tld; -empty_map with no free slot for
           the mail slots' cartridges)
      227  no such robot or pool
      other statuses: from tldcd (a move failed) or nbemm (a media record refused)
    """
    cfg = load_cfg(root)
    if rt.lower() != "tld":
        raise NbuError(INVALID_PARAMETER, f"robot type {rt}: nbcli has TLD robots only")
    robots = {int(r["rn"]): r for r in _vmd(cfg, "robot_list").get("robots", [])}
    if rn not in robots:
        raise NbuError(NO_ENTITY, f"robot {rn} is not configured (tpconfig adds it)")
    host = rh or str(robots[rn].get("host") or cfg.client_name)
    inv = client.call(cfg, host, "tldcd", "inventory", rn=rn)
    media = _vmd(cfg, "media_list").get("media", [])
    try:
        plan = mmfmt.vmupdate_plan(inv, media, rn, empty_map)
    except ValueError as e:
        raise NbuError(INVALID_PARAMETER, str(e)) from None
    target_pool = _pool(cfg, pool) if plan.adds else (pool or "")
    media_type = _media_type(cfg, rn, mtype) if plan.adds else (mtype or "")
    lines = mmfmt.vmupdate_lines(rn, plan, target_pool, media_type)
    if recommend:
        cut = lines.index("Updating volume configuration ...") if plan else len(lines)
        echo_lines(lines[:cut])
        return 0
    mail = {str(m["barcode"]): int(m["number"]) for m in inv["mailslots"] if m["full"]}
    for barcode, slot in plan.moves:
        client.call(cfg, host, "tldcd", "transfer", rn=rn, source=mail[barcode], target=slot)
    for media_id, _ in plan.removals:  # first: their slots may be another medium's now
        _vmd(cfg, "media_change", media_id=media_id, rn=STANDALONE)
    for media_id, barcode, slot in plan.adds:
        _vmd(cfg, "media_add", media_id=media_id, type=media_type, barcode=barcode,
             pool=target_pool, rt="tld", rn=rn, slot=slot)
    for media_id, _, slot in plan.changes:
        _vmd(cfg, "media_change", media_id=media_id, rn=rn, slot=slot)
    echo_lines(lines)
    return 0


main = entry(cli)
