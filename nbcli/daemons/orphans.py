"""What is left of a job nobody runs any more, and letting go of it.

A job's owner (nbjm for backups and archives, bprd for restores) may die with the job in
flight. Whoever finds such an orphan - the owner at its next start, or bpjobd when a cancel
finds no owner running the job - ends it in bpjobd and calls `let_go`: the incomplete image
leaves the catalog (bpdbm's image_abort, through nbproxy as nbjm does, else bpdbm itself) and
nbrb and nbemm release what they hold for the job. Each part is quiet: a daemon that is down
now does its own reconciliation when it starts (nbrb and nbemm release what belongs to closed
jobs, bpdbm finishes interrupted removals).

Place: a helper of the daemons nbjm, bprd and bpjobd (and recover.py); imports the base
floor, config and net, no daemon.
"""

from __future__ import annotations

import logging
from typing import Any

from nbcli import kinds
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import (
    CANNOT_CONNECT,
    CANT_CONNECT_TO_CLIENT,
    CLIENT_ABORTED,
    CONNECTION_BROKEN,
    CONNECTION_TIMED_OUT,
    HANDSHAKE_FAILED,
    INVALID_JOB_ID,
    INVALID_JOBID,
    SOCKET_OPEN_FAILED,
    SOCKET_READ_FAILED,
    SOCKET_WRITE_FAILED,
    NbuError,
)

# The status of a job whose owner died with it: its processes were stopped with their
# controller (bpbrm and its agents end when their control connection closes), as NetBackup
# reports the jobs that were running when its services went down.
OWNER_LOST = CLIENT_ABORTED
# Jobs that run on their owner's thread: the ones an owner's restart or a cancel may orphan.
OWNED = {kinds.JOB_BACKUP: "nbjm", kinds.JOB_ARCHIVE: "nbjm", kinds.JOB_RESTORE: "bprd"}
# Answers that say an owner does not run a job, or cannot be asked (it is down).
NOT_RUNNING = frozenset({INVALID_JOB_ID, INVALID_JOBID})
UNREACHABLE = frozenset({SOCKET_OPEN_FAILED, SOCKET_READ_FAILED, SOCKET_WRITE_FAILED,
                         CANNOT_CONNECT, HANDSHAKE_FAILED, CONNECTION_BROKEN,
                         CONNECTION_TIMED_OUT, CANT_CONNECT_TO_CLIENT})


def owner_of(job: dict[str, Any]) -> str | None:
    return OWNED.get(int(job.get("jobtype", -1)))


def open_jobs(cfg: HostConfig, owner: str) -> list[dict[str, Any]]:
    """The jobs of `owner` that bpjobd has not seen closed (status 25... if bpjobd is down)."""
    jobs = client.call(cfg, cfg.client_name, "bpjobd", "job_list", open=True)["jobs"]
    return [j for j in jobs if owner_of(j) == owner]


def jobs_in_bpjobd(cfg: HostConfig, ids: list[int],
                   log: logging.Logger) -> list[dict[str, Any]] | None:
    """bpjobd's records of jobs `ids` (nbrb's and nbemm's look at what their holders became),
    or None while bpjobd cannot be asked: then nothing is released on a guess."""
    try:
        return list(client.call(cfg, cfg.client_name, "bpjobd", "job_list", jobids=ids)["jobs"])
    except NbuError as e:
        log.debug("cannot reconcile with bpjobd: %s", e)
        return None


def let_go(cfg: HostConfig, jobid: int, backupid: str, log: logging.Logger) -> None:
    """Remove the job's incomplete image and release its resources; each part best effort."""
    if backupid:
        _first(log, f"job {jobid}: image {backupid} not removed",
               lambda: client.call(cfg, cfg.client_name, "nbproxy", "image_abort",
                                   backupid=backupid),
               lambda: client.call(cfg, cfg.client_name, "bpdbm", "image_abort",
                                   backupid=backupid))
    _first(log, f"job {jobid}: queued request not dropped",
           lambda: client.call(cfg, cfg.client_name, "nbrb", "cancel", jobid=jobid))
    _first(log, f"job {jobid}: resources not released",
           lambda: client.call(cfg, cfg.client_name, "nbrb", "release", jobid=jobid),
           lambda: client.call(cfg, cfg.client_name, "nbemm", "release", jobid=jobid))


def _first(log: logging.Logger, what: str, *ways: Any) -> None:
    """Try each way until one works; a status that says "not in progress" is success."""
    last: NbuError | None = None
    for way in ways:
        try:
            way()
            return
        except NbuError as e:
            if e.status in (227, 229):  # gone already / no longer in progress
                return
            last = e
    log.warning("%s: %s", what, last)
