"""The choice of a drive and a medium for a job on a tape storage unit (Media Manager, stype 2).

emmdb.EmmDB.allocate calls `choose` inside its allocation transaction, once it has picked a
tape unit with a free job slot, and records the allocation with the drive and medium chosen;
`grant` rebuilds the same answer for a job that asks again; `span` gives a writing job another
medium in the drive it holds. A medium that was unassigned when a backup took it (new, or
its last image expired) is relabelled from the start of the tape: the grant says `relabel`,
and the allocation keeps the pool it came from (`from_pool`), so that a medium the job
could not mount goes back there unassigned. Everything here runs on the caller's
connection, in its transaction, so two jobs can never be given one drive or one medium.

The rules (TAPE-PLAN §1, next-areas.md §1.3):
- drive: UP, on the unit's media server, in the unit's robot, of the unit's density, held by
  no allocation; one already holding the chosen medium first, then an empty one;
- backup medium: in the requested pool, in the robot, of the density, neither FROZEN,
  SUSPENDED nor FULL, under its maximum mounts, not in use, not loaded in a drive this job
  cannot have; assigned media of the job's retention level first (the most written first),
  then unassigned media of the pool, then an unassigned one of the scratch pool, which moves
  to the requested pool. Assigning sets the medium's assigned time and retention level;
- restore: the named medium (whatever its state: frozen and suspended media stay readable),
  not in use by another job, in a free drive.

"Not now" answers, which nbrb waits on: 2009 when every compatible drive is DOWN, 2001 when
every UP one is busy, 2000 when no medium will do. Imports nothing from nbcli but status and
the catalog's own modules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from nbcli.catalog import emm_media
from nbcli.catalog.emm_media import DRIVE_SELECT, MEDIA_SELECT, UP
from nbcli.status import (
    DRIVES_DOWN_MEDIA_AVAILABLE,
    INVALID_PARAMETER,
    MEDIA_IN_USE,
    MEDIA_UNAVAILABLE,
    NO_DRIVES,
    NO_ENTITY,
    NO_MEDIA_AVAILABLE,
    STU_UNAVAILABLE,
    NbuError,
)

MEDIA_MANAGER = 2  # storage unit type of tape units (bpstuadd -dt 2, bpstulist field 2)
NOT_NOW = frozenset({NO_DRIVES, DRIVES_DOWN_MEDIA_AVAILABLE, MEDIA_UNAVAILABLE})


def is_tape(unit: dict[str, Any]) -> bool:
    return int(unit["stype"]) == MEDIA_MANAGER


def robot(c: sqlite3.Connection, rn: int) -> dict[str, Any]:
    row = c.execute("SELECT * FROM robots WHERE rn = ?", (rn,)).fetchone()
    if row is None:
        raise NbuError(STU_UNAVAILABLE, f"robot {rn} is not configured (tpconfig -add -robot)")
    return dict(row)


def choose(c: sqlite3.Connection, unit: dict[str, Any], kind: str, pool: str, rl: int,
           media_id: str | None, now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(drive, medium) for a job on tape unit `unit`, the medium assigned when it was not;
    the status that says why not otherwise."""
    drives = _usable_drives(c, unit)
    # A cartridge in a drive this job cannot have (DOWN, busy, another host's) stays there.
    loaded = {d["media_id"]: d for d in _all_drives(c) if d["media_id"]}
    blocked = set(loaded) - {d["media_id"] for d in drives}
    if kind == "restore":
        if not media_id:
            raise NbuError(INVALID_PARAMETER, "a restore from tape names its media id")
        rec = _restore_medium(c, unit, media_id)
        if rec["media_id"] in blocked:
            where = loaded[rec["media_id"]]
            status = DRIVES_DOWN_MEDIA_AVAILABLE if where["state"] != UP else NO_DRIVES
            raise NbuError(status, f"media {rec['media_id']} is in drive {where['name']}, "
                                   f"which is {'busy' if status == NO_DRIVES else 'DOWN'}")
    else:
        found = _backup_medium(c, unit, pool, rl, media_id, blocked)
        if found is None:
            raise NbuError(MEDIA_UNAVAILABLE, f"no usable {unit['density']} media in volume "
                                              f"pool {pool} in robot {unit['rn']}")
        rec = found
        rec["from_pool"] = None if rec["assigned"] else rec["pool_number"]
        _assign(c, rec, emm_media.pool_number(c, pool), rl, now)
    holding = [d for d in drives if d["media_id"] == rec["media_id"]]
    empty = [d for d in drives if not d["media_id"]]
    return (holding or empty or drives)[0], rec


