"""One backup job inside nbjm, from its resource request to the note to nbpem.

The steps are the seed's, in its order; each is recorded in bpjobd before nbjm acts on it.
Whatever fails, the end is the same: the job is Done with a NetBackup status, an image that is
not complete is removed from the catalog, the resources go back to nbrb and nbpem hears the
status (it decides about retries).

Place: imported by nbcli/daemons/nbjm.py; it knows nbjm only as nbjm_job.JobManager and
imports no daemon.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nbcli import clock, jobreport, kinds, timefmt
from nbcli.daemons import orphans
from nbcli.daemons.nbjm_job import LOST_BPBRM, JobManager, request_resources
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import EVENTS_OUT_OF_SEQUENCE, TERMINATED_BY_ADMIN, NbuError
from nbcli.wire.frames import Message

# Answers that say the catalog's daemons cannot be reached now, not what they think of the image.
CATALOG_LOST = frozenset({21, 23, 24, 25, 26, 40, 41, 58})
CATALOG_PATIENCE = 60.0


class BackupJob:
    def __init__(self, nbjm: JobManager, jobid: int, params: Message,
                 report: jobreport.JobReporter) -> None:
        self.nbjm = nbjm
        self.cfg = nbjm.cfg
        self.jobid = jobid
        self.p = params
        self.report = report
        self.grant: Message | None = None
        self.backupid: str | None = None
        self.backup_time = 0  # the image's, as bpdbm answered image_create
        self.expiration = 0  # the image's (a tape medium's expiration is its latest image's)
        self.bpbrm: Connection | None = None
        self.canceled = threading.Event()
        self._lock = threading.Lock()

    def step(self, n: int, msg: str) -> None:
        self.nbjm.log.info("job %d step %d: %s", self.jobid, n, msg)
        self.report.step(self.jobid, n, msg)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        """Tries until one succeeds or nbpem says no more (seed step 17: retries are the
        PolicyClient's decision); each try is steps 3-17, a retry is a new try of this job."""
        while True:
            status, result = self._one_try()
            retry_at = self._finish(status, result)
            if retry_at is None or not self._wait_for_retry(retry_at):
                break
        self.report.close()

    def _one_try(self) -> tuple[int, Message]:
        with self._lock:
            self.grant, self.backupid, self.bpbrm = None, None, None
        try:
            self._allocate()
            self._create_image()
            result = self._run_bpbrm()
            return int(result.get("status", LOST_BPBRM)), result
        except NbuError as e:
            self.nbjm.log.info("job %d: %s", self.jobid, e)
            return e.status, {"msg": e.detail or e.message}

    def _wait_for_retry(self, retry_at: float) -> bool:
        """Wait (Re-Queued) until the retry time on this host's clock; False if canceled."""
        while clock.now() < retry_at:
            if self.canceled.wait(0.5):
                self._quietly(lambda: self.report.update(self.jobid, state=kinds.DONE,
                                                         status=TERMINATED_BY_ADMIN,
                                                         ended=int(clock.now()), closed=True))
                return False
        return True

    def _allocate(self) -> None:
        p = self.p
        stu = p.get("stu") or "*ANY*"
        pool = p.get("pool") or "NetBackup"
        self.step(3, f"requesting resources from nbrb: storage unit {stu}, volume pool {pool}, "
                     f"max jobs per policy {p.get('max_jobs_policy') or 'unlimited'}, max jobs "
                     f"per client {p.get('max_jobs_client') or 'unlimited'}")
        grant = request_resources(self.cfg, self.report, self.jobid, kind="backup", stu=stu,
                                  pool=pool, rl=int(p.get("retention_level", -1)),
                                  policy=p.get("policy"), client=p.get("client"),
                                  priority=p.get("priority", 0),
                                  max_jobs_policy=p.get("max_jobs_policy", 0),
                                  max_jobs_client=p.get("max_jobs_client", 0),
                                  deadline=p.get("deadline"))
        with self._lock:
            self.grant = grant
        if self.canceled.is_set():
            raise NbuError(TERMINATED_BY_ADMIN, "canceled")
        s = grant["stu"]
        self.report.update(self.jobid, state=kinds.ACTIVE, stunit=s["label"],
                           server=grant.get("host", s.get("host")), queuereason=0, reasonstring="",
                           operation=kinds.OP_CONNECT, new_try=True)
        tape = f", drive {s.get('drive_name') or s.get('drive')} and media " \
               f"{s['media_id']}" if s.get("media_id") else ""
        self.step(5, f"nbemm allocated storage unit {s['label']} on media server "
                     f"{s['host']}{tape} through nbrb; job active")

    def _create_image(self) -> None:
        p = self.p
        backup_time = self.nbjm.backup_time(str(p["client"]))
        level = p["retention_level"]
        period = p["retention_seconds"]  # None: this level keeps images for ever
        expiration = kinds.INFINITY if period is None else backup_time + int(period)
        self.expiration = expiration
        self.step(6, "creating the image header and .f files in the catalog through "
                     "nbproxy and bpdbm")
        reply = client.call(self.cfg, self.cfg.client_name, "nbproxy", "image_create",
                            client=p["client"], policy=p["policy"],
                            policy_type=p.get("policy_type", 0),
                            sched_label=p["schedule"], sched_type=p.get("sched_type", 0),
                            retention_level=level, expiration=expiration,
                            backup_time=backup_time, jobid=self.jobid,
                            stu=self.grant["stu"]["label"] if self.grant else "",
                            media_server=self.grant["stu"]["host"] if self.grant else "",
                            keyword=p.get("keyword", ""), tir=bool(p.get("tir")))
        self.backupid = str(reply["backupid"])
        self.backup_time = int(reply.get("backup_time", backup_time))
        self.report.update(self.jobid, backupid=self.backupid)

    def _run_bpbrm(self) -> Message:
        assert self.grant is not None and self.backupid is not None
        stu = self.grant["stu"]
        media = str(stu["host"])
        self.step(7, f"starting bpbrm on media server {media} through its PBX and bpcd")
        conn = client.connect(self.cfg, media, "bpcd")
        with self._lock:
            self.bpbrm = conn
        try:
            conn.request("launch", program="bpbrm", args=[])
            if self.canceled.is_set():
                raise NbuError(TERMINATED_BY_ADMIN, "canceled")
            p = self.p
            conn.send({"op": "backup", "jobid": self.jobid, "backupid": self.backupid,
                       "master": self.cfg.client_name, "client": p["client"],
                       "policy": p.get("policy"), "schedule": p.get("schedule"),
                       "paths": p.get("paths", []), "since": p.get("since"),
                       "exclude": p.get("exclude", []), "tir": bool(p.get("tir")),
                       "cross_mount_points": bool(p.get("cross_mount_points")), "stu": stu,
                       "archive": self.archive, "run_as": p.get("run_as"),
                       "dte_global": str(self.cfg.get("DTE_GLOBAL_MODE"))})
            self.report.update(self.jobid, operation=kinds.OP_WRITE)
            while True:
                try:
                    msg = conn.recv()
                except EOFError:
                    raise NbuError(LOST_BPBRM, f"bpbrm on {media} went away") from None
                if msg.get("op") == "done":
                    self.report.adopt(self.jobid, msg.get("held"))  # bpbrm's, before ours
                    return msg
        finally:
            if not self.archive:  # an archive still needs bpbrm after step 15
                self._drop_bpbrm()

    def _drop_bpbrm(self) -> None:
        with self._lock:
            conn, self.bpbrm = self.bpbrm, None
        if conn is not None:
            conn.close()

    @property
    def archive(self) -> bool:
        return self.p.get("sched_type") == 3  # UARC

    def _finish(self, status: int, result: Message) -> float | None:
        """Seed steps 14-17, whatever happened before; the retry time if nbpem wants one."""
        counts = {"kbytes": int(result.get("kbytes", 0)), "files": int(result.get("files", 0))}
        reported = status
        if status in (0, 1):
            self._quietly(lambda: self.report.update(self.jobid, state=kinds.DONE,
                                                     status=status, ended=int(clock.now()),
                                                     percent=100, **counts))
            self._quietly(lambda: self.step(14, f"bpbrm, bptm and bpbkar ended; job done "
                                                f"with status {status}"))
        else:
            self._quietly(lambda: self.report.update(self.jobid, trystatus=status, **counts))
            self._quietly(lambda: self.step(14, f"bpbrm, bptm and bpbkar ended; the try "
                                                f"failed with status {status}"))
        if self.backupid is not None:
            status = self._close_image(self.backupid, status, result)
        if self.archive:
            status = self._archive_delete(status)
        if self.grant is not None:
            if status not in (0, 1):
                self._let_go_of_drive(self.grant["stu"])
            self._quietly(lambda: self.step(16, "releasing the job's resources with nbrb"))
            self._quietly(lambda: client.call(self.cfg, self.cfg.client_name, "nbrb",
                                              "release", jobid=self.jobid))
        retry_at = self._tell_nbpem(status)
        # Done now: a failure with no retry, or a success whose status changed after step 14
        # (the image failed verification: 229; an archive's files were not all deleted: 3, 4).
        if retry_at is None and (status not in (0, 1) or status != reported):
            self._quietly(lambda: self.report.update(self.jobid, state=kinds.DONE,
                                                     status=status, ended=int(clock.now())))
        if retry_at is not None:
            self._quietly(lambda: self.report.update(self.jobid, state=kinds.REQUEUED))
            self._quietly(lambda: self.report.log(
                self.jobid, f"the try failed with status {status}; waiting to retry at "
                            f"{timefmt.fmt(retry_at)}"))
            return retry_at
        self._quietly(lambda: self.report.update(self.jobid, closed=True))
        return None

    def _let_go_of_drive(self, stu: dict[str, Any]) -> None:
        """A failed tape job's drive is free in ltid too once its bptm is gone (a bptm that
        was killed never unmounted; one still finishing its abort, its bpbrm killed, has the
        drive open yet and unmounts it itself: orphan)."""
        drive = stu.get("drive_name")
        if not stu.get("media_id") or not drive:
            return
        self._quietly(lambda: client.call(self.cfg, str(stu["host"]), "ltid", "unmount",
                                          jobid=self.jobid, drive=str(drive), orphan=True))

    def _tell_nbpem(self, status: int) -> float | None:
        """Seed step 17: nbpem hears how the try ended and may ask for a retry."""
        self._quietly(lambda: self.step(17, f"notifying nbpem that the job ended with status "
                                            f"{status}"))
        try:
            reply = client.call(self.cfg, self.cfg.client_name, "nbpem", "job_done",
                                jobid=self.jobid, status=status, policy=self.p.get("policy"),
                                schedule=self.p.get("schedule"), client=self.p.get("client"),
                                sched_type=self.p.get("sched_type", 0),
                                subtype=self.p.get("subtype", 0), backupid=self.backupid,
                                deadline=self.p.get("deadline"))
        except NbuError as e:
            self.nbjm.log.warning("job %d: nbpem did not hear the end: %s", self.jobid, e)
            return None
        retry_at = reply.get("retry_at")
        return float(retry_at) if retry_at and status not in (0, 1) else None

    def _archive_delete(self, status: int) -> int:
        """An archive (UARC) deletes its files once the image is in the catalog."""
        with self._lock:
            conn = self.bpbrm
        if conn is None:
            return status
        try:
            if status not in (0, 1):
                return status
            self.report.log(self.jobid, "image complete; deleting the archived files")
            conn.send({"op": "delete_files"})
            while (msg := conn.recv()).get("op") != "deleted":
                pass
            removed, result = int(msg.get("removed", 0)), int(msg.get("status", 0))
            self.report.log(self.jobid, f"{removed} archived files deleted",
                            "Info" if not result else "Warning")
            return result or status
        except (EOFError, NbuError) as e:
            self.report.log(self.jobid, f"archived files not deleted: {e}", "Error")
            return 4
        finally:
            self._drop_bpbrm()

    def _close_image(self, backupid: str, status: int, result: Message) -> int:
        """Seed step 15: complete and verify the image, or remove what it had.

        The elapsed time counts from the image's backup time as bpdbm recorded it (not from
        the backup id's digits: bpdbm's ids are its own business)."""
        if status in (0, 1):
            self.step(15, f"completing and verifying image {backupid} in the catalog "
                          f"through nbproxy and bpdbm")
            elapsed = int(clock.now()) - self.backup_time
            try:
                self._catalog("image_complete",
                            backupid=backupid, kbytes=int(result.get("kbytes", 0)),
                            num_files=int(result.get("files", 0)), elapsed=max(elapsed, 0),
                            fragments=result.get("fragments", []),
                            checksum=result.get("checksum"),
                            block_size=result.get("block_size"),
                            stream_bytes=result.get("stream_bytes"),
                            dte_mode=1 if result.get("dte") else 0)
                return status
            except NbuError as e:
                status, why = e.status, f"image {backupid} failed verification: {e}"
                self._quietly(lambda: self.report.log(self.jobid, why, "Error"))
        else:
            self._quietly(lambda: self.step(15, f"removing the incomplete image "
                                                f"{backupid} from the catalog"))
        self._quietly(lambda: self._catalog("image_abort", backupid=backupid))
        if result.get("fragments"):  # written in full, refused by the catalog: not kept
            self._quietly(lambda: self._remove_fragments(backupid, result["fragments"]))
        return status

    def _remove_fragments(self, backupid: str, fragments: list[Any]) -> None:
        """An image the catalog would not take leaves no fragment on its storage unit:
        bpbrm deletes them through the unit's storage backend, as for an expired image."""
        assert self.grant is not None
        stu = self.grant["stu"]
        on_tape = sorted({str(f["media_id"]) for f in fragments
                          if isinstance(f, dict) and f.get("media_id")})
        if on_tape:  # a tape is not erased in the middle; the next backup appends after it
            self.report.log(self.jobid, f"image {backupid} stays on media "
                                        f"{', '.join(on_tape)} as unused data, until the "
                                        "tape is labelled again")
            return
        paths = [str(f["path"]) for f in fragments if isinstance(f, dict) and "path" in f]
        with client.connect(self.cfg, str(stu["host"]), "bpcd") as bpbrm:
            bpbrm.request("launch", program="bpbrm", args=[])
            bpbrm.send({"op": "delete", "jobid": self.jobid, "master": self.cfg.client_name,
                        "images": [{**stu, "backupid": backupid, "fragments": paths}]})
            reply = bpbrm.recv(60)
        files = sum(int(r.get("files", 0)) for r in reply.get("removed", [])
                    if isinstance(r, dict))
        why = "; ".join(f"{f.get('msg')} (status {f.get('status')})"
                        for f in reply.get("failed") or [] if isinstance(f, dict))
        self.report.log(self.jobid, f"fragments of image {backupid} removed from storage "
                                    f"unit {stu['label']}: {files} file(s)" +
                                    (f"; left: {why}" if why else ""),
                        "Info" if not reply.get("status") else "Error")

    def _catalog(self, op: str, **fields: Any) -> None:
        """Step 15's request to bpdbm, through nbproxy (else to bpdbm itself), sent again
        while the catalog cannot be reached (nbproxy, bpdbm or PBX restarting) for up to
        CATALOG_PATIENCE seconds: a fully written image is committed, an incomplete one
        removed, never left in progress. A retry that finds the image no longer in progress
        (229) finds the first request's work done."""
        deadline = time.monotonic() + CATALOG_PATIENCE
        tries = 0
        while True:
            for service in ("nbproxy", "bpdbm"):
                tries += 1
                try:
                    client.call(self.cfg, self.cfg.client_name, service, op, **fields)
                    return
                except NbuError as e:
                    if e.status == EVENTS_OUT_OF_SEQUENCE and tries > 1:
                        return
                    if e.status not in CATALOG_LOST or time.monotonic() > deadline:
                        raise
                    self.nbjm.log.warning("job %d: %s through %s: %s; trying again",
                                          self.jobid, op, service, e)
            time.sleep(1.0)

    def _quietly(self, action: Any) -> None:
        """Clean-up must go on when one part of it fails; the failure goes to the log."""
        try:
            action()
        except (NbuError, EOFError, OSError) as e:
            self.nbjm.log.warning("job %d: %s", self.jobid, e or type(e).__name__)

    def abandon(self, status: int) -> None:
        """End the job after an unexpected failure: Done with `status`, image and resources
        let go (orphans.let_go), nbpem not asked for a retry."""
        self._quietly(lambda: self.report.update(self.jobid, state=kinds.DONE, status=status,
                                                 ended=int(clock.now()), closed=True))
        orphans.let_go(self.cfg, self.jobid, self.backupid or "", self.nbjm.log)

    # --- control from outside -----------------------------------------------------------------

    def cancel(self) -> None:
        self.canceled.set()
        with self._lock:
            granted, bpbrm = self.grant is not None, self.bpbrm
        if not granted:
            self._quietly(lambda: client.call(self.cfg, self.cfg.client_name, "nbrb", "cancel",
                                              jobid=self.jobid))
        elif bpbrm is not None:
            try:
                bpbrm.send({"op": "cancel"})
            except NbuError:
                pass
