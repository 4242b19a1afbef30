"""bptm's backup: media information from nbjm, mount, the child, blocks to the storage unit.

    bpbrm        bptm (parent)                    nbjm             bptm child       bpbkar
      |--backup-->|                                 |                   |               |
      |           |-- media_info{service} -------->|  (step 9)         |               |
      |           |<======= nbjm connects back to bptm.<jobid> with the storage unit  |
      |           | mount STU folder, fork ---------------------------->| (step 10)     |
      |<--ready---|                                                     |               |
      |-------------------------------- send{host, service} ------------------------->|
      |           |                                                     |<== image ====|
      |           |<== (slot, len) ==| ring |<== recv_into slots =======|  (step 12)    |
      |           | blocks to the storage unit's writer, CRC per block                 |
      |<--done----| (step 13)   -- media_done --> nbjm                                  |
      |--commit-->| (or abort: the fragments are removed)                               |
"""

from __future__ import annotations

import mmap
import os
import selectors
import time
import zlib
from typing import Any

from nbcli.log import log_peak
from nbcli.media import bptm_tape, dataservice, storage
from nbcli.media.agent import die_with_parent
from nbcli.media.bptm_ctx import Aborted, Ctx, exit_code_of, reap, wait_readable
from nbcli.media.ring import Consumer, Ring, RingBroken
from nbcli.media.tape import close_inherited
from nbcli.net import client
from nbcli.net.service import Registration
from nbcli.status import (
    CONNECTION_BROKEN,
    MEDIA_MANAGER_KILLED,
    MOUNT_TIMED_OUT,
    UNEXPECTED_MESSAGE,
    NbuError,
)

