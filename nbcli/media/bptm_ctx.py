"""What bptm's parts share: its run context (Ctx), Aborted, and waiting on bpbrm and the child.

Place: imported by the dispatcher (bptm.py) and by each part (bptm_backup, bptm_restore);
imports none of them, so imports go one way: dispatcher -> parts -> this module.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from dataclasses import dataclass

from nbcli import jobreport
from nbcli.config import HostConfig
from nbcli.net.conn import Connection
from nbcli.status import MEDIA_MANAGER_KILLED, SOCKET_WRITE_FAILED, NbuError
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
    sel.register(fileobj, selectors.EVENT_READ, "x")  # type: ignore[arg-type]  # fd or file
    sel.register(ctx.ctl.sock, selectors.EVENT_READ, "ctl")
    try:
        for key, _ in sel.select(timeout=timeout):
            if key.data == "ctl":
                ctx.read_control()
        return any(k.data == "x" for k, _ in sel.select(timeout=0))
    finally:
        sel.close()


def reap_watching(ctx: Ctx, pid: int) -> int:
    """Wait for bptm child to end while watching bpbrm: a restore's child may be blocked
    sending to a tar-restore that stopped reading but kept its connection, and bpbrm's abort
    must still end it at once (Aborted here; the caller kills the child) rather than after
    bpbrm's 30 seconds. Its exit code, -signal if killed."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # no pidfd (a kernel before 5.3): wait as before
        return reap(pid)
    try:
        while not wait_readable(ctx, pidfd, 5.0):
            pass
    finally:
        os.close(pidfd)
    return reap(pid)


def child_status(code: int) -> int:
    """A restore's status from how its bptm child ended (reap's code): killed by a signal is
    82, as bptm killed is; an exit with an error is 24, its send to tar-restore failed (the
    client went, and tar-restore's own status says why: bpbrm takes that one)."""
    if code == 0:
        return 0
    return MEDIA_MANAGER_KILLED if code < 0 else SOCKET_WRITE_FAILED


def exit_code_of(pid: int, wait: float = 2.0) -> int:
    """How bptm child `pid` ended, as reap says it (-signal if killed), without reaping it
    (the caller still does); 1 when it has not ended within `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return 1
        if info is not None and info.si_pid:
            killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
            return -info.si_status if killed else info.si_status
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.01)


def reap(pid: int, kill: bool = False) -> int:
    """Wait for bptm child (killing it first if asked); its exit code, -signal if killed."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
