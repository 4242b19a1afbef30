"""What the media server's per-job programs (bpbrm, bptm) share: start-up and child processes.

Both run under a controller: bpbrm under nbjm or bprd (launched through bpcd), bptm under bpbrm
(started directly, with a socketpair as its control channel - the same stdin/stdout convention
bpcd uses). When the controller goes away, the program stops: a job is never left running for
nobody.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys

from nbcli import clock, config, programs
from nbcli import log as nblog
from nbcli.config import HostConfig
from nbcli.net.conn import Connection
from nbcli.net.control import CONTROL_ENV, control_connection, launched_by_bpcd
from nbcli.status import NbuError, exit_line

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def start(name: str) -> tuple[HostConfig, logging.Logger, Connection]:
    """Config, log and control channel of an agent; usage error when run by hand."""
    if not launched_by_bpcd():
        sys.stderr.write(f"{name}: this program is started by NetBackup for a job, not by "
                         f"hand\n{exit_line(20)}\n")
        sys.exit(20)
    cfg = config.load()
    clock.use_root(cfg.root)
    return cfg, nblog.setup(cfg.paths.logs, name, cfg.verbose), control_connection(name)


def spawn(cfg: HostConfig, name: str) -> tuple[subprocess.Popen[bytes], Connection]:
    """Start agent `name` on this host with a socketpair for its control channel."""
    ours, theirs = socket.socketpair()
    env = dict(os.environ, NB_ROOT=str(cfg.root), **{CONTROL_ENV: "1"})
    log_dir = cfg.paths.logs / name
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "stderr.log", "ab") as err:
        try:
            proc = subprocess.Popen(programs.argv_for(name), stdin=theirs, stdout=theirs,
                                    stderr=err, env=env, close_fds=True)
        except OSError as e:
            ours.close()
            raise NbuError(29, f"cannot start {name}: {e}") from e
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
