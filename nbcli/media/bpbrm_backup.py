"""bpbrm's backup: bpbkar on the client, bptm here, metadata to bpdbm, the verdict to nbjm.

The job succeeds only when both agents say so and agree on the image: bpbkar's stream checksum
and length must equal what bptm wrote (a sealed stream's length alone: its AES-GCM frames
already proved that bptm received every byte bpbkar sent, in order, and bpbkar sends no CRC).
Then bpbrm tells bptm to commit; otherwise to abort, and no image is left on the storage unit
(bpbrm removes bptm's fragments itself if bptm died).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from nbcli.media import agent, storage
from nbcli.media.bpbrm_ctx import CANCELED, SECONDARY, SETTLE_SECONDS, Ctx, bptm_status, stop_bptm
from nbcli.media.mux import EOF_MARK, Mux
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import (
    CANT_CONNECT_TO_CLIENT,
    CLIENT_ABORTED,
    CLIENT_ACCESS_NOT_ALLOWED,
    MEDIA_WRITE_ERROR,
    NbuError,
)


class Backup:
    """One backup's state as bpbrm sees it."""

    def __init__(self, ctx: Ctx, req: dict[str, Any]) -> None:
        self.ctx = ctx
        self.req = req
        self.client = str(req["client"])
        self.backupid = str(req["backupid"])
        self.bpbkar: Connection | None = None
        self.bptm: Connection | None = None
        self.bptm_proc: subprocess.Popen[bytes] | None = None
        self.dbm: Connection | None = None
        self.bpbkar_done: dict[str, Any] | None = None
        self.bptm_done: dict[str, Any] | None = None
        self.failure: NbuError | None = None
        self._root_cause = False
        self._failed_at = 0.0

    def start_agents(self) -> Mux:
        req, ctx = self.req, self.ctx
        ctx.step(8, f"starting bpbkar on client {self.client} and bptm on {ctx.host}")
        # bptm first: it starts up (and asks nbjm for its media) while bpbkar is launched on
        # the client - the two start-ups overlap instead of adding up.
        self.bptm_proc, self.bptm = agent.spawn(ctx.cfg, "bptm")
        self.bptm.send({"op": "backup", "jobid": ctx.jobid, "backupid": self.backupid,
                        "master": ctx.master, "client": self.client})
        try:
            self.bpbkar = client.connect(ctx.cfg, self.client, "bpcd")
            self.bpbkar.request("launch", program="bpbkar", args=[])
        except NbuError as e:
            if e.status == 46:  # the client does not list this media server as a server
                raise NbuError(CLIENT_ACCESS_NOT_ALLOWED,
                               f"access to client {self.client} was not allowed: "
                                   f"{e.detail}") from e
            raise NbuError(CANT_CONNECT_TO_CLIENT,
                           f"can't connect to client {self.client}: {e.detail}") from e
        self.bpbkar.peer = f"bpbkar@{self.client}"
        try:
            # policy and schedule: which of the client's exclude/include lists apply
            self.bpbkar.request("backup", jobid=ctx.jobid, client=self.client,
                                policy=req.get("policy"), schedule=req.get("schedule"),
                                paths=req["paths"], since=req.get("since"),
                                block_size=int(ctx.cfg.get("SIZE_DATA_BUFFERS")),
                                exclude=req.get("exclude", []), tir=bool(req.get("tir")),
                                cross_mount_points=bool(req.get("cross_mount_points")),
                                archive=bool(req.get("archive")), run_as=req.get("run_as"),
                                dte_global=str(req.get("dte_global") or ""),
                                # This media server's own DTE mode goes to the agent that
                                # decides (nbcli.net.dte): bpbkar alone knows the client's mode
                                # and opens the data connection, and bpbrm reads this host's
                                # bp.toml afresh for each job, so no cache to refresh.
                                dte_media=str(ctx.cfg.get("MEDIA_DTE_MODE")))
        except NbuError as e:
            if e.status in SECONDARY:  # bpbkar died before it answered
                raise NbuError(CLIENT_ABORTED, f"bpbkar on {self.client} went away") from e
            raise
        self.dbm = client.master(ctx.cfg, "bpdbm")
        mux = Mux()
        mux.add("ctl", ctx.ctl)
        mux.add("bpbkar", self.bpbkar)
        mux.add("bptm", self.bptm)
        return mux

    def on_bptm(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op in ("step", "log"):
            assert self.bptm is not None
            self.ctx.relay("bptm", self.ctx.host, msg, self.bptm)
        elif op == "progress":
            self.ctx.report.update(self.ctx.jobid, kbytes=int(msg.get("kbytes", 0)))
        elif op == "ready":
            assert self.bpbkar is not None
            self.bpbkar.send({"op": "send", "host": msg["host"], "service": msg["service"],
                              "secret": msg.get("secret")})
        elif op == "done":
            self.bptm_done = msg
            if msg.get("status"):
                self.fail(NbuError(int(msg["status"]), str(msg.get("msg", "bptm failed"))),
                          root_cause=int(msg["status"]) not in SECONDARY)
        elif msg is EOF_MARK and self.bptm_done is None:
            assert self.bptm_proc is not None
            self.bptm = None
            self.fail(NbuError(bptm_status(self.bptm_proc), "bptm ended without finishing"),
                      root_cause=True)

    def on_bpbkar(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op in ("step", "log"):
            assert self.bpbkar is not None
            self.ctx.relay("bpbkar", self.client, msg, self.bpbkar)
        elif op == "files":
            assert self.dbm is not None
            self.dbm.request("image_add_files", backupid=self.backupid,
                             entries=msg.get("entries", []))
        elif op == "done":
            self.bpbkar_done = msg
            if int(msg.get("status", 0)) not in (0, 1):
                self.fail(NbuError(int(msg["status"]), str(msg.get("msg", ""))),
                          root_cause=int(msg["status"]) not in SECONDARY)
        elif msg is EOF_MARK and self.bpbkar_done is None:
            self.fail(NbuError(CLIENT_ABORTED, f"bpbkar on {self.client} went away"),
                      root_cause=True)

    def fail(self, err: NbuError, root_cause: bool = False) -> None:
        """Record why the job fails. An agent that vanished is the cause of the errors its
        peers report (bptm's broken connection when bpbkar died), so it wins over them."""
        if self.failure is None or (root_cause and not self._root_cause):
            if self.failure is None:
                self._failed_at = time.monotonic()
            self.failure = err
            self._root_cause = root_cause
            self.ctx.info(f"{err.detail or err.message} (status {err.status})", "Error")

    def settled(self) -> bool:
        """A failure is final once its cause is known: an agent vanished, both agents have
        been heard from, or SETTLE_SECONDS passed."""
        if self._root_cause:
            return True
        kar_known = self.bpbkar_done is not None
        tm_known = self.bptm_done is not None or self.bptm is None
        return (kar_known and tm_known) or time.monotonic() - self._failed_at > SETTLE_SECONDS

    def verdict(self) -> int:
        """Compare what bpbkar sent with what bptm wrote; the job's status."""
        if self.failure is not None:
            return self.failure.status
        kar, tm = self.bpbkar_done or {}, self.bptm_done or {}
        sealed = kar.get("dte") is True and kar.get("checksum") == ""
        if (None if sealed else kar.get("checksum"), kar.get("stream_bytes")) != \
                (None if sealed else tm.get("checksum"), tm.get("stream_bytes")):
            self.fail(NbuError(MEDIA_WRITE_ERROR,
                               f"image check failed: bpbkar sent {kar.get('stream_bytes')} "
                                   f"bytes {kar.get('checksum')}, bptm wrote "
                                   f"{tm.get('stream_bytes')} bytes {tm.get('checksum')}"))
            return 84
        return int(kar.get("status", 0))

    def finish(self, status: int) -> None:
        """Commit or undo bptm's image; whatever happens, no agent is left running."""
        if status in (0, 1) and self.bptm is not None:
            self.bptm.send({"op": "commit"})
            self._last_words()
            assert self.bptm_proc is not None
            self.bptm_proc.wait()
        else:
            stop_bptm(self.bptm, self.bptm_proc)
            stu = self.req.get("stu") or {}
            if stu:  # bptm may have died before it could clean up
                self._remove_image(stu)
        if self.dbm is not None:
            self.dbm.close()
        if self.bpbkar is not None and not (self.req.get("archive") and status in (0, 1)):
            self.bpbkar.close()

    def _last_words(self) -> None:
        """What bptm says after the commit - a tape's counters nbemm did not take, an unmount
        that failed - goes to the job's details too, until bptm closes the channel."""
        assert self.bptm is not None
        try:
            while True:
                msg = self.bptm.recv()
                if msg.get("op") in ("step", "log"):
                    self.ctx.relay("bptm", self.ctx.host, msg, self.bptm)
        except (EOFError, NbuError):
            pass

    def _remove_image(self, stu: dict[str, Any]) -> None:
        try:
            storage.open_unit(stu).delete_image(self.backupid)
        except NbuError as e:  # no unit, nothing written: the job's status is already set
            self.ctx.log.warning("could not remove what bptm wrote of %s: %s", self.backupid, e)

    def archive_end(self) -> None:
        """An archive's files go only once nbjm has the image in the catalog (its step 15)."""
        assert self.bpbkar is not None
        try:
            order = self.ctx.ctl.recv()
        except (EOFError, NbuError):
            order = {}
        if order.get("op") == "delete_files":
            self.bpbkar.send({"op": "delete"})
            try:
                while (msg := self.bpbkar.recv()).get("op") != "deleted":
                    if msg.get("op") in ("step", "log"):
                        self.ctx.relay("bpbkar", self.client, msg, self.bpbkar)
            except (EOFError, NbuError):
                msg = {"op": "deleted", "status": 4, "removed": 0}
            self.ctx.ctl.send(msg)
        self.bpbkar.close()


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    job = Backup(ctx, req)
    try:
        mux = job.start_agents()
        for name, msg in mux.events(timeout=0.5):
            if name == "ctl":
                if msg is EOF_MARK or msg.get("op") == "cancel":
                    job.fail(NbuError(CANCELED if msg.get("op") == "cancel" else 40,
                                      "the job was stopped by its controller"), root_cause=True)
                    break
            elif name == "bptm":
                job.on_bptm(msg)
            elif name == "bpbkar":
                job.on_bpbkar(msg)
            if job.bptm_done and job.bpbkar_done:
                break
            if job.failure is not None and job.settled():
                break
    except NbuError as e:
        job.fail(e)
    status = job.verdict()
    job.finish(status)
    done = job.bptm_done or {}
    files = int((job.bpbkar_done or {}).get("files", 0))
    # bpbkar says whether its stream crossed encrypted: the image's DTE mode
    dte = bool((job.bpbkar_done or {}).get("dte"))
    ctx.ctl.send({"op": "done", "status": status, "files": files,
                  "kbytes": int(done.get("kbytes", 0)), "fragments": done.get("fragments", []),
                  "checksum": done.get("checksum"), "block_size": done.get("block_size"),
                  "stream_bytes": done.get("stream_bytes"), "media_server": ctx.host, "dte": dte,
                  "msg": job.failure.detail if job.failure else "",
                  "held": ctx.report.take_held(ctx.jobid)})
    if req.get("archive") and status in (0, 1):
        job.archive_end()
    return status
