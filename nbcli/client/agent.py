"""The control channel as the client agents (bpbkar, tar-restore) speak it under bpcd.

    controller (bpbrm / bpbrm child)        agent (launched by bpcd, NBCLI_CONTROL=1)
      | {op: "backup" | "restore", ...} ---->|
      |<------------------------ {status: 0, pid}   (or {status: n, msg}: the agent exits)
      | {op: "send", host, service} -------->|      (bpbkar only)
      |<-- {op: "step"} {op: "files"} {op: "log"} ...
      |<-- {op: "done", status, ...}          |      then the agent exits with that status

The controller's requests are declared in CONTROL_OPS and checked as a daemon's op table is
(nbcli.wire.schema): a missing, mistyped or unknown field is status 143, a value out of range
20; what a value means (an absolute path, a block size) is the agent's to check, with its own
statuses. Once it has answered, an agent reports every outcome in its "done" frame, never as an
error reply. It never works for nobody: `check()` polls the control socket without blocking (the
data paths call it per block and every so many files), and EOF there - the controller went
away - raises ControllerGone, which stops the agent at once.

The host config comes from NB_ROOT (bpcd sets it); the debug log is logs/<agent>/ with the
job id on every line.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from nbcli import config
from nbcli import log as nblog
from nbcli.cli import NbCommand, entry
from nbcli.config import HostConfig
from nbcli.net.conn import Connection
from nbcli.net.control import control_connection, exit_now, launched_by_bpcd
from nbcli.status import PROTOCOL_ERROR, NbuError
from nbcli.wire import frames, schema
from nbcli.wire.frames import Message
from nbcli.wire.schema import Fields, obj, opt, req

FIRST_REQUEST_TIMEOUT = 60.0
STRINGS = opt(list, [], items=req(str))
# The job's secret for its bptm child's data service (nbcli.net.client.connect), when bptm
# hands one out: the agent says it in its hello and never logs it.
SECRET = opt(str, None, max_len=128)
# The master's DTE_GLOBAL_MODE (and, for a restore, its DTE_IGNORE_IMAGE_MODE) and the media
# server's MEDIA_DTE_MODE: the agent decides with its own DTE_CLIENT_MODE (nbcli.net.dte)
DTE_GLOBAL = opt(str, "", max_len=32)
DTE_MEDIA = opt(str, "", max_len=32)

# What a controller may send an agent, by op (docs/protocol.md "Agents").
CONTROL_OPS: dict[str, Fields] = {
    # bpbrm -> bpbkar: the backup to make (an empty file list is bpbkar's 69).
    "backup": {"jobid": opt(int, lo=1), "client": opt(str), "policy": opt(str),
               "schedule": opt(str), "paths": STRINGS,
               "since": opt(int), "block_size": opt(int), "exclude": STRINGS,
               "tir": opt(bool, False), "cross_mount_points": opt(bool, False),
               "archive": opt(bool, False), "dte_global": DTE_GLOBAL, "dte_media": DTE_MEDIA,
               "run_as": obj({"uid": req(int, lo=0), "gid": opt(int, lo=0),
                              "user": opt(str)}, required=False)},
    # bpbrm -> bpbkar: where bptm's child waits for the image.
    "send": {"host": req(str), "service": req(str), "secret": SECRET},
    # bpbrm child -> tar-restore: the restore to make, and where bptm's child sends it from.
    "restore": {"jobid": opt(int, lo=1), "host": req(str), "service": req(str),
                "renames": opt(list, [], items=req(list, items=req(str))),
                "keep_existing": opt(bool, False), "dest": STRINGS, "secret": SECRET,
                "dte_global": DTE_GLOBAL, "image_dte": opt(bool, False),
                "dte_media": DTE_MEDIA, "dte_ignore_image": DTE_GLOBAL,
                # a user's restore (bprd): tar-restore writes with that user's rights alone
                "run_as": obj({"uid": req(int, lo=0), "gid": opt(int, lo=0),
                               "user": opt(str)}, required=False)},
    # the controller recorded a step the agent waits on
    "ack": {},
}


class ControllerGone(Exception):
    """The controller closed the control channel: nobody wants the result any more."""


class Controller:
    """The agent's end of the control channel."""

    def __init__(self, conn: Connection, log: logging.Logger) -> None:
        self.conn = conn
        self.log = log
        self.pid = os.getpid()
        self.replied = False
        self._poll = select.poll()
        self._poll.register(conn.fileno(), select.POLLIN)

    def receive(self, op: str, timeout: float | None = None) -> Message:
        """The next request, which must be `op` (232 otherwise), with its fields checked."""
        try:
            msg = self.conn.recv(timeout)
        except EOFError as e:
            raise ControllerGone("the controller closed the connection") from e
        if msg.get("op") != op:
            raise NbuError(PROTOCOL_ERROR, f"expected a {op!r} request, got {msg.get('op')!r}")
        return schema.validate(op, msg, CONTROL_OPS[op])

    def send(self, msg: Message) -> None:
        try:
            self.conn.send(msg)
        except NbuError as e:
            raise ControllerGone(str(e)) from e

    def accept(self) -> None:
        """Answer the first request: the agent takes the job."""
        self.send({"status": 0, "pid": self.pid})
        self.replied = True

    def step(self, step: int, msg: str, wait: bool = False, dte: bool | None = None) -> None:
        """Report a step; with `wait`, go on only once the controller has recorded it (so
        that what this agent causes next cannot be recorded before it). `dte`: whether the
        image stream crosses encrypted, said with the step that opens it - bpbrm keeps it as the
        job's DTE mode (bpjobd's dtemode)."""
        self.log.info("step %d: %s", step, msg)
        frame: Message = {"op": "step", "step": step, "msg": msg, "pid": self.pid, "ack": wait}
        if dte is not None:
            frame["dte"] = dte
        self.send(frame)
        if wait:
            self.receive("ack", timeout=60)

    def report(self, severity: str, msg: str) -> None:
        """A problem line for the job's details (and for our own log)."""
        level = {"Info": logging.INFO, "Warning": logging.WARNING}.get(severity, logging.ERROR)
        self.log.log(level, "%s", msg)
        self.send({"op": "log", "severity": severity, "msg": msg})

    def check(self) -> None:
        """Raise ControllerGone if the controller has closed the channel."""
        if not self._poll.poll(0):
            return
        try:
            msg = self.conn.recv(timeout=5.0)
        except (EOFError, NbuError) as e:
            raise ControllerGone("the controller went away") from e
        self.log.warning("ignored an unexpected %r frame from the controller", msg.get("op"))

    def fail(self, e: NbuError) -> None:
        """Tell the controller about a failure, as a reply or as the "done" frame."""
        try:
            if self.replied:
                self.send({"op": "done", "status": e.status, "msg": e.detail or e.message})
            else:
                self.send(frames.error(e))
        except ControllerGone:
            pass