ACCEPT_TIMEOUT = 300.0  # how long the child waits for bpbkar to connect
TAPE_MFS_MB = 1048576  # a unit that sets no maximum fragment size: NetBackup's tape default
PROGRESS_EVERY = 2.0


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    service = f"bptm.{ctx.jobid}"
    reg = Registration(ctx.cfg.paths, service, ctx.host)
    secret = dataservice.new_secret()  # for bpbkar alone (bpbrm passes it on)
    writer: storage.ImageWriter | None = None
    tape: bptm_tape.TapeMedia | None = None
    child = 0
    try:
        info = _media_info(ctx, req, reg, service)
        stu = info["stu"]
        block = int(ctx.cfg.get("SIZE_DATA_BUFFERS"))
        max_fragment = int(stu.get("mfs_mb") or TAPE_MFS_MB) << 20
        if bptm_tape.is_tape(stu):
            tape = bptm_tape.TapeMedia(ctx, req, info)
            mounted = tape.mount()
            writer = tape.open_writer(block, max_fragment)
        else:
            unit = storage.open_unit(stu)
            mounted = unit.mount()
            writer = unit.open_writer(str(req["backupid"]), block, max_fragment)
        before, after = writer.frame_room
        ring = Ring(int(ctx.cfg.get("NUMBER_DATA_BUFFERS")),
                    -(-(before + block + after) // mmap.PAGESIZE) * mmap.PAGESIZE)
        ctx.step(10, f"mounted {mounted}; "
                     f"spawning bptm child with {ring.slots} x {block} byte shared buffers")
        child = os.fork()
        if child == 0:
            _child(ctx, reg, ring, secret, block, before)
        reg.close()
        ctx.ctl.send({"op": "ready", "host": ctx.host, "service": service,
                      "block_size": block, "secret": secret})
        end = _drain(ctx, ring.consumer(), writer, child)
        code = reap(child)
        child = 0
        if end != 0 or code != 0:
            raise NbuError(end or 40, "bptm child ended without the whole image")
        fragments = writer.finish()
        ctx.step(13, f"image written: {writer.total} bytes in {len(fragments)} fragment(s), "
                     f"{writer.checksum}; notifying bpbrm and releasing the media with nbjm")
        ctx.ctl.send({"op": "done", "status": 0, "kbytes": (writer.total + 1023) // 1024,
                      "stream_bytes": writer.total, "checksum": writer.checksum,
                      "block_size": block,
                      "fragments": [f.as_dict(ctx.host) for f in fragments]})
        _media_done(ctx, req)
        verdict = ctx.read_control()
        if verdict.get("op") != "commit":
            raise Aborted(f"bpbrm answered {verdict.get('op')!r}")
        if tape is not None:
            tape.media_written(fragments)
        return 0
    except BaseException as e:
        if child:
            reap(child, kill=True)
        if tape is not None and isinstance(e, NbuError):
            tape.media_error(e)
        if writer is not None:
            writer.abort()
        raise
    finally:
        reg.close()
        if tape is not None:
            tape.unmount()


def _media_info(ctx: Ctx, req: dict[str, Any], reg: Registration,
                service: str) -> dict[str, Any]:
    """Seed step 9: ask nbjm; nbjm answers on a connection of its own to our service."""
    ctx.step(9, f"requesting media and drive information from nbjm on {req['master']}")
    with client.connect(ctx.cfg, str(req["master"]), "nbjm") as nbjm:
        nbjm.request("media_info", jobid=ctx.jobid, host=ctx.host, service=service)
    if not wait_readable(ctx, reg, 60):
        raise NbuError(MOUNT_TIMED_OUT, "nbjm did not send the media information")
    accepted = dataservice.accept_server(reg, ctx.cfg, 5, ctx.log)
    if accepted is None:
        raise NbuError(MOUNT_TIMED_OUT, "nbjm did not send the media information")
    with accepted.conn as conn:
        info = conn.recv(timeout=30)
        conn.send({"status": 0})
    if info.get("op") != "media_info" or not isinstance(info.get("stu"), dict):
        raise NbuError(UNEXPECTED_MESSAGE, f"unexpected media information: {str(info)[:200]}")
    return info


def _child(ctx: Ctx, reg: Registration, ring: Ring, secret: str, block: int,
           at: int) -> None:
    """bptm child: take bpbkar's connection and receive the image into the ring's slots,
    `block` bytes a slot from byte `at` (the room before it is the writer's: frame_room)."""
    die_with_parent()
    close_inherited()  # the parent's drive: its unmount must let it go (spanning)
    ctx.ctl.sock.close()  # bpbrm talks to the parent only
    prod = ring.producer()
    try:
        accepted = dataservice.accept_agent(reg, secret, ACCEPT_TIMEOUT, ctx.log)
        reg.close()
        if accepted is None:
            prod.end(54)  # timed out connecting to client
            os._exit(0)
        sock = accepted.conn.sock
        while True:
            _, slot = prod.acquire()
            got = 0
            with slot[at:at + block] as into:
                while got < block:
                    n = sock.recv_into(into[got:])
                    if n == 0:
                        break
                    got += n
                if got:
                    # The block's CRC here, while it is in this core's cache: the parent then
                    # only moves it to the disk.
                    prod.post(at, got, zlib.crc32(into[:got]))
            if got < block:
                break
        prod.end(0)
    except RingBroken:
        os._exit(1)
    except OSError as e:  # the connection broke, or a sealed stream failed its check
        ctx.log.error("bptm child: the image stream from the client broke: %s", e.strerror or e)
        try:
            prod.end(40)
        except RingBroken:
            pass
    log_peak(ctx.log, "bptm child")
    os._exit(0)


def _drain(ctx: Ctx, cons: Consumer, writer: storage.ImageWriter, child: int) -> int:
    """bptm parent: blocks from the ring to the fragments; returns the child's end status."""
    sel = selectors.DefaultSelector()
    sel.register(cons.fileno(), selectors.EVENT_READ, "ring")
    sel.register(ctx.ctl.sock, selectors.EVENT_READ, "ctl")
    first = True
    last_report = time.monotonic()
    try:
        while True:
            for key, _ in sel.select(timeout=PROGRESS_EVERY):
                if key.data == "ctl":
                    ctx.read_control()  # only abort or EOF can come now
                    continue
                item = cons.take()
                if isinstance(item, int):
                    return item
                if first:
                    ctx.step(12, "bptm child receiving the image block by block into shared "
                                 "memory", process="bptm child", pid=child)
                    ctx.step(12, f"bptm writing blocks from shared memory to "
                                 f"{writer.where}")
                    first = False
                writer.write_block(item[1], item[2], cons.ring.slot(item[0]))
                cons.release()
            if time.monotonic() - last_report >= PROGRESS_EVERY:
                ctx.ctl.send({"op": "progress", "kbytes": writer.total // 1024})
                last_report = time.monotonic()
    except RingBroken as e:
        code = exit_code_of(child)
        if code < 0:  # killed: the cause, as bptm killed would be (not the broken line)
            raise NbuError(MEDIA_MANAGER_KILLED, f"bptm child was killed (signal {-code}) while "
                                                 f"receiving the image") from e
        raise NbuError(CONNECTION_BROKEN, "bptm child died while receiving the image") from e
    finally:
        sel.close()
        cons.close()


def _media_done(ctx: Ctx, req: dict[str, Any]) -> None:
    try:
        client.call(ctx.cfg, str(req["master"]), "nbjm", "media_done", jobid=ctx.jobid)
    except NbuError as e:  # the image is safe; nbjm releases resources at the end anyway
        ctx.info(f"could not tell nbjm the media is free: {e}", "Warning")

