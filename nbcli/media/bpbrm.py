"""bpbrm: the backup and restore manager of one job on a media server.

nbjm (backups, seed step 7) or bprd (restores, step 5) has bpcd launch it; the launching
connection is its control channel and carries one request. For a backup bpbrm starts bpbkar on
the client (through the client's PBX and bpcd) and bptm here (step 8), forwards bpbkar's file
metadata to bpdbm (step 11) and the agents' steps to bpjobd, and tells nbjm how it ended
(step 13). For a restore it starts `bpbrm child` and bptm (step 6); the child starts
tar-restore on the destination client (step 8); bpbrm tells bprd how it ended (step 17).

bpbrm is one thread reading all its peers (mux.py). If the controller goes away or cancels,
bpbrm stops its agents and removes what they wrote.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field

from nbcli import jobreport
from nbcli.config import HostConfig
from nbcli.log import set_job
from nbcli.media import agent
from nbcli.net.conn import Connection
from nbcli.status import (
    INVALID_PROTOCOL,
    MEDIA_MANAGER_KILLED,
    TERMINATED_BY_ADMIN,
    NbuError,
    exit_code,
)

CANCELED = TERMINATED_BY_ADMIN



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
        self.report.relay(self.jobid, frame)
        if frame.get("ack"):
            conn.send({"op": "ack"})


def bptm_status(proc: subprocess.Popen[bytes]) -> int:
    """How bptm ended when it did not say: killed, or its exit code."""
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code < 0:
        return MEDIA_MANAGER_KILLED
    return code or 40


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
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Imported when the job's kind is known (they import this module); a spare imports them ahead.
OPS = ("nbcli.media.bpbrm_backup", "nbcli.media.bpbrm_restore", "nbcli.media.bpbrm_delete")


def main() -> None:
    cfg, log, ctl = agent.start("bpbrm", preload=OPS, ahead=("bptm",))
    try:
        req = ctl.recv(timeout=60)
    except (EOFError, NbuError):
        os._exit(40)
    ctx = Ctx(cfg, log, ctl, int(req.get("jobid", 0)), str(req.get("master", cfg.master)))
    set_job(ctx.jobid)
    try:
        if req.get("op") == "backup":
            from nbcli.media import bpbrm_backup

            status = bpbrm_backup.run(ctx, req)
        elif req.get("op") == "restore":
            from nbcli.media import bpbrm_restore

            status = bpbrm_restore.run(ctx, req)
        elif req.get("op") == "delete":
            from nbcli.media import bpbrm_delete

            status = bpbrm_delete.run(ctx, req)
        else:
            raise NbuError(INVALID_PROTOCOL, f"bpbrm cannot do {req.get('op')!r}")
    except NbuError as e:
        status = agent.report_failure(ctl, log, e)
    ctx.report.close()
    ctl.close()
    os._exit(exit_code(status))
