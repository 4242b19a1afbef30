"""nbevtmgr: the event manager on the master, keeper of the error log bperror reads.

Serves the `nbevtmgr` ops of docs/protocol.md ("Error log") over PBX (and `whoami`, the
master's view of a caller, for bpclntcmd -pn). Processes on this host
and on the master's servers (SERVER and MEDIA_SERVER entries) send `log` with one entry each
(nbcli.events builds and sends them); bperror asks `query`. The entries live in db/error/
(nbcli.catalog.errorlog), one file a day, which only this daemon writes, so the log outlives
any restart of the daemons. Days older than bpconfig's "keep logs days" (-kl, read from the
global attributes whenever it ages the log) are removed on start, on the first entry of a new
day, and hourly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from nbcli import clock
from nbcli.catalog import errorlog
from nbcli.catalog import globals as nbglobals
from nbcli.catalog.errorlog import Entry, ErrorLog
from nbcli.config import HostConfig
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ADMIN, ANYONE, CLIENT, server_of
from nbcli.status import DATABASE_ERROR, SERVER_NOT_ALLOWED, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

AGE_INTERVAL = 3600.0
NAME_MAX = 255
TEXT_MAX = 4096
SEVERITY_MAX = 63
TYPE_MAX = 255


class Nbevtmgr(Daemon):
    """the event manager: the master's error log, which bperror reports"""

    name = "nbevtmgr"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.store: ErrorLog | None = None
        self._lock = threading.Lock()
        self._today = 0

    def services(self) -> dict[str, Ops]:
        word = opt(str, "", max_len=NAME_MAX)
        number = opt(int, 0, lo=0)
        return {"nbevtmgr": {
            "ping": op(self.ping, ANYONE),
            "whoami": op(self.whoami, ANYONE),
            "log": op(self.log_entry, ADMIN | CLIENT, time=opt(int, None, lo=0),
                      type=req(int, lo=1, hi=TYPE_MAX), severity=req(int, lo=1, hi=SEVERITY_MAX),
                      server=word, jobid=number, group=number, client=word,
                      who=req(str, max_len=NAME_MAX),
                      message=req(str, max_len=TEXT_MAX)).about("server"),
            "query": op(self.query, ADMIN, since=opt(int, None, lo=0), until=opt(int, None, lo=0),
                        types=opt(list, None, items=req(int, lo=1, hi=TYPE_MAX)),
                        min_severity=opt(int, 0, lo=0), jobid=opt(int, None, lo=0),
                        client=opt(str, None, max_len=NAME_MAX),
                        server=opt(str, None, max_len=NAME_MAX)),
        }}

    def on_start(self) -> None:
        self.store = ErrorLog(self.paths.db / "error")
        self.age_out()
        self._append(Entry(int(clock.now()), errorlog.TYPES["general"],
                           errorlog.SEVERITIES["info"], self.cfg.client_name, 0, 0, "",
                           self.name, f"{self.name} started"))

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        return [(AGE_INTERVAL, self.age_out)]

    @property
    def db(self) -> ErrorLog:
        if self.store is None:
            raise NbuError(DATABASE_ERROR, "the error log is not open")
        return self.store

    def age_out(self) -> None:
        keep = nbglobals.load_globals(self.paths).keep_logs_days
        gone = self.db.age_out(keep, clock.now())
        if gone:
            self.log.info("aged out %d day(s) of the error log (keep logs %d days)",
                          len(gone), keep)

    def _append(self, entry: Entry) -> None:
        day = errorlog.day_start(entry.time)
        with self._lock:
            self.db.append(entry)
            new_day, self._today = day > self._today, max(day, self._today)
        if new_day:
            self.age_out()

    # --- ops -------------------------------------------------------------------------------

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def whoami(self, msg: Message, conn: Connection) -> Message:
        """`bpclntcmd -pn`: the name and address the master sees the caller by."""
        if conn.address == "local":
            return {"name": self.cfg.client_name, "address": "local", "port": 0}
        name = server_of(self.cfg, conn)
        if name is None:
            name = next((h for h in self.cfg.hosts if conn.address in self.cfg.addresses_of(h)),
                        conn.address)
        return {"name": name, "address": conn.address, "port": conn.port or 0}

    def log_entry(self, msg: Message, conn: Connection) -> Message:
        if conn.address != "local" and server_of(self.cfg, conn) is None:
            raise NbuError(SERVER_NOT_ALLOWED, f"{conn.peer} ({conn.address}) is not a server "
                                               f"of {self.cfg.client_name}")
        when = msg["time"] if msg["time"] is not None else int(clock.now())
        self._append(Entry(when, msg["type"], msg["severity"], msg["server"], msg["jobid"],
                           msg["group"], msg["client"], msg["who"], msg["message"]))
        return {}

    def query(self, msg: Message, conn: Connection) -> Message:
        types = set(msg["types"]) if msg["types"] else None
        found = []
        for e in self.db.read(msg["since"], msg["until"]):
            if types is not None and e.type not in types:
                continue
            if e.severity < msg["min_severity"]:
                continue
            if msg["jobid"] is not None and e.jobid != msg["jobid"]:
                continue
            if msg["client"] is not None and e.client != msg["client"]:
                continue
            if msg["server"] is not None and e.server != msg["server"]:
                continue
            found.append(e.as_dict())
        return {"entries": found}


main = daemon_main(Nbevtmgr)