def grant(c: sqlite3.Connection, unit: dict[str, Any], drive_index: int,
          media_id: str, relabel: bool = False) -> dict[str, Any]:
    """The storage unit as a tape grant names it: the unit's row and where to write;
    `relabel` when the backup took the medium unassigned (bptm writes a new media header at
    the start of the tape: what was on it expired with its last image)."""
    drive = emm_media.drive_by(c, drive_index)
    rec = emm_media.medium(c, media_id)
    where = robot(c, drive["rn"]) if drive["rn"] != emm_media.STANDALONE else None
    out = dict(unit)
    out.update({"stype": MEDIA_MANAGER, "drive": drive["drnum"], "drive_name": drive["name"],
                "drive_index": drive["index"], "barcode": rec["barcode"] or rec["media_id"],
                "media_id": rec["media_id"], "pool": rec["pool"],
                "density": unit["density"] or rec["density"], "rl": rec["rl"],
                "relabel": relabel})
    # A virtual library is named by its home folder (TapeStorage's `library`); a real robot
    # by its changer device, its drives by their own device paths.
    if where is not None and not where["device"].startswith("/dev/"):
        out["library"] = where["device"]
    else:
        out["library"] = ""
        out["drive_path"] = drive["path"]
        out["robot_device"] = where["device"] if where is not None else ""
    return out


def span(c: sqlite3.Connection, unit: dict[str, Any], held: dict[str, Any],
         full_media_id: str, now: int, full: bool = True,
         avoid: Iterable[str] = ()) -> dict[str, Any]:
    """Another medium for a backup, in the drive it holds: its medium is full (marked FULL),
    or (`full` False) could not be mounted for writing (write protected, another media id
    in its header, would not load), and is only left out, with the others in `avoid` that
    this job could not mount either (NetBackup cancels such a mount and selects other
    media); one this job took unassigned goes back to its pool unassigned, as nothing was
    written on it. 96 when the pool (and the scratch pool) has no other."""
    if held["drive"] is None or held["media_id"] != full_media_id.upper():
        raise NbuError(NO_ENTITY, f"job {held['jobid']} does not hold media {full_media_id}")
    old = emm_media.medium(c, full_media_id)
    if full:
        c.execute("UPDATE media SET state = state | ? WHERE media_id = ?",
                  (emm_media.FULL, old["media_id"]))
        # The image's first fragments are on it, in no catalog entry until the job ends:
        # media_unassign must not give it back (to be labelled again) before then.
        c.execute("UPDATE allocations SET filled = COALESCE(filled || ',', '') || ? "
                  "WHERE jobid = ?", (old["media_id"], held["jobid"]))
    elif held.get("from_pool") is not None and not old["images"] and not old["kbytes"]:
        c.execute("UPDATE media SET assigned = 0, rl = -1, pool_number = ? "
                  "WHERE media_id = ?", (held["from_pool"], old["media_id"]))
    c.execute("UPDATE allocations SET media_id = NULL, from_pool = NULL WHERE jobid = ?",
              (held["jobid"],))
    blocked = _elsewhere(c, held) | {old["media_id"]} | {m.upper() for m in avoid}
    rec = _backup_medium(c, unit, old["pool"], old["rl"], None, blocked)
    if rec is None:
        raise NbuError(NO_MEDIA_AVAILABLE, f"no {'more' if full else 'other'} "
                                           f"{unit['density']} media in volume pool "
                                           f"{old['pool']} to continue on")
    from_pool = None if rec["assigned"] else rec["pool_number"]
    _assign(c, rec, old["pool_number"], old["rl"], now)
    c.execute("UPDATE allocations SET media_id = ?, from_pool = ? WHERE jobid = ?",
              (rec["media_id"], from_pool, held["jobid"]))
    return grant(c, unit, held["drive"], rec["media_id"], from_pool is not None)


def _compatible(c: sqlite3.Connection, unit: dict[str, Any]) -> list[dict[str, Any]]:
    rows = c.execute(DRIVE_SELECT + " WHERE d.host = ? AND d.rn = ? AND d.type = ? "
                     "ORDER BY d.idx", (unit["host"], unit["rn"], unit["density"]))
    return [emm_media.drive_record(r) for r in rows]


