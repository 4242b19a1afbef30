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
from nbcli.status import FILE_WRITE_FAILED, INVALID_PARAMETER, NbuError, exit_line

TIMEOUT_STATUS = 41  # the job goes on on the server; only the wait ended
# Answers that say bpjobd is not there (restarting, stopping) rather than what the job did.
MASTER_LOST = frozenset({23, 24, 25, 26, 40, 58, 233})
MASTER_GONE = 60.0  # how long -w waits for a lost bpjobd to come back
RECONNECT_PAUSE = 1.0


def parse_wait(value: str | None) -> float | None:
    """hh:mm:ss (or mm:ss, or ss) -> seconds; None or "" means wait for as long as it takes.
    Minutes and seconds are 0-59 and hours 0-99, as the clock NetBackup's -w takes; anything
    else is status 20, checked before the request is sent."""
    if not value:
        return None
    parts = value.split(":")
    if len(parts) > 3 or not all(p.isdigit() and len(p) <= 2 for p in parts):
        raise NbuError(INVALID_PARAMETER, f"-w takes hh:mm:ss, not {value!r}")
    nums = [int(p) for p in parts]
    while len(nums) < 3:
        nums.insert(0, 0)
    h, m, s = nums
    if m > 59 or s > 59:
        raise NbuError(INVALID_PARAMETER, f"-w {value}: minutes and seconds are 00-59")
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
        job = _wait_one(cfg, jobid, deadline)
        if job is None:
            log.write(f"the wait ended before job {jobid} finished")
            return TIMEOUT_STATUS
        for line in _status_lines(job):
            log.write(line, stamp=False)
        worst = max(worst, int(job.get("status") or 0))
    return worst


def _wait_one(cfg: HostConfig, jobid: int, deadline: float | None) -> dict[str, Any] | None:
    """The finished job; None when the -w time ran out. A master that goes away (bpjobd
    restarting, `netbackup start` after a crash) is waited for up to MASTER_GONE seconds,
    then the wait ends with the status that says how it was lost."""
    lost_since: float | None = None
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return dict(client.master_call(cfg, "bpjobd", "job_wait", jobid=jobid,
                                           timeout=left)["job"])
        except NbuError as e:
            now = time.monotonic()
            if e.status == TIMEOUT_STATUS and (lost_since is None or (
                    deadline is not None and now >= deadline)):
                return None
            if e.status not in MASTER_LOST and e.status != TIMEOUT_STATUS:
                raise
            lost_since = lost_since or now
            if now - lost_since > MASTER_GONE or (deadline is not None and now >= deadline):
                raise NbuError(e.status, f"the master's job database went away while "
                                         f"waiting for job {jobid}: {e.message}") from e
            time.sleep(RECONNECT_PAUSE)


def _status_lines(job: dict[str, Any]) -> list[str]:
    tries = job.get("tries") or []
    return list(tries[-1].get("trystatuslines", [])) if tries else []
