"""nbjm: the job manager - runs each backup job through the seed's steps 2-17.

nbpem sends a Job Start (step 1); nbjm queues the job and tells bpjobd (2), asks nbrb for its
resources with the job's limits (3-5), has bpdbm create the image files through nbproxy (6),
starts bpbrm on the media server through its PBX and bpcd (7), answers bptm's media request
on a connection of its own (9), and when bpbrm reports the end marks the job done (14),
completes or removes the image (15), releases the resources (16) and tells nbpem (17).

For restores (owned by bprd) nbjm is bptm's way to the resource broker (restore steps 9, 11,
16). Each job runs on its own thread; all a thread shares with the others is the job table.

nbjm keeps no state of its own on disk: at start it ends the jobs a previous nbjm left open in
bpjobd (status 50, nbcli/daemons/recover.py), and at stop it cancels its running jobs (150) and
waits for their ends, so no job stays Active with nobody running it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nbcli import clock, jobreport, kinds
from nbcli.daemons import recover
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.nbjm_backup import BackupJob
from nbcli.daemons.nbjm_job import JOB_START, request_resources
from nbcli.log import set_job
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Op, Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import INVALID_JOB_ID, INVALID_JOBID, LOGIC_ERROR, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

JOBID = req(int, lo=1)


@dataclass
class RestoreResources:
    jobid: int
    host: str
    stus: list[str]
    report: jobreport.JobReporter
    media: list[str] = field(default_factory=list)  # a tape restore's media, in mount order
    granted: bool = False
    allocations: int = 0  # how many times resources were granted (one per mount)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Nbjm(Daemon):
    """the job manager: queues jobs, gets their resources, runs them, completes them"""

    name = "nbjm"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.jobs: dict[int, BackupJob] = {}
        self.restores: dict[int, RestoreResources] = {}
        self._last_backup_time: dict[str, int] = {}
        self.created = recover.Created()  # every job this nbjm created
        self.outbox = jobreport.Outbox()  # job ends bpjobd could not record yet

    def on_start(self) -> None:
        # The jobs a previous nbjm left are ended once bpjobd answers; at stop, ours are.
        recover.start(self, self._cancel_at_stop)

    def periodic(self) -> list[tuple[float, Any]]:
        return [(jobreport.RESEND, lambda: recover.resend(self))]

    def _cancel_at_stop(self) -> None:
        """`netbackup stop`: cancel every running job at once (status 150), as bp.kill_all
        does, while the other daemons still serve the jobs' ends."""
        with self.lock:
            running = list(self.jobs.values())
        for job in running:
            self.log.info("stopping: canceling job %d", job.jobid)
            job.cancel()

    def on_stop(self) -> None:
        """Wait (a while) for the canceled jobs to end: image removed, resources released."""
        deadline = time.monotonic() + recover.STOP_WAIT
        while time.monotonic() < deadline:
            with self.lock:
                if not self.jobs:
                    break
            time.sleep(0.1)
        else:
            with self.lock:
                self.log.warning("stopping with jobs still ending: %s", sorted(self.jobs))
        recover.last_resend(self)

    def services(self) -> dict[str, Ops]:
        return {"nbjm": {
            "job_start": Op(self.job_start, ADMIN, JOB_START),
            # bptm (backup): seed step 9, and the end of its use of the media.
            "media_info": op(self.media_info, ADMIN, jobid=JOBID, host=req(str), service=req(str)),
            "media_done": op(self.media_done, ADMIN, jobid=JOBID),
            # bptm (restore): restore steps 7, 9-11 and 16.
            "restore_resources": op(self.restore_resources, ADMIN, jobid=JOBID, host=req(str),
                                    stus=opt(list, [], items=req(str)),
                                    media=opt(list, [], items=req(str))),
            # from tape: one medium at a time, in the bprd child's mount order
            "allocate": op(self.restore_allocate, ADMIN, jobid=JOBID,
                           media_id=opt(str, "", max_len=6)),
            "restore_done": op(self.restore_done, ADMIN, jobid=JOBID, status=opt(int)),
            "cancel": op(self.cancel, ADMIN, jobid=JOBID),
            "jobs": op(self.list_jobs, ADMIN),
            "ping": op(lambda m, c: {"host": self.cfg.client_name}, ANYONE)}}

    # --- backups ------------------------------------------------------------------------------

    def job_start(self, msg: Message, conn: Connection) -> Message:
        """Seed step 2: queue the job, make it visible in bpjobd, run it on its own thread."""
        report = jobreport.JobReporter(self.cfg, "nbjm", outbox=self.outbox)
        with self.created.lock:  # created and registered as one, for recover.reconcile
            jobid = report.create(
                jobtype=kinds.JOB_ARCHIVE if msg["sched_type"] == 3 else kinds.JOB_BACKUP,
                state=kinds.QUEUED, policy=msg["policy"], schedule=msg["schedule"],
                client=msg["client"], policytype=msg["policy_type"],
                scheduletype=msg["sched_type"], priority=msg["priority"],
                subtype=msg["subtype"], owner=msg["owner"],
                retentionlevel=msg["retention_level"],
                masterserver=self.cfg.client_name, filelist=msg["paths"], started=int(clock.now()),
                stunit=msg["stu"] or "", operation=kinds.OP_REQUEST_RESOURCES)
            self.created.add(jobid)
        first = msg["nbpem_step"] or {}
        report.step(jobid, 1, first.get("msg") or "Job Start from nbpem", process="nbpem",
                    pid=first.get("pid"), host=first.get("host"), time=first.get("time"))
        report.step(jobid, 2, "job added to nbjm's job list; queued in bpjobd until resources "
                              "are allocated")
        job = BackupJob(self, jobid, msg, report)
        with self.lock:
            self.jobs[jobid] = job
        if self.stop.is_set():
            job.canceled.set()  # started while nbjm stops: it ends at once (150)
        threading.Thread(target=self._run, args=(job,), name=f"job {jobid}", daemon=True).start()
        return {"jobid": jobid}

    def _run(self, job: BackupJob) -> None:
        set_job(job.jobid)
        try:
            job.run()
        except Exception:
            # A bug must not leave the job Active and its resources held: end it with 256.
            self.log.exception("job %d failed unexpectedly", job.jobid)
            job.abandon(LOGIC_ERROR)
        finally:
            with self.lock:
                self.jobs.pop(job.jobid, None)
            set_job(None)

    def backup_time(self, client_name: str) -> int:
        """A backup time that makes a new backup id for this client (one per second)."""
        with self.lock:
            t = max(int(clock.now()), self._last_backup_time.get(client_name, 0) + 1)
            self._last_backup_time[client_name] = t
            return t

    def media_info(self, msg: Message, conn: Connection) -> None:
        """Seed step 9: answer bptm's request through a separate connection nbjm opens."""
        jobid = msg["jobid"]
        with self.lock:
            job = self.jobs.get(jobid)
        if job is None or job.grant is None:
            raise NbuError(INVALID_JOBID, f"no running backup job {jobid}")
        conn.send({"status": 0})
        job.report.step(jobid, 9, f"returning media and drive information to bptm on "
                                  f"{msg['host']} through a separate connection")
        with client.connect(self.cfg, msg["host"], msg["service"]) as back:
            back.send({"op": "media_info", "jobid": jobid, "stu": job.grant["stu"],
                       "rl": job.p.get("retention_level", -1),
                       "expiration": job.expiration})
            back.recv(timeout=30)
        return None

    def media_done(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        with self.lock:
            job = self.jobs.get(jobid)
        if job is not None:
            job.report.log(jobid, "bptm is done with the media")
        return {}

    def cancel(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        with self.lock:
            job = self.jobs.get(jobid)
            restore = self.restores.get(jobid)
        if job is not None:
            job.cancel()
            return {}
        if restore is not None:
            client.call(self.cfg, self.cfg.client_name, "nbrb", "cancel", jobid=jobid)
            client.call(self.cfg, self.cfg.client_name, "bprd", "cancel", jobid=jobid)
            return {}
        raise NbuError(INVALID_JOB_ID, f"job {jobid} is not running")

    def list_jobs(self, msg: Message, conn: Connection) -> Message:
        with self.lock:
            return {"backups": sorted(self.jobs), "restores": sorted(self.restores)}

    # --- restores: bptm's resources -----------------------------------------------------------

    def restore_resources(self, msg: Message, conn: Connection) -> Message:
        """Restore step 7 (bptm's request); the allocation follows on the same connection."""
        jobid = msg["jobid"]
        res = RestoreResources(jobid, msg["host"], msg["stus"],
                               jobreport.JobReporter(self.cfg, "nbjm"), list(msg["media"]))
        with self.lock:
            self.restores[jobid] = res
        return {}

    def restore_allocate(self, msg: Message, conn: Connection) -> Message:
        """Restore steps 9 and 11: nbrb allocates (through nbemm), nbjm forwards to bptm.

        From tape, bptm asks once per medium, in mount order: the drive and medium of the
        previous mount are released first (nbrb holds one allocation a job)."""
        jobid, media_id = msg["jobid"], msg["media_id"]
        with self.lock:
            res = self.restores.get(jobid)
        if res is None:
            raise NbuError(INVALID_JOBID, f"no resource request for restore job {jobid}")
        stu = res.stus[0] if res.stus else "*ANY*"
        with res.lock:
            # The seed's steps are recorded for the first medium; the next ones' as log lines.
            again = res.allocations > 0

            def record(step: int, text: str) -> None:
                if again:
                    res.report.log(jobid, text)
                else:
                    res.report.step(jobid, step, text)

            if res.granted:
                res.granted = False
                client.call(self.cfg, self.cfg.client_name, "nbrb", "release", jobid=jobid,
                            again=True)
            what = f"media {media_id} for reading (storage unit {stu})" if media_id else \
                f"read access to storage unit {stu}"
            record(9, f"requesting resources from nbrb: {what} on {res.host}")
            extra: dict[str, Any] = {"media_id": media_id} if media_id else {}
            if again:
                extra["again"] = True
            grant = request_resources(self.cfg, res.report, jobid, kind="restore", stu=stu,
                                      host=res.host, **extra)
            res.granted = True
            res.allocations += 1
            got = grant["stu"]
            drive = got.get("drive_name") or got.get("drive")
            where = f"media {got.get('media_id')} in drive {drive}" if media_id else \
                f"storage unit {got['label']}"
            record(11, f"nbrb allocated {where}; forwarding the allocation to bptm on "
                       f"{res.host}")
        return {"granted": grant}

    def restore_done(self, msg: Message, conn: Connection) -> Message:
        """Restore step 16: release what the restore held."""
        jobid = msg["jobid"]
        with self.lock:
            res = self.restores.pop(jobid, None)
        if res is None:
            return {}
        res.report.step(jobid, 16, "bptm reported the restore complete; releasing its "
                                   "resources with nbrb")
        if res.granted:
            try:
                client.call(self.cfg, self.cfg.client_name, "nbrb", "release", jobid=jobid)
            except NbuError as e:
                # The data is restored: a release nbrb cannot take now is done by its
                # reconciliation (the resources of closed jobs), never the restore's failure.
                self.log.warning("job %d: nbrb did not take the release: %s", jobid, e)
                res.report.log(jobid, f"nbrb could not be told to release the resources "
                                      f"({e}); they are released once it sees the job "
                                      f"closed", "Warning")
        res.report.close()
        return {}


main = daemon_main(Nbjm)
