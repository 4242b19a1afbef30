"""The EMM's removable media: robots, drives, volume pools, media and their error history.

nbemm's database (db/emm/emm.db) holds these tables beside the hosts and storage units of
emmdb.py; `install` adds them (and the columns older databases lack) to the same `Database`,
and MediaDB works on it. The rules of NetBackup's media database live here - which pool may be
the scratch pool, when a medium is frozen or suspended after errors, when it goes back to
unassigned - so that nbemm's handlers (nbcli/daemons/nbemm_media.py) only parse requests. The
choice of a drive and a medium for a tape job is in emm_tape.py.

Who uses what is not stored twice: a drive's or a medium's job is the allocation naming it
(allocations.drive, allocations.media_id), so releasing an allocation - by nbrb at the job's
end, or by nbemm's reconcile for a job that died - frees both.

Imports nothing from nbcli but status and the SQLite helper.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from nbcli.catalog.sqlitedb import Database
from nbcli.status import (
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    INVALID_REQUEST,
    MEDIA_ID_TOO_LONG,
    MEDIA_IN_USE,
    MEDIA_NOT_ASSIGNED,
    MEDIA_PROTECTED,
    NO_ENTITY,
    NO_SUCH_POOL,
    PATH_NOT_ABSOLUTE,
    TEXT_TOO_LONG,
    NbuError,
)

# Media state bits (bpmedialist's status, vmquery's "status" field)
FROZEN, SUSPENDED, FULL, IMPORTED = 0x1, 0x2, 0x8, 0x80
NOT_WRITABLE = FROZEN | SUSPENDED | FULL
UP, DOWN = "UP", "DOWN"
ROBOT_TYPES = ("tld",)
NONE_RT = "none"  # a medium outside every robot (standalone)
STANDALONE = -1  # robot number of a standalone drive or medium
# Media types and the drive density each is written in (cleaning tapes: the density they
# clean). Media type and density codes are bpmedialist's (next-areas.md §1.5).
MEDIA_TYPES: dict[str, str] = {
    "hcart": "hcart", "hcart2": "hcart2", "hcart3": "hcart3", "4mm": "4mm", "8mm": "8mm",
    "dlt": "dlt", "dlt2": "dlt2", "dlt3": "dlt3", "dtf": "dtf", "qscsi": "qscsi",
    "hc_cln": "hcart", "hc2_cln": "hcart2", "hc3_cln": "hcart3", "4mm_cln": "4mm",
    "8mm_cln": "8mm", "dlt_cln": "dlt", "dlt2_cln": "dlt2", "dlt3_cln": "dlt3",
    "dtf_cln": "dtf"}
DENSITIES = frozenset(MEDIA_TYPES.values())
# The four pools every EMM database has, and their numbers.
DEFAULT_POOLS = (("None", "the None pool"), ("NetBackup", "the NetBackup pool"),
                 ("DataStore", "the DataStore pool"),
                 ("CatalogBackup", "NetBackup Catalog pool"))
NEVER_SCRATCH = ("NetBackup", "DataStore")
POOL_HOST, POOL_USER, POOL_GROUP = "ANYHOST", "ANY", "NONE"
ERROR_KINDS = ("write", "read", "position")
DEFAULT_SETTINGS = {"media_error_threshold": 2, "time_window": 12}  # errors, hours
MEDIA_ID_MAX, BARCODE_MAX, TEXT_MAX, NAME_MAX = 6, 16, 256, 128
MEDIA_ID_RE = re.compile(r"[A-Za-z0-9_.+-]+")
NAME_RE = re.compile(r"[A-Za-z0-9_.+][A-Za-z0-9_.+:-]*")

SCHEMA = """
CREATE TABLE IF NOT EXISTS robots (
    rn INTEGER PRIMARY KEY,
    rt TEXT NOT NULL,
    host TEXT NOT NULL,
    device TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drives (
    idx INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    type TEXT NOT NULL,
    rn INTEGER NOT NULL,
    drnum INTEGER NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    media_id TEXT NOT NULL DEFAULT '',
    UNIQUE (name, host));
CREATE TABLE IF NOT EXISTS pools (
    number INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    grp TEXT NOT NULL,
    scratch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS media (
    media_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    barcode TEXT NOT NULL,
    pool_number INTEGER NOT NULL REFERENCES pools (number),
    rt TEXT NOT NULL,
    rn INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    assigned INTEGER NOT NULL DEFAULT 0,
    expiration INTEGER NOT NULL DEFAULT 0,
    last_written INTEGER NOT NULL DEFAULT 0,
    last_read INTEGER NOT NULL DEFAULT 0,
    kbytes INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    vimages INTEGER NOT NULL DEFAULT 0,
    rl INTEGER NOT NULL DEFAULT -1,
    mounts INTEGER NOT NULL DEFAULT 0,
    max_mounts INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    first_mount INTEGER NOT NULL DEFAULT 0,
    last_mount INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS media_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    media_id TEXT NOT NULL,
    drive INTEGER NOT NULL,
    kind TEXT NOT NULL,
    jobid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS media_errors_time ON media_errors (time);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL)
"""

# Columns later tables of emmdb gained; databases made before them get them by ALTER TABLE.
ADDED_COLUMNS = (("allocations", "drive", "INTEGER"), ("allocations", "media_id", "TEXT"),
                 ("stus", "rt", "TEXT"), ("stus", "rn", "INTEGER"), ("stus", "density", "TEXT"))

MEDIA_SELECT = (
    "SELECT m.*, p.name AS pool, COALESCE(r.host, '') AS host, "
    "COALESCE((SELECT a.jobid FROM allocations a WHERE a.media_id = m.media_id), 0) AS jobid "
    "FROM media m JOIN pools p ON p.number = m.pool_number LEFT JOIN robots r ON r.rn = m.rn")
DRIVE_SELECT = (
    "SELECT d.*, COALESCE((SELECT a.jobid FROM allocations a WHERE a.drive = d.idx), 0) "
    "AS jobid FROM drives d")


def install(db: Database) -> None:
    """Add the media tables, the default pools and settings, and the columns older
    databases lack, to nbemm's database (one transaction)."""
    with db.tx() as c:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                c.execute(statement)
        for table, column, kind in ADDED_COLUMNS:
            have = {r["name"] for r in c.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for number, (name, description) in enumerate(DEFAULT_POOLS):
            c.execute("INSERT OR IGNORE INTO pools (number, name, description, host, user, "
                      "grp) VALUES (?, ?, ?, ?, ?, ?)",
                      (number, name, description, POOL_HOST, POOL_USER, POOL_GROUP))
        for name, value in DEFAULT_SETTINGS.items():
            c.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)",
                      (name, value))


# --- checks ---------------------------------------------------------------------------------

def check_media_id(media_id: str) -> str:
    if len(media_id) > MEDIA_ID_MAX:
        raise NbuError(MEDIA_ID_TOO_LONG, f"media id {media_id!r} is longer than 6 characters")
    if not MEDIA_ID_RE.fullmatch(media_id):
        raise NbuError(INVALID_PARAMETER, f"invalid media id {media_id!r}: use letters, "
                                          "digits and . _ + -")
    return media_id.upper()


def check_text(what: str, value: str, limit: int = TEXT_MAX) -> str:
    if len(value) > limit:
        raise NbuError(TEXT_TOO_LONG, f"{what} is longer than {limit} characters")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in value):
        raise NbuError(INVALID_PARAMETER, f"{what} holds control characters")
    return value


