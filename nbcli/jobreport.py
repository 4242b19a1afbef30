"""Reporting a job's progress to bpjobd: the seed steps, log lines, field updates.

Each process that performs a seed step records it itself, synchronously, before it goes on to
cause the next one, so the order in bpjobd is the order things happened across hosts. Agents
that have no connection of their own (bpbkar, bptm, tar-restore) send step frames to their
controller (bpbrm), which records them the same way as they arrive.

The job's pid (`jobpid`, and the current try's `trypid`) is the pid of the process that runs the
job on its media server, bpbrm, as NetBackup's Active PID is: a bpbrm reporter sets it with the
first step it records for a job. Scripts key jobs by it (`bpdbjobs -all_columns` field 19).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from nbcli import clock, kinds
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import DATABASE_ERROR, NbuError
from nbcli.wire.frames import Message


def step_frame(process: str, host: str, step: int, msg: str, pid: int | None = None) -> Message:
    """A step as an agent sends it to its controller (and bpjobd stores it)."""
    return {"op": "step", "step": step, "process": process, "pid": pid or os.getpid(),
            "host": host, "time": clock.now(), "msg": msg}


def log_frame(process: str, host: str, msg: str, severity: str = "Info",
              pid: int | None = None) -> Message:
    return {"op": "log", "process": process, "pid": pid or os.getpid(), "host": host,
            "severity": severity, "msg": msg}


# Reporters whose own process is the job's pid.
PID_OWNERS = frozenset({"bpbrm", "bpbrm child"})


# Answers that mean bpjobd is not there (restarting, stopping), not that it refused the request.
LOST = frozenset({23, 24, 25, 26, 40, 41, 233})
# How long a job's reports wait for bpjobd to come back before the reporter gives up: a
# restarted bpjobd (`netbackup start` after a crash) gets every update, so no job's end is lost.
PATIENCE = 60.0
PAUSE = 0.5
RESEND = 5.0  # seconds between an Outbox's tries to send the job ends it keeps


def is_end(fields: dict[str, Any]) -> bool:
    """Whether an update ends a job (Done) or closes it: what must reach bpjobd."""
    return fields.get("state") == kinds.DONE or fields.get("closed") is True


class Outbox:
    """The job ends bpjobd did not take - its database refused them (220: a full file
    system) or it stayed gone past a reporter's patience - kept by the process that ended the
    jobs and sent again (`resend`, from its periodic task) until bpjobd records them. Lost,
    such an end would leave the job Queued or Active for good, and `bpbackup -w` waiting on
    it. A job's later updates go into its kept end, in order, so that nothing of the end is
    recorded out of turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: dict[int, dict[str, Any]] = {}

    def __contains__(self, jobid: object) -> bool:
        with self._lock:
            return jobid in self._ends

    def __len__(self) -> int:
        with self._lock:
            return len(self._ends)

    def keep(self, jobid: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Add `fields` to the job's kept end; the end as it now stands."""
        with self._lock:
            kept = self._ends.setdefault(jobid, {})
            kept.update(fields)
            return dict(kept)

    def sent(self, jobid: int, fields: dict[str, Any]) -> None:
        """bpjobd took `fields` (or refused them for good): forget them, unless more came."""
        with self._lock:
            if self._ends.get(jobid) == fields:
                del self._ends[jobid]

    def resend(self, cfg: HostConfig, process: str, log: logging.Logger) -> None:
        """Send each kept end once; what bpjobd still cannot take stays."""
        with self._lock:
            ends = {jobid: dict(f) for jobid, f in self._ends.items()}
        if not ends:
            return
        report = JobReporter(cfg, process, patience=0)
        try:
            for jobid, fields in ends.items():
                try:
                    report.update(jobid, **fields)
                except NbuError as e:
                    if e.status in KEEP:
                        log.warning("job %d: bpjobd still cannot record its end: %s", jobid, e)
                        return  # the next one would fail the same way
                    log.error("job %d: bpjobd refused its end: %s", jobid, e)
                else:
                    log.info("job %d: its end is recorded in bpjobd now", jobid)
                self.sent(jobid, fields)
        finally:
            report.close()


# What an Outbox keeps an end for: bpjobd not there, or its database failing.
KEEP = LOST | {DATABASE_ERROR}


class JobReporter:
    """One process's line to bpjobd on the master, opened on first use and kept.

    A report that finds bpjobd gone is sent again on a new connection until `patience`
    seconds have passed (once at least: a dropped connection is retried at once). A new job
    (`create`) is sent again only if it never reached bpjobd, so no job is created twice.
    With an `outbox`, a job's end that bpjobd does not take is kept there (Outbox)."""

    def __init__(self, cfg: HostConfig, process: str, patience: float = PATIENCE,
                 outbox: Outbox | None = None) -> None:
        self.cfg = cfg
        self.process = process
        self.patience = patience
        self.outbox = outbox
        self._conn: Connection | None = None
        # A job's thread and the handlers answering its agents may report at the same time.
        self._lock = threading.Lock()
        self._pid_set: set[int] = set()

    def _call(self, op: str, **fields: Any) -> Message:
        with self._lock:
            return self._call_locked(op, **fields)

    def _call_locked(self, op: str, **fields: Any) -> Message:
        deadline: float | None = None
        tries = 0
        while True:
            tries += 1
            sent = False
            try:
                if self._conn is None:
                    self._conn = client.master(self.cfg, "bpjobd")
                sent = True
                return self._conn.request(op, **fields)
            except NbuError as e:
                # An error bpjobd answered with is the caller's; a lost bpjobd is waited for.
                if e.status not in LOST:
                    raise
                self.close()
                if deadline is None:
                    deadline = time.monotonic() + self.patience
                if (op == "job_create" and sent and tries > 1) \
                        or (tries > 1 and time.monotonic() > deadline):
                    raise
                if tries > 1:
                    time.sleep(PAUSE)

    def step(self, jobid: int, step: int, msg: str, *, process: str | None = None,
             pid: int | None = None, host: str | None = None,
             time: float | None = None) -> None:
        if self.process in PID_OWNERS and jobid not in self._pid_set:
            self._pid_set.add(jobid)
            self._call("job_update", jobid=jobid, jobpid=os.getpid())
        self._call("job_step", jobid=jobid, step=step, process=process or self.process,
                   pid=pid or os.getpid(), host=host or self.cfg.client_name,
                   time=time or clock.now(), msg=msg)

    def relay(self, jobid: int, frame: Message) -> None:
        """Record a step or log frame an agent sent, as that agent."""
        if frame.get("op") == "step":
            self.step(jobid, int(frame["step"]), str(frame.get("msg", "")),
                      process=frame.get("process"), pid=frame.get("pid"),
                      host=frame.get("host"), time=frame.get("time"))
        else:
            self.log(jobid, str(frame.get("msg", "")), str(frame.get("severity", "Info")),
                     process=frame.get("process"), pid=frame.get("pid"))

    def log(self, jobid: int, msg: str, severity: str = "Info", *, process: str | None = None,
            pid: int | None = None) -> None:
        self._call("job_log", jobid=jobid, process=process or self.process,
                   pid=pid or os.getpid(), msg=msg, severity=severity)

    def update(self, jobid: int, **fields: Any) -> None:
        box = self.outbox
        if box is None or not (is_end(fields) or jobid in box):
            self._call("job_update", jobid=jobid, **fields)
            return
        if jobid in box:  # an end is waiting: this goes with it, after it
            fields = box.keep(jobid, fields)
        try:
            self._call("job_update", jobid=jobid, **fields)
        except NbuError as e:
            if e.status in KEEP:
                box.keep(jobid, fields)
            raise
        box.sent(jobid, fields)

    def create(self, **fields: Any) -> int:
        return int(self._call("job_create", **fields)["jobid"])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
