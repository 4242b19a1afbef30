"""bprd: the request daemon - manual backups and restores enter the master here.

`bpbackup -i` requests go on to nbpem. A restore (`bprestore`) is bprd's own job, the seed's
restore flow: it gets the images and the byte ranges of the requested files from bpdbm (step 2),
creates the restore job in bpjobd (step 3), and - for disk storage units, which need no
neededimage file and no bprd child (step 4) - launches bpbrm on the media server that holds
the images (step 5) and waits on its own thread for bpbrm's report (step 17).

A restore from tape: bprd writes the job's neededimage file (db/neededimage/<jobid>, step 2)
and starts a bprd child (nbcli.daemons.bprd_child), which plans the mounts, launches bpbrm and
removes the file at the end (4, 5, 17); bprd waits for the child on the restore's thread and
records the job's end. A file left by a dead child or a previous bprd goes once its job is
closed (at start and every SWEEP seconds).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from typing import Any

from nbcli import childwait, clock, jobreport, kinds
from nbcli.catalog import neededimage
from nbcli.client import identity
from nbcli.daemons import dte_config, orphans, recover, restore_rights
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.log import set_job
from nbcli.media import storage as storage_types
from nbcli.net import client, trust
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, audited, op
from nbcli.net.spare import Spares
from nbcli.net.trust import ADMIN, ANYONE, CLIENT, USER
from nbcli.status import (
    CLIENT_NOT_VALIDATED,
    CLIENT_NOT_VALIDATED_FOR_OP,
    EXEC_FAILED,
    FILE_WRITE_FAILED,
    INVALID_FILELIST,
    INVALID_JOB_ID,
    INVALID_PARAMETER,
    NO_ENTITY,
    TERMINATED_BY_ADMIN,
    NbuError,
)
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

LOST_BPBRM = 40
LOST_CHILD = 40  # the bprd child died: its line to bpbrm broke with it
SWEEP = 60.0  # seconds between looks for neededimage files of closed jobs
STRINGS = opt(list, [], items=req(str))


def apply_renames(path: str, renames: list[list[str]]) -> str:
    """NetBackup's `change /a/b to /x/y`: the longest matching whole-component prefix wins."""
    best = None
    for src, dst in renames:
        src_ = src.rstrip("/") or "/"
        if path == src_ or path.startswith(src_.rstrip("/") + "/"):
            if best is None or len(src_) > len(best[0]):
                best = (src_, dst)
    if best is None:
        return path
    src_, dst = best
    rest = path[len(src_):] if src_ != "/" else path
    return (dst.rstrip("/") + ("/" + rest.lstrip("/") if rest.strip("/") else "")) or "/"