def check_name(what: str, value: str) -> str:
    if len(value) > NAME_MAX:
        raise NbuError(TEXT_TOO_LONG, f"{what} is longer than {NAME_MAX} characters")
    if not NAME_RE.fullmatch(value):
        raise NbuError(INVALID_PARAMETER,
                       f"invalid {what} {value!r}: use letters, digits and . _ + - :")
    return value


def density_of(media_type: str) -> str:
    """The drive density a media type is written in; 20 for an unknown type."""
    density = MEDIA_TYPES.get(media_type.lower())
    if density is None:
        raise NbuError(INVALID_PARAMETER, f"unknown media type {media_type!r} "
                                          f"(one of {', '.join(MEDIA_TYPES)})")
    return density


def check_density(density: str) -> str:
    if density.lower() not in DENSITIES:
        raise NbuError(INVALID_PARAMETER, f"unknown density {density!r} "
                                          f"(one of {', '.join(sorted(DENSITIES))})")
    return density.lower()


def check_robot_type(rt: str) -> str:
    if rt.lower() not in ROBOT_TYPES:
        raise NbuError(INVALID_PARAMETER, f"robot type {rt!r} is not supported (only tld)")
    return rt.lower()


def is_cleaning(media_type: str) -> bool:
    return media_type.endswith("_cln")


