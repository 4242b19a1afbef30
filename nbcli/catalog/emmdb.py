"""The EMM database: hosts, storage units and their allocations, in nbemm's SQLite file.

nbemm alone opens db/emm/emm.db; everyone else asks nbemm (docs/protocol.md, "EMM"). This module
holds the rules that keep the rows sane (label and path syntax, limits, one destination per
storage unit) and the allocation decision itself, so that nbemm's handlers only parse requests.

Allocation is one transaction under the database lock: counting a storage unit's current
allocations and recording a new one cannot interleave with another request, so however many
nbrb threads ask at once, a unit never holds more than its maximum concurrent jobs. Allocations
are rows, so they survive an nbemm restart until `release`.

Tape storage units (stype 2, Media Manager) name a robot, its number and a density instead of a
path; their allocations also take a drive and a medium (emm_tape.py) in the same transaction.
The media tables themselves are emm_media.py's, in the same database.

Imports nothing from nbcli but status, the SQLite helper and the catalog's EMM modules.
"""

from __future__ import annotations

import posixpath
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbcli.catalog import emm_hosts, emm_media, emm_tape
from nbcli.catalog.emm_hosts import HostDB
from nbcli.catalog.emm_volumes import MediaDB
from nbcli.catalog.sqlitedb import Database
from nbcli.status import (
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    MEDIA_SERVER_NOT_FOUND,
    NO_ENTITY,
    NO_STORAGE_UNITS,
    PATH_NOT_ABSOLUTE,
    STU_DISABLED,
    STU_MAX_JOBS_REACHED,
    STU_ON_DEMAND_ONLY,
    STU_UNAVAILABLE,
    STUS_NOT_AVAILABLE,
    NbuError,
)

MACHINE_TYPES = ("master", "media", "client", "ndmp", "cluster")
# Names NetBackup's own tools and newer releases use for the same machine types.
MACHINE_ALIASES = {"primary": "master", "mediaserver": "media"}

ANY = "*ANY*"
KINDS = ("backup", "restore")
BASIC_DISK = 1  # bpstuadd -dt 1
MEDIA_MANAGER = emm_tape.MEDIA_MANAGER  # bpstuadd -dt 2: a tape unit (robot, density)
DEFAULT_CJ = 1
MFS_MIN, MFS_MAX = 20, 524288  # MB; NetBackup's range for disk fragments
MFS_DEFAULT = MFS_MAX
TAPE_MFS_MAX = 1048576  # MB; tape fragments may be larger (the default: one a medium)
DEFAULT_POOL = "NetBackup"
MAX_INT = 2**31 - 1
# Labels and host names end up as fields of space-separated raw lines: no blanks, no quotes;
# one rule for every EMM record (emm_media.check_name: 225 when too long, 20 otherwise).
check_name = emm_media.check_name
NAME_MAX = emm_media.NAME_MAX
VERSION_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}")
# nbemmcmd -updatehost -operatingsystem: free text shown by -listhosts -verbose, one line.
OS_RE = re.compile(r"[A-Za-z0-9_.+:/ ()-]{1,64}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT NOT NULL,
    machinetype TEXT NOT NULL,
    master TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, machinetype));