class Bprd(Daemon):
    """the request daemon: manual and user backups, restores"""

    name = "bprd"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.running: dict[int, Connection | None] = {}
        self.created = recover.Created()  # the restores this bprd started
        self.outbox = jobreport.Outbox()  # restore ends bpjobd could not record yet
        self.canceled: set[int] = set()  # canceled before bpbrm could be told
        # bprd children, and once one has run, a spare waiting for the next restore from tape
        # (nbcli.net.spare: a fresh Python importing the child costs ~70 ms of the restore)
        self.children = Spares(self.cfg.root, new_session=False,
                               fixed_args={"bprd": ["-child"]})

    def on_start(self) -> None:
        # The restores a previous bprd left are ended once bpjobd answers, and their
        # neededimage files removed right after (not a SWEEP later: they are closed only
        # now); at stop, ours are ended.
        recover.start(self, self._cancel_at_stop, reconciled=self.sweep_neededimage)

    def periodic(self) -> list[tuple[float, Any]]:
        return [(SWEEP, self.sweep_neededimage), (jobreport.RESEND, lambda: recover.resend(self))]

    def sweep_neededimage(self) -> None:
        """Remove the neededimage files of closed jobs (a child killed before its step 17, or
        one of a previous bprd); files of jobs bpjobd does not know go too."""
        ids = neededimage.jobs_with_files(self.paths.neededimage)
        with self.lock:
            ids = [i for i in ids if i not in self.running]
        if not ids:
            return
        jobs = orphans.jobs_in_bpjobd(self.cfg, ids, self.log)
        if jobs is None:
            return
        still_open = {int(j["jobid"]) for j in jobs if not j["closed"]}
        for jobid in ids:
            if jobid not in still_open and neededimage.remove(self.paths.neededimage, jobid):
                self.log.info("removed the neededimage file of closed restore job %d", jobid)

    def _cancel_at_stop(self) -> None:
        """`netbackup stop`: cancel the running restores (150) while the others still serve."""
        with self.lock:
            running = list(self.running)
        for jobid in running:
            self.log.info("stopping: canceling restore %d", jobid)
            self._quietly(lambda jobid=jobid: self.cancel({"jobid": jobid}, None))

    def on_stop(self) -> None:
        """Wait (a while) for the canceled restores to end and be recorded."""
        deadline = time.monotonic() + recover.STOP_WAIT
        while time.monotonic() < deadline:
            with self.lock:
                if not self.running:
                    break
            time.sleep(0.1)
        else:
            with self.lock:
                self.log.warning("stopping with restores still ending: %s",
                                 sorted(self.running))
        recover.last_resend(self)
        self.children.close()

    def services(self) -> dict[str, Ops]:
        return {"bprd": audited({
            "backup": op(self.backup, ADMIN, policy=req(str), schedule=req(str), client=opt(str),
                         owner=opt(str, "root")),
            # From a client's bpcd, which adds who asks (uid, gid, user) and for which client.
            "user_backup": op(self.user_backup, CLIENT | USER, client=opt(str), policy=opt(str),
                              schedule=opt(str), paths=STRINGS, archive=opt(bool, False),
                              uid=opt(int, lo=0), gid=opt(int, lo=0),
                              user=opt(str)).about("client"),
            # a client or a user: which images and where is the handler's (altnames, list_restore)
            "restore": op(self.restore, ADMIN | CLIENT | USER, client=opt(str),
                          dest_client=opt(str), paths=STRINGS,
                          start=opt(int), end=opt(int),
                          renames=opt(list, [], items=req(list, items=req(str))),
                          keep_existing=opt(bool, False), owner=opt(str, "root"),
                          # the user a client's bpcd vouches for (user_restore)
                          uid=opt(int, lo=0), gid=opt(int, lo=0), user=opt(str)),
            "cancel": op(self.cancel, ADMIN, jobid=req(int, lo=1)),
            # nbseccmd -getsecurityconfig / -setsecurityconfig -dteglobalmode (dte_config)
            "dte_global_get": op(lambda m, c: {"mode": dte_config.current(self.cfg)}, ADMIN),
            "dte_global_set": op(self.dte_global_set, ADMIN, mode=req(str, max_len=32)),
            "ping": op(lambda m, c: {"host": self.cfg.client_name}, ANYONE)},
            "backup", "cancel", "dte_global_set")}

    def dte_global_set(self, msg: Message, conn: Connection) -> Message:
        mode = dte_config.set_mode(self.cfg, msg["mode"], self.log)
        self.reload()
        return {"mode": mode}

    def backup(self, msg: Message, conn: Connection) -> Message:
        """A manual backup (`bpbackup -i`): nbpem starts its jobs."""
        return client.call(self.cfg, self.cfg.client_name, "nbpem", "manual_backup",
                           policy=msg["policy"], schedule=msg["schedule"],
                           client=msg["client"], owner=msg["owner"])

    def user_backup(self, msg: Message, conn: Connection) -> Message:
        """`bpbackup`/`bparchive` on a client, through its bpcd: the client may ask only for
        itself, and only a privileged peer (bpcd) can say which user asks."""
        claimed = msg["client"] or conn.peer
        if conn.address == "local":
            genuine = claimed == self.cfg.client_name
        else:
            genuine = conn.address in self.cfg.addresses_of(claimed)
        if not genuine:
            raise NbuError(CLIENT_NOT_VALIDATED,
                           f"a request from {conn.address} cannot speak for {claimed}")
        if conn.privileged and msg["uid"] is not None:
            run_as = {"uid": msg["uid"], "gid": msg["gid"], "user": msg["user"]}
        elif conn.address == "local" and conn.uid is not None:
            run_as = {"uid": conn.uid, "gid": conn.gid, "user": str(conn.uid)}
        else:
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           "user requests come through the client's bpcd")
        return client.call(self.cfg, self.cfg.client_name, "nbpem", "user_backup",
                           client=claimed, policy=msg["policy"],
                           schedule=msg["schedule"], paths=msg["paths"],
                           archive=msg["archive"], run_as=run_as,
                           owner=str(run_as.get("user") or run_as["uid"]))

    # --- restores -----------------------------------------------------------------------------

    def restore(self, msg: Message, conn: Connection) -> Message:
        source = msg["client"] or conn.peer
        dest = msg["dest_client"] or source
        self._check_restore_rights(conn, source, dest)
        paths = msg["paths"]
        if not paths:
            raise NbuError(INVALID_FILELIST, "no files to restore were given")
        renames = msg["renames"]
        if any(len(pair) != 2 for pair in renames):
            raise NbuError(INVALID_PARAMETER, "restore: each rename is a [from, to] pair")
        steps = [(1, f"restore request for {len(paths)} path(s) of client {source} to {dest} "
                     f"received from {conn.peer}", clock.now())]
        run_as = self._run_as(conn, msg, sorted({apply_renames(p, renames) for p in paths}))
        plan = client.call(self.cfg, self.cfg.client_name, "bpdbm", "restore_plan",
                           client=source, paths=paths, start=msg["start"], end=msg["end"])
        images = plan.get("images", [])
        if not images:
            raise NbuError(NO_ENTITY, f"none of the requested files of {source} was found in a "
                                      f"backup image")
        tape = _tape_plan(images)
        ids = ', '.join(i['header']['backupid'] for i in images)
        if not tape:
            steps.append((2, f"bpdbm found {len(images)} image(s) on disk: {ids}; no "
                             f"neededimage file is needed for disk", clock.now()))
        report = jobreport.JobReporter(self.cfg, "bprd", outbox=self.outbox)
        with self.created.lock:  # created and registered as one, for recover.reconcile
            jobid = report.create(jobtype=kinds.JOB_RESTORE, state=kinds.ACTIVE, client=dest,
                                  policy="", schedule="", owner=msg["owner"],
                                  masterserver=self.cfg.client_name, filelist=paths,
                                  started=int(clock.now()), operation=kinds.OP_RESTORE,
                                  srcserver=source, new_try=True)
            self.created.add(jobid)
        if tape:
            try:
                path = neededimage.write(self.paths.neededimage, jobid, tape)
            except OSError as e:
                self._quietly(lambda: report.update(jobid, state=kinds.DONE, closed=True,
                                                    status=FILE_WRITE_FAILED,
                                                    ended=int(clock.now())))
                raise NbuError(FILE_WRITE_FAILED, f"cannot write the neededimage file of job "
                                                  f"{jobid}: {e.strerror or e}") from e
            media = ", ".join(dict.fromkeys(e.media_id for e in tape))
            steps.append((2, f"bpdbm found {len(images)} image(s) on tape: {ids}; wrote the "
                             f"neededimage file {path}: {len(tape)} fragment(s) on media "
                             f"{media}", clock.now()))
        for n, text, at in steps:
            report.step(jobid, n, text, time=at)
        report.step(jobid, 3, f"restore job {jobid} created in bpjobd")
        if dest != source or renames:  # the audit trail: a restore elsewhere
            self.record("bprd restore", f"restore job {jobid} by {trust.describe(conn)}: "
                                        f"{source}'s {paths} to client {dest}, renamed "
                                        f"{renames}")
        dest_roots = sorted({_dest_root(apply_renames(p, renames), folder)
                             for p, folder in plan.get("selected", [])})
        job = {"jobid": jobid, "dest": dest, "source": source, "images": images,
               "renames": renames + [list(r) for r in plan.get("renames", [])],
               "dest_roots": dest_roots, "keep_existing": msg["keep_existing"],
               "missing": plan.get("missing", []), "run_as": run_as}
        with self.lock:
            self.running[jobid] = None
        threading.Thread(target=self._run_tape_restore if tape else self._run_restore,
                         args=(job, report), daemon=True, name=f"restore {jobid}").start()
        return {"jobid": jobid, "missing": job["missing"]}

    def _check_restore_rights(self, conn: Connection, source: str, dest: str) -> None:
        """Root here or a server may restore any client to any client; a client (or a user
        of this host) restores to itself only, its own backups or those the master's
        altnames allow, as its list_restore setting allows (nbcli.daemons.restore_rights)."""
        me = trust.asking_client(self.cfg, conn)
        if me is None:
            return
        if dest != me:
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           f"{conn.peer} ({conn.address}) may restore only to itself, "
                           f"not to {dest}")
        restore_rights.check(self.cfg, me, source, restore=True)

    def _run_as(self, conn: Connection, msg: Message,
                targets: list[str]) -> dict[str, Any] | None:
        """A user's restore runs as that user: tar-restore drops to the uid (once bpbrm hands
        run_as on). A client's bpcd vouches for its user from a privileged port (and checked
        the destination there); for a user of this host, a destination the user cannot
        write is refused here, before any job."""
        if conn.privileged and msg["uid"] is not None:
            return {"uid": msg["uid"], "gid": msg["gid"] if msg["gid"] is not None
                    else msg["uid"], "user": msg["user"] or str(msg["uid"])}
        if conn.address != "local" or conn.uid in (None, 0):
            return None
        uid, gid = int(conn.uid), int(conn.gid if conn.gid is not None else conn.uid)
        user, groups = identity.user_groups(uid, gid)
        for target in targets:
            if not identity.may_write(target, uid, groups):
                raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                               f"uid {uid} may not write {target}: restore refused")
        return {"uid": uid, "gid": gid, "user": user}

    def _run_restore(self, job: dict[str, Any], report: jobreport.JobReporter) -> None:
        jobid = int(job["jobid"])
        set_job(jobid)
        status, files, kbytes = 0, 0, 0
        try:
            report.step(jobid, 4, "restore from disk: no bprd child process; bprd manages "
                                  "the restore itself")
            by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for im in job["images"]:
                by_host[str(im["fragments"][0]["host"])].append(_for_bptm(im))
            for host, images in by_host.items():
                result = self._one_media_server(job, report, host, images)
                status = max(status, int(result.get("status", 0)))
                files += int(result.get("files", 0))
                kbytes += int(result.get("kbytes", 0))
        except NbuError as e:
            status, why = e.status, e.detail or e.message
            self._quietly(lambda: report.log(jobid, why, "Error"))
        if job["missing"] and status == 0:
            status = 1  # some of the requested files were in no image
        self._quietly(lambda: report.step(jobid, 17, "bpbrm reported the end of the restore; "
                                                     "no neededimage file to remove; restore "
                                                     f"finished with status {status}"))
        self._finish(job, report, status, files, kbytes)

    def _finish(self, job: dict[str, Any], report: jobreport.JobReporter, status: int,
                files: int, kbytes: int) -> None:
        """Record the restore's end in bpjobd and forget it."""
        jobid = int(job["jobid"])
        if job["missing"] and status == 0:
            status = 1  # some of the requested files were in no image
        try:  # one durable write, which also wakes `bprestore -w`
            report.update(jobid, state=kinds.DONE, status=status, ended=int(clock.now()),
                          files=files, kbytes=kbytes, closed=True)
        except NbuError as e:
            self.log.warning("%s", e)
            self._quietly(lambda: report.update(jobid, closed=True))
        report.close()
        with self.lock:
            self.running.pop(jobid, None)
            self.canceled.discard(jobid)
        set_job(None)

    def _run_tape_restore(self, job: dict[str, Any], report: jobreport.JobReporter) -> None:
        """Seed step 4 for tape: a bprd child runs the restore; bprd records its end."""
        jobid = int(job["jobid"])
        set_job(jobid)
        result: Message = {}
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc, conn = self._start_child()
            report.step(jobid, 4, f"restore from tape: started bprd child (pid {proc.pid}) "
                                  f"to manage the restore")
            conn.send({"op": "restore", **job,
                       "images": [_for_bptm(im, tape=True) for im in job["images"]]})
            with self.lock:
                self.running[jobid] = conn
                canceled = jobid in self.canceled
            if canceled:
                conn.send({"op": "cancel"})
            result = _child_result(conn)
            report.adopt(jobid, result.get("held"))  # the child's and its bpbrm's, first
            conn.close()
        except NbuError as e:
            why = e.detail or e.message
            self._quietly(lambda: report.log(jobid, why, "Error"))
            result = {"status": e.status}
        if proc is not None:
            _reap(proc)
        status = int(result.get("status", LOST_CHILD))
        if not result:
            self._quietly(lambda: report.log(jobid, "the bprd child ended without a result",
                                             "Error"))
        # What a child that died left: the file, and resources bptm held (nbjm lets them go).
        # A restore that succeeded had bptm release them itself (step 16, before its "done").
        if neededimage.remove(self.paths.neededimage, jobid):
            self._quietly(lambda: report.log(jobid, "bprd removed the neededimage file the "
                                                    "bprd child left"))
        if not result or status not in (0, 1):
            self._quietly(lambda: client.call(self.cfg, self.cfg.client_name, "nbjm",
                                              "restore_done", jobid=jobid, status=status))
        self._finish(job, report, status, int(result.get("files", 0)),
                     int(result.get("kbytes", 0)))

    def _start_child(self) -> tuple[subprocess.Popen[bytes], Connection]:
        """`bprd -child`, a child process of this bprd (the spare if one waits), with a
        socketpair to it; it learns the job from the first message."""
        ours, theirs = socket.socketpair()
        try:
            proc = self.children.launch("bprd", theirs.fileno())
        except OSError as e:
            ours.close()
            raise NbuError(EXEC_FAILED, f"cannot start the bprd child: {e}") from e
        finally:
            theirs.close()
        return proc, Connection(ours, "bprd child")

    def _one_media_server(self, job: dict[str, Any], report: jobreport.JobReporter,
                          host: str, images: list[dict[str, Any]]) -> Message:
        jobid = int(job["jobid"])
        report.update(jobid, server=host, stunit=images[0]["stu"]["label"])
        report.step(jobid, 5, f"launching bpbrm on media server {host} with the media and "
                              f"positions of {len(images)} image(s)")
        with client.connect(self.cfg, host, "bpcd") as bpbrm:
            bpbrm.request("launch", program="bpbrm", args=[])
            with self.lock:
                self.running[jobid] = bpbrm
                if jobid in self.canceled:
                    raise NbuError(TERMINATED_BY_ADMIN, "restore canceled")
            bpbrm.send({"op": "restore", "jobid": jobid, "master": self.cfg.client_name,
                        "client": job["dest"], "images": images, "renames": job["renames"],
                        "dest": job["dest_roots"], "keep_existing": job["keep_existing"],
                        "run_as": job["run_as"],
                        "dte_global": str(self.cfg.get("DTE_GLOBAL_MODE")),
                        "dte_ignore_image": str(self.cfg.get("DTE_IGNORE_IMAGE_MODE"))})
            while True:
                try:
                    msg = bpbrm.recv()
                except EOFError:
                    raise NbuError(LOST_BPBRM, f"bpbrm on {host} went away") from None
                if msg.get("op") == "done":
                    report.adopt(jobid, msg.get("held"))  # bpbrm's, before ours
                    if msg.get("msg"):
                        report.log(jobid, str(msg["msg"]),
                                   "Error" if msg.get("status") else "Info")
                    return msg

    def cancel(self, msg: Message, conn: Connection | None) -> Message:
        jobid = msg["jobid"]
        with self.lock:
            if jobid not in self.running:
                raise NbuError(INVALID_JOB_ID, f"restore job {jobid} is not running")
            bpbrm = self.running[jobid]
            self.canceled.add(jobid)
        if bpbrm is not None:
            try:
                bpbrm.send({"op": "cancel"})
            except NbuError:
                pass
        return {}

    def _quietly(self, action: Any) -> None:
        try:
            action()
        except NbuError as e:
            self.log.warning("%s", e)


