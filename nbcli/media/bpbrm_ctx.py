"""What bpbrm's parts share: its run context (Ctx) and stopping bptm.

Place: imported by the dispatcher (bpbrm.py) and by each part (bpbrm_backup, bpbrm_restore,
bpbrm_delete, bpbrm_list); imports none of them, so imports go one way: dispatcher -> parts ->
this module.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field

from nbcli import childwait, jobreport
from nbcli.config import HostConfig
from nbcli.net import dte
from nbcli.net.conn import Connection
from nbcli.status import MEDIA_MANAGER_KILLED, TERMINATED_BY_ADMIN, NbuError

CANCELED = TERMINATED_BY_ADMIN

SETTLE_SECONDS = 2.0  # how long a reported failure waits for the peer's fate to be known
# Statuses an agent reports when its peer broke the connection: effects, not causes.
SECONDARY = frozenset({23, 24, 40, 41, 42, 44, 233})


@dataclass
class Ctx:
    cfg: HostConfig
    log: logging.Logger
    ctl: Connection
    jobid: int
    master: str
    report: jobreport.JobReporter = field(init=False)

    def __post_init__(self) -> None:
        self.report = jobreport.JobReporter(self.cfg, "bpbrm")

    @property
    def host(self) -> str:
        return self.cfg.client_name

    def step(self, n: int, msg: str, process: str = "bpbrm") -> None:
        self.log.info("step %d: %s", n, msg)
        self.report.step(self.jobid, n, msg, process=process)

    def info(self, msg: str, severity: str = "Info") -> None:
        self.log.info("%s", msg)
        self.report.log(self.jobid, msg, severity)

    def relay(self, agent_name: str, host: str, frame: dict[str, object],
              conn: Connection) -> None:
        """Record a step/log frame of an agent in bpjobd, as that agent; acknowledge it when
        the agent waits for that."""
        frame.setdefault("process", agent_name)
        frame.setdefault("host", host)
        dte_on = frame.pop("dte", None)
        if isinstance(dte_on, bool):  # the step that opened the image stream (Controller.step)
            self.report.update(self.jobid, dtemode=dte.job_mode(dte_on))
        self.report.relay(self.jobid, frame)
        if frame.get("ack"):
            conn.send({"op": "ack"})


def bptm_status(proc: subprocess.Popen[bytes]) -> int:
    """How bptm ended when it did not say: killed, or its exit code."""
    try:
        code = childwait.wait(proc, 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code < 0:
        return MEDIA_MANAGER_KILLED
    # 1 is Python's exit for an uncaught exception, never "partially successful" here: a
    # bptm that did not say it finished failed, and its image must not be kept
    return code if code > 1 else 40


def stop_bptm(bptm: Connection | None, proc: subprocess.Popen[bytes] | None) -> None:
    """Tell bptm to abort (it removes its fragments) and wait for it."""
    if bptm is not None:
        try:
            bptm.send({"op": "abort"})
        except NbuError:
            pass
        bptm.close()
    if proc is not None:
        try:
            childwait.wait(proc, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