CREATE TABLE IF NOT EXISTS host_aliases (
    alias TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    machinetype TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stus (
    label TEXT PRIMARY KEY,
    stype INTEGER NOT NULL,
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    cj INTEGER NOT NULL,
    mfs_mb INTEGER NOT NULL,
    odo INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS allocations (
    jobid INTEGER PRIMARY KEY,
    stu TEXT NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    time INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS allocations_stu ON allocations (stu)
"""

STU_SELECT = ("SELECT s.*, (SELECT COUNT(*) FROM allocations a WHERE a.stu = s.label) AS jobs "
              "FROM stus s")


def check_os(value: str) -> str:
    """An operating system description (-updatehost -operatingsystem): one short line."""
    if not OS_RE.fullmatch(value):
        raise NbuError(INVALID_PARAMETER, f"invalid operating system {value!r}")
    return value


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise NbuError(INVALID_PARAMETER,
                       f"invalid NetBackup version {version!r} (like 10.1.1)")
    return version


def machine_type(value: str) -> str:
    """The canonical machine type for `value` (aliases accepted); 20 for an unknown one."""
    kind = MACHINE_ALIASES.get(value.lower(), value.lower())
    if kind not in MACHINE_TYPES:
        raise NbuError(INVALID_PARAMETER, f"invalid machine type {value!r} "
                           f"(one of {', '.join(MACHINE_TYPES + tuple(MACHINE_ALIASES))})")
    return kind


def check_stu(label: str, host: str, path: str, cj: int, mfs_mb: int | None, stype: int,
              odo: int, rt: str | None = None, rn: int | None = None,
              density: str | None = None) -> dict[str, Any]:
    """A new storage unit's row, each value checked (NetBackup's status for each mistake).
    A disk unit has a path; a tape unit (stype 2) a robot type, robot number and density."""
    check_name("storage unit label", label)
    check_name("host name", host)
    if stype == MEDIA_MANAGER:
        return _check_tape_stu(label, host, path, cj, mfs_mb, odo, rt, rn, density)
    if stype != BASIC_DISK:
        raise NbuError(INVALID_PARAMETER,
                       f"disk type {stype} is not supported (-dt {BASIC_DISK}, "
                           f"BasicDisk, or -dt {MEDIA_MANAGER}, Media Manager)")
    if rt is not None or rn is not None or density is not None:
        raise NbuError(INVALID_PARAMETER, "a disk storage unit has no robot or density")
    mfs_mb = MFS_DEFAULT if mfs_mb is None else mfs_mb
    if not path.startswith("/"):
        raise NbuError(PATH_NOT_ABSOLUTE, f"path {path!r} is not absolute")
    if any(ord(c) < 32 or c in '"\x7f' for c in path):
        raise NbuError(INVALID_PARAMETER, f"path {path!r} holds control characters or quotes")
    if not 0 <= cj <= MAX_INT:
        raise NbuError(INVALID_PARAMETER, f"maximum concurrent jobs must be 0 or more, not {cj}")
    if not MFS_MIN <= mfs_mb <= MFS_MAX:
        raise NbuError(INVALID_PARAMETER,
                       f"maximum fragment size must be {MFS_MIN} to {MFS_MAX} MB, "
                           f"not {mfs_mb}")
    if odo not in (0, 1):
        raise NbuError(INVALID_PARAMETER, f"on demand only must be 0 or 1, not {odo}")
    return {"label": label, "stype": stype, "host": host, "path": posixpath.normpath(path),
            "cj": cj, "mfs_mb": mfs_mb, "odo": odo, "rt": None, "rn": None, "density": None}


def _check_tape_stu(label: str, host: str, path: str, cj: int, mfs_mb: int | None, odo: int,
                    rt: str | None, rn: int | None, density: str | None) -> dict[str, Any]:
    if path:
        raise NbuError(INVALID_PARAMETER, "a tape storage unit has no path (it names -rt, "
                                          "-rn and -den)")
    if rt is None or rn is None or density is None:
        raise NbuError(INVALID_PARAMETER, "a tape storage unit needs -rt, -rn and -den")
    if not 0 <= rn <= 32767:
        raise NbuError(INVALID_PARAMETER, f"robot number must be 0 to 32767, not {rn}")
    mfs_mb = TAPE_MFS_MAX if mfs_mb is None else mfs_mb
    if not MFS_MIN <= mfs_mb <= TAPE_MFS_MAX:
        raise NbuError(INVALID_PARAMETER, f"maximum fragment size must be {MFS_MIN} to "
                                          f"{TAPE_MFS_MAX} MB, not {mfs_mb}")
    if not 0 <= cj <= MAX_INT:
        raise NbuError(INVALID_PARAMETER, f"maximum concurrent jobs must be 0 or more, not {cj}")
    if odo not in (0, 1):
        raise NbuError(INVALID_PARAMETER, f"on demand only must be 0 or 1, not {odo}")
    return {"label": label, "stype": MEDIA_MANAGER, "host": host, "path": "", "cj": cj,
            "mfs_mb": mfs_mb, "odo": odo, "rt": emm_media.check_robot_type(rt), "rn": rn,
            "density": emm_media.check_density(density)}


class EmmDB:
    """nbemm's database; every method is one transaction and safe from any thread."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)
        with self.db.tx() as c:  # databases made before -updatehost -operatingsystem
            have = {r["name"] for r in c.execute("PRAGMA table_info(hosts)")}
            if "os" not in have:
                c.execute("ALTER TABLE hosts ADD COLUMN os TEXT NOT NULL DEFAULT ''")
            if "state" not in have:  # and before -machinestateop (emm_hosts.STATE_OPS)
                c.execute("ALTER TABLE hosts ADD COLUMN state INTEGER NOT NULL DEFAULT 0")
        self.media = MediaDB(self.db)
        self.host_edits = HostDB(self.db)

    def close(self) -> None:
        self.db.close()

    # --- hosts ---------------------------------------------------------------------------

    def add_host(self, name: str, machinetype: str, master: str = "", version: str = "",
                 exist_ok: bool = False) -> bool:
        """Add a host record; False (or 226 unless exist_ok) when it is there already."""
        check_name("host name", name)
        kind = machine_type(machinetype)
        if master:
            check_name("master server name", master)
        if version:
            check_version(version)
        with self.db.tx() as c:
            cur = c.execute("INSERT OR IGNORE INTO hosts (name, machinetype, master, version) "
                            "VALUES (?, ?, ?, ?)", (name, kind, master, version))
        if cur.rowcount == 0 and not exist_ok:
            raise NbuError(ENTITY_EXISTS, f"host {name} ({kind}) is already in the EMM database")
        return cur.rowcount == 1

    def delete_host(self, name: str, machinetype: str) -> None:
        kind = machine_type(machinetype)
        with self.db.tx() as c:
            cur = c.execute("DELETE FROM hosts WHERE name = ? AND machinetype = ?", (name, kind))
            c.execute("DELETE FROM host_aliases WHERE name = ? AND machinetype = ?", (name, kind))
        if cur.rowcount == 0:
            raise NbuError(NO_ENTITY, f"host {name} ({kind}) is not in the EMM database")

    def hosts(self, name: str | None = None, machinetype: str | None = None
              ) -> list[dict[str, Any]]:
        """Host records in the order they were added, optionally only one name or type."""
        sql, args = "SELECT name, machinetype, master, version, os, state FROM hosts WHERE 1", \
            list[str]()
        if name is not None:
            sql, args = sql + " AND name = ?", [*args, name]
        if machinetype is not None:
            sql, args = sql + " AND machinetype = ?", [*args, machine_type(machinetype)]
        return [dict(r) for r in self.db.query(sql + " ORDER BY rowid", tuple(args))]

    def media_errors(self, media_id: str | None = None) -> list[dict[str, Any]]:
        """The media and drive errors nbemm has recorded (nbemmcmd -errorsprobe), oldest first."""
        sql = ("SELECT e.time, e.media_id, e.kind, e.jobid, COALESCE(d.name, '-') AS drive, "
               "COALESCE(d.host, '-') AS host FROM media_errors e "
               "LEFT JOIN drives d ON d.idx = e.drive")
        args = (media_id,) if media_id else ()
        return [dict(r) for r in self.db.query(
            sql + (" WHERE e.media_id = ?" if media_id else "") + " ORDER BY e.id", args)]

    def _is_media(self, c: sqlite3.Connection, name: str) -> bool:
        return c.execute("SELECT 1 FROM hosts WHERE name = ? AND machinetype = 'media'",
                         (name,)).fetchone() is not None

    # --- storage units -------------------------------------------------------------------

    def add_stu(self, row: dict[str, Any]) -> None:
        """Add a checked row (check_stu): 226 for a label or destination already in use."""
        with self.db.tx() as c:
            if not self._is_media(c, row["host"]):
                raise NbuError(MEDIA_SERVER_NOT_FOUND,
                               f"{row['host']} is not a media server in the EMM database "
                                     "(add it: nbemmcmd -addhost -machinetype media)")
            if c.execute("SELECT 1 FROM stus WHERE label = ?", (row["label"],)).fetchone():
                raise NbuError(ENTITY_EXISTS, f"storage unit {row['label']} already exists")
            if row["stype"] == MEDIA_MANAGER:
                same = c.execute("SELECT label FROM stus WHERE host = ? AND rn = ? AND "
                                 "density = ?", (row["host"], row["rn"], row["density"])
                                 ).fetchone()
                where = f"{row['density']} drives of robot {row['rn']} on {row['host']}"
            else:
                same = c.execute("SELECT label FROM stus WHERE host = ? AND path = ?",
                                 (row["host"], row["path"])).fetchone()
                where = f"{row['host']}:{row['path']}"
            if same:
                raise NbuError(ENTITY_EXISTS, f"storage unit {same['label']} already writes to "
                                              f"{where}")
            c.execute("INSERT INTO stus (label, stype, host, path, cj, mfs_mb, odo, rt, rn, "
                      "density) VALUES (:label, :stype, :host, :path, :cj, :mfs_mb, :odo, "
                      ":rt, :rn, :density)", row)

    def delete_stu(self, label: str) -> None:
        with self.db.tx() as c:
            cur = c.execute("DELETE FROM stus WHERE label = ?", (label,))
        if cur.rowcount == 0:
            raise NbuError(NO_ENTITY, f"storage unit {label} does not exist")

    def stus(self, label: str | None = None) -> list[dict[str, Any]]:
        """Storage units by label, each with `jobs`: its current allocations; 227 if `label`
        names none."""
        if label is None:
            return [dict(r) for r in self.db.query(STU_SELECT + " ORDER BY s.label")]
        rows = self.db.query(STU_SELECT + " WHERE s.label = ?", (label,))
        if not rows:
            raise NbuError(NO_ENTITY, f"storage unit {label} does not exist")
        return [dict(rows[0])]

    # --- allocations ---------------------------------------------------------------------

    def allocate(self, jobid: int, kind: str, stu: str, host: str | None, now: int,
                 pool: str = DEFAULT_POOL, rl: int = -1,
                 media_id: str | None = None) -> dict[str, Any]:
        """Grant `jobid` a storage unit now (on tape: with a drive and a medium, emm_tape.py),
        or raise the status that says why not.

        A job holds one allocation at most: asking again returns the one it has, so a request
        repeated after a lost reply does not take a second slot.

        A restore's allocation (a row, no medium assigned) is not synced on its own: an OS
        crash that loses it also ended its job. A backup's may assign a medium: synced.
        """
        if kind not in KINDS:
            raise NbuError(INVALID_PARAMETER,
                           f"allocation kind must be backup or restore, not {kind!r}")
        with self.db.tx(durable=kind != "restore") as c:
            held = c.execute("SELECT * FROM allocations WHERE jobid = ?", (jobid,)).fetchone()
            if held is not None:
                row = c.execute(STU_SELECT + " WHERE s.label = ?", (held["stu"],)).fetchone()
                if row is not None:
                    return {"stu": self._granted(c, dict(row), dict(held)),
                            "host": held["host"]}
                c.execute("DELETE FROM allocations WHERE jobid = ?", (jobid,))
            candidates = self._candidates(c, kind, stu, host, media_id)
            why: NbuError | None = None
            for unit in self._free(c, candidates):
                drive, medium = None, None
                if emm_tape.is_tape(unit):
                    try:
                        drive, medium = emm_tape.choose(c, unit, kind, pool, rl, media_id, now)
                    except NbuError as e:
                        # Another unit may do; else the first reason to wait is the answer.
                        if why is None or (e.status in emm_tape.NOT_NOW and
                                           why.status not in emm_tape.NOT_NOW):
                            why = e
                        continue
                c.execute("INSERT INTO allocations (jobid, stu, kind, host, time, drive, "
                          "media_id, from_pool) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (jobid, unit["label"], kind, unit["host"], now,
                           None if drive is None else drive["index"],
                           None if medium is None else medium["media_id"],
                           None if medium is None else medium.get("from_pool")))
                unit["jobs"] += 1
                held = c.execute("SELECT * FROM allocations WHERE jobid = ?",
                                 (jobid,)).fetchone()
                return {"stu": self._granted(c, unit, dict(held)), "host": unit["host"]}
        assert why is not None
        raise why

    def _granted(self, c: sqlite3.Connection, unit: dict[str, Any],
                 held: dict[str, Any]) -> dict[str, Any]:
        if held.get("drive") is None or not held.get("media_id"):
            return unit
        return emm_tape.grant(c, unit, held["drive"], held["media_id"],
                              held.get("from_pool") is not None)

    def span(self, jobid: int, full_media_id: str, now: int, full: bool = True,
             avoid: Iterable[str] = ()) -> dict[str, Any]:
        """A backup's medium is full, or could not be mounted: another one in the same drive
        (emm_tape.span)."""
        with self.db.tx() as c:
            held = c.execute("SELECT * FROM allocations WHERE jobid = ?", (jobid,)).fetchone()
            if held is None:
                raise NbuError(NO_ENTITY, f"job {jobid} holds no allocation")
            row = c.execute(STU_SELECT + " WHERE s.label = ?", (held["stu"],)).fetchone()
            if row is None or not emm_tape.is_tape(dict(row)):
                raise NbuError(STU_UNAVAILABLE, f"job {jobid} does not write to tape")
            return {"stu": emm_tape.span(c, dict(row), dict(held), full_media_id, now, full,
                                         avoid),
                    "host": held["host"]}

    def _candidates(self, c: sqlite3.Connection, kind: str, stu: str, host: str | None,
                    media_id: str | None = None) -> list[dict[str, Any]]:
        """The units this request may use, before their limits are looked at."""
        if kind == "restore":
            if not host:
                raise NbuError(MEDIA_SERVER_NOT_FOUND,
                               "a restore must name the media server that holds the image")
            if not self._is_media(c, host):
                raise NbuError(MEDIA_SERVER_NOT_FOUND,
                               f"media server {host} is not in the EMM database")
        if stu != ANY:
            row = c.execute(STU_SELECT + " WHERE s.label = ?", (stu,)).fetchone()
            if row is None:
                raise NbuError(STU_UNAVAILABLE, f"storage unit {stu} does not exist")
            if kind == "restore" and row["host"] != host:
                raise NbuError(STU_UNAVAILABLE,
                               f"storage unit {stu} is on {row['host']}, the image is "
                                    f"on {host}")
            if kind == "restore" and bool(media_id) != emm_tape.is_tape(dict(row)):
                raise NbuError(STU_UNAVAILABLE, f"storage unit {stu} cannot read "
                                                f"{'media ' + media_id if media_id else 'disk'}")
            return [dict(row)]
        units = [dict(r) for r in c.execute(STU_SELECT + " ORDER BY s.label")]
        if kind == "restore":
            # A restore from tape names its medium; one from disk names none.
            units = [u for u in units
                     if u["host"] == host and bool(media_id) == emm_tape.is_tape(u)]
            if not units:
                raise NbuError(STU_UNAVAILABLE, f"no storage unit on media server {host}")
            return units
        if not units:
            raise NbuError(NO_STORAGE_UNITS, "no storage units are configured")
        units = [u for u in units if not u["odo"]]
        if not units:
            raise NbuError(STU_ON_DEMAND_ONLY, "every storage unit is on demand only")
        return units

    def _free(self, c: sqlite3.Connection, units: list[dict[str, Any]]
              ) -> list[dict[str, Any]]:
        """The usable units with a free job slot, fewest running jobs first; why none is,
        when none is."""
        usable = [u for u in units if self._is_media(c, u["host"])]
        if not usable:
            raise NbuError(MEDIA_SERVER_NOT_FOUND,
                           f"media server {units[0]['host']} of storage unit "
                                 f"{units[0]['label']} is not in the EMM database")
        paused = emm_hosts.unavailable_media_servers(c)
        usable = [u for u in usable if u["host"] not in paused]
        if not usable:  # nbrb keeps the job waiting (BUSY) until the state is cleared
            host = next(u["host"] for u in units if u["host"] in paused)
            raise NbuError(STUS_NOT_AVAILABLE, f"media server {host} is in state "
                                               f"{emm_hosts.state_words(paused[host])}")
        enabled = [u for u in usable if u["cj"] >= 1]
        if not enabled:
            raise NbuError(STU_DISABLED,
                           f"storage unit {usable[0]['label']} has maximum concurrent "
                                 "jobs 0")
        free = [u for u in enabled if u["jobs"] < u["cj"]]
        if not free:
            busy = ", ".join(f"{u['label']} ({u['jobs']}/{u['cj']})" for u in enabled)
            raise NbuError(STU_MAX_JOBS_REACHED, f"all job slots in use: {busy}")
        return sorted(free, key=lambda u: (u["jobs"], u["label"]))

    def release(self, jobid: int) -> bool:
        """Free the job's allocation; False when it held none (release is idempotent). Not
        synced on its own: a release an OS crash lost is done again by nbemm's reconcile (the
        allocations of closed jobs), as one lost while nbemm was down."""
        with self.db.tx(durable=False) as c:
            cur = c.execute("DELETE FROM allocations WHERE jobid = ?", (jobid,))
        return cur.rowcount == 1

    def allocations(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query(
            "SELECT jobid, stu, kind, host, time, drive, media_id FROM allocations "
            "ORDER BY jobid")]