def _dest_root(final: str, folder: bool) -> str:
    """Where tar-restore may write for one selection: the folder itself, or a file's folder."""
    return final if folder else (os.path.dirname(final.rstrip("/")) or "/")


def _for_bptm(im: dict[str, Any], tape: bool = False) -> dict[str, Any]:
    """What bptm needs of a planned image: where it is, how to check it, what to read."""
    hdr = im["header"]
    first = im["fragments"][0]
    tape = tape or bool(first.get("media_id"))  # the unit's type: 2 tape (Media Manager), 1 disk
    return {"backupid": hdr["backupid"],
            "stu": {"label": hdr.get("stu", ""),
                    "stype": storage_types.MEDIA_MANAGER if tape else storage_types.BASIC_DISK,
                    "path": "" if tape else os.path.dirname(str(first["path"]))},
            "fragments": im["fragments"], "checksum": im["checksum"],
            "block_size": im["block_size"], "stream_bytes": hdr["stream_bytes"],
            "ranges": im["ranges"], "dte_mode": int(hdr.get("dte_mode") or 0)}


def _tape_plan(images: list[dict[str, Any]]) -> list[neededimage.Needed]:
    """The neededimage entries of a restore from tape; [] for a disk restore. A restore that
    needs images on disk and on tape at once is refused (one reader kind per restore)."""
    if not neededimage.on_tape(images):
        return []
    disk = [im["header"]["backupid"] for im in images if not neededimage.on_tape([im])]
    if disk:
        raise NbuError(INVALID_PARAMETER, f"the restore needs images on disk ({', '.join(disk)}) "
                                          f"and on tape at once: restore them separately")
    return neededimage.from_plan(images)


def _child_result(conn: Connection) -> Message:
    """The bprd child's "done"; {} when it ended without one."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, NbuError):
            return {}
        if msg.get("op") == "done":
            return msg


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        childwait.wait(proc, 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_daemon = daemon_main(Bprd)


def main() -> None:
    """bprd, or (`bprd -child ...`) the bprd child of a restore from tape."""
    if sys.argv[1:2] == ["-child"]:
        from nbcli.daemons import bprd_child

        bprd_child.main(sys.argv[2:])
        return
    _daemon()
