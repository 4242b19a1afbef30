"""Robots and tape drives in the EMM database: adding, changing, deleting and listing them.

The `Devices` half of emm_volumes.MediaDB (tpconfig's requests, and ltid's: drive states and
what each drive holds). A drive's index is the lowest free one, as tpconfig numbers drives; a
drive in a robot has a robot drive number no other drive of that robot has. Every method is one
transaction of nbemm's database.

Imports nothing from nbcli but status and the catalog's own modules.
"""

from __future__ import annotations

from typing import Any

from nbcli.catalog.emm_media import (
    DOWN,
    DRIVE_SELECT,
    NONE_RT,
    STANDALONE,
    UP,
    check_density,
    check_name,
    check_robot_type,
    check_text,
    drive_by,
    drive_record,
)
from nbcli.catalog.sqlitedb import Database
from nbcli.status import (
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    INVALID_REQUEST,
    MEDIA_IN_USE,
    NO_ENTITY,
    PATH_NOT_ABSOLUTE,
    NbuError,
)


class Devices:
    """Robots and drives of nbemm's database `db`."""

    db: Database

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

    def robot_update(self, rn: int, device: str) -> int:
        """A robot's new path (its changer was renumbered, /dev/sg3 now /dev/sg5, or its
        virtual library moved); a drive path under the old one (HOME:N) follows it. Refused
        while a job holds one of its drives. The drives whose path changed."""
        if not device.startswith("/"):
            raise NbuError(PATH_NOT_ABSOLUTE, f"robot path {device!r} is not absolute")
        check_text("robot path", device, 1024)
        with self.db.tx() as c:
            robot = c.execute("SELECT device FROM robots WHERE rn = ?", (rn,)).fetchone()
            if robot is None:
                raise NbuError(NO_ENTITY, f"robot {rn} does not exist")
            busy = c.execute(DRIVE_SELECT + " WHERE d.rn = ? AND jobid != 0", (rn,)).fetchone()
            if busy is not None:
                raise NbuError(MEDIA_IN_USE, f"drive {busy['name']} of robot {rn} is in use "
                                             f"by job {busy['jobid']}")
            old = f"{robot['device']}:"
            moved = c.execute("UPDATE drives SET path = ? || substr(path, ?) WHERE rn = ? "
                              "AND substr(path, 1, ?) = ?",
                              (f"{device}:", len(old) + 1, rn, len(old), old)).rowcount
            c.execute("UPDATE robots SET device = ? WHERE rn = ?", (device, rn))
        return int(moved)

    def robots(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("SELECT rn, rt, host, device FROM robots "
                                               "ORDER BY rn")]

    # --- drives ------------------------------------------------------------------------------

    def drive_add(self, name: str, host: str, dtype: str, rn: int, drnum: int, path: str,
                  state: str = UP, comment: str = "") -> int:
        """Add a drive; its index is the lowest one free (as tpconfig numbers drives)."""
        check_name("drive name", name)
        check_name("host name", host)
        dtype, state = check_density(dtype), _drive_state(state)
        check_text("drive path", path, 1024)
        check_text("drive comment", comment)
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
            c.execute("INSERT INTO drives (idx, name, host, type, rn, drnum, path, state, "
                      "comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (index, name, host, dtype, rn, drnum if rn != STANDALONE else -1,
                       path, state, comment))
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

    def host_devices(self, host: str, kind: str, all_robots: bool) -> list[dict[str, Any]]:
        """What nbemmcmd -deletealldevices would delete: the host's drives (with what each
        holds), after the checks delete_host_devices makes - nothing is changed here."""
        with self.db.tx(durable=False) as c:
            _check_host_devices(c, host, kind, all_robots)
            return [drive_record(r) for r in c.execute(
                DRIVE_SELECT + " WHERE d.host = ? ORDER BY d.idx", (host,))]

    def delete_host_devices(self, host: str, kind: str, all_robots: bool) -> tuple[int, int]:
        """nbemmcmd -deletealldevices: every drive of `host` (and with `all_robots` every robot
        it controls) in one transaction; (drives, robots) deleted. Nothing is deleted when a
        drive is allocated to a job (97) or a robot would keep another host's drives (133)."""
        with self.db.tx() as c:
            robots = _check_host_devices(c, host, kind, all_robots)
            drives = c.execute("DELETE FROM drives WHERE host = ?", (host,)).rowcount
            for rn in robots:
                c.execute("UPDATE media SET rt = ?, rn = ?, slot = 0 WHERE rn = ?",
                          (NONE_RT, STANDALONE, rn))
                c.execute("DELETE FROM robots WHERE rn = ?", (rn,))
        return drives, len(robots)

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


def _check_host_devices(c: Any, host: str, kind: str, all_robots: bool) -> list[int]:
    """-deletealldevices' refusals (the host unknown 227, a drive allocated to a job 97, a
    robot keeping another host's drives 133); the robots it would delete."""
    if c.execute("SELECT 1 FROM hosts WHERE name = ? AND machinetype = ?",
                 (host, kind)).fetchone() is None:
        raise NbuError(NO_ENTITY, f"host {host} ({kind}) is not in the EMM database")
    busy = c.execute(DRIVE_SELECT + " WHERE d.host = ? AND jobid != 0 ORDER BY d.idx",
                     (host,)).fetchone()
    if busy is not None:
        raise NbuError(MEDIA_IN_USE, f"drive {busy['name']} on {host} is in use by job "
                                     f"{busy['jobid']}: nothing was deleted")
    robots = [int(r["rn"]) for r in c.execute(
        "SELECT rn FROM robots WHERE host = ? ORDER BY rn", (host,))] if all_robots else []
    for rn in robots:
        other = c.execute("SELECT name, host FROM drives WHERE rn = ? AND host != ?",
                          (rn, host)).fetchone()
        if other is not None:
            raise NbuError(INVALID_REQUEST,
                           f"robot {rn} still has drive {other['name']} of "
                           f"{other['host']}: delete it first; nothing was deleted")
    return robots


def _drive_state(state: str) -> str:
    if state.upper() not in (UP, DOWN):
        raise NbuError(INVALID_PARAMETER, f"drive state must be UP or DOWN, not {state!r}")
    return state.upper()
