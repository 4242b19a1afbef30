"""vmquery's output, from nbemm's media records (TAPE-PLAN §1 keys): -w, -b and the long form.

-w (wide): 3 header lines, then one line a volume of 37 whitespace-separated fields, in the
order collectors split them (`split(/[\\s]+/, $_, 37)`, NBU::Media; reference netbackup-cli.md
§1.9): id, optical partner, media type, barcode, barcode partner, robot host, robot type,
robot #, slot, side, volume group, pool, pool #, previous pool, mounts, max mounts, cleanings,
created, assigned, first mount, last mount, expiration (each `date time`), status (1 =
assigned to NetBackup), offsite location, off sent, off return (`date time`), off slot,
session id, version, description (the rest of the line). Null dates print `00/00/0000 00:00`,
empty fields `-` or `---`, as NetBackup's.

-b (brief): 3 header lines, then one line a volume, media id first (`vmquery -pn P -b | wc -l`
minus 3 counts a pool's volumes).

Long form (the default, and -m): `label: value` lines, one block a volume, each block closed
by a line of `=` and the first one opened by one. A cleaning tape has `cleanings left:` where
a data tape has `number of mounts:` (`awk '/^cleanings left/ {print $3}'`).

Place: pure formatting for the vmquery command; imports mediacodes only.
"""

from __future__ import annotations

import time
from typing import Any

from nbcli.commands import mediacodes as codes

NULL_DATE = "00/00/0000 00:00"
RULE = "=" * 80
VERSION = 50  # the media version NetBackup 6-10 write on their volumes

WIDE_HEADER = (
    "media   optical media                       barcode           robot         robot  "
    "robot  robot  side/  volume                                                   prev   "
    "                 # of     max       # of            create          assigned       "
    "first mount        last mount        expiration                                  "
    "           off sent        off return     off     off",
    "ID      partner type      barcode           partner           host          type   "
    "    #   slot  face   group                      pool                  pool #  pool   "
    "               mounts  mounts  cleanings          datetime          datetime        "
    "  datetime          datetime          datetime  status  offsite location           "
    "        datetime          datetime    slot  ses id   version  description",
    "-" * 415,
)

BRIEF_HEADER = (
    "media   media   robot  robot  robot  side/  optical  # mounts/      last",
    "ID      type    type       #   slot  face   partner  cleanings    mount time",
    "-" * 78,
)


def date_time(epoch: Any) -> str:
    """`MM/DD/YYYY HH:MM` local time, NetBackup's null date for 0."""
    if not epoch:
        return NULL_DATE
    return time.strftime("%m/%d/%Y %H:%M", time.localtime(int(epoch)))


def long_date(epoch: Any) -> str:
    """vmquery -m's dates, ctime's form (`Fri Dec  4 20:56:36 2026`); `---` for none."""
    if not epoch:
        return "---"
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(int(epoch)))


def _or(value: Any, empty: str = "-") -> str:
    return empty if value is None or value == "" else str(value)


def _robot_fields(rec: dict[str, Any]) -> tuple[str, str, str, str]:
    """robot host, robot type, robot number, slot (`-` outside a robot)."""
    if not codes.in_robot(rec):
        return "-", "NONE", "-", "-"
    slot = rec.get("slot")
    return (_or(rec.get("host")), codes.robot_type(rec), str(rec["rn"]),
            str(slot) if isinstance(slot, int) and slot > 0 else "-")


def _cleanings(rec: dict[str, Any]) -> str:
    """A cleaning tape's cleanings left: nbcli counts them down in max_mounts - mounts."""
    if not codes.is_cleaning(rec):
        return "-"
    return str(max(0, int(rec.get("max_mounts") or 0) - int(rec.get("mounts") or 0)))


def _join(fields: list[tuple[str, int, str]]) -> str:
    """Fields at NetBackup's columns: (text, width, "l"|"r"), each followed by what pads it;
    a text wider than its column still gets one blank before the next field."""
    out = ""
    for text, width, align in fields:
        cell = text.ljust(width) if align == "l" else text.rjust(width)
        if out and not out.endswith(" ") and not cell.startswith(" "):
            out += " "
        out += cell
    return out.rstrip()


