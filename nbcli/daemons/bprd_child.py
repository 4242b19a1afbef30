"""bprd child: the process that runs one restore from tape (seed restore steps 4, 5 and 17).

bprd starts it for a restore whose images are on tape, after it wrote the job's neededimage
file and created the job (steps 2-3); a disk restore has none (bprd runs it itself). The child
reads the neededimage file and plans the mounts (nbcli.catalog.neededimage: by medium, in tape
file order) (4), launches bpbrm on the media server that owns the media with the media and
positioning information (5), waits for bpbrm's report, and removes the neededimage file (17) -
also when the restore fails or is canceled. It reports the end to bprd, which records it in
bpjobd; if the child dies instead, bprd ends the job and removes the file.

    bprd ==(socketpair: restore{job}; cancel)==> bprd child ==(bpcd launch)==> bpbrm
    bprd <=(done{status, files, kbytes})======== bprd child <=(done{...})===== bpbrm

It is a child process of bprd: `bprd -child` on a socketpair that is its stdin (bprd serves
on many threads, so the child is a fresh program rather than a bare fork of them). Once a
child has run, bprd keeps a spare one that has imported all this and waits for the socketpair
(nbcli.net.spare), so the next restore from tape does not wait ~70 ms for a Python to start.
The job's first message names the job: the child then shows as `bprd -child -jobid N` in ps
and bpps -x. It dies with bprd; SIGTERM (`netbackup stop`) cancels its restore.

Place: a process of its own; imports what bprd imports, never bprd itself.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from nbcli import clock, config, jobreport, procs
from nbcli import log as nblog
from nbcli.catalog import neededimage
from nbcli.catalog.neededimage import Mount
from nbcli.config import HostConfig
from nbcli.media.agent import die_with_parent
from nbcli.media.mux import EOF_MARK, Mux
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.control import control_connection, launched_by_bpcd
from nbcli.status import CONNECTION_BROKEN, INVALID_PARAMETER, TERMINATED_BY_ADMIN, NbuError
from nbcli.wire.frames import Message

PROCESS = "bprd child"


class Child:
    """One restore from tape, as the bprd child runs it."""

    def __init__(self, cfg: HostConfig, jobid: int, parent: Connection) -> None:
        self.cfg = cfg
        self.jobid = jobid
        self.parent = parent
        self.log = nblog.setup(cfg.paths.logs, "bprd")
        self.report = jobreport.JobReporter(cfg, PROCESS)
        self.canceled = False
        self.bpbrm: Connection | None = None

    def run(self, job: Message) -> Message:
        folder = self.cfg.paths.neededimage
        path = neededimage.path_for(folder, self.jobid)
        status, files, kbytes = 0, 0, 0
        try:
            entries = neededimage.read(folder, self.jobid)
            mounts = neededimage.mount_order(entries)
            order = ", ".join(m.media_id for m in mounts)
            self.report.step(self.jobid, 4, f"bprd child (pid {os.getpid()}) read the "
                             f"neededimage file {path}: {len(entries)} fragment(s) of "
                             f"{len({e.backupid for e in entries})} image(s); mount order: "
                             f"{order}")
            for host, group in self._by_server(mounts):
                result = self._one_media_server(job, host, group)
                status = max(status, int(result.get("status", 0)))
                files += int(result.get("files", 0))
                kbytes += int(result.get("kbytes", 0))
                if status not in (0, 1):
                    break
        except NbuError as e:
            status, why = e.status, e.detail or e.message
            self._quietly(lambda: self.report.log(self.jobid, why, "Error"))
        neededimage.remove(folder, self.jobid)
        self._quietly(lambda: self.report.step(
            self.jobid, 17, f"bpbrm reported the end of the restore (status {status}); bprd "
                            f"child removed the neededimage file {path}"))
        return {"op": "done", "status": status, "files": files, "kbytes": kbytes,
                "held": self.report.take_held(self.jobid)}  # bprd outlives this child

    def _by_server(self, mounts: list[Mount]) -> list[tuple[str, list[Mount]]]:
        """Consecutive mounts whose media one media server owns: one bpbrm each."""
        groups: list[tuple[str, list[Mount]]] = []
        for m in mounts:
            host = self._owner(m)
            if groups and groups[-1][0] == host:
                groups[-1][1].append(m)
            else:
                groups.append((host, [m]))
        return groups

    def _owner(self, m: Mount) -> str:
        """The media server of the robot holding the medium (EMM's media record), else the
        one that wrote it (the catalog's)."""
        try:
            found = client.call(self.cfg, self.cfg.master, "nbemm", "media_list",
                                media_id=m.media_id).get("media", [])
        except NbuError as e:
            self.log.debug("media %s: no EMM record (%s); using %s", m.media_id, e, m.server)
            return m.server
        hosts = [str(r.get("host") or "") for r in found if r.get("media_id") == m.media_id]
        return hosts[0] if hosts and hosts[0] else m.server

    def _one_media_server(self, job: Message, host: str, mounts: list[Mount]) -> Message:
        media = [m.media_id for m in mounts]
        wanted = {f.backupid for m in mounts for f in m.fragments}
        images = [im for im in job["images"] if im["backupid"] in wanted]
        self.report.update(self.jobid, server=host, stunit=images[0]["stu"]["label"])
        self.report.step(self.jobid, 5, f"launching bpbrm on media server {host} with media "
                         f"{', '.join(media)} and the positions of "
                         f"{sum(len(m.fragments) for m in mounts)} fragment(s) of "
                         f"{len(images)} image(s) for client {job['dest']}")
        with client.connect(self.cfg, host, "bpcd") as bpbrm:
            bpbrm.request("launch", program="bpbrm", args=[])
            self.bpbrm = bpbrm
            if self.canceled:
                raise NbuError(TERMINATED_BY_ADMIN, "restore canceled")
            bpbrm.send({"op": "restore", "jobid": self.jobid, "master": self.cfg.client_name,
                        "client": job["dest"], "images": images, "renames": job["renames"],
                        "dest": job["dest_roots"], "keep_existing": job["keep_existing"],
                        "run_as": job["run_as"], "mounts": [m.as_dict() for m in mounts],
                        "dte_global": str(self.cfg.get("DTE_GLOBAL_MODE")),
                        "dte_ignore_image": str(self.cfg.get("DTE_IGNORE_IMAGE_MODE"))})
            try:
                return self._wait(bpbrm, host)
            finally:
                self.bpbrm = None

    def _wait(self, bpbrm: Connection, host: str) -> Message:
        """bpbrm's "done", passing bprd's cancel (or our SIGTERM) on to it meanwhile."""
        mux = Mux()
        mux.add("bpbrm", bpbrm)
        mux.add("bprd", self.parent)
        told = False
        try:
            for name, msg in mux.events(timeout=0.5):
                if name == "bprd":
                    if msg is EOF_MARK or msg.get("op") == "cancel":
                        self.canceled = True
                    if msg is EOF_MARK:
                        mux.drop("bprd")
                elif name == "bpbrm":
                    if msg is EOF_MARK:
                        raise NbuError(CONNECTION_BROKEN, f"bpbrm on {host} went away")
                    if msg.get("op") == "done":
                        self.report.adopt(self.jobid, msg.get("held"))  # bpbrm's first
                        if msg.get("msg"):
                            self.report.log(self.jobid, str(msg["msg"]),
                                            "Error" if msg.get("status") else "Info")
                        return msg
                if self.canceled and not told:
                    told = True
                    self._quietly(lambda: bpbrm.send({"op": "cancel"}))
        finally:
            mux.sel.close()
        raise NbuError(CONNECTION_BROKEN, f"bpbrm on {host} went away")

    def cancel(self) -> None:
        self.canceled = True

    def _quietly(self, action: Any) -> None:
        try:
            action()
        except NbuError as e:
            self.log.warning("%s", e)


def main(argv: list[str]) -> None:
    """`bprd -child`: run the restore bprd sends on the socketpair that is our stdin."""
    if argv or not launched_by_bpcd():
        sys.stderr.write("bprd: usage: bprd -child (bprd starts it for a restore from tape)\n")
        sys.exit(INVALID_PARAMETER)
    die_with_parent()
    parent = control_connection("bprd")  # a spare waits here until bprd hands it a restore
    try:
        job = parent.recv(timeout=60)
        jobid = int(job["jobid"])
    except (EOFError, NbuError, KeyError, TypeError, ValueError):
        os._exit(CONNECTION_BROKEN)
    procs.set_title(["bprd", "-child", "-jobid", str(jobid)])  # what bpps -x shows
    cfg = config.load()  # read now, not when a spare started: today's bp.toml
    clock.use_root(cfg.root)
    nblog.set_job(jobid)
    child = Child(cfg, jobid, parent)
    signal.signal(signal.SIGTERM, lambda *_: child.cancel())
    result = child.run(job)
    child.report.close()
    try:
        parent.send(result)
    except NbuError:
        pass
    os._exit(0)
