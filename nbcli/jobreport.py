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

import os
import threading
from typing import Any

from nbcli import clock
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import NbuError
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


class JobReporter:
    """One process's line to bpjobd on the master, opened on first use and kept."""

    def __init__(self, cfg: HostConfig, process: str) -> None:
        self.cfg = cfg
        self.process = process
        self._conn: Connection | None = None
        # A job's thread and the handlers answering its agents may report at the same time.
        self._lock = threading.Lock()
        self._pid_set: set[int] = set()

    def _call(self, op: str, **fields: Any) -> Message:
        with self._lock:
            return self._call_locked(op, **fields)

    def _call_locked(self, op: str, **fields: Any) -> Message:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = client.master(self.cfg, "bpjobd")
            try:
                return self._conn.request(op, **fields)
            except NbuError as e:
                # A dropped connection (bpjobd restarted) is retried once on a new one;
                # an error bpjobd answered with is the caller's.
                if e.status in (23, 24, 40, 41, 233) and attempt == 1:
                    self.close()
                    continue
                raise
        raise AssertionError("unreachable")

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
        self._call("job_update", jobid=jobid, **fields)

    def create(self, **fields: Any) -> int:
        return int(self._call("job_create", **fields)["jobid"])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
