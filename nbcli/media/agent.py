"""What the media server's per-job programs (bpbrm, bptm) share: start-up and child processes.

Both run under a controller: bpbrm under nbjm or bprd (launched through bpcd), bptm under bpbrm
(started by it, with a socketpair as its control channel - the same stdin/stdout convention
bpcd uses; a bpbrm spare starts a bptm spare while it waits, nbcli.net.spare). When the
controller goes away, the program stops: a job is never left running for nobody.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import logging
import signal
import socket
import subprocess
import sys

from nbcli import clock, config
from nbcli import log as nblog
from nbcli.config import HostConfig
from nbcli.net.conn import Connection
from nbcli.net.control import control_connection, is_spare, launched_by_bpcd
from nbcli.net.spare import Spares
from nbcli.status import EXEC_FAILED, NbuError, exit_line

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def start(name: str, preload: tuple[str, ...] = (),
          ahead: tuple[str, ...] = ()) -> tuple[HostConfig, logging.Logger, Connection]:
    """Config, log and control channel of an agent; usage error when run by hand.

    A spare (nbcli.net.spare) imports `preload` and starts spares of the programs it will
    start itself (`ahead`) before it waits; the config is read only once it has a job, so
    that a spare started hours ago still sees today's bp.toml."""
    if not launched_by_bpcd():
        sys.stderr.write(f"{name}: this program is started by NetBackup for a job, not by "
                         f"hand\n{exit_line(20)}\n")
        sys.exit(20)
    if is_spare():
        for module in preload:
            importlib.import_module(module)
        for program in ahead:
            _spares().prepare(program)
    ctl = control_connection(name)
    cfg = config.load()
    clock.use_root(cfg.root)
    return cfg, nblog.setup(cfg.paths.logs, name, cfg.verbose), ctl


@functools.cache
def _spares() -> Spares:
    # one of each: a bpbrm runs one job, and each bpbrm spare a daemon keeps has its own
    return Spares(config.default_root(), new_session=False, keep=1)


def spawn(cfg: HostConfig, name: str) -> tuple[subprocess.Popen[bytes], Connection]:
    """Start agent `name` on this host (its spare if one waits) with a socketpair for its
    control channel."""
    ours, theirs = socket.socketpair()
    try:
        proc = _spares().launch(name, theirs.fileno(), keep_spare=False)
    except OSError as e:
        ours.close()
        raise NbuError(EXEC_FAILED, f"cannot start {name}: {e}") from e
    finally:
        theirs.close()
    return proc, Connection(ours, name)


def report_failure(ctl: Connection, log: logging.Logger, e: NbuError) -> int:
    """Tell the controller how the job failed (a "done" frame); return the status."""
    log.error("%s", e)
    try:
        ctl.send({"op": "done", "status": e.status, "msg": e.detail or e.message})
    except NbuError:
        pass  # the controller is gone; the exit status still says it
    return e.status