def media_record(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """A media row as the ops return it (TAPE-PLAN's keys, and its density)."""
    rec = dict(row)
    rec["density"] = MEDIA_TYPES.get(rec["type"], rec["type"])
    return rec


def drive_record(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    rec = dict(row)
    rec["index"] = rec.pop("idx")
    return rec


def pool_record(row: sqlite3.Row) -> dict[str, Any]:
    rec = dict(row)
    rec["group"] = rec.pop("grp")
    rec["scratch"] = bool(rec["scratch"])
    return rec


def pool_number(c: sqlite3.Connection, pool: str) -> int:
    """The number of pool `pool` (a name, or a number in digits); 167 when there is none."""
    row = c.execute("SELECT number FROM pools WHERE name = ? OR (? AND number = ?)",
                    (pool, pool.isdigit(), int(pool) if pool.isdigit() else -1)).fetchone()
    if row is None:
        raise NbuError(NO_SUCH_POOL, f"volume pool {pool} is not in the EMM database")
    return int(row["number"])


def scratch_pool(c: sqlite3.Connection) -> int | None:
    row = c.execute("SELECT number FROM pools WHERE scratch = 1").fetchone()
    return None if row is None else int(row["number"])


def medium(c: sqlite3.Connection, media_id: str) -> dict[str, Any]:
    row = c.execute(MEDIA_SELECT + " WHERE m.media_id = ?", (media_id.upper(),)).fetchone()
    if row is None:
        raise NbuError(NO_ENTITY, f"media id {media_id} is not in the EMM database")
    return media_record(row)


def drive_by(c: sqlite3.Connection, name: str | int, host: str | None = None
             ) -> dict[str, Any]:
    """A drive by its index (int) or its name (and host, when given); 227 when none."""
    if isinstance(name, int):
        row = c.execute(DRIVE_SELECT + " WHERE d.idx = ?", (name,)).fetchone()
    elif host is None:
        row = c.execute(DRIVE_SELECT + " WHERE d.name = ? ORDER BY d.idx", (name,)).fetchone()
    else:
        row = c.execute(DRIVE_SELECT + " WHERE d.name = ? AND d.host = ?",
                        (name, host)).fetchone()
    if row is None:
        where = f" on {host}" if host else ""
        raise NbuError(NO_ENTITY, f"drive {name}{where} is not in the EMM database")
    return drive_record(row)


class MediaDB:
    """The media tables of nbemm's database; every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        install(db)

    # --- robots ------------------------------------------------------------------------------

    def robot_add(self, rn: int, rt: str, host: str, device: str) -> None:
        rt, host = check_robot_type(rt), check_name("robot control host", host)
        if not 0 <= rn <= 32767:
            raise NbuError(INVALID_PARAMETER, f"robot number must be 0 to 32767, not {rn}")
        if not device.startswith("/"):
            raise NbuError(PATH_NOT_ABSOLUTE, f"robot path {device!r} is not absolute")
        check_text("robot path", device, 1024)
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM robots WHERE rn = ?", (rn,)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"robot {rn} already exists")
            c.execute("INSERT INTO robots (rn, rt, host, device) VALUES (?, ?, ?, ?)",
                      (rn, rt, host, device))

    def robot_delete(self, rn: int) -> None:
        """Delete robot `rn`: its drives must be deleted first; its media become standalone."""
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM robots WHERE rn = ?", (rn,)).fetchone() is None:
                raise NbuError(NO_ENTITY, f"robot {rn} does not exist")
            if c.execute("SELECT 1 FROM drives WHERE rn = ?", (rn,)).fetchone():
                raise NbuError(INVALID_REQUEST, f"robot {rn} still has drives: delete them "
                                                "first")
            c.execute("UPDATE media SET rt = ?, rn = ?, slot = 0 WHERE rn = ?",
                      (NONE_RT, STANDALONE, rn))
            c.execute("DELETE FROM robots WHERE rn = ?", (rn,))

    def robots(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("SELECT rn, rt, host, device FROM robots "
                                               "ORDER BY rn")]

    # --- drives ------------------------------------------------------------------------------

    def drive_add(self, name: str, host: str, dtype: str, rn: int, drnum: int, path: str,
                  state: str = UP) -> int:
        """Add a drive; its index is the lowest one free (as tpconfig numbers drives)."""
        check_name("drive name", name)
        check_name("host name", host)
        dtype, state = check_density(dtype), _drive_state(state)
        check_text("drive path", path, 1024)
        if not path:
            raise NbuError(INVALID_PARAMETER, "a drive needs a path")
        with self.db.tx() as c:
            if c.execute("SELECT 1 FROM drives WHERE name = ? AND host = ?",
                         (name, host)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"drive {name} already exists on {host}")
            if rn != STANDALONE:
                robot = c.execute("SELECT * FROM robots WHERE rn = ?", (rn,)).fetchone()
                if robot is None:
                    raise NbuError(NO_ENTITY, f"robot {rn} does not exist")
                if not 0 <= drnum <= 32767:
                    raise NbuError(INVALID_PARAMETER,
                                   f"robot drive number must be 0 to 32767, not {drnum}")
                if c.execute("SELECT 1 FROM drives WHERE rn = ? AND drnum = ?",
                             (rn, drnum)).fetchone():
                    raise NbuError(ENTITY_EXISTS,
                                   f"robot {rn} already has a drive number {drnum}")
            if c.execute("SELECT 1 FROM drives WHERE host = ? AND path = ?",
                         (host, path)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"a drive on {host} already has path {path}")
            used = {int(r["idx"]) for r in c.execute("SELECT idx FROM drives")}
            index = next(i for i in range(len(used) + 1) if i not in used)
            c.execute("INSERT INTO drives (idx, name, host, type, rn, drnum, path, state) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (index, name, host, dtype, rn, drnum if rn != STANDALONE else -1,
                       path, state))
        return index

    def drive_update(self, name: str | int, host: str | None, state: str | None = None,
                     path: str | None = None, comment: str | None = None) -> dict[str, Any]:
        """Change a drive's state, path or comment; the drive as it is now."""
        with self.db.tx() as c:
            drive = drive_by(c, name, host)
            if state is not None:
                drive["state"] = _drive_state(state)
            if path is not None:
                drive["path"] = check_text("drive path", path, 1024)
            if comment is not None:
                drive["comment"] = check_text("drive comment", comment)
            c.execute("UPDATE drives SET state = ?, path = ?, comment = ? WHERE idx = ?",
                      (drive["state"], drive["path"], drive["comment"], drive["index"]))
        return drive

    def drive_delete(self, name: str | int, host: str | None) -> None:
        with self.db.tx() as c:
            drive = drive_by(c, name, host)
            if drive["jobid"]:
                raise NbuError(MEDIA_IN_USE, f"drive {drive['name']} is in use by job "
                                             f"{drive['jobid']}")
            c.execute("DELETE FROM drives WHERE idx = ?", (drive["index"],))

    def drives(self, host: str | None = None) -> list[dict[str, Any]]:
        sql, args = DRIVE_SELECT, tuple[str, ...]()
        if host is not None:
            sql, args = sql + " WHERE d.host = ?", (host,)
        return [drive_record(r) for r in self.db.query(sql + " ORDER BY d.idx", args)]

    def drive_loaded(self, name: str | int, host: str | None, media_id: str,
                     now: int) -> None:
        """What ltid says is in a drive now; loading a medium counts a mount."""
        with self.db.tx() as c:
            drive = drive_by(c, name, host)
            media_id = media_id.upper()
            if media_id:
                # A cartridge is in one drive at a time: another drive that held it is empty.
                c.execute("UPDATE drives SET media_id = '' WHERE media_id = ? AND idx != ?",
                          (media_id, drive["index"]))
                if media_id != drive["media_id"]:
                    c.execute("UPDATE media SET mounts = mounts + 1, last_mount = ?, "
                              "first_mount = CASE first_mount WHEN 0 THEN ? "
                              "ELSE first_mount END WHERE media_id = ?", (now, now, media_id))
            c.execute("UPDATE drives SET media_id = ? WHERE idx = ?",
                      (media_id, drive["index"]))

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
                     description: str | None = None, rt: str | None = None) -> None:
        """Move a medium to another pool, robot or slot; change its limits or description.
        An assigned medium keeps its pool (NetBackup refuses to move one)."""
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
                      expiration: int, now: int) -> None:
        """bptm wrote `kbytes` and `images` more images on a medium (full: it reached the
        end); an unassigned one is assigned now."""
        _check_count("kbytes", kbytes)
        _check_count("images", images)
        with self.db.tx() as c:
            rec = medium(c, media_id)
            c.execute("UPDATE media SET kbytes = kbytes + ?, images = images + ?, "
                      "vimages = vimages + ?, last_written = ?, "
                      "expiration = MAX(expiration, ?), state = state | ?, "
                      "assigned = CASE assigned WHEN 0 THEN ? ELSE assigned END, "
                      "rl = CASE WHEN rl < 0 THEN ? ELSE rl END WHERE media_id = ?",
                      (kbytes, images, images, now, expiration, FULL if full else 0, now, rl,
                       rec["media_id"]))

    def media_read(self, media_id: str, now: int) -> None:
        with self.db.tx() as c:
            rec = medium(c, media_id)
            c.execute("UPDATE media SET last_read = ? WHERE media_id = ?",
                      (now, rec["media_id"]))

    def media_error(self, jobid: int, media_id: str, drive: str | int, kind: str,
                    now: int) -> str:
        """Record a read, write or position error; what the threshold makes of it.

        NetBackup's rule (next-areas.md §1.3): more than `media_error_threshold` errors on
        one medium within `time_window` hours freeze it when it is not assigned yet (another
        medium is picked) or suspend it when it is (the backup is abandoned); a drive that
        failed on two different media in the window is the culprit instead: it goes DOWN.
        """
        if kind not in ERROR_KINDS:
            raise NbuError(INVALID_PARAMETER, f"media error kind must be one of "
                                              f"{', '.join(ERROR_KINDS)}, not {kind!r}")
        with self.db.tx() as c:
            rec, dev = medium(c, media_id), drive_by(c, drive)
            threshold, hours = _settings(c)
            since = now - hours * 3600
            c.execute("INSERT INTO media_errors (time, media_id, drive, kind, jobid) "
                      "VALUES (?, ?, ?, ?, ?)", (now, rec["media_id"], dev["index"], kind,
                                                 jobid))
            c.execute("UPDATE media SET errors = errors + 1 WHERE media_id = ?",
                      (rec["media_id"],))
            on_drive = c.execute("SELECT COUNT(DISTINCT media_id) FROM media_errors "
                                 "WHERE drive = ? AND time > ?",
                                 (dev["index"], since)).fetchone()[0]
            if on_drive >= 2:
                c.execute("UPDATE drives SET state = ? WHERE idx = ?", (DOWN, dev["index"]))
                return "drive_down"
            on_medium = c.execute("SELECT COUNT(*) FROM media_errors WHERE media_id = ? "
                                  "AND time > ?", (rec["media_id"], since)).fetchone()[0]
            if on_medium <= threshold:
                return "none"
            bit, action = (SUSPENDED, "suspended") if rec["assigned"] else (FROZEN, "frozen")
            c.execute("UPDATE media SET state = state | ? WHERE media_id = ?",
                      (bit, rec["media_id"]))
            return action

    def media_unassign(self, media_id: str) -> bool:
        """The last valid image on a medium expired: it is unassigned (its counters cleared,
        back to the scratch pool if there is one) - unless it is frozen, which keeps it
        assigned, or a job is writing it now."""
        with self.db.tx() as c:
            rec = medium(c, media_id)
            if rec["state"] & FROZEN or rec["jobid"]:
                return False
            scratch = scratch_pool(c)
            number = rec["pool_number"] if scratch is None else scratch
            c.execute("UPDATE media SET assigned = 0, rl = -1, kbytes = 0, images = 0, "
                      "vimages = 0, expiration = 0, state = state & ?, pool_number = ? "
                      "WHERE media_id = ?", (IMPORTED, number, rec["media_id"]))
        return True

    # --- settings ----------------------------------------------------------------------------

    def settings(self, threshold: int | None = None, window: int | None = None
                 ) -> dict[str, int]:
        with self.db.tx() as c:
            for name, value in (("media_error_threshold", threshold), ("time_window", window)):
                if value is not None:
                    _check_count(name, value)
                    c.execute("UPDATE settings SET value = ? WHERE name = ?", (value, name))
            return {r["name"]: int(r["value"]) for r in c.execute("SELECT * FROM settings")}


def _settings(c: sqlite3.Connection) -> tuple[int, int]:
    values = {r["name"]: int(r["value"]) for r in c.execute("SELECT * FROM settings")}
    return values["media_error_threshold"], values["time_window"]


def _drive_state(state: str) -> str:
    if state.upper() not in (UP, DOWN):
        raise NbuError(INVALID_PARAMETER, f"drive state must be UP or DOWN, not {state!r}")
    return state.upper()


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
