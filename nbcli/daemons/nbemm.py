"""nbemm: the Enterprise Media Manager on the master: hosts, storage units, allocations.

Serves the `nbemm` ops of docs/protocol.md ("EMM") over PBX. Its state is db/emm/emm.db
(nbcli/catalog/emmdb.py), owned by this daemon alone: the commands (bpstuadd, bpstulist,
bpstudel, nbemmcmd) and nbrb ask here. Handlers only check the request's shape and hand the
values to EmmDB, where the rules live; a malformed request gets status 143 and leaves the
database untouched.

On start nbemm makes sure the EMM database knows this master (machine type master, and media
when this host has the media role) and every MEDIA_SERVER of bp.toml as a media server.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import nbcli
from nbcli import clock
from nbcli.catalog import emmdb
from nbcli.catalog.emmdb import EmmDB
from nbcli.config import HostConfig
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Handler, Ops
from nbcli.status import DATABASE_ERROR, INVALID_PROTOCOL, NO_ENTITY, NbuError
from nbcli.wire.frames import Message

DB_NAME = "emm.db"
JOBID_MAX = 2**63 - 1  # SQLite's largest integer


def _field(msg: Message, key: str, kind: type, default: Any = None) -> Any:
    """Field `key` of a request, of type `kind` (bool is not an int), else `default` when
    absent or null; 143 when it has another type or is required and missing."""
    value = msg.get(key)
    if value is None:
        if default is None:
            raise NbuError(INVALID_PROTOCOL, f"{msg.get('op')}: field {key!r} is required")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise NbuError(INVALID_PROTOCOL, f"{msg.get('op')}: field {key!r} must be {kind.__name__}, "
                                         f"not {type(value).__name__}")
    return value


def _optional(msg: Message, key: str) -> str | None:
    return None if msg.get(key) is None else _field(msg, key, str)


def _jobid(msg: Message) -> int:
    jobid = _field(msg, "jobid", int)
    if not 1 <= jobid <= JOBID_MAX:
        raise NbuError(INVALID_PROTOCOL,
                       f"{msg.get('op')}: jobid must be 1 to {JOBID_MAX}, not {jobid}")
    return int(jobid)


def _database_errors(handler: Handler) -> Handler:
    """A failing database (disk full, file damaged) is NetBackup's 220, not a logic error."""

    @functools.wraps(handler)
    def guarded(msg: Message, conn: Connection) -> Any:
        try:
            return handler(msg, conn)
        except sqlite3.Error as e:
            raise NbuError(DATABASE_ERROR, f"EMM database: {e}") from e

    return guarded


class Nbemm(Daemon):
    """the Enterprise Media Manager: hosts, storage units, media; allocates them"""

    name = "nbemm"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.db: EmmDB | None = None

    def services(self) -> dict[str, Ops]:
        ops: Ops = {"ping": self.ping, "host_add": self.host_add,
                    "host_delete": self.host_delete, "host_list": self.host_list,
                    "stu_add": self.stu_add, "stu_delete": self.stu_delete,
                    "stu_list": self.stu_list, "allocate": self.allocate,
                    "release": self.release, "allocations": self.allocations}
        return {"nbemm": {op: _database_errors(handler) for op, handler in ops.items()}}

    def on_start(self) -> None:
        self.db = EmmDB(self.paths.emm / DB_NAME)
        me, version = self.cfg.client_name, nbcli.__version__
        wanted = [(me, "master")] + ([(me, "media")] if "media" in self.cfg.roles else [])
        wanted += [(m, "media") for m in self.cfg.media_servers]
        for name, kind in wanted:
            try:
                if self.db.add_host(name, kind, master=me, version=version, exist_ok=True):
                    self.log.info("added %s host %s to the EMM database", kind, name)
            except NbuError as e:
                self.log.error("cannot add %s host %s from bp.toml: %s", kind, name, e)

    def on_stop(self) -> None:
        if self.db is not None:
            self.db.close()

    @property
    def emm(self) -> EmmDB:
        if self.db is None:
            raise NbuError(DATABASE_ERROR, "the EMM database is not open")
        return self.db

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    # --- hosts -------------------------------------------------------------------------------

    def host_add(self, msg: Message, conn: Connection) -> Message:
        name, kind = _field(msg, "name", str), _field(msg, "machinetype", str)
        master = _optional(msg, "master") or self.cfg.client_name
        self.emm.add_host(name, kind, master=master, version=_optional(msg, "version") or "")
        self.log.info("host %s (%s) added by %s", name, kind, conn.peer)
        return {}

    def host_delete(self, msg: Message, conn: Connection) -> Message:
        name, kind = _field(msg, "name", str), _field(msg, "machinetype", str)
        self.emm.delete_host(name, kind)
        self.log.info("host %s (%s) deleted by %s", name, kind, conn.peer)
        return {}

    def host_list(self, msg: Message, conn: Connection) -> Message:
        name, kind = _optional(msg, "name"), _optional(msg, "machinetype")
        hosts = self.emm.hosts(name, kind)
        if name is not None and not hosts:
            raise NbuError(NO_ENTITY, f"host {name} is not in the EMM database")
        return {"hosts": hosts}

    # --- storage units -----------------------------------------------------------------------

    def stu_add(self, msg: Message, conn: Connection) -> Message:
        row = emmdb.check_stu(
            _field(msg, "label", str), _optional(msg, "host") or self.cfg.client_name,
            _field(msg, "path", str), _field(msg, "cj", int, emmdb.DEFAULT_CJ),
            _field(msg, "mfs_mb", int, emmdb.MFS_DEFAULT),
            _field(msg, "stype", int, emmdb.BASIC_DISK), _field(msg, "odo", int, 0))
        self.emm.add_stu(row)
        self.log.info("storage unit %s added by %s: %s", row["label"], conn.peer, row)
        return {}

    def stu_delete(self, msg: Message, conn: Connection) -> Message:
        label = _field(msg, "label", str)
        self.emm.delete_stu(label)
        self.log.info("storage unit %s deleted by %s", label, conn.peer)
        return {}

    def stu_list(self, msg: Message, conn: Connection) -> Message:
        return {"stus": self.emm.stus(_optional(msg, "label"))}

    # --- allocations -------------------------------------------------------------------------

    def allocate(self, msg: Message, conn: Connection) -> Message:
        jobid, kind = _jobid(msg), _field(msg, "kind", str)
        stu = _optional(msg, "stu") or emmdb.ANY
        try:
            granted = self.emm.allocate(jobid, kind, stu, _optional(msg, "host"),
                                        int(clock.now()))
        except NbuError as e:
            self.log.debug("allocation for %s job %d on %s refused: %s", kind, jobid, stu, e,
                           extra={"jobid": jobid})
            raise
        self.log.info("allocated %s on %s to %s job %d", granted["stu"]["label"],
                      granted["host"], kind, jobid, extra={"jobid": jobid})
        return granted

    def release(self, msg: Message, conn: Connection) -> Message:
        jobid = _jobid(msg)
        if self.emm.release(jobid):
            self.log.info("released the allocation of job %d", jobid, extra={"jobid": jobid})
        return {}

    def allocations(self, msg: Message, conn: Connection) -> Message:
        return {"allocations": self.emm.allocations()}


main = daemon_main(Nbemm)