def _all_drives(c: sqlite3.Connection) -> list[dict[str, Any]]:
    return [emm_media.drive_record(r) for r in c.execute(DRIVE_SELECT + " ORDER BY d.idx")]


def _usable_drives(c: sqlite3.Connection, unit: dict[str, Any]) -> list[dict[str, Any]]:
    """The free UP drives the unit may use; 219 when it has none at all, 2009 when all are
    DOWN, 2001 when all are busy."""
    robot(c, unit["rn"])
    compatible = _compatible(c, unit)
    if not compatible:
        raise NbuError(STU_UNAVAILABLE, f"storage unit {unit['label']}: no {unit['density']} "
                                        f"drive in robot {unit['rn']} on {unit['host']}")
    up = [d for d in compatible if d["state"] == UP]
    if not up:
        raise NbuError(DRIVES_DOWN_MEDIA_AVAILABLE,
                       f"every {unit['density']} drive of robot {unit['rn']} is DOWN")
    free = [d for d in up if not d["jobid"]]
    if not free:
        raise NbuError(NO_DRIVES, f"No drives are available: all {len(up)} "
                                  f"{unit['density']} drives of robot {unit['rn']} are busy")
    return free


def _elsewhere(c: sqlite3.Connection, held: dict[str, Any]) -> set[str]:
    """Media a span cannot take: loaded in another drive that is DOWN or held by a job (one
    in an idle drive can be moved to the span's drive)."""
    return {d["media_id"] for d in _all_drives(c) if d["media_id"] and
            d["index"] != held["drive"] and (d["state"] != UP or d["jobid"])}


def _backup_medium(c: sqlite3.Connection, unit: dict[str, Any], pool: str, rl: int,
                   media_id: str | None, blocked: set[str]) -> dict[str, Any] | None:
    number = emm_media.pool_number(c, pool)
    scratch = emm_media.scratch_pool(c)
    pools = [number] + ([scratch] if scratch is not None and scratch != number else [])
    marks = ",".join("?" * len(pools))
    rows = c.execute(MEDIA_SELECT + f" WHERE m.pool_number IN ({marks}) AND m.rn = ? "
                     "AND m.state & ? = 0 AND (m.max_mounts = 0 OR m.mounts < m.max_mounts)",
                     (*pools, unit["rn"], emm_media.NOT_WRITABLE)).fetchall()
    usable = [emm_media.media_record(r) for r in rows]
    usable = [m for m in usable if m["density"] == unit["density"] and not m["jobid"]
              and not emm_media.is_cleaning(m["type"]) and m["media_id"] not in blocked
              and (media_id is None or m["media_id"] == media_id.upper())]

    def rank(m: dict[str, Any]) -> tuple[int, int, str]:
        if m["pool_number"] == number and m["assigned"]:
            return (0 if rl < 0 or m["rl"] == rl else 9, -m["kbytes"], m["media_id"])
        if m["assigned"]:
            return (9, 0, m["media_id"])  # assigned in the scratch pool: never taken
        return (1 if m["pool_number"] == number else 2, 0, m["media_id"])

    ranked = sorted((rank(m), m) for m in usable if rank(m)[0] < 9)
    return ranked[0][1] if ranked else None


def _restore_medium(c: sqlite3.Connection, unit: dict[str, Any],
                    media_id: str) -> dict[str, Any]:
    rec = emm_media.medium(c, media_id)
    if rec["jobid"]:
        raise NbuError(MEDIA_IN_USE, f"media {rec['media_id']} is in use by job "
                                     f"{rec['jobid']}")
    if rec["rn"] != unit["rn"] or rec["density"] != unit["density"]:
        raise NbuError(STU_UNAVAILABLE, f"media {rec['media_id']} ({rec['density']}, robot "
                                        f"{rec['rn']}) is not reachable through storage unit "
                                        f"{unit['label']}")
    return rec


def _assign(c: sqlite3.Connection, rec: dict[str, Any], number: int, rl: int,
            now: int) -> None:
    """Assign an unassigned medium to the job's pool and retention level."""
    if rec["assigned"]:
        return
    rec.update(assigned=now, rl=rl, pool_number=number)
    c.execute("UPDATE media SET assigned = ?, rl = ?, pool_number = ? WHERE media_id = ?",
              (now, rl, number, rec["media_id"]))
