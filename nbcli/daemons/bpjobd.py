"""bpjobd: the jobs database daemon - what bpdbjobs (the Activity Monitor) shows.

Runs on the master. nbjm and bprd create and update jobs as they go through the seed's steps;
bpdbjobs, bpbackup -w and bprestore -w read them; `job_wait` holds a request until the job's
owner closes the job. The ops and fields are docs/protocol.md "Job records (bpjobd)". Records
live in nbcli/catalog/jobsdb.py (SQLite under db/jobs/); this module checks requests, keeps
waiters informed and relays cancels to the job's owner (nbjm, or bprd for a restore); a job its
owner does not run is ended here (150) and let go of (nbcli/daemons/orphans.py). It imports no
other daemon but that helper.

Each client is served on its own thread (net/service.py), so a waiting `job_wait` never stops
other requests. Waiters sleep on one condition variable that every write that may close a job
notifies; they also look at their socket now and then, so a waiter whose client went away
stops waiting instead of lingering until the job ends. A write that closes a job queues the
job's error-log entries under the same lock, and a waiter's answer waits for them to reach
nbevtmgr: when `bpbackup -w` returns, `bperror -backstat` lists the job.
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
from nbcli.catalog.jobrecord import VALUE
from nbcli.catalog.jobsdb import JobsDB
from nbcli.daemons import orphans
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.log import JobLog
from nbcli.net import client, trust
from nbcli.net.conn import Connection
from nbcli.net.service import Handler, Op, Ops, Result, audited, op
from nbcli.net.trust import ADMIN, ANYONE, CLIENT, USER
from nbcli.status import (
    CONNECTION_BROKEN,
    CONNECTION_TIMED_OUT,
    DATABASE_ERROR,
    INVALID_JOB_ID,
    TERMINATED_BY_ADMIN,
    NbuError,
)
from nbcli.wire.frames import MAX_FRAME, Message
from nbcli.wire.schema import Fields, Rest, opt, req

# How long bpjobd waits for nbjm to take a cancel before treating it as unreachable.
CANCEL_TIMEOUT = 30.0
# How often a waiter checks that its client is still there (and that bpjobd is not stopping).
WAIT_POLL = 1.0
# How long a waiter's answer waits for the closed job's error-log entries to reach nbevtmgr
# (a local request, ~1 ms; nbevtmgr down fails at once, so this bounds only a stuck one).
EVENTS_FLUSH = 5.0
# Jobs bpjobd may end itself when nbjm cannot be asked: no process works on them.
WAITING_STATES = frozenset({kinds.QUEUED, kinds.REQUEUED})
# A step or log line may be long (bprd's names every image of a restore): the frame is its
# only bound, as before the op tables had one.
MAX_TEXT = MAX_FRAME


def _now() -> int:
    return int(clock.now())


def event_time(value: float | None) -> float:
    """An event's time: epoch seconds to the millisecond (the flow's steps are milliseconds
    apart; bpdbjobs prints whole seconds), now when absent."""
    return round(float(value), 3) if value else _now()


def stored_event(msg: Message, kind: str, step: int | None, severity: str) -> dict[str, Any]:
    """The stored form of a checked job_step / job_log request (jobsdb's events)."""
    return {"kind": kind, "step": step, "severity": severity,
            "process": jobrecord.one_line(msg["process"]), "pid": msg["pid"],
            "host": jobrecord.one_line(msg["host"]), "time": event_time(msg["time"]),
            "msg": jobrecord.one_line(msg["msg"])}


def _job_fields(creating: bool) -> Rest:
    """The checker of job_create's and job_update's job fields (jobrecord's; 143 for an
    unknown or mistyped field, 20 for a value out of range)."""
    return lambda fields: jobrecord.clean(fields, creating=creating)


JOBID = req(int, lo=1)
SECONDS = opt(float, lo=0)  # epoch or duration
# What every event (step or log line) says about itself.
EVENT: Fields = {"jobid": JOBID, "process": req(str), "pid": opt(int, 0, lo=0),
                 "host": opt(str, ""), "time": SECONDS, "msg": req(str, max_len=MAX_TEXT)}


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
        self._refusing = False  # the last write failed with 220 (told to the error log)
        self._refusing_lock = threading.Lock()

    def services(self) -> dict[str, Ops]:
        return {"bpjobd": audited({
            "ping": op(self.ping, ANYONE),
            "job_create": Op(self._writes(self.job_create), ADMIN, {"new_try": opt(bool, False)},
                             rest=_job_fields(creating=True)),
            "job_update": Op(self._writes(self.job_update), ADMIN,
                             {"jobid": JOBID, "new_try": opt(bool, False)},
                             rest=_job_fields(creating=False)),
            "job_step": Op(self._writes(self.job_step), ADMIN,
                           {**EVENT, "step": req(int, lo=0)}),
            "job_log": Op(self._writes(self.job_log), ADMIN,
                          {**EVENT, "severity": opt(str, "Info")}),
            "job_get": op(self.job_get, ADMIN | CLIENT | USER, jobid=JOBID),
            "job_list": op(self.job_list, ADMIN, jobids=opt(list, items=req(int)),
                           detail=opt(bool, False), before=opt(int, lo=1),
                           limit=opt(int, lo=1), open=opt(bool, False)),
            "job_wait": op(self.job_wait, ADMIN | CLIENT | USER, jobid=JOBID, timeout=SECONDS),
            "job_cancel": op(self._writes(self.job_cancel), ADMIN, jobid=JOBID),
            "summary": op(self.summary, ADMIN),
            "job_delete": op(self._writes(self.job_delete), ADMIN,
                             jobids=req(list, items=req(int, lo=1)))},
            "job_cancel", "job_delete")}

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

    # --- writes -------------------------------------------------------------------------------

    def _writes(self, handler: Handler) -> Handler:
        """`handler`, telling the error log (CRITICAL) when the database starts refusing
        writes (220: its file system full, a disk error), and again once it takes them: an
        operator learns of it there, not from jobs whose ends their owners keep (jobreport
        .Outbox) and `bpdbjobs` cannot show."""
        def run(msg: Message, conn: Connection) -> Result:
            try:
                out = handler(msg, conn)
            except NbuError as e:
                if e.status == DATABASE_ERROR and self._refusal(True):
                    self.log.critical("the jobs database refuses writes: %s", e.detail or e)
                    events.daemon_event(self.cfg, self.name, f"the jobs database refuses "
                                        f"writes: {e.detail or e.message}", events.CRITICAL)
                raise
            if self._refusing and self._refusal(False):
                self.log.warning("the jobs database takes writes again")
                events.daemon_event(self.cfg, self.name, "the jobs database takes writes again",
                                    events.INFO)
            return out
        return run

    def _refusal(self, refusing: bool) -> bool:
        """Record whether the database refuses writes; whether that changed."""
        with self._refusing_lock:
            changed, self._refusing = self._refusing != refusing, refusing
            return changed

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def job_create(self, msg: Message, conn: Connection) -> Message:
        fields = {k: v for k, v in msg.items() if k not in ("op", "new_try")}
        with self._closing:  # see job_update
            jobid = self.db.create(fields, _now(), msg["new_try"])
            if fields.get("closed"):
                events.job_event(self.cfg, self.db.get(jobid, _now()), closed=True)
                self._closing.notify_all()
        self._log(jobid).info("job created: %s %s, client %s, policy %s",
                              kinds.JOB_TYPES.get(fields["jobtype"], fields["jobtype"]),
                              kinds.JOB_STATES[fields["state"]], fields.get("client", ""),
                              fields.get("policy", ""))
        return {"jobid": jobid}

    def job_update(self, msg: Message, conn: Connection) -> Message:
        jobid, new_try = msg["jobid"], msg["new_try"]
        fields = {k: v for k, v in msg.items() if k not in ("op", "jobid", "new_try")}
        # Under the waiters' lock, so that a waiter that sees the job closed finds its
        # error-log entries already queued (job_wait flushes them before it answers).
        with self._closing:
            closed = self.db.update(jobid, fields, new_try, _now())
            if new_try or fields.get("closed"):  # a failed try, or the job's end: the error log
                events.job_event(self.cfg, self.db.get(jobid, _now()), closed=not new_try)
            if closed:
                self._closing.notify_all()
        if "state" in fields or new_try:
            self._log(jobid).info("state %s%s", kinds.JOB_STATES[fields["state"]]
                                  if "state" in fields else "unchanged",
                                  ", new try" if new_try else "")
        return {}

    def job_step(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        event = stored_event(msg, "step", msg["step"], "Info")
        self.db.add_event(jobid, event)
        self._log(jobid).debug("step %d %s: %s", event["step"], event["process"], event["msg"])
        return {}

    def job_log(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        severity = msg["severity"].capitalize()
        if severity not in jobrecord.SEVERITIES:
            raise NbuError(VALUE, f"severity must be one of {', '.join(jobrecord.SEVERITIES)}, "
                                  f"not {msg['severity']!r}")
        self.db.add_event(jobid, stored_event(msg, "log", None, severity))
        return {}

    def job_delete(self, msg: Message, conn: Connection) -> Message:
        """bpdbjobs -delete / -clean: remove done jobs; the ids actually removed."""
        return {"deleted": self.db.delete(msg["jobids"])}

    # --- reads --------------------------------------------------------------------------------

    def job_get(self, msg: Message, conn: Connection) -> Message:
        job = self.db.get(msg["jobid"], _now())
        trust.require_own(self.cfg, conn, str(job.get("client", "")), "job_get")
        return {"job": job}

    def job_list(self, msg: Message, conn: Connection) -> Message:
        jobs, more = self.db.jobs(_now(), jobids=msg["jobids"], detail=msg["detail"],
                                  before=msg["before"], limit=msg["limit"],
                                  open_only=msg["open"])
        return {"jobs": jobs, "more": more}

    def summary(self, msg: Message, conn: Connection) -> Message:
        return {"master": self.cfg.client_name, **self.db.summary()}

    def job_wait(self, msg: Message, conn: Connection) -> Message | None:
        """Hold the request until the job is closed; 41 after `timeout` seconds."""
        jobid, timeout = msg["jobid"], msg["timeout"]
        deadline = None if timeout is None else time.monotonic() + timeout
        trust.require_own(self.cfg, conn, str(self.db.get(jobid, _now()).get("client", "")),
                          "job_wait")
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
        if not events.flush(EVENTS_FLUSH):
            self._log(jobid).warning("error log entries not yet delivered to nbevtmgr")
        return {"job": self.db.get(jobid, _now())}

    # --- cancel -------------------------------------------------------------------------------

    def job_cancel(self, msg: Message, conn: Connection) -> Message:
        """Ask the job's owner (nbjm, or bprd for a restore) to end it; when the owner does not
        run it or cannot be asked, nobody else will: end it here (150) and let go of what it
        held (its incomplete image, nbrb's and nbemm's resources)."""
        jobid = msg["jobid"]
        found, _ = self.db.jobs(_now(), jobids=[jobid])
        if not found:
            raise NbuError(INVALID_JOB_ID, f"job {jobid} does not exist")
        job = found[0]
        if job["closed"]:
            return {}
        owner = orphans.owner_of(job) or "nbjm"
        try:
            client.call(self.cfg, self.cfg.client_name, owner, "cancel",
                        recv_timeout=CANCEL_TIMEOUT, jobid=jobid)
            self._log(jobid).info("cancel handed to %s", owner)
            return {}
        except NbuError as e:
            owner_error = e
        self._log(jobid).warning("%s did not take the cancel: %s", owner, owner_error)
        orphaned = orphans.owner_of(job) is not None and (
            owner_error.status in orphans.NOT_RUNNING | orphans.UNREACHABLE)
        ending = {"closed": True} if job["state"] == kinds.DONE else \
            {"state": kinds.DONE, "status": TERMINATED_BY_ADMIN, "closed": True}
        with self._closing:  # see job_update
            try:
                self.db.update(jobid, ending, False, _now(),
                               only_from=None if orphaned else WAITING_STATES)
            except NbuError as e:
                if e.status != 133:
                    raise
                if self.db.closed(jobid):
                    return {}  # it ended meanwhile
                raise NbuError(owner_error.status,
                               f"cannot cancel job {jobid}: {owner}: {owner_error.detail}") from e
            self.db.add_event(jobid, stored_event(
                {"process": "bpjobd", "pid": os.getpid(), "host": self.cfg.client_name,
                 "time": None, "msg": "termination requested by administrator"
                                      + (f"; {owner} does not run the job" if orphaned else "")},
                "log", None, "Info"))
            events.job_event(self.cfg, self.db.get(jobid, _now()), closed=True)
            self._closing.notify_all()
        self._log(jobid).info("canceled here (%s did not take it)", owner)
        if orphaned:
            threading.Thread(target=orphans.let_go, name=f"let go {jobid}", daemon=True,
                             args=(self.cfg, jobid, str(job.get("backupid") or ""),
                                   self.log)).start()
        return {}

main = daemon_main(Bpjobd)
