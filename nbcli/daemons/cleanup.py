"""The Image Cleanup job (NetBackup job type 17): expired images leave the disks, then the catalog.

Place: bpdbm's (nbcli/daemons/bpdbm.py), which runs it every cleanup interval (bpconfig's,
measured on clock.now(), so a test clock drives it), for `bpimage -cleanup`, and for the images
bpexpdate expires now. What has expired is nbcli/catalog/expire.py's rule; catalog files go
through ImageStore.remove; fragments through bpbrm on each media server (media/bpbrm_delete.py);
orphaned fragments, after the expired images, through cleanup_orphans.py.

    bpdbm -> bpjobd: job_create{jobtype 17, Active}
    per media server holding expired images:
        bpdbm -> bpcd: launch bpbrm;  bpdbm -> bpbrm: delete{images}
        bpbrm -> bpdbm: done{removed, failed}
    per image whose fragments are all gone: header and .f removed (ImageStore.remove)
    a full cleanup then removes partial images (in progress in the catalog, their job closed
    or gone: the entry, then its fragments at once) and orphaned fragments: images on a disk
    storage unit that no catalog entry owns and no job is writing, untouched for an hour
    (cleanup_orphans.py), and has nbemm recount each tape's images from the catalog
    (media_recount.py; a cleanup of some images, the tapes they were on). bpdbm's reap (at
    start, then every REAP seconds) runs a job that removes only the partial images, when it
    finds some.
    bpdbm -> bpjobd: Done, status 0 - or 1 when an image stays (tried again next time)

Fragments go first: an image whose media server cannot be reached keeps its catalog entry, so
the catalog never forgets an image whose data is still on a disk. Fragments on tape stay on
the tape: the image leaves the catalog, and when no valid image is left on a medium, nbemm
`media_unassign`s it (it goes back to the scratch pool; a frozen medium stays assigned).
One cleanup runs at a time and expiration changes wait for it (`lock`): an image whose
expiration moves into the future cannot be half removed. A job removes what had expired when
it was asked for, not when it got the lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

from nbcli import clock, jobreport, kinds, timefmt
from nbcli.catalog import expire
from nbcli.catalog.imagehdr import (
    SUFFIX,
    Header,
    ctime_of_file,
    image_dir,
    is_tape,
    split_backupid,
)
from nbcli.catalog.images import ImageStore
from nbcli.config import HostConfig
from nbcli.daemons import cleanup_orphans, media_recount
from nbcli.net import client
from nbcli.status import NbuError

BASIC_DISK = 1  # a delete entry's storage unit type (media/storage.py's; catalog cannot import it)
TICK = 1.0  # seconds between looks at the clock: the interval itself is on clock.now()
DELETE_TIMEOUT = 600.0  # bpbrm's answer; removing files is quick, a hung server is not

# Per media server: one bpbrm delete entry per image and storage unit folder.
Requests = dict[str, list[dict[str, Any]]]


def media_requests(images: list[Header]) -> Requests:
    """host -> the delete entries bpbrm there gets: {backupid, stype, path (the folder),
    fragments}. Fragments on tape get none: a tape keeps its images until its medium is
    unassigned and written again (NetBackup expires a tape image in the catalog only), so an
    image on tape leaves the catalog even while its media server is down."""
    out: Requests = defaultdict(list)
    for h in images:
        parts: dict[tuple[str, str], list[str]] = defaultdict(list)
        for f in h["fragments"]:
            if not is_tape(f):
                parts[(str(f["host"]), os.path.dirname(str(f["path"])))].append(str(f["path"]))
        for (host, folder), paths in parts.items():
            out[host].append({"backupid": h["backupid"], "stype": BASIC_DISK, "path": folder,
                              "fragments": paths})
    return dict(out)


def tape_media(images: list[Header]) -> dict[str, set[str]]:
    """media id -> the backup ids among `images` with a fragment on it."""
    out: dict[str, set[str]] = defaultdict(set)
    for h in images:
        for f in h["fragments"]:
            if is_tape(f):
                out[str(f["media_id"])].add(str(h["backupid"]))
    return dict(out)


def merge_reply(entries: list[dict[str, Any]], reply: dict[str, Any]) -> tuple[
        dict[str, int], dict[str, str]]:
    """bpbrm's done frame -> (files removed per image, why per image that stays). An image
    bpbrm did not report as removed stays."""
    removed: dict[str, int] = {}
    failed: dict[str, str] = {}
    why = str(reply.get("msg") or "bpbrm did not report it removed")
    try:
        for r in reply.get("removed") or []:
            bid = str(r["backupid"])
            removed[bid] = removed.get(bid, 0) + int(r.get("files", 0))
        for r in reply.get("failed") or []:
            failed[str(r["backupid"])] = f"{r.get('msg')} (status {r.get('status')})"
    except (TypeError, ValueError, KeyError, AttributeError):
        removed, why = {}, f"bpbrm's answer cannot be read: {reply!r:.200}"
    for e in entries:
        if e["backupid"] not in removed:
            failed.setdefault(e["backupid"], why)
    return {k: v for k, v in removed.items() if k not in failed}, failed


class JobLog:
    """One cleanup job's lines in bpjobd; a bpjobd gone mid-job costs lines, not the cleanup."""

    def __init__(self, report: jobreport.JobReporter, jobid: int, log: logging.Logger) -> None:
        self.report, self.jobid, self.log = report, jobid, log

    def line(self, msg: str, severity: str = "Info") -> None:
        (self.log.error if severity == "Error" else self.log.info)("job %d: %s", self.jobid, msg)
        try:
            self.report.log(self.jobid, msg, severity)
        except NbuError as e:
            self.log.warning("job %d: cannot log to bpjobd: %s", self.jobid, e)

    def done(self, status: int) -> None:
        try:
            self.report.update(self.jobid, state=kinds.DONE, status=status)
            self.report.update(self.jobid, closed=True)
        except NbuError as e:
            self.log.error("job %d: cannot end it in bpjobd: %s", self.jobid, e)