Serve = Callable[[Controller, HostConfig, Message], int]


def run_controlled(process: str, serve: Serve, first_op: str, crash_status: int) -> NoReturn:
    """Main of an agent launched by bpcd: serve one request, exit with its status."""
    conn = control_connection(peer="controller")
    try:
        cfg = config.load()
    except NbuError as e:
        _try_send(conn, frames.error(e))
        sys.exit(e.status)
    log = nblog.setup(cfg.paths.logs, process, cfg.verbose)
    ctl = Controller(conn, log)
    status = _serve(ctl, cfg, serve, first_op, crash_status)
    nblog.log_peak(log, process)
    conn.close()
    exit_now(status)


def program(process: str, cli: NbCommand, serve: Serve, first_op: str,
            crash_status: int) -> Callable[[], None]:
    """An agent's console-script main: controlled when bpcd launched it, else its command."""

    def main() -> None:
        if launched_by_bpcd():
            run_controlled(process, serve, first_op, crash_status)
        entry(cli)()

    return main


def _serve(ctl: Controller, cfg: HostConfig, serve: Serve, first_op: str,
           crash_status: int) -> int:
    try:
        msg = ctl.receive(first_op, FIRST_REQUEST_TIMEOUT)
        jobid = msg.get("jobid")
        nblog.set_job(jobid if isinstance(jobid, int) else None)
        ctl.log.info("%s started (pid %d)", first_op, ctl.pid)
        return serve(ctl, cfg, msg)
    except ControllerGone as e:
        ctl.log.warning("stopping: %s", e)
        return 40
    except NbuError as e:
        ctl.log.error("%s", e)
        ctl.fail(e)
        return e.status
    except Exception as e:  # a bug: one line to the controller, the traceback to our log
        ctl.log.error("failed:\n%s", traceback.format_exc())
        ctl.fail(NbuError(crash_status, f"{type(e).__name__}: {e}"))
        return crash_status


def _try_send(conn: Connection, msg: Message) -> None:
    try:
        conn.send(msg)
    except NbuError:
        pass


_STR_LIST = schema.Field(list, items=schema.Field(str))


def str_list(msg: Message, key: str, status: int, default: Any = None) -> list[str]:
    """A request field that must be a list of strings: status 143 when it is something else,
    as in every op table; `status` (the caller's own) when it is missing with no default.

    Controller.receive has checked the field already when `msg` came from there."""
    value = msg.get(key)
    if value is None:
        if default is None:
            raise NbuError(status, f"{key} is missing")
        return list(default)
    checked: list[str] = _STR_LIST.check(str(msg.get("op", "request")), key, value)
    return checked
