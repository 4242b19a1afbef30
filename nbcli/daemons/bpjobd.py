"""bpjobd: the jobs database daemon - what bpdbjobs (the Activity Monitor) shows.

Runs on the master. nbjm and bprd create and update jobs as they go through the seed's steps;
bpdbjobs, bpbackup -w and bprestore -w read them; `job_wait` holds a request until the job's
owner closes the job. The ops and fields are docs/protocol.md "Job records (bpjobd)". Records
live in nbcli/catalog/jobsdb.py (SQLite under db/jobs/); this module checks requests, keeps
waiters informed and relays cancels to nbjm. It imports no other daemon.

Each client is served on its own thread (net/service.py), so a waiting `job_wait` never stops
other requests. Waiters sleep on one condition variable that every write that may close a job
notifies; they also look at their socket now and then, so a waiter whose client went away
stops waiting instead of lingering until the job ends.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any

from nbcli import clock, events, kinds
from nbcli.catalog import jobrecord
from nbcli.catalog.jobrecord import SHAPE, VALUE
from nbcli.catalog.jobsdb import JobsDB
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.log import JobLog
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.status import CONNECTION_BROKEN, CONNECTION_TIMED_OUT, INVALID_JOB_ID, NbuError
from nbcli.wire.frames import Message

# How long bpjobd waits for nbjm to take a cancel before treating it as unreachable.
CANCEL_TIMEOUT = 30.0
# How often a waiter checks that its client is still there (and that bpjobd is not stopping).
WAIT_POLL = 1.0
# Jobs bpjobd may end itself when nbjm cannot be asked: no process works on them.
WAITING_STATES = frozenset({kinds.QUEUED, kinds.REQUEUED})
_MISSING = object()


def _now() -> int:
    return int(clock.now())


def _given(msg: Message, name: str, default: Any) -> Any:
    """A request field's value, or None when it is absent or null and may be (143 if not)."""
    value = msg.get(name)
    if value is None and default is _MISSING:
        raise NbuError(SHAPE, f"{msg.get('op')} needs {name}")
    return value


