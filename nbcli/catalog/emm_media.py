"""The EMM's removable media: robots, drives, volume pools, media and their error history.

nbemm's database (db/emm/emm.db) holds these tables beside the hosts and storage units of
emmdb.py; `install` adds them (and the columns older databases lack) to the same `Database`.
This module is their vocabulary: the schema, the checks of names and codes, the records the ops
return and the lookups the others share. The rules of NetBackup's media database work on it in
emm_devices.py (robots and drives), emm_volumes.py (pools, media, media errors, settings: which
pool may be the scratch pool, when a medium is frozen or suspended after errors, when it goes
back to unassigned; MediaDB, both together) and emm_tape.py (the choice of a drive and a medium
for a tape job), so that nbemm's handlers (nbcli/daemons/nbemm_media.py) only parse requests.

A medium's counters (kbytes, images) count each image once: media_images keeps which images
were counted, so bptm's report of what it wrote and bpdbm's recount from the catalog (after a
report that never arrived) are one fact, whichever comes first or twice.

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
    INVALID_PARAMETER,
    MEDIA_ID_TOO_LONG,
    NO_ENTITY,
    NO_SUCH_POOL,
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
DEFAULT_SETTINGS = {"media_error_threshold": 2, "drive_error_threshold": 2,  # errors
                    "time_window": 12}  # hours
# media_images' backup id for a medium counted before that table was kept: its counters are
# what they are, a recount only sets its valid images and expiration.
UNKEYED = "*"
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
    description TEXT NOT NULL DEFAULT '',
    restores INTEGER NOT NULL DEFAULT 0,
    prev_pool INTEGER);
CREATE TABLE IF NOT EXISTS media_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    media_id TEXT NOT NULL,
    drive INTEGER NOT NULL,
    kind TEXT NOT NULL,
    jobid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS media_errors_time ON media_errors (time);
CREATE TABLE IF NOT EXISTS media_images (
    media_id TEXT NOT NULL,
    backupid TEXT NOT NULL,
    PRIMARY KEY (media_id, backupid));
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL)
"""

# Columns later tables of emmdb gained; databases made before them get them by ALTER TABLE.
ADDED_COLUMNS = (("allocations", "drive", "INTEGER"), ("allocations", "media_id", "TEXT"),
                 ("allocations", "from_pool", "INTEGER"), ("allocations", "filled", "TEXT"),
                 ("stus", "rt", "TEXT"), ("stus", "rn", "INTEGER"), ("stus", "density", "TEXT"),
                 ("media", "restores", "INTEGER NOT NULL DEFAULT 0"),
                 ("media", "prev_pool", "INTEGER"))
# vmquery's "previous pool": every path that moves a medium (vmchange, a backup taking it
# from the scratch pool, its return there) goes through this one rule. Made after the added
# columns (an older database gets prev_pool first); its body holds a ";", so not in SCHEMA.
PREV_POOL_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS media_prev_pool AFTER UPDATE OF pool_number ON media "
    "WHEN OLD.pool_number != NEW.pool_number BEGIN "
    "UPDATE media SET prev_pool = OLD.pool_number WHERE media_id = NEW.media_id; END")

MEDIA_SELECT = (
    "SELECT m.*, p.name AS pool, COALESCE(r.host, '') AS host, "
    "(SELECT q.name FROM pools q WHERE q.number = m.prev_pool) AS prev_pool_name, "
    "COALESCE((SELECT a.jobid FROM allocations a WHERE a.media_id = m.media_id), 0) AS jobid "
    "FROM media m JOIN pools p ON p.number = m.pool_number LEFT JOIN robots r ON r.rn = m.rn")
DRIVE_SELECT = (
    "SELECT d.*, COALESCE((SELECT a.jobid FROM allocations a WHERE a.drive = d.idx), 0) "
    "AS jobid FROM drives d")


def install(db: Database) -> None:
    """Add the media tables, the default pools and settings, and the columns older
    databases lack, to nbemm's database (one transaction)."""
    with db.tx() as c:
        keyed = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                          "name = 'media_images'").fetchone()
        for statement in SCHEMA.split(";"):
            if statement.strip():
                c.execute(statement)
        for table, column, kind in ADDED_COLUMNS:
            have = {r["name"] for r in c.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        c.execute(PREV_POOL_TRIGGER)
        if not keyed:  # counted before the counted images were kept: a recount would add
            c.execute(f"INSERT INTO media_images (media_id, backupid) SELECT media_id, "
                      f"'{UNKEYED}' FROM media WHERE images > 0")
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
    number = int(pool) if pool.isdigit() and len(pool) < 10 else -1
    row = c.execute("SELECT number FROM pools WHERE name = ? OR number = ?",
                    (pool, number)).fetchone()
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
