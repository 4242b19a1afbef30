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

import bisect
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from nbcli import clock, kinds
from nbcli.config import HostConfig
from nbcli.net import client, kept
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
LINE_OPS = frozenset({"job_step", "job_log", "job_update"})  # what a held line may be
# Keys a handed-over line may not set: the request's op and job are the receiver's, and
# recv_timeout is Connection.request's own parameter.
NOT_FIELDS = frozenset({"op", "jobid", "recv_timeout"})
HELD_MAX = 1000  # lines of job details a reporter holds while bpjobd's database refuses them


def is_end(fields: dict[str, Any]) -> bool:
    """Whether an update ends a job (Done) or closes it: what must reach bpjobd."""
    return fields.get("state") == kinds.DONE or fields.get("closed") is True


@dataclass(frozen=True)
class Line:
    """A held line of a job's details: bpjobd's op, its fields, and when it happened."""

    op: str
    fields: dict[str, Any]
    at: float


class Outbox:
    """What bpjobd did not take of the jobs a process reports on, kept to be sent again.

    - A job's end, when bpjobd's database refused it (220: a full file system) or bpjobd
      stayed gone past a reporter's patience: kept by the process that ended the job and sent
      again (`resend`, from its periodic task) until bpjobd records it. Lost, such an end
      would leave the job Queued or Active for good, and `bpbackup -w` waiting on it. A job's
      later updates go into its kept end, in order, so that nothing of the end is recorded
      out of turn.
    - The lines of a job's details (steps, log lines, progress) that bpjobd's database
      refused: the job goes on without them, as its data does not depend on its details, and
      they go before the job's next line or its end, in the order they happened. Past
      HELD_MAX lines the oldest job's first are dropped (`dropped` counts them).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: dict[int, dict[str, Any]] = {}
        self._lines: dict[int, list[Line]] = {}
        self.dropped = 0

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

    def hold(self, jobid: int, line: Line) -> None:
        """Keep a line of the job's details among the job's other held ones, in the order
        of when they happened (a line handed over by another process goes among them)."""
        with self._lock:
            lines = self._lines.setdefault(jobid, [])
            lines.insert(bisect.bisect_right([held.at for held in lines], line.at), line)
            if sum(map(len, self._lines.values())) > HELD_MAX:  # not held_lines: locked
                oldest = min(self._lines)
                self._lines[oldest].pop(0)
                self.dropped += 1
                if not self._lines[oldest]:
                    del self._lines[oldest]

    def held_lines(self) -> int:
        with self._lock:
            return sum(map(len, self._lines.values()))

    def holds_lines(self, jobid: int) -> bool:
        with self._lock:
            return jobid in self._lines

    def first_line(self, jobid: int) -> Line | None:
        with self._lock:
            lines = self._lines.get(jobid)
            return lines[0] if lines else None

    def line_sent(self, jobid: int) -> None:
        """The job's first held line is recorded (or refused for good): forget it."""
        with self._lock:
            lines = self._lines.get(jobid)
            if lines:
                lines.pop(0)
                if not lines:
                    del self._lines[jobid]

    def jobs(self) -> list[int]:
        """The jobs with an end or lines kept."""
        with self._lock:
            return sorted(set(self._ends) | set(self._lines))

    def resend(self, cfg: HostConfig, process: str, log: logging.Logger) -> None:
        """Send each job's held lines, then its kept end, once; what bpjobd still cannot
        take stays."""
        jobs = self.jobs()
        if not jobs:
            return
        report = JobReporter(cfg, process, patience=0, outbox=self)
        try:
            for jobid in jobs:
                with self._lock:
                    fields = dict(self._ends.get(jobid) or {})
                if not report.send_held(jobid):
                    log.warning("job %d: bpjobd still cannot record its %s", jobid,
                                "end" if fields else "details")
                    return  # the next one would fail the same way
                if not fields:
                    continue
                try:
                    report.record(jobid, fields)
                except NbuError as e:
                    if e.status in KEEP:
                        log.warning("job %d: bpjobd still cannot record its end: %s", jobid, e)
                        return
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
        self._clean = True  # the last request on _conn was answered
        # A job's thread and the handlers answering its agents may report at the same time.
        self._lock = threading.Lock()
        self._pid_set: set[int] = set()
        # Where the lines bpjobd's database refused wait: the owner's outbox, whose periodic
        # resend also sends them, or this reporter's own (tried again with the job's next
        # line, and once more at close).
        self._box = outbox if outbox is not None else Outbox()

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
                    self._conn = (kept.enabled() and kept.take(self.cfg, self.cfg.master,
                                                               "bpjobd")) or \
                        client.master(self.cfg, "bpjobd")
                sent = True
                self._clean = False
                reply = self._conn.request(op, **fields)
                self._clean = True
                return reply
            except NbuError as e:
                # An error bpjobd answered with is the caller's; a lost bpjobd is waited for.
                if e.status not in LOST:
                    raise
                self._disconnect()
                if deadline is None:
                    deadline = time.monotonic() + self.patience
                if (op == "job_create" and sent and tries > 1) \
                        or (tries > 1 and time.monotonic() > deadline):
                    raise
                if tries > 1:
                    time.sleep(PAUSE)

    def _line(self, op: str, jobid: int, **fields: Any) -> None:
        """Record a line of a job's details (a step, a log line, a field's progress). One
        that bpjobd's database refuses (220) is held, and so are the job's later ones until
        the first of them is taken (Outbox): the job goes on. Another refusal is the
        caller's. A line taken sends the lines held for other jobs after it."""
        if op == "job_log":  # bpjobd dates a log line when it gets it: this one may wait
            fields.setdefault("time", clock.now())
        line = Line(op, fields, float(fields.get("time") or clock.now()))
        with self._lock:
            if self._box.holds_lines(jobid):
                self._box.hold(jobid, line)
                self._send_held_locked(jobid)
                return
            try:
                self._call_locked(op, jobid=jobid, **fields)
            except NbuError as e:
                if e.status != DATABASE_ERROR:
                    raise
                self._box.hold(jobid, line)
                self._logger().warning("job %d: bpjobd cannot record its details now (%s): "
                                       "they wait", jobid, e)
                return
            # bpjobd takes writes again: the other jobs' held lines too, or a job that has
            # no line of this process's left (nbrb's step 16) would keep them for good
            for other in self._box.jobs():
                if other != jobid and self._box.holds_lines(other) \
                        and not self._send_held_locked(other):
                    break

    def send_held(self, jobid: int) -> bool:
        """Send the job's held lines, oldest first; False if bpjobd still cannot take them."""
        with self._lock:
            return self._send_held_locked(jobid)

    def _send_held_locked(self, jobid: int) -> bool:
        while (line := self._box.first_line(jobid)) is not None:
            try:
                self._call_locked(line.op, jobid=jobid, **line.fields)
            except NbuError as e:
                if e.status in KEEP:
                    return False
                self._logger().warning("job %d: bpjobd refused a held line of its details: "
                                       "%s", jobid, e)
            self._box.line_sent(jobid)
        return True

    def take_held(self, jobid: int) -> list[list[Any]]:
        """The job's lines this reporter holds, handed over ([op, fields, at] each): bpbrm
        sends them with its "done" to the process that reports the job's end, which outlives
        it."""
        with self._lock:
            lines = []
            while (line := self._box.first_line(jobid)) is not None:
                lines.append([line.op, line.fields, line.at])
                self._box.line_sent(jobid)
            return lines

    def adopt(self, jobid: int, lines: object) -> None:
        """Hold the lines of a job another process could not record (`take_held`) among the
        job's own held lines, by when they happened; anything but a held line is left out
        (bpjobd checks the fields of those that are)."""
        if not isinstance(lines, list):
            return
        for line in lines[:HELD_MAX]:
            if isinstance(line, list) and len(line) == 3 and line[0] in LINE_OPS \
                    and isinstance(line[1], dict) and isinstance(line[2], (int, float)) \
                    and not isinstance(line[2], bool):
                fields = {k: v for k, v in line[1].items()
                          if isinstance(k, str) and k not in NOT_FIELDS}
                self._box.hold(jobid, Line(line[0], fields, float(line[2])))

    def _logger(self) -> logging.Logger:
        return logging.getLogger(f"nbcli.{self.process}")

    def record(self, jobid: int, fields: dict[str, Any]) -> None:
        """An update as it is, no outbox involved (the outbox's own resend)."""
        self._call("job_update", jobid=jobid, **fields)

    def step(self, jobid: int, step: int, msg: str, *, process: str | None = None,
             pid: int | None = None, host: str | None = None,
             time: float | None = None) -> None:
        if self.process in PID_OWNERS and jobid not in self._pid_set:
            self._pid_set.add(jobid)
            self._line("job_update", jobid, jobpid=os.getpid())
        self._line("job_step", jobid, step=step, process=process or self.process,
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
        self._line("job_log", jobid, process=process or self.process,
                   pid=pid or os.getpid(), msg=msg, severity=severity)

    def update(self, jobid: int, **fields: Any) -> None:
        if not is_end(fields) and (self.outbox is None or jobid not in self.outbox):
            self._line("job_update", jobid, **fields)  # progress: held as lines are
            return
        self.send_held(jobid)  # the details before the end, as they happened
        box = self.outbox
        if box is None:
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
        """The end of this reporter: the lines it holds itself (no owner's outbox to send
        them later) get one more try, then what bpjobd still refuses is lost - the
        process's log says how much."""
        if self.outbox is None and self._box.jobs():
            self.patience = 0
            with self._lock:
                for jobid in self._box.jobs():
                    if not self._send_held_locked(jobid):
                        break
            if lost := self._box.held_lines() + self._box.dropped:
                self._logger().warning("%d line(s) of job details bpjobd could not take are "
                                       "lost", lost)
        # A daemon keeps the connection for its next reporter if its last request was
        # answered (after any other end, what it reads next is not known)
        if self._conn is not None and self._clean and kept.enabled():
            conn, self._conn = self._conn, None
            kept.give(self.cfg, self.cfg.master, "bpjobd", conn)
        self._disconnect()

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