def req_int(msg: Message, name: str, default: Any = _MISSING, minimum: int = 0) -> Any:
    """An integer field of a request; absent or null gives `default` (status 143 without one
    or for a non-integer, 20 below `minimum`)."""
    value = _given(msg, name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise NbuError(SHAPE, f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise NbuError(VALUE, f"{name} must be at least {minimum}, not {value}")
    return value


def req_str(msg: Message, name: str, default: Any = _MISSING) -> Any:
    """A string field of a request (kept to one line), as req_int."""
    value = _given(msg, name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise NbuError(SHAPE, f"{name} must be a string, not {value!r}")
    return jobrecord.one_line(value)


def req_bool(msg: Message, name: str) -> bool:
    value = msg.get(name, False)
    if not isinstance(value, bool):
        raise NbuError(SHAPE, f"{name} must be true or false, not {value!r}")
    return value


def req_number(msg: Message, name: str) -> float | None:
    """A number of seconds (epoch or duration) >= 0, or None when absent."""
    value = msg.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise NbuError(SHAPE, f"{name} must be a number of seconds, not {value!r}")
    if value < 0:
        raise NbuError(VALUE, f"{name} must not be negative ({value})")
    return float(value)


def req_time(msg: Message) -> float:
    """An event's time: epoch seconds to the millisecond (the flow's steps are milliseconds
    apart; bpdbjobs prints whole seconds), now when absent."""
    value = req_number(msg, "time")
    return round(float(value), 3) if value else _now()


def req_event(msg: Message, kind: str, step: int | None, severity: str) -> dict[str, Any]:
    """The stored form of a job_step / job_log request (jobsdb's events)."""
    return {"kind": kind, "step": step, "severity": severity,
            "process": req_str(msg, "process"), "pid": req_int(msg, "pid", 0),
            "host": req_str(msg, "host", ""), "time": req_time(msg), "msg": req_str(msg, "msg")}


def _peer_gone(conn: Connection) -> bool:
    """True when the client closed its side (a waiter then has no one to answer)."""
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
        return bool(readable) and conn.sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class Bpjobd(Daemon):
    """the jobs database: what bpdbjobs (the Activity Monitor) shows"""

    name = "bpjobd"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: JobsDB | None = None
        self._closing = threading.Condition()

    def services(self) -> dict[str, Ops]:
        return {"bpjobd": {
            "ping": self.ping, "job_create": self.job_create, "job_update": self.job_update,
            "job_step": self.job_step, "job_log": self.job_log, "job_get": self.job_get,
            "job_list": self.job_list, "job_wait": self.job_wait,
            "job_cancel": self.job_cancel, "summary": self.summary,
            "job_delete": self.job_delete}}

    def on_start(self) -> None:
        self.jobs = JobsDB(self.paths.jobs, self.cfg.client_name)

    def on_stop(self) -> None:
        with self._closing:
            self._closing.notify_all()
            if self.jobs is not None:
                self.jobs.close()

    @property
    def db(self) -> JobsDB:
        if self.jobs is None or self.stop.is_set():
            raise NbuError(CONNECTION_BROKEN, "bpjobd is stopping")
        return self.jobs

    def _log(self, jobid: int) -> JobLog:
        """The daemon's log with the job's id on each line (grep jobid=N follows a job)."""
        return JobLog(self.log, jobid)

    def _closed(self) -> None:
        """A job may have been closed: wake the waiters to look."""
        with self._closing:
            self._closing.notify_all()

    # --- writes -------------------------------------------------------------------------------

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def job_create(self, msg: Message, conn: Connection) -> Message:
        new_try = req_bool(msg, "new_try")
        raw = {k: v for k, v in msg.items() if k not in ("op", "new_try")}
        fields = jobrecord.clean(raw, creating=True)
        jobid = self.db.create(fields, _now(), new_try)
        self._log(jobid).info("job created: %s %s, client %s, policy %s",
                              kinds.JOB_TYPES.get(fields["jobtype"], fields["jobtype"]),
                              kinds.JOB_STATES[fields["state"]], fields.get("client", ""),
                              fields.get("policy", ""))
        if fields.get("closed"):
            events.job_event(self.cfg, self.db.get(jobid, _now()), closed=True)
            self._closed()
        return {"jobid": jobid}

    def job_update(self, msg: Message, conn: Connection) -> Message:
        jobid = req_int(msg, "jobid", minimum=1)
        new_try = req_bool(msg, "new_try")
        raw = {k: v for k, v in msg.items() if k not in ("op", "jobid", "new_try")}
        fields = jobrecord.clean(raw, creating=False)
        closed = self.db.update(jobid, fields, new_try, _now())
        if new_try or fields.get("closed"):  # a failed try, or the job's end: the error log
            events.job_event(self.cfg, self.db.get(jobid, _now()), closed=not new_try)
        if "state" in fields or new_try:
            self._log(jobid).info("state %s%s", kinds.JOB_STATES[fields["state"]]
                                  if "state" in fields else "unchanged",
                                  ", new try" if new_try else "")
        if closed:
            self._closed()
        return {}

    def job_step(self, msg: Message, conn: Connection) -> Message:
        jobid = req_int(msg, "jobid", minimum=1)
        event = req_event(msg, "step", req_int(msg, "step"), "Info")
        self.db.add_event(jobid, event)
        self._log(jobid).debug("step %d %s: %s", event["step"], event["process"], event["msg"])
        return {}

    def job_log(self, msg: Message, conn: Connection) -> Message:
        jobid = req_int(msg, "jobid", minimum=1)
        severity = str(msg.get("severity") or "Info").capitalize()
        if severity not in jobrecord.SEVERITIES:
            raise NbuError(VALUE, f"severity must be one of {', '.join(jobrecord.SEVERITIES)}, "
                                  f"not {msg.get('severity')!r}")
        self.db.add_event(jobid, req_event(msg, "log", None, severity))
        return {}

    def job_delete(self, msg: Message, conn: Connection) -> Message:
        """bpdbjobs -delete / -clean: remove done jobs; the ids actually removed."""
        jobids = msg.get("jobids")
        if not isinstance(jobids, list) or not all(isinstance(j, int) and not isinstance(j, bool)
                                                   for j in jobids):
            raise NbuError(SHAPE, "jobids must be a list of job ids (integers)")
        return {"deleted": self.db.delete(jobids)}

    # --- reads --------------------------------------------------------------------------------

    def job_get(self, msg: Message, conn: Connection) -> Message:
        return {"job": self.db.get(req_int(msg, "jobid", minimum=1), _now())}

    def job_list(self, msg: Message, conn: Connection) -> Message:
        jobids = msg.get("jobids")
        if jobids is not None and (not isinstance(jobids, list) or not all(
                isinstance(j, int) and not isinstance(j, bool) for j in jobids)):
            raise NbuError(SHAPE, "jobids must be a list of job ids (integers)")
        jobs, more = self.db.jobs(_now(), jobids=jobids, detail=req_bool(msg, "detail"),
                                  before=req_int(msg, "before", None, minimum=1),
                                  limit=req_int(msg, "limit", None, minimum=1))
        return {"jobs": jobs, "more": more}

    def summary(self, msg: Message, conn: Connection) -> Message:
        return {"master": self.cfg.client_name, **self.db.summary()}

    def job_wait(self, msg: Message, conn: Connection) -> Message | None:
        """Hold the request until the job is closed; 41 after `timeout` seconds."""
        jobid = req_int(msg, "jobid", minimum=1)
        timeout = req_number(msg, "timeout")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._closing:
            while not self.db.closed(jobid):
                left = WAIT_POLL if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise NbuError(CONNECTION_TIMED_OUT,
                                   f"job {jobid} was not done within {timeout:g} seconds")
                if _peer_gone(conn):
                    self._log(jobid).info("waiter %s went away", conn.peer)
                    return None
                self._closing.wait(min(left, WAIT_POLL))
        return {"job": self.db.get(jobid, _now())}

    # --- cancel -------------------------------------------------------------------------------

    def job_cancel(self, msg: Message, conn: Connection) -> Message:
        """Ask nbjm to end the job; end a waiting job here when nbjm cannot be asked."""
        jobid = req_int(msg, "jobid", minimum=1)
        found, _ = self.db.jobs(_now(), jobids=[jobid])
        if not found:
            raise NbuError(INVALID_JOB_ID, f"job {jobid} does not exist")
        if found[0]["state"] == kinds.DONE:
            return {}
        try:
            client.call(self.cfg, self.cfg.client_name, "nbjm", "cancel",
                        recv_timeout=CANCEL_TIMEOUT, jobid=jobid)
            self._log(jobid).info("cancel handed to nbjm")
            return {}
        except NbuError as e:
            nbjm_error = e
        self._log(jobid).warning("nbjm did not take the cancel: %s", nbjm_error)
        try:
            self.db.update(jobid, {"state": kinds.DONE, "status": 150, "closed": True}, False,
                           _now(), only_from=WAITING_STATES)
        except NbuError as e:
            if e.status != 133:
                raise
            if self.db.jobs(_now(), jobids=[jobid])[0][0]["state"] == kinds.DONE:
                return {}  # it ended meanwhile
            raise NbuError(nbjm_error.status,
                           f"cannot cancel job {jobid}: nbjm: {nbjm_error.detail}") from e
        self.db.add_event(jobid, req_event(
            {"process": "bpjobd", "pid": os.getpid(), "host": self.cfg.client_name,
             "msg": "termination requested by administrator"}, "log", None, "Info"))
        self._log(jobid).info("canceled while queued (nbjm did not take it)")
        self._closed()
        return {}


main = daemon_main(Bpjobd)