def wide_line(rec: dict[str, Any]) -> str:
    """One -w line (37 fields, see the module docstring)."""
    host, rt, rn, slot = _robot_fields(rec)
    assigned = bool(rec.get("assigned"))
    mounts = "0" if codes.is_cleaning(rec) else str(int(rec.get("mounts") or 0))
    return _join([
        (rec["media_id"], 8, "l"), ("-", 8, "l"), (codes.media_type(rec), 10, "l"),
        (_or(rec.get("barcode")), 18, "l"), ("-", 18, "l"), (host, 14, "l"),
        (rt, 6, "l"), (rn, 6, "r"), (slot, 7, "r"), ("", 2, "l"), ("-", 7, "l"),
        (codes.volume_group(rec), 27, "l"), (_or(rec.get("pool"), "None"), 20, "l"),
        (str(rec.get("pool_number", 0)), 8, "r"), ("", 2, "l"),
        (_or(rec.get("prev_pool_name"), "None"), 18, "l"),
        (mounts, 10, "r"), (str(int(rec.get("max_mounts") or 0)), 8, "r"),
        (_cleanings(rec), 11, "r"),
        ("", 2, "l"), (date_time(rec.get("created")), 18, "l"),
        (date_time(rec.get("assigned")), 18, "l"), (date_time(rec.get("first_mount")), 18, "l"),
        (date_time(rec.get("last_mount")), 18, "l"), (date_time(rec.get("expiration")), 16, "l"),
        ("1" if assigned else "0", 8, "r"), ("", 2, "l"), ("-", 27, "l"),
        (NULL_DATE, 18, "l"), (NULL_DATE, 18, "l"), ("-", 8, "l"), ("-", 6, "l"),
        (str(VERSION), 10, "r"), ("", 2, "l"), (_or(rec.get("description"), "---"), 0, "l"),
    ])


def brief_line(rec: dict[str, Any]) -> str:
    """One -b line: id, type, robot type, robot #, slot, side, partner, mounts or cleanings,
    last mount."""
    _host, rt, rn, slot = _robot_fields(rec)
    count = _cleanings(rec) if codes.is_cleaning(rec) else str(int(rec.get("mounts") or 0))
    last = date_time(rec.get("last_mount")) if rec.get("last_mount") else "---"
    return _join([(rec["media_id"], 8, "l"), (codes.media_type(rec), 8, "l"), (rt, 5, "l"),
                  (rn, 6, "r"), (slot, 7, "r"), ("", 2, "l"), ("-", 7, "l"), ("-", 6, "l"),
                  (count, 12, "r"), ("", 4, "l"), (last, 0, "l")])


def _pairs(rec: dict[str, Any]) -> list[tuple[str, str]]:
    in_robot = codes.in_robot(rec)
    slot = rec.get("slot")
    count = (("cleanings left", _cleanings(rec)) if codes.is_cleaning(rec)
             else ("number of mounts", str(int(rec.get("mounts") or 0))))
    max_mounts = int(rec.get("max_mounts") or 0)
    return [
        ("media ID", rec["media_id"]),
        ("media type", codes.type_text(rec)),
        ("barcode", _or(rec.get("barcode"), "---")),
        ("media description", _or(rec.get("description"), "---")),
        ("volume pool", f"{_or(rec.get('pool'), 'None')} ({rec.get('pool_number', 0)})"),
        ("robot type", codes.robot_text(rec)),
        ("robot number", str(rec["rn"]) if in_robot else "-"),
        ("robot slot", str(slot) if in_robot and isinstance(slot, int) and slot > 0 else "-"),
        ("robot control host", _or(rec.get("host")) if in_robot else "NONE"),
        ("volume group", codes.volume_group(rec)),
        ("vault name", "---"),
        ("vault sent date", "---"),
        ("vault return date", "---"),
        ("vault slot", "---"),
        ("vault session id", "---"),
        ("vault container id", "-"),
        ("created", long_date(rec.get("created"))),
        ("assigned", long_date(rec.get("assigned"))),
        ("last mounted", long_date(rec.get("last_mount"))),
        ("first mount", long_date(rec.get("first_mount"))),
        ("expiration date", long_date(rec.get("expiration"))),
        count,
        ("max mounts allowed", str(max_mounts) if max_mounts and not codes.is_cleaning(rec)
         else "---"),
        ("status", f"0x{1 if rec.get('assigned') else 0:x}"),
    ]


def long_block(rec: dict[str, Any]) -> list[str]:
    """One volume's `label: value` lines and the `=` rule that closes them."""
    return [f"{label + ':':<23}{value}" for label, value in _pairs(rec)] + [RULE]


def long_form(records: list[dict[str, Any]]) -> list[str]:
    """The default form: an opening rule, then each volume's block."""
    if not records:
        return []
    out = [RULE]
    for rec in records:
        out += long_block(rec)
    return out
