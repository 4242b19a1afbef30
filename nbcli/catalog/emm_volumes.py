"""Volume pools, media, media errors and the media settings in the EMM database; MediaDB.

The rules of NetBackup's media database (next-areas.md §1.3): four default pools and at most
one scratch pool, never NetBackup or DataStore; a medium's place (a robot and a slot no other
medium holds, or none); freezing and suspending; what bptm's reports change (written kbytes and
images, FULL); the media error threshold; unassigning a medium whose last image expired.
MediaDB is this and emm_devices.Devices over one database, as EmmDB.media. Every method is one
transaction of nbemm's database.

Imports nothing from nbcli but status and the catalog's own modules.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from nbcli.catalog.emm_devices import Devices
from nbcli.catalog.emm_media import (
    BARCODE_MAX,
    DEFAULT_POOLS,
    DOWN,
    ERROR_KINDS,
    FROZEN,
    FULL,
    IMPORTED,
    MEDIA_ID_RE,
    MEDIA_SELECT,
    NEVER_SCRATCH,
    NONE_RT,
    POOL_GROUP,
    POOL_HOST,
    POOL_USER,
    STANDALONE,
    SUSPENDED,
    UNKEYED,
    check_media_id,
    check_name,
    check_text,
    density_of,
    drive_by,
    install,
    is_cleaning,
    media_record,
    medium,
    pool_number,
    pool_record,
    scratch_pool,
)
from nbcli.catalog.sqlitedb import Database
from nbcli.status import (
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    INVALID_REQUEST,
    MEDIA_IN_USE,
    MEDIA_NOT_ASSIGNED,
    MEDIA_PROTECTED,
    NO_ENTITY,
    NbuError,
)


class Volumes:
    """Pools, media, media errors and settings of nbemm's database `db`."""

    db: Database

    # --- pools -------------------------------------------------------------------------------

    def pool_add(self, name: str, description: str = "", host: str = POOL_HOST,
                 user: str = POOL_USER, group: str = POOL_GROUP) -> int:
        check_name("volume pool name", name)
        description = check_text("pool description", description)
        for what, value in (("pool host", host), ("pool user", user), ("pool group", group)):
            check_name(what, value)
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM pools WHERE name = ?", (name,)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"volume pool {name} already exists")
            number = int(c.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM pools")
                         .fetchone()[0])
            c.execute("INSERT INTO pools (number, name, description, host, user, grp) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (number, name, description, host, user,
                                                    group))
        return number

    def pool_delete(self, name: str) -> None:
        with self.db.tx() as c:
            number = pool_number(c, name)
            if number < len(DEFAULT_POOLS):
                raise NbuError(INVALID_REQUEST, f"volume pool {name} cannot be deleted")
            if c.execute("SELECT 1 FROM media WHERE pool_number = ?", (number,)).fetchone():
                raise NbuError(INVALID_REQUEST, f"volume pool {name} still has media")
            c.execute("DELETE FROM pools WHERE number = ?", (number,))

    def pools(self) -> list[dict[str, Any]]:
        return [pool_record(r) for r in self.db.query("SELECT * FROM pools ORDER BY number")]

    def pool_scratch(self, name: str, on: bool) -> None:
        """Make `name` the scratch pool (at most one; never NetBackup or DataStore), or not."""
        with self.db.tx() as c:
            number = pool_number(c, name)
            row = c.execute("SELECT name FROM pools WHERE number = ?", (number,)).fetchone()
            if not on:
                c.execute("UPDATE pools SET scratch = 0 WHERE number = ?", (number,))
                return
            if row["name"] in NEVER_SCRATCH:
                raise NbuError(INVALID_REQUEST, f"volume pool {row['name']} cannot be a "
                                                "scratch pool")
            other = c.execute("SELECT name FROM pools WHERE scratch = 1 AND number != ?",
                              (number,)).fetchone()
            if other is not None:
                raise NbuError(ENTITY_EXISTS, f"volume pool {other['name']} is the scratch "
                                              "pool already (there can be one)")
            c.execute("UPDATE pools SET scratch = 1 WHERE number = ?", (number,))

    # --- media -------------------------------------------------------------------------------

    def media_add(self, media_id: str, mtype: str, now: int, barcode: str = "",
                  pool: str = "NetBackup", rt: str | None = None, rn: int = STANDALONE,
                  slot: int = 0, max_mounts: int = 0, description: str = "") -> None:
        media_id, mtype = check_media_id(media_id), mtype.lower()
        density_of(mtype)
        barcode = check_text("barcode", barcode, BARCODE_MAX)
        if barcode and not MEDIA_ID_RE.fullmatch(barcode):
            raise NbuError(INVALID_PARAMETER, f"invalid barcode {barcode!r}")
        description = check_text("media description", description, 25)
        _check_count("maximum mounts", max_mounts)
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM media WHERE media_id = ?", (media_id,)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"media id {media_id} already exists")
            if barcode and c.execute("SELECT media_id FROM media WHERE barcode = ?",
                                     (barcode,)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"barcode {barcode} is another medium's")
            number = pool_number(c, pool)
            rt, rn, slot = _place(c, media_id, rt, rn, slot)
            c.execute("INSERT INTO media (media_id, type, barcode, pool_number, rt, rn, slot, "
                      "max_mounts, created, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (media_id, mtype, barcode, number, rt, rn, slot, max_mounts, now,
                       description))

    def media_change(self, media_id: str, pool: str | None = None, rn: int | None = None,
                     slot: int | None = None, max_mounts: int | None = None,
                     description: str | None = None, rt: str | None = None,
                     cleanings: int | None = None) -> None:
        """Move a medium to another pool, robot or slot; change its limits or description.
        An assigned medium keeps its pool (NetBackup refuses to move one). `cleanings` (a
        cleaning tape's only) is how many cleanings it has left: its mounts count them down
        to its maximum, which is set here, in the same transaction as its mounts are read."""
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if pool is not None:
                number = pool_number(c, pool)
                if number != rec["pool_number"] and rec["assigned"]:
                    raise NbuError(MEDIA_PROTECTED, f"media id {rec['media_id']} is assigned:"
                                                    " its volume pool cannot change")
                rec["pool_number"] = number
            if rn is not None or slot is not None or rt is not None:
                new_rn = rec["rn"] if rn is None else rn
                new_slot = rec["slot"] if slot is None else slot
                rec["rt"], rec["rn"], rec["slot"] = _place(c, rec["media_id"], rt, new_rn,
                                                           new_slot)
            if max_mounts is not None:
                rec["max_mounts"] = _check_count("maximum mounts", max_mounts)
            if cleanings is not None:
                if not is_cleaning(rec["type"]):
                    raise NbuError(INVALID_PARAMETER, f"media id {rec['media_id']} is a "
                                   f"{rec['type']} tape: cleanings are a cleaning tape's")
                rec["max_mounts"] = int(rec["mounts"] or 0) + _check_count("cleanings",
                                                                           cleanings)
            if description is not None:
                rec["description"] = check_text("media description", description, 25)
            c.execute("UPDATE media SET pool_number = :pool_number, rt = :rt, rn = :rn, "
                      "slot = :slot, max_mounts = :max_mounts, description = :description "
                      "WHERE media_id = :media_id", rec)

    def media_delete(self, media_id: str) -> None:
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if rec["jobid"]:
                raise NbuError(MEDIA_IN_USE, f"media id {rec['media_id']} is in use by job "
                                             f"{rec['jobid']}")
            if rec["assigned"]:
                raise NbuError(MEDIA_PROTECTED, f"media id {rec['media_id']} is assigned "
                                                "(expire its images first)")
            c.execute("DELETE FROM media WHERE media_id = ?", (rec["media_id"],))
            c.execute("DELETE FROM media_images WHERE media_id = ?", (rec["media_id"],))
            c.execute("UPDATE drives SET media_id = '' WHERE media_id = ?", (rec["media_id"],))

    def media(self, media_id: str | None = None, pool: str | None = None,
              rn: int | None = None) -> list[dict[str, Any]]:
        """Media records by media id, optionally of one pool or robot; 227 for an unknown
        media id, 167 for an unknown pool."""
        sql, args = MEDIA_SELECT + " WHERE 1", list[Any]()
        with self.db.tx() as c:
            if media_id is not None:
                return [medium(c, media_id)]
            if pool is not None:
                sql, args = sql + " AND m.pool_number = ?", [*args, pool_number(c, pool)]
            if rn is not None:
                sql, args = sql + " AND m.rn = ?", [*args, rn]
            rows = c.execute(sql + " ORDER BY m.media_id", tuple(args)).fetchall()
        return [media_record(r) for r in rows]

    def media_state(self, media_id: str, action: str) -> dict[str, Any]:
        """bpmedia's -freeze/-unfreeze/-suspend/-unsuspend; 95 to freeze or suspend a medium
        that is not assigned."""
        bits = {"freeze": FROZEN, "unfreeze": FROZEN, "suspend": SUSPENDED,
                "unsuspend": SUSPENDED}
        if action not in bits:
            raise NbuError(INVALID_PARAMETER, f"unknown media action {action!r}")
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if action in ("freeze", "suspend"):
                if not rec["assigned"]:
                    raise NbuError(MEDIA_NOT_ASSIGNED, f"media id {rec['media_id']} is not "
                                                       "assigned")
                rec["state"] |= bits[action]
            else:
                rec["state"] &= ~bits[action]
            c.execute("UPDATE media SET state = ? WHERE media_id = ?",
                      (rec["state"], rec["media_id"]))
        return rec

    def media_written(self, media_id: str, kbytes: int, images: int, full: bool, rl: int,
                      expiration: int, now: int, backupid: str = "") -> bool:
        """bptm wrote `kbytes` and `images` (0 or 1) more images on a medium (full: it reached
        the end); an unassigned one is assigned now. With the image's `backupid` an image
        already counted on the medium (a report sent again, or recounted first) is not
        counted again: False."""
        _check_count("kbytes", kbytes)
        _check_count("images", images)
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if images and backupid and not _count_once(c, rec["media_id"], backupid):
                kbytes = images = 0
            c.execute("UPDATE media SET kbytes = kbytes + ?, images = images + ?, "
                      "vimages = vimages + ?, last_written = ?, "
                      "expiration = MAX(expiration, ?), state = state | ?, "
                      "assigned = CASE assigned WHEN 0 THEN ? ELSE assigned END, "
                      "rl = CASE WHEN rl < 0 THEN ? ELSE rl END WHERE media_id = ?",
                      (kbytes, images, images, now, expiration, FULL if full else 0, now, rl,
                       rec["media_id"]))
        return bool(images)

    def media_recount(self, media_id: str, images: list[dict[str, Any]], as_of: int,
                      now: int, totals: tuple[int, int] | None = None) -> dict[str, Any]:
        """The catalog's valid images on a medium as of `as_of` (backupid, kbytes,
        expiration, rl, written each): those bptm's report never counted are counted now (as
        the report would have), and the medium's valid images and expiration become the
        catalog's - unless a job writes it or wrote it in or after the second of `as_of`
        (what the catalog may not have had yet; nbemm's times are whole seconds). An
        unassigned medium holding valid images is assigned, so that no backup labels it
        again. `images` may be one part of the list (a tape of many images comes in parts):
        `totals` are then the whole list's number of images and latest expiration.
        {"counted": backup ids counted now, "set": whether vimages/expiration were set}."""
        valid, latest = totals if totals is not None else \
            (len(images), max((i["expiration"] for i in images), default=0))
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if rec["jobid"] or _filled_by_a_job(c, rec["media_id"]):
                return {"counted": [], "set": False}
            keyed = not c.execute("SELECT 1 FROM media_images WHERE media_id = ? AND "
                                  "backupid = ?", (rec["media_id"], UNKEYED)).fetchone()
            counted = []
            for image in images:
                if keyed and _count_once(c, rec["media_id"], image["backupid"]):
                    counted.append(image["backupid"])
                    c.execute("UPDATE media SET kbytes = kbytes + ?, images = images + 1, "
                              "vimages = vimages + 1, expiration = MAX(expiration, ?), "
                              "last_written = MAX(last_written, ?), "
                              "rl = CASE WHEN rl < 0 THEN ? ELSE rl END WHERE media_id = ?",
                              (image["kbytes"], image["expiration"], image["written"],
                               image["rl"], rec["media_id"]))
            fresh = rec["last_written"] < as_of
            if fresh:
                c.execute("UPDATE media SET vimages = ?, expiration = ? WHERE media_id = ?",
                          (valid, latest, rec["media_id"]))
            if valid:
                c.execute("UPDATE media SET assigned = ? WHERE media_id = ? AND assigned = 0",
                          (now, rec["media_id"]))
        return {"counted": counted, "set": fresh}

    def media_read(self, media_id: str, now: int) -> None:
        """A restore read the medium: bpmedialist's last read and number of restores.
        Not synced: statistics a crash may lose the last of, while a restore waits for this
        (bptm's unmount) and a sync costs it milliseconds."""
        with self.db.tx(durable=False) as c:
            rec = medium(c, media_id)
            c.execute("UPDATE media SET last_read = ?, restores = restores + 1 "
                      "WHERE media_id = ?", (now, rec["media_id"]))

    def media_error(self, jobid: int, media_id: str, drive: str | int, kind: str,
                    now: int) -> str:
        """Record a read, write or position error; what the threshold makes of it.

        NetBackup's rule (next-areas.md §1.3): more than `media_error_threshold` errors on
        one medium within `time_window` hours freeze it when it is not assigned yet (another
        medium is picked) or suspend it when it is (the backup is abandoned); a drive with
        more than `drive_error_threshold` errors in the window, on different media, is the
        culprit instead: it goes DOWN (NetBackup's default downs it at the third).
        """
        if kind not in ERROR_KINDS:
            raise NbuError(INVALID_PARAMETER, f"media error kind must be one of "
                                              f"{', '.join(ERROR_KINDS)}, not {kind!r}")
        with self.db.tx() as c:
            rec, dev = medium(c, media_id), drive_by(c, drive)
            threshold, drive_threshold, hours = _settings(c)
            since = now - hours * 3600
            c.execute("INSERT INTO media_errors (time, media_id, drive, kind, jobid) "
                      "VALUES (?, ?, ?, ?, ?)", (now, rec["media_id"], dev["index"], kind,
                                                 jobid))
            c.execute("UPDATE media SET errors = errors + 1 WHERE media_id = ?",
                      (rec["media_id"],))
            on_drive, media_on_drive = c.execute(
                "SELECT COUNT(*), COUNT(DISTINCT media_id) FROM media_errors "
                "WHERE drive = ? AND time > ?", (dev["index"], since)).fetchone()
            if on_drive > drive_threshold and media_on_drive >= 2:
                c.execute("UPDATE drives SET state = ? WHERE idx = ?", (DOWN, dev["index"]))
                return "drive_down"
            on_medium = c.execute("SELECT COUNT(*) FROM media_errors WHERE media_id = ? "
                                  "AND time > ?", (rec["media_id"], since)).fetchone()[0]
            if on_medium <= threshold:
                return "none"
            # TAPE-PLAN's contract: a medium is assigned as soon as a job's allocation picks
            # it, so an error while its first image is written suspends it too.
            bit, action = (SUSPENDED, "suspended") if rec["assigned"] else (FROZEN, "frozen")
            c.execute("UPDATE media SET state = state | ? WHERE media_id = ?",
                      (bit, rec["media_id"]))
            return action

    def media_unassign(self, media_id: str, any_state: bool = False) -> bool:
        """The last valid image on a medium expired: it is unassigned (its counters and
        FROZEN, SUSPENDED and FULL cleared, back to the scratch pool if there is one) -
        unless it is frozen, which keeps it assigned (`any_state`: `bpexpdate -m ID -d 0`,
        which NetBackup carries out "regardless of the media's previous state"), or a job is
        writing it now or filled it and writes on another medium (the image's fragments on
        it are in no catalog entry yet: the next backup to take an unassigned medium labels
        it again)."""
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if rec["state"] & FROZEN and not any_state or rec["jobid"] \
                    or _filled_by_a_job(c, rec["media_id"]):
                return False
            scratch = scratch_pool(c)
            number = rec["pool_number"] if scratch is None else scratch
            c.execute("DELETE FROM media_images WHERE media_id = ?", (rec["media_id"],))
            c.execute("UPDATE media SET assigned = 0, rl = -1, kbytes = 0, images = 0, "
                      "vimages = 0, expiration = 0, state = state & ?, pool_number = ? "
                      "WHERE media_id = ?", (IMPORTED, number, rec["media_id"]))
        return True

    # --- settings ----------------------------------------------------------------------------

    def settings(self, threshold: int | None = None, window: int | None = None,
                 drive_threshold: int | None = None) -> dict[str, int]:
        with self.db.tx() as c:
            for name, value in (("media_error_threshold", threshold), ("time_window", window),
                                ("drive_error_threshold", drive_threshold)):
                if value is not None:
                    _check_count(name, value)
                    c.execute("UPDATE settings SET value = ? WHERE name = ?", (value, name))
            return {r["name"]: int(r["value"]) for r in c.execute("SELECT * FROM settings")}