class Cleanup:
    """bpdbm's Image Cleanup jobs: periodic, on demand, or for some images only."""

    def __init__(self, cfg: Callable[[], HostConfig], store: ImageStore,
                 log: logging.Logger) -> None:
        self.cfg = cfg  # bpdbm's current configuration (SIGHUP may replace it)
        self.store = store
        self.log = log
        self.lock = threading.Lock()
        self.last = clock.now()  # when the last full cleanup was asked for

    def tick(self) -> None:
        """Run a cleanup once the interval has passed since the last one (on clock.now())."""
        now = clock.now()
        if now < self.last:
            self.last = now  # the clock went back: count the interval from here
        if now - self.last < expire.cleanup_interval(self.cfg().paths, self.log):
            return
        try:
            self.run(as_of=now)
        except NbuError as e:
            self.log.error("the image cleanup job could not run: %s", e)

    def run(self, backupids: Collection[str] | None = None,
            as_of: float | None = None) -> tuple[int, int]:
        """One Image Cleanup job: (jobid, status). `backupids` limits it to those images."""
        now = clock.now() if as_of is None else as_of
        with self.lock:
            if backupids is None:
                self.last = now
            return self._in_job(lambda job: self._clean(job, now, backupids))

    def reap(self) -> int | None:
        """bpdbm's look (at start, then every REAP seconds) for images in progress whose job
        ended without them: when there are some, an Image Cleanup job removes them and their
        fragments (the id of that job, else None)."""
        with self.lock:
            dead = self.partial_images()
            if not dead:
                return None
            return self._in_job(lambda job: self._reap(job, dead))[0]

    def _in_job(self, body: Callable[[JobLog], int]) -> tuple[int, int]:
        report = jobreport.JobReporter(self.cfg(), "bpdbm")
        try:
            jobid = report.create(jobtype=kinds.JOB_IMAGE_CLEANUP, state=kinds.ACTIVE,
                                  new_try=True, server=self.cfg().client_name, owner="root")
            job = JobLog(report, jobid, self.log)
            status = 1  # a job that breaks off leaves images for the next one
            try:
                status = body(job)
            finally:
                job.done(status)
        finally:
            report.close()
        return jobid, status

    def partial_images(self) -> dict[str, int] | None:
        """backup id -> job id of the images in progress whose job has ended without them:
        bpjobd has it closed, or knows no such job (its record cleared) and nothing wrote the
        image for the orphans' GRACE, an hour (a job id bpjobd does not know may be a request
        made by hand, whose next batch is on its way). None while bpjobd cannot say: the image of a
        job that still runs must stay."""
        pending = [(b, j) for b, j in self.store.in_progress() if j]
        if not pending:
            return {}
        cfg = self.cfg()
        try:
            jobs = client.call(cfg, cfg.client_name, "bpjobd", "job_list",
                               jobids=sorted({j for _, j in pending}))["jobs"]
        except NbuError as e:
            self.log.debug("cannot ask bpjobd about images in progress: %s", e)
            return None
        closed = {int(j["jobid"]): bool(j["closed"]) for j in jobs}
        return {b: j for b, j in pending
                if (closed[j] if j in closed else self._untouched(b) >= cleanup_orphans.GRACE)}

    def _untouched(self, backupid: str) -> float:
        """Seconds since a file of image `backupid` in progress was last written (0 if none
        can be read: then it counts as fresh)."""
        client_name, ctime = split_backupid(backupid)
        folder = image_dir(self.store.root, client_name, ctime)
        try:
            times = [(folder / n).stat().st_mtime for n in os.listdir(folder)
                     if n.endswith(SUFFIX) and ctime_of_file(n) == ctime]
        except OSError:
            return 0.0
        return time.time() - max(times) if times else 0.0

    def _reap(self, job: JobLog, dead: dict[str, int]) -> int:
        gone = self._abort_partial(job, dead)
        kept = len(dead) - len(gone)
        kept += cleanup_orphans.sweep(self.cfg(), job, self.catalog_ids, self._delete_on,
                                      partial=gone, only=gone)
        return 1 if kept else 0

    def _abort_partial(self, job: JobLog, dead: dict[str, int]) -> set[str]:
        """Remove the catalog entries of images in progress whose job ended: the ids gone
        (their fragments, now owned by no entry, go at once, without the orphans' grace)."""
        gone = set()
        for bid, jobid in sorted(dead.items()):
            try:
                self.store.abort(bid)
            except NbuError as e:
                job.line(f"image {bid} in progress (job {jobid} ended) stays: {e}", "Error")
                continue
            gone.add(bid)
            job.line(f"removed image {bid} from the catalog: it was in progress and its job "
                     f"{jobid} ended without it; its fragments go too")
        return gone

    def _clean(self, job: JobLog, now: float, backupids: Collection[str] | None) -> int:
        expired = [h for h in self.store.find() if expire.is_expired(h, now)
                   and (backupids is None or h["backupid"] in backupids)]
        job.line(f"image cleanup: {len(expired)} image(s) expired as of {timefmt.fmt(now)}")
        removed: dict[str, list[str]] = defaultdict(list)
        failed: dict[str, str] = {}
        for host, entries in media_requests(expired).items():
            gone, stays = self._delete_on(host, entries, job.jobid)
            for e in entries:
                removed[e["backupid"]].append(f"{gone.get(e['backupid'], 0)} file(s) from "
                                              f"{host}:{e['path']}")
            failed.update(stays)
        kept = 0
        for h in expired:
            bid = h["backupid"]
            if bid in failed:
                kept += 1
                job.line(f"image {bid} stays in the catalog, to be tried again: "
                         f"{failed[bid]}", "Error")
                continue
            try:
                self.store.remove(bid, now)
            except (NbuError, OSError) as e:
                kept += 1
                job.line(f"image {bid}: its catalog files could not be removed: {e}", "Error")
                continue
            on_tape = sorted(expire.media_of(h))
            where = removed[bid] + ([f"fragments left on media {', '.join(on_tape)}"]
                                    if on_tape else [])
            job.line(f"removed image {bid} (policy {h['policy']}, expired "
                     f"{timefmt.fmt(h['expiration'])}): "
                     f"{', '.join(where) or 'no fragments'}; header and files file")
        job.line(f"image cleanup done: {len(expired) - kept} image(s) removed, {kept} kept")
        out = [h for h in expired if h["backupid"] not in failed]
        touched = {m for h in out for m in expire.media_of(h)}  # tapes that lost images
        unassigned = self.release_media(job, touched, now)
        if backupids is None:  # a full cleanup also removes what no catalog entry owns
            dead = self.partial_images() or {}
            aborted = self._abort_partial(job, dead)
            kept += len(dead) - len(aborted)
            kept += cleanup_orphans.sweep(self.cfg(), job, self.catalog_ids, self._delete_on,
                                          partial=aborted)
        # every tape's counters on a full cleanup, else those of the tapes that lost images
        media_recount.recount(self.cfg(), job, self.store.find(), now, touched,
                              only=None if backupids is None else touched)
        return 1 if kept or not unassigned else 0

    def catalog_ids(self) -> set[str]:
        """Every backup id the catalog knows: complete images (expired ones too) and those
        in progress."""
        return {str(h["backupid"]) for h in self.store.find()} | \
            {bid for bid, _ in self.store.in_progress()}

    def release_media(self, job: JobLog, media: set[str], now: float) -> bool:
        """Count each medium's valid images left in the catalog; nbemm unassigns those with
        none. False if nbemm could not be told (the next cleanup does not know to try again:
        the job says so, and `bpexpdate -m ID -d 0` unassigns it)."""
        if not media:
            return True
        ok = True
        left = expire.valid_images_on(self.store.find(), media, now)
        for media_id, count in sorted(left.items()):
            if count:
                job.line(f"media {media_id} keeps {count} valid image(s)")
                continue
            try:
                reply = client.call(self.cfg(), self.cfg().client_name, "nbemm",
                                    "media_unassign", media_id=media_id)
            except NbuError as e:
                ok = False
                job.line(f"media {media_id} has no valid image left, but nbemm did not "
                         f"unassign it: {e}", "Error")
                continue
            job.line(f"media {media_id} has no valid image left: " +
                     ("unassigned" if reply.get("unassigned") else
                      "it stays assigned (frozen, or in use)"))
        return ok

    def _delete_on(self, host: str, entries: list[dict[str, Any]],
                   jobid: int) -> tuple[dict[str, int], dict[str, str]]:
        """Have bpbrm on `host` delete the fragments: (files per image gone, why per image
        that stays). An unreachable server keeps all of them."""
        cfg = self.cfg()
        try:
            with client.connect(cfg, host, "bpcd") as bpbrm:
                bpbrm.request("launch", program="bpbrm", args=[])
                bpbrm.send({"op": "delete", "jobid": jobid, "master": cfg.client_name,
                            "images": entries})
                reply = bpbrm.recv(DELETE_TIMEOUT)
        except (NbuError, EOFError) as e:
            why = f"media server {host} did not delete its fragments: {e or 'bpbrm went away'}"
            return {}, {entry["backupid"]: why for entry in entries}
        return merge_reply(entries, reply)
