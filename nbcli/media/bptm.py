"""bptm: the tape and disk manager of one job on a media server (seed backup steps 9-13,
restore steps 7 and 12-15).

bpbrm starts it with a control channel and one request, "backup" or "restore". bptm then
forks `bptm child` with a shared-memory ring between them (ring.py): on a backup the child
receives the image from bpbkar into the ring and the parent writes it to the storage unit; on
a restore the parent reads the storage unit into the ring and the child sends it to
tar-restore. The fork happens before any thread exists - bptm never starts threads.

bptm reports its steps and progress to bpbrm as frames and ends with a "done" frame. It stops
as soon as bpbrm goes away or says "abort", removing whatever it wrote.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
from dataclasses import dataclass

from nbcli import jobreport
from nbcli import log as nblog
from nbcli.config import HostConfig
from nbcli.media import agent
from nbcli.media.ring import ignore_sigpipe
from nbcli.net.conn import Connection
from nbcli.status import INVALID_PROTOCOL, NbuError, exit_code
from nbcli.wire.frames import Message


class Aborted(Exception):
    """bpbrm said abort, or went away: stop and undo."""


@dataclass
class Ctx:
    """One bptm run: its host, log and control channel to bpbrm."""

    cfg: HostConfig
    log: logging.Logger
    ctl: Connection
    jobid: int

    @property
    def host(self) -> str:
        return self.cfg.client_name

    def step(self, n: int, msg: str, process: str = "bptm", pid: int | None = None) -> None:
        """Report a step and wait until bpbrm has recorded it: bptm's next act may be a call
        to nbjm, whose own step must come after this one in the job's details."""
        self.log.info("step %d: %s", n, msg)
        self.ctl.send({**jobreport.step_frame(process, self.host, n, msg, pid), "ack": True})
        while self.read_control().get("op") != "ack":
            pass

    def info(self, msg: str, severity: str = "Info") -> None:
        self.log.info("%s", msg)
        self.ctl.send(jobreport.log_frame("bptm", self.host, msg, severity))

    def check_control(self) -> None:
        """Raise Aborted if bpbrm has said abort or closed the channel."""
        sel = selectors.DefaultSelector()
        sel.register(self.ctl.sock, selectors.EVENT_READ)
        if sel.select(timeout=0):
            self.read_control()
        sel.close()

    def read_control(self) -> Message:
        try:
            msg = self.ctl.recv()
        except (EOFError, NbuError) as e:
            raise Aborted("bpbrm went away") from e
        if msg.get("op") == "abort":
            raise Aborted("bpbrm asked to abort")
        return msg


def wait_readable(ctx: Ctx, fileobj: object, timeout: float) -> bool:
    """Wait for `fileobj` while watching bpbrm; False on timeout, Aborted if bpbrm quits."""
    sel = selectors.DefaultSelector()
    sel.register(fileobj, selectors.EVENT_READ, "x")  # type: ignore[arg-type]
    sel.register(ctx.ctl.sock, selectors.EVENT_READ, "ctl")
    try:
        for key, _ in sel.select(timeout=timeout):
            if key.data == "ctl":
                ctx.read_control()
        return any(k.data == "x" for k, _ in sel.select(timeout=0))
    finally:
        sel.close()


def reap(pid: int, kill: bool = False) -> int:
    """Wait for bptm child (killing it first if asked); its exit code, -signal if killed."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# Imported when the job's kind is known (they import this module); a spare imports them ahead.
OPS = ("nbcli.media.bptm_backup", "nbcli.media.bptm_restore")


def main() -> None:
    ignore_sigpipe()
    cfg, log, ctl = agent.start("bptm", preload=OPS)
    try:
        req = ctl.recv(timeout=60)
    except (EOFError, NbuError):
        os._exit(40)
    ctx = Ctx(cfg, log, ctl, int(req.get("jobid", 0)))
    nblog.set_job(ctx.jobid)
    op = req.get("op")
    try:
        if op == "backup":
            from nbcli.media import bptm_backup

            status = bptm_backup.run(ctx, req)
        elif op == "restore":
            from nbcli.media import bptm_restore

            status = bptm_restore.run(ctx, req)
        else:
            raise NbuError(INVALID_PROTOCOL, f"bptm cannot do {op!r}")
    except Aborted as e:
        log.info("stopped: %s", e)
        status = 150
    except NbuError as e:
        status = agent.report_failure(ctl, log, e)
    nblog.log_peak(log, "bptm")
    ctl.close()
    os._exit(exit_code(status))