class MediaDB(Devices, Volumes):
    """The media tables of nbemm's database: robots, drives, pools, media, errors, settings."""

    def __init__(self, db: Database) -> None:
        self.db = db
        install(db)


def _settings(c: sqlite3.Connection) -> tuple[int, int, int]:
    values = {r["name"]: int(r["value"]) for r in c.execute("SELECT * FROM settings")}
    return (values["media_error_threshold"], values["drive_error_threshold"],
            values["time_window"])


def _count_once(c: sqlite3.Connection, media_id: str, backupid: str) -> bool:
    """Note that image `backupid` is counted on the medium: False if it was already."""
    return c.execute("INSERT OR IGNORE INTO media_images (media_id, backupid) VALUES (?, ?)",
                     (media_id, backupid)).rowcount == 1


def _check_count(what: str, value: int) -> int:
    if not 0 <= value <= 2**62:
        raise NbuError(INVALID_PARAMETER, f"{what} must be 0 or more, not {value}")
    return value


def _place(c: sqlite3.Connection, media_id: str, rt: str | None, rn: int, slot: int
           ) -> tuple[str, int, int]:
    """A medium's (robot type, robot number, slot): a robot that exists, a slot no other
    medium of that robot holds; (none, -1, 0) for a standalone medium."""
    if rn == STANDALONE:
        return NONE_RT, STANDALONE, 0
    robot = c.execute("SELECT rt FROM robots WHERE rn = ?", (rn,)).fetchone()
    if robot is None:
        raise NbuError(NO_ENTITY, f"robot {rn} does not exist")
    if rt is not None and rt.lower() != robot["rt"]:
        raise NbuError(INVALID_PARAMETER, f"robot {rn} is {robot['rt'].upper()}, not "
                                          f"{rt.upper()}")
    if not 1 <= slot <= 32767:
        raise NbuError(INVALID_PARAMETER, f"slot must be 1 to 32767, not {slot}")
    other = c.execute("SELECT media_id FROM media WHERE rn = ? AND slot = ? AND media_id != ?",
                      (rn, slot, media_id)).fetchone()
    if other is not None:
        raise NbuError(ENTITY_EXISTS, f"slot {slot} of robot {rn} holds "
                                      f"{other['media_id']}")
    return robot["rt"], rn, slot


def _filled_by_a_job(c: sqlite3.Connection, media_id: str) -> bool:
    """Whether a running backup filled the medium and went on to another (span)."""
    return any(media_id in str(r["filled"]).split(",") for r in
               c.execute("SELECT filled FROM allocations WHERE filled IS NOT NULL"))
