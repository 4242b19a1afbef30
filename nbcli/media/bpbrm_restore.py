"""bpbrm's restore: bpbrm child starts tar-restore, bptm serves it, bprd hears the end.

    bprd -> bpbrm: restore{images, ranges, renames, dest}      (seed step 5)
    bpbrm: fork bpbrm child, start bptm                        (step 6)
    bptm -> bpbrm: requested (it asked nbjm for resources)     (step 7)
    bpbrm -> child: start; child starts tar-restore on the
             destination client and points it at bptm         (step 8)
    ... bptm and tar-restore move the data (steps 9-15) ...
    bpbrm -> bprd: done{status, files, bytes_read}             (step 17)

From tape the request comes from the bprd child and carries its mount plan ("mounts": media in
order, each with its fragments' tape files and blocks), which bptm follows. The bpbrm child
shows in bpps as `bpbrm -child -jobid N`.

The child launches tar-restore at once but points it at bptm only after bptm's request, so
that the steps happen in the seed's order. Both report through bpbrm; bpbrm records their
steps in bpjobd as they arrive.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any

from nbcli import jobreport, procs
from nbcli.media import agent
from nbcli.media.bpbrm_ctx import CANCELED, SECONDARY, SETTLE_SECONDS, Ctx, bptm_status, stop_bptm
from nbcli.media.mux import EOF_MARK, Mux
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import RESTORE_FAILED, TAR_INVALID_ARCHIVE, TAR_NO_DATA, NbuError

TAR_FAILED = RESTORE_FAILED
# tar-restore's statuses for a stream that broke on its way (invalid archive, no data): bptm,
# which read it from the media, may know why (a block failing its checksum, 85, or its child
# killed, 82), and is waited for SETTLE_SECONDS before tar-restore's word is taken
STREAM_BROKE = frozenset({TAR_INVALID_ARCHIVE, TAR_NO_DATA})


def _child(ctx: Ctx, req: dict[str, Any], up: Connection) -> None:
    """bpbrm child: launch tar-restore, and on "start" point it at bptm and relay its frames
    up, then exit.

    tar-restore is launched at once, while bptm starts and asks nbjm for resources, so that
    the two start-ups (~60 ms of Python each) overlap; it is told what to restore, and
    connects to bptm (step 8), only once bptm has asked. A client that cannot be reached
    still fails the job before bptm is given any storage: bpbrm stops bptm on that "done".
    """
    agent.die_with_parent()
    procs.set_title(["bpbrm", "-child", "-jobid", str(ctx.jobid)])  # bpps -x tells it apart
    ctx.ctl.sock.close()
    dest = str(req["client"])
    try:
        with client.connect(ctx.cfg, dest, "bpcd") as tar:
            tar.request("launch", program="tar-restore", args=[])
            start = up.recv()
            if start.get("op") != "start":
                os._exit(0)
            report = jobreport.JobReporter(ctx.cfg, "bpbrm child")
            report.step(ctx.jobid, 8, f"starting tar-restore on {dest}; connecting it to "
                                      f"bptm on {start['host']}")
            report.close()
            tar.request("restore", jobid=ctx.jobid, host=start["host"],
                        service=start["service"], renames=req.get("renames", []),
                        keep_existing=bool(req.get("keep_existing")),
                        dest=req.get("dest", ["/"]), run_as=req.get("run_as"),
                        secret=start.get("secret"), dte_global=str(req.get("dte_global") or ""),
                        # an image backed up encrypted is restored encrypted unless the master's
                        # DTE_IGNORE_IMAGE_MODE says ALWAYS; this media server's own mode too
                        # (nbcli.net.dte, and bpbrm_backup for why the agent decides)
                        image_dte=any(im.get("dte_mode") for im in req.get("images", [])),
                        dte_ignore_image=str(req.get("dte_ignore_image") or ""),
                        dte_media=str(ctx.cfg.get("MEDIA_DTE_MODE")))
            while True:
                msg = tar.recv()
                up.send(msg)
                if msg.get("ack"):  # tar-restore waits until bpbrm has recorded the step
                    tar.send(up.recv())
                if msg.get("op") == "done":
                    break
    except (EOFError, NbuError) as e:
        status = e.status if isinstance(e, NbuError) else TAR_FAILED
        try:
            up.send({"op": "done", "status": status,
                     "msg": f"tar-restore on {dest} failed: {e}"})
        except NbuError:
            pass
    os._exit(0)


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    dest = str(req["client"])
    media = ", ".join(str(m["media_id"]) for m in req.get("mounts", []))
    ctx.step(6, f"starting bpbrm child (for tar-restore on {dest}) and bptm on {ctx.host}" +
             (f" with media {media}" if media else ""))
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _child(ctx, req, Connection(theirs, "bpbrm"))
    theirs.close()
    child = Connection(ours, "bpbrm child")
    proc: subprocess.Popen[bytes] | None = None
    bptm: Connection | None = None
    tar_done: dict[str, Any] | None = None
    bptm_done: dict[str, Any] | None = None
    failure: NbuError | None = None
    try:
        proc, bptm = agent.spawn(ctx.cfg, "bptm")
        # A restore from tape also carries the mounts the bprd child planned (neededimage).
        bptm.send({"op": "restore", "jobid": ctx.jobid, "master": ctx.master,
                   "client": dest, "images": req["images"], "mounts": req.get("mounts", [])})
        mux = Mux()
        for name, conn in (("ctl", ctx.ctl), ("bptm", bptm), ("child", child)):
            mux.add(name, conn)
        grace_until = 0.0  # tar-restore's stream broke: bptm's word is awaited until then
        asked = False  # bptm has said where tar-restore is to connect (step 8)
        for name, msg in mux.events(timeout=1.0):
            op = msg.get("op")
            if name == "ctl":
                failure = NbuError(CANCELED if op == "cancel" else 40, "restore stopped")
            elif op in ("step", "log"):
                ctx.relay("bptm" if name == "bptm" else "tar-restore",
                          ctx.host if name == "bptm" else dest, msg, mux.conns[name])
            elif name == "bptm" and op == "requested":
                asked = True
                try:
                    child.send({"op": "start", "host": msg["host"], "service": msg["service"],
                                "secret": msg.get("secret")})
                except NbuError:
                    pass  # the child failed first: its "done" or its end is on the way
            elif op == "done":
                if name == "bptm":
                    bptm_done = msg
                else:
                    tar_done = msg
            elif msg is EOF_MARK and name == "bptm" and bptm_done is None:
                bptm = None
                failure = NbuError(bptm_status(proc), "bptm ended without finishing")
            elif msg is EOF_MARK and name == "child" and tar_done is None:
                failure = NbuError(TAR_FAILED, "bpbrm child ended without a result")
            if failure is not None or (tar_done and bptm_done):
                break
            if bptm_done and not asked:
                # bptm ended before it asked for tar-restore (nbjm not running, say): the
                # child, waiting to be told where bptm listens, never would be
                break
            tar_status = int((tar_done or {}).get("status", 0))
            if tar_status not in (0, 1) and not bptm_done:
                if tar_status in STREAM_BROKE and not grace_until:
                    grace_until = time.monotonic() + SETTLE_SECONDS
                elif not grace_until or time.monotonic() >= grace_until:
                    failure = NbuError(tar_status, str((tar_done or {}).get("msg", "")))
                    break
    except NbuError as e:
        failure = e
    if failure is not None or bptm_done is None:
        stop_bptm(bptm, proc)
        if req.get("mounts"):
            _free_drives(ctx)
    elif proc is not None:
        proc.wait()
    child.close()
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    status = _status(failure, bptm_done, tar_done)
    why = _why(failure, bptm_done, tar_done)  # bprd logs it in the job's details
    ctx.step(17, f"restore ended with status {status}; notifying bprd")
    ctx.ctl.send({"op": "done", "status": status,
                  "files": int((tar_done or {}).get("files", 0)),
                  "kbytes": int((tar_done or {}).get("kbytes", 0)),
                  "bytes_read": int((bptm_done or {}).get("bytes_read", 0)),
                  "msg": why, "held": ctx.report.take_held(ctx.jobid)})
    return status


def _free_drives(ctx: Ctx) -> None:
    """A bptm that died with a medium mounted could not unmount it: ltid still reserves the
    drive for the job until it is told, so bpbrm tells it."""
    try:
        drives = client.call(ctx.cfg, ctx.host, "ltid", "drive_status").get("drives", [])
    except NbuError as e:
        ctx.log.warning("cannot ask ltid which drives job %d holds: %s", ctx.jobid, e)
        return
    for d in drives:
        if int(d.get("jobid") or 0) != ctx.jobid:
            continue
        try:
            client.call(ctx.cfg, ctx.host, "ltid", "unmount", jobid=ctx.jobid,
                        drive=str(d["name"]))
            ctx.info(f"bptm ended with {d['name']} mounted: asked ltid to unmount it")
        except NbuError as e:
            ctx.log.warning("ltid did not unmount %s for job %d: %s", d["name"], ctx.jobid, e)


def _status(failure: NbuError | None, bptm_done: dict[str, Any] | None,
            tar_done: dict[str, Any] | None) -> int:
    if failure is not None:
        return failure.status
    tm = int((bptm_done or {}).get("status", 0))
    tar = int((tar_done or {}).get("status", TAR_FAILED))
    if tm in SECONDARY and tar not in (0, 1):
        return tar  # bptm lost its client: tar-restore's status says why it went
    return tm or tar


def _why(failure: NbuError | None, bptm_done: dict[str, Any] | None,
         tar_done: dict[str, Any] | None) -> str:
    """The words of whichever failure _status took."""
    if failure is not None:
        return failure.detail or failure.message
    tm = int((bptm_done or {}).get("status", 0))
    if tm and not (tm in SECONDARY and int((tar_done or {}).get("status", 0)) not in (0, 1)):
        return str((bptm_done or {}).get("msg", ""))
    return str((tar_done or {}).get("msg", ""))
