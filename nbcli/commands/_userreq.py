"""What bpbackup and bprestore share: progress logs, waiting for jobs, -w timeouts.

A progress log (-L) is the file NetBackup's user commands write for scripts to read: a start
line, `Backup Job Id=N` / `Restore Job Id=N` lines (scripts grep them), the job's status lines
with -w, and the final `EXIT STATUS n: message` line.
"""

from __future__ import annotations

import time
from typing import Any

from nbcli import clock, timefmt
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import FILE_WRITE_FAILED, NbuError, exit_line

TIMEOUT_STATUS = 41  # the job goes on on the server; only the wait ended


def parse_wait(value: str | None) -> float | None:
    """hh:mm:ss (or mm:ss) -> seconds; None or "" means wait for as long as it takes."""
    if not value:
        return None
    parts = [int(p) for p in value.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return float(h * 3600 + m * 60 + s) or None


class ProgressLog:
    """Appends lines to the -L file (nothing when there is none)."""

    def __init__(self, path: str | None, what: str) -> None:
        self.path = path
        if path:
            self.write(f"{what} started {timefmt.fmt(clock.now())}", stamp=False)
            self.write("", stamp=False)

    def write(self, line: str, stamp: bool = True) -> None:
        if not self.path:
            return
        prefix = time.strftime("%H:%M:%S ", time.localtime(clock.now())) if stamp else ""
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(prefix + line + "\n")
        except OSError as e:
            raise NbuError(FILE_WRITE_FAILED,
                           f"cannot write progress log {self.path}: {e.strerror}") from e

    def end(self, status: int) -> None:
        self.write(exit_line(status))


def wait_jobs(cfg: HostConfig, jobids: list[int], timeout: float | None,
              log: ProgressLog) -> int:
    """Wait until every job is finished; the worst status (TIMEOUT_STATUS if time ran out)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    worst = 0
    for jobid in jobids:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            job = client.master_call(cfg, "bpjobd", "job_wait", jobid=jobid, timeout=left)["job"]
        except NbuError as e:
            if e.status == 41:
                log.write(f"the wait ended before job {jobid} finished")
                return TIMEOUT_STATUS
            raise
        for line in _status_lines(job):
            log.write(line, stamp=False)
        worst = max(worst, int(job.get("status") or 0))
    return worst


def _status_lines(job: dict[str, Any]) -> list[str]:
    tries = job.get("tries") or []
    return list(tries[-1].get("trystatuslines", [])) if tries else []
