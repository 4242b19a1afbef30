"""Storage unit output as bpstulist prints it, and the -M handling the storage unit commands share.

The raw line (default and -l) keeps the field order of NetBackup 7-10's bpstulist, which the
reference's verbatim 10.x sample shows (reference/netbackup-cli.md §1.8): the maximum fragment
size is field 12 and the path, in double quotes, field 9. Scripts take the label from field 1
(`bpstulist -l | awk '{print $1}'`). -U and -L print "Label: value" blocks whose labels runbooks
grep ("Storage Unit Type:", "Concurrent Jobs").

A tape unit (stype 2, Media Manager) has type 2 in field 2 and its robot type, robot number and
density as NetBackup's numeric codes in fields 4-6 (TLD is 8, hcart 6: reference/next-areas.md
§1.5 and NBU::Robot's table); its path is *NULL* and field 7 counts the drives it may use.

The storage units come from nbemm (stu_list): `emm_request` asks it on one master.
"""

from __future__ import annotations

from typing import Any

from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.render import raw_field

STU_TYPE_DISK = 0  # raw field 2: Disk
STU_TYPE_TAPE = 2  # raw field 2 (and stype): Media Manager
DISK_SUBTYPES = {1: "Basic"}
ROBOT_TYPE_CODES = {"none": 0, "acs": 1, "tl8": 6, "tl4": 7, "tld": 8, "tlh": 12, "tlm": 13}
DENSITY_CODES = {"qscsi": 0, "hcart": 6, "4mm": 12, "dlt": 13, "hcart2": 14, "dlt2": 15,
                 "8mm": 16, "dtf": 19, "hcart3": 20, "dlt3": 21}
DENSITY_TEXT = {"qscsi": "QIC - 1/4 Inch Cartridge", "hcart": "1/2 Inch Cartridge",
                "hcart2": "1/2 Inch Cartridge 2", "hcart3": "1/2 Inch Cartridge 3",
                "4mm": "4MM Cartridge", "8mm": "8MM Cartridge", "dlt": "DLT Cartridge",
                "dlt2": "DLT Cartridge 2", "dlt3": "DLT Cartridge 3", "dtf": "DTF Cartridge"}
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
    if stu["stype"] == STU_TYPE_TAPE:
        return tape_raw_values(stu)
    head: list[Any] = [stu["label"], STU_TYPE_DISK, stu["host"], 0, -1, -1, stu["cj"], 0]
    tail: list[Any] = [stu["odo"], MAX_MPX, stu["mfs_mb"], None, 0, stu["stype"], 0,
                       HIGH_WATER, LOW_WATER, 0, None, stu["host"]]
    return [raw_field(v) for v in head] + [f'"{stu["path"]}"'] + [raw_field(v) for v in tail]


def tape_raw_values(stu: dict[str, Any]) -> list[str]:
    """A Media Manager unit's raw fields: robot, density and drive count instead of a path."""
    head: list[Any] = [stu["label"], STU_TYPE_TAPE, stu["host"],
                       ROBOT_TYPE_CODES.get(stu["rt"], 0), stu["rn"],
                       DENSITY_CODES.get(stu["density"], -1), stu["cj"], 0]
    tail: list[Any] = [stu["odo"], MAX_MPX, stu["mfs_mb"], None, 0, 0, 0, 0, 0, 0, None,
                       stu["host"]]
    return [raw_field(v) for v in head] + ['"*NULL*"'] + [raw_field(v) for v in tail]


def raw_line(stu: dict[str, Any]) -> str:
    return " ".join(raw_values(stu))


def yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def labelled(stu: dict[str, Any]) -> list[str]:
    """The -U / -L block of one storage unit."""
    if stu["stype"] == STU_TYPE_TAPE:
        return tape_labelled(stu)
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


def tape_labelled(stu: dict[str, Any]) -> list[str]:
    """The -U / -L block of one Media Manager (tape) storage unit."""
    density = stu["density"] or ""
    pairs = [("Label", stu["label"]),
             ("Storage Unit Type", "Media Manager"),
             ("Host Connection", stu["host"]),
             ("Number of Drives", stu["cj"]),
             ("On Demand Only", yes_no(stu["odo"])),
             ("Max MPX/drive", MAX_MPX),
             ("Density", f"{density} - {DENSITY_TEXT.get(density, density)}"),
             ("Robot Type/Number", f"{(stu['rt'] or 'none').upper()} / {stu['rn']}"),
             ("Max Fragment Size", f"{stu['mfs_mb']} MB")]
    return [f"{name + ':':<22}{value}" for name, value in pairs]


def emm_request(cfg: HostConfig, server: str, op: str, /, **fields: Any) -> dict[str, Any]:
    """One request to nbemm on master `server`. Positional-only, so that request fields named
    `host` or `master` (stu_add, host_add) cannot collide with the parameters, as they would
    with client.call's `host`."""
    with client.connect(cfg, server, "nbemm") as conn:
        return conn.call({"op": op, **fields})
