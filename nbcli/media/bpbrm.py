"""bpbrm: the backup and restore manager of one job on a media server.

nbjm (backups, seed step 7) or bprd (restores, step 5) has bpcd launch it; the launching
connection is its control channel and carries one request. For a backup bpbrm starts bpbkar on
the client (through the client's PBX and bpcd) and bptm here (step 8), forwards bpbkar's file
metadata to bpdbm (step 11) and the agents' steps to bpjobd, and tells nbjm how it ended
(step 13). For a restore it starts `bpbrm child` and bptm (step 6); the child starts
tar-restore on the destination client (step 8); bpbrm tells bprd how it ended (step 17).
bpdbm's image cleanup has it delete expired images (bpbrm_delete) and list what a storage unit
holds, to find orphaned fragments (bpbrm_list).

bpbrm is one thread reading all its peers (mux.py). If the controller goes away or cancels,
bpbrm stops its agents and removes what they wrote.

Place: the dispatcher. It imports the part for the request's op (OPS) only then; a spare
imports all of them, and the storage backends, ahead (nbcli.net.spare). The parts import
bpbrm_ctx, never this module.
"""

from __future__ import annotations

import importlib
import os

from nbcli.log import set_job
from nbcli.media import agent, storage
from nbcli.media.bpbrm_ctx import Ctx
from nbcli.status import INVALID_PROTOCOL, NbuError, exit_code

# request op -> the module whose run(ctx, req) does it
OPS = {"backup": "nbcli.media.bpbrm_backup", "restore": "nbcli.media.bpbrm_restore",
       "delete": "nbcli.media.bpbrm_delete", "list": "nbcli.media.bpbrm_list"}


def main() -> None:
    cfg, log, ctl = agent.start("bpbrm", preload=(*OPS.values(), *storage.backend_modules()),
                                ahead=("bptm",))
    try:
        req = ctl.recv(timeout=60)
    except (EOFError, NbuError):
        os._exit(40)
    ctx = Ctx(cfg, log, ctl, int(req.get("jobid", 0)), str(req.get("master", cfg.master)))
    set_job(ctx.jobid)
    op = req.get("op")
    try:
        if not isinstance(op, str) or op not in OPS:
            raise NbuError(INVALID_PROTOCOL, f"bpbrm cannot do {op!r}")
        status = int(importlib.import_module(OPS[op]).run(ctx, req))
    except NbuError as e:
        status = agent.report_failure(ctl, log, e)
    ctx.report.close()
    ctl.close()
    os._exit(exit_code(status))
