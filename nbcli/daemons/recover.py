"""A job owner's start: the jobs its previous run left (nbjm: backups and archives; bprd:
restores).

The jobs of an owner that bpjobd still has open and that a previous run of that owner created
are run by nobody: their thread died with it, and bpbrm and its agents ended when their control
connection closed. Each is ended with status 50 (orphans.OWNER_LOST), its incomplete image is
removed and its resources released (orphans.let_go). A backup's nbpem hears the end with a
deadline of now, so nbpem frees the policy/client and its next look at what is due starts a
new job: NetBackup's retry of a job whose try failed.

At stop (`netbackup stop`, bp.kill_all) the owners cancel their running jobs themselves (150)
and wait up to STOP_WAIT for them to end, so users' `bpbackup -w` get the job's status.

Place: imported by nbcli/daemons/nbjm.py and bprd.py; knows them as the Owner protocol below.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from nbcli import clock, jobreport, kinds
from nbcli.config import HostConfig
from nbcli.daemons import orphans
from nbcli.net import client
from nbcli.status import NbuError

RECONCILE_FOR = 120.0  # seconds to keep trying while bpjobd is not up yet
RETRY_PAUSE = 1.0
STOP_WAIT = 15.0  # `netbackup stop` kills what is left after 20 s


class Created:
    """The jobs this run of an owner created (it runs them, or ran them to their end).

    `lock` is held while a job is created in bpjobd and added here, so that a listing of open
    jobs taken under it tells a previous run's jobs from this run's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._ids: set[int] = set()
        self._guard = threading.Lock()

    def add(self, jobid: int) -> None:
        with self._guard:
            self._ids.add(jobid)

    def __contains__(self, jobid: object) -> bool:
        with self._guard:
            return jobid in self._ids


class Owner(Protocol):
    name: str
    cfg: HostConfig
    log: logging.Logger
    stop: threading.Event
    created: Created
    outbox: jobreport.Outbox


def start(owner: Owner, at_stop: Callable[[], None],
          reconciled: Callable[[], None] | None = None) -> None:
    """An owner's on_start: end a previous run's jobs once bpjobd answers (its own thread),
    then run `reconciled` (bprd: remove the files of the restores it just ended); and run
    `at_stop` (cancel this run's jobs) once the owner is told to stop."""
    started = clock.now()

    def reconcile_then() -> None:
        reconcile(owner, started)
        if reconciled is not None:
            reconciled()

    threading.Thread(target=reconcile_then, name="reconcile", daemon=True).start()

    def stopper() -> None:
        owner.stop.wait()
        at_stop()

    threading.Thread(target=stopper, name="stopper", daemon=True).start()


def left_behind(jobs: list[dict[str, Any]], created: Created,
                started: float) -> list[dict[str, Any]]:
    """Of an owner's open jobs, those a previous run left: not created by this run, and
    started before it. The second rule matters when bpjobd was not up yet at the owner's
    start: the listing then comes a second or more later, and a job another process opened
    meanwhile (bpjobd takes a job_create from any ADMIN caller) is nobody's leftover.
    bpjobd keeps whole seconds, so a job opened in the second of the start counts as before
    it: a previous run's leftover must never be missed (it would stay Active, its resources
    held), while only a test opens an owner's kind of job itself."""
    return [j for j in jobs
            if int(j["jobid"]) not in created and float(j.get("started") or 0) <= started]


def reconcile(nbjm: Owner, started: float) -> None:
    """End the open jobs a previous run left (runs on its own thread from on_start)."""
    deadline = time.monotonic() + RECONCILE_FOR
    while not nbjm.stop.is_set():
        try:
            with nbjm.created.lock:
                left = left_behind(orphans.open_jobs(nbjm.cfg, nbjm.name), nbjm.created,
                                   started)
            break
        except NbuError as e:
            if time.monotonic() > deadline:
                nbjm.log.error("cannot reconcile the jobs of a previous %s: %s", nbjm.name, e)
                return
            nbjm.stop.wait(RETRY_PAUSE)
    else:
        return
    nbjm.log.info("open jobs looked at: %d left by a previous %s", len(left), nbjm.name)
    report = jobreport.JobReporter(nbjm.cfg, nbjm.name, outbox=nbjm.outbox)
    try:
        for job in left:
            end_orphan(nbjm, report, job)
    finally:
        report.close()


def resend(owner: Owner) -> None:
    """Send the job ends bpjobd has not taken again (the owner's periodic task)."""
    owner.outbox.resend(owner.cfg, owner.name, owner.log)


def last_resend(owner: Owner) -> None:
    """At stop: one more try for the job ends bpjobd has not taken; what it still refuses
    is lost with this process (the next start's reconcile ends those jobs: status 50)."""
    resend(owner)
    if len(owner.outbox):
        owner.log.error("stopping with %d job end(s) bpjobd did not record; the next %s "
                        "ends those jobs", len(owner.outbox), owner.name)


def end_orphan(nbjm: Owner, report: jobreport.JobReporter, job: dict[str, Any]) -> None:
    jobid, status = int(job["jobid"]), orphans.OWNER_LOST
    nbjm.log.warning("job %d was left %s by a previous %s; ending it with status %d", jobid,
                     kinds.JOB_STATES.get(job["state"], job["state"]), nbjm.name, status)
    try:
        report.log(jobid, f"{nbjm.name} restarted: nobody runs the job any more; ending it",
                   "Error")
        if job["state"] != kinds.DONE:
            report.update(jobid, state=kinds.DONE, status=status, ended=int(clock.now()))
        else:
            status = int(job["status"] or 0)
    except NbuError as e:
        nbjm.log.warning("job %d: %s", jobid, e)
    orphans.let_go(nbjm.cfg, jobid, str(job.get("backupid") or ""), nbjm.log)
    if nbjm.name == "nbjm":
        _tell_nbpem(nbjm, job, status)
    try:
        report.update(jobid, closed=True)
    except NbuError as e:
        nbjm.log.warning("job %d not closed: %s", jobid, e)


def _tell_nbpem(nbjm: Owner, job: dict[str, Any], status: int) -> None:
    jobid = int(job["jobid"])
    try:
        client.call(nbjm.cfg, nbjm.cfg.client_name, "nbpem", "job_done", jobid=jobid,
                    status=status, policy=job.get("policy") or "",
                    schedule=job.get("schedule") or "", client=job.get("client") or "",
                    sched_type=int(job.get("scheduletype") or 0),
                    subtype=int(job.get("subtype") or 0), deadline=clock.now())
    except NbuError as e:
        nbjm.log.warning("job %d: nbpem did not hear the end: %s", jobid, e)
