"""Storage unit output as bpstulist prints it, and the -M handling the storage unit commands share.

The raw line (default and -l) keeps the field order of NetBackup 7-10's bpstulist, which the
reference's verbatim 10.x sample shows (reference/netbackup-cli.md §1.8): the maximum fragment
size is field 12 and the path, in double quotes, field 9. Scripts take the label from field 1
(`bpstulist -l | awk '{print $1}'`). -U and -L print "Label: value" blocks whose labels runbooks
grep ("Storage Unit Type:", "Concurrent Jobs").

The storage units come from nbemm (stu_list): `emm_request` asks it on one master.
"""

from __future__ import annotations

from typing import Any

from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.render import raw_field

STU_TYPE_DISK = 0  # raw field 2: Disk (Media Manager units would be 2)
DISK_SUBTYPES = {1: "Basic"}
# Disk units that nbcli makes all have NetBackup's defaults for the attributes it does not
# let bpstuadd change yet.
MAX_MPX, HIGH_WATER, LOW_WATER = 1, 98, 80

RAW_FIELDS = ("label", "type", "host", "robot_type", "robot_number", "density",
              "concurrent_jobs", "initial_mpx", "path", "on_demand_only", "max_mpx",
              "max_fragment_size", "ndmp_attach_host", "throttle", "subtype", "disk_flags",
              "high_water_mark", "low_water_mark", "ok_on_root", "disk_pool", "host_list")


def raw_values(stu: dict[str, Any]) -> list[str]:
    """The raw line's fields, named by RAW_FIELDS. The path keeps its blanks: NetBackup quotes
    it instead."""
    head: list[Any] = [stu["label"], STU_TYPE_DISK, stu["host"], 0, -1, -1, stu["cj"], 0]
    tail: list[Any] = [stu["odo"], MAX_MPX, stu["mfs_mb"], None, 0, stu["stype"], 0,
                       HIGH_WATER, LOW_WATER, 0, None, stu["host"]]
    return [raw_field(v) for v in head] + [f'"{stu["path"]}"'] + [raw_field(v) for v in tail]


def raw_line(stu: dict[str, Any]) -> str:
    return " ".join(raw_values(stu))


def yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def labelled(stu: dict[str, Any]) -> list[str]:
    """The -U / -L block of one disk storage unit."""
    subtype = DISK_SUBTYPES.get(stu["stype"], "Unknown")
    pairs = [("Label", stu["label"]),
             ("Storage Unit Type", "Disk"),
             ("Storage Unit Subtype", f"{subtype} ({stu['stype']})"),
             ("Host Connection", stu["host"]),
             ("Concurrent Jobs", stu["cj"]),
             ("On Demand Only", yes_no(stu["odo"])),
             ("Path", f'"{stu["path"]}"'),
             ("Robot Type", "(not robotic)"),
             ("Max Fragment Size", f"{stu['mfs_mb']} MB"),
             ("Max MPX", MAX_MPX),
             ("Stage data", "no"),
             ("Block Sharing", "no"),
             ("File System Export", "no"),
             ("High Water Mark", f"{HIGH_WATER}%"),
             ("Low Water Mark", f"{LOW_WATER}%"),
             ("Ok On Root", "no")]
    return [f"{name + ':':<22}{value}" for name, value in pairs]


def emm_request(cfg: HostConfig, server: str, op: str, /, **fields: Any) -> dict[str, Any]:
    """One request to nbemm on master `server`. Positional-only, so that request fields named
    `host` or `master` (stu_add, host_add) cannot collide with the parameters, as they would
    with client.call's `host`."""
    with client.connect(cfg, server, "nbemm") as conn:
        return conn.call({"op": op, **fields})
