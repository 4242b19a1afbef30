"""bptm: the tape and disk manager of one job on a media server (seed backup steps 9-13,
restore steps 7 and 12-15).

bpbrm starts it with a control channel and one request, "backup" or "restore". bptm then
forks `bptm child` with a shared-memory ring between them (ring.py): on a backup the child
receives the image from bpbkar into the ring and the parent writes it to the storage unit; on
a restore the parent reads the storage unit into the ring and the child sends it to
tar-restore. The fork happens before bptm starts any thread.

bptm reports its steps and progress to bpbrm as frames and ends with a "done" frame. It stops
as soon as bpbrm goes away or says "abort", removing whatever it wrote; so it does on SIGTERM
(`netbackup stop` of its media server, which signals bpbrm at the same moment: nobody else is
left to remove the fragments).

Place: the dispatcher. It imports the part for the request's op (OPS) only then; a spare
imports all of them, and the storage backends, ahead (nbcli.net.spare). The parts import
bptm_ctx, never this module.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
from typing import Any

from nbcli import log as nblog
from nbcli.media import agent, storage
from nbcli.media.bptm_ctx import Aborted, Ctx
from nbcli.media.ring import ignore_sigpipe
from nbcli.status import INVALID_PROTOCOL, TERMINATED_BY_ADMIN, NbuError, exit_code

# request op -> the module whose run(ctx, req) does it
OPS = {"backup": "nbcli.media.bptm_backup", "restore": "nbcli.media.bptm_restore"}
# a restore from tape (its request carries the bprd child's mount plan)
TAPE_RESTORE = "nbcli.media.bptm_restore_tape"


def main() -> None:
    ignore_sigpipe()
    cfg, log, ctl = agent.start("bptm", preload=(*OPS.values(), TAPE_RESTORE,
                                                 *storage.backend_modules()))
    try:
        req = ctl.recv(timeout=60)
    except (EOFError, NbuError):
        os._exit(40)
    ctx = Ctx(cfg, log, ctl, int(req.get("jobid", 0)))
    nblog.set_job(ctx.jobid)
    stop_on_sigterm(ctl.sock)
    op = req.get("op")
    try:
        if not isinstance(op, str) or op not in OPS:
            raise NbuError(INVALID_PROTOCOL, f"bptm cannot do {op!r}")
        module = TAPE_RESTORE if op == "restore" and req.get("mounts") else OPS[op]
        status = int(importlib.import_module(module).run(ctx, req))
    except Aborted as e:
        log.info("stopped: %s", e)
        status = TERMINATED_BY_ADMIN
    except NbuError as e:
        status = agent.report_failure(ctl, log, e)
    nblog.log_peak(log, "bptm")
    ctl.close()
    os._exit(exit_code(status))


def stop_on_sigterm(control: socket.socket) -> None:
    """SIGTERM stops the job as bpbrm's abort does (Aborted: a backup's fragments removed,
    status 150); a bptm child (forked later, same handler) just ends: its parent undoes.

    Once only, and never by raising into code that is already handling an exception: bpbrm,
    signalled by the same `netbackup stop`, may have gone first, and an Aborted raised into
    that clean-up would skip the removal of the fragments. Then the control channel is shut
    instead, which the job's next look at bpbrm takes as bpbrm gone (Aborted there)."""
    me = os.getpid()
    stopping: list[bool] = []

    def stop(signum: int, frame: Any) -> None:
        if os.getpid() != me:
            os._exit(exit_code(TERMINATED_BY_ADMIN))
        if stopping:
            return
        stopping.append(True)
        if sys.exc_info()[1] is None:
            raise Aborted("SIGTERM (netbackup stop)")
        try:
            control.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, stop)
