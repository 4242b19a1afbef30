"""bptm's restore: resources through nbjm, mount, position, the child, blocks to tar-restore.

    bpbrm      bptm (parent)                     nbjm       bptm child      tar-restore
      |-restore->|-- restore_resources --------->|  (step 7)                      |
      |<-requested (bpbrm child starts tar-restore: step 8) ........................|
      |          |<================== tar-restore connects to bptm.<jobid> ========|
      |          |-- allocate ------------------>|  (steps 9-11: nbrb, nbemm)      |
      |          | mount (step 12), check the image header against the catalog     |
      |          | position, fork ------------------------------>| (step 13)       |
      |          | read blocks, check CRCs ==> ring ==> sendall ===|================>| (14)
      |          |-- restore_done -------------->|  (steps 15-16)                  |
      |<--done---|                                                                  |

Only the blocks that hold the requested members are read (the ranges come from the catalog's
.f offsets), and each is checked against its CRC before a byte of it leaves the media server.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Protocol

from nbcli.log import log_peak
from nbcli.media import dataservice, storage
from nbcli.media.agent import die_with_parent
from nbcli.media.bptm_ctx import (
    Ctx,
    child_status,
    exit_code_of,
    reap,
    reap_watching,
    wait_readable,
)
from nbcli.media.ring import Producer, Ring, RingBroken
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Registration
from nbcli.status import (
    CLIENT_CONNECT_TIMED_OUT,
    CONNECTION_BROKEN,
    CONNECTION_TIMED_OUT,
    MEDIA_MANAGER_KILLED,
    PREMATURE_EOF,
    RESOURCE_REQUEST_FAILED,
    SOCKET_READ_FAILED,
    SOCKET_WRITE_FAILED,
    NbuError,
)

ACCEPT_TIMEOUT = 300.0
# What a connection says when its peer went away (nbcli.net.conn)
LINK_LOST = frozenset({SOCKET_READ_FAILED, SOCKET_WRITE_FAILED, CONNECTION_BROKEN,
                       CONNECTION_TIMED_OUT, PREMATURE_EOF})


class NbjmLink:
    """bptm's connection to nbjm for one restore (steps 7, 9-11 and 15).

    nbjm lost while the restore asks for resources (killed, restarting) is the resource
    request failing, 800: the cause of the restore's end. As a bare connection status it
    would read as an effect (bpbrm_ctx.SECONDARY) and bpbrm would blame tar-restore's "no
    data". Lost at the end, once the data is restored, it is a warning in the job's
    details, never the restore's failure: nbrb frees the resources of a closed job itself.
    """

    def __init__(self, ctx: Ctx, conn: Connection) -> None:
        self.ctx = ctx
        self.conn = conn

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        try:
            return self.conn.request(op, jobid=self.ctx.jobid, **fields)
        except NbuError as e:
            if e.status not in LINK_LOST:
                raise
            raise NbuError(RESOURCE_REQUEST_FAILED,
                           f"lost nbjm while asking it for the restore's resources ({e})") from e

    def done(self, status: int) -> None:
        try:
            self.conn.request("restore_done", jobid=self.ctx.jobid, status=status)
        except NbuError as e:
            self.ctx.info(f"could not tell nbjm the restore is done ({e}); nbrb releases "
                          f"the restore's resources once it sees the job closed", "Warning")


def blocks_for(ranges: list[list[int]], block_size: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """The blocks covering `ranges`, each with the (start in block, length) pieces wanted."""
    wanted: dict[int, list[tuple[int, int]]] = {}
    for offset, length in sorted((int(o), int(n)) for o, n in ranges):
        pos, end = offset, offset + length
        while pos < end:
            k = pos // block_size
            stop = min(end, (k + 1) * block_size)
            pieces = wanted.setdefault(k, [])
            start = pos - k * block_size
            if pieces and pieces[-1][0] + pieces[-1][1] == start:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + stop - pos)
            else:
                pieces.append((start, stop - pos))
            pos = stop
    return sorted(wanted.items())


class Source(Protocol):
    """Where _fill gets each image's blocks: the readers of disk units, or tape mounts."""

    def reader(self, k: int, index: int) -> storage.ImageReader | None:
        """The reader of image `k` for its block `index`; None: another bptm reads it."""

    def close(self) -> None:
        """Close the readers."""

    @property
    def bytes_read(self) -> int:
        """Bytes of image blocks read so far."""


class DiskReaders:
    """A disk restore's readers, one an image, opened at mount."""

    def __init__(self, readers: list[storage.ImageReader]) -> None:
        self.readers = readers

    def reader(self, k: int, index: int) -> storage.ImageReader | None:
        return self.readers[k]

    def close(self) -> None:
        for r in self.readers:
            r.close()

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.readers)


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    service = f"bptm.{ctx.jobid}"
    images = req["images"]
    reg = Registration(ctx.cfg.paths, service, ctx.host)
    child = 0
    with client.connect(ctx.cfg, str(req["master"]), "nbjm") as conn:
        nbjm = NbjmLink(ctx, conn)
        try:
            units = [storage.open_unit(im["stu"]) for im in images]
            labels = sorted({str(im["stu"]["label"]) for im in images})
            nouns = " or ".join(sorted({u.noun for u in units}))
            ctx.step(7, f"sending resource request to nbjm for {nouns} "
                        f"{', '.join(labels)} on {ctx.host}")
            nbjm.request("restore_resources", host=ctx.host, stus=labels)
            secret = dataservice.new_secret()  # for tar-restore alone (bpbrm passes it on)
            ctx.ctl.send({"op": "requested", "host": ctx.host, "service": service,
                          "secret": secret})
            tar = accept_tar(ctx, reg, secret)
            nbjm.request("allocate")  # nbjm does steps 9 to 11
            readers = _mount(ctx, units, images)
            block = max(r.block_size for r in readers)
            ring = Ring(int(ctx.cfg.get("NUMBER_DATA_BUFFERS")), block)
            first = images[0]["ranges"][0][0] if images[0]["ranges"] else 0
            ctx.step(13, f"positioned to byte {first} of image {images[0]['backupid']}; "
                         f"spawning bptm child")
            child = os.fork()
            if child == 0:
                child_main(ctx, ring, tar)
            tar.close()
            read = fill(ctx, ring.producer(), DiskReaders(readers), images, child)
            code = reap_watching(ctx, child)
            child = 0
            status = child_status(code)
            ctx.step(15, f"restore data sent ({read} bytes read from disk); bptm child "
                         f"exited; unmounting and notifying nbjm")
            nbjm.done(status)
            ctx.ctl.send({"op": "done", "status": status, "bytes_read": read,
                          "kbytes": read // 1024})
            return status
        except BaseException:
            if child:
                reap(child, kill=True)
            raise
        finally:
            reg.close()


def accept_tar(ctx: Ctx, reg: Registration, secret: str) -> socket.socket:
    """tar-restore's connection: the one that knows the job's secret (dataservice)."""
    if not wait_readable(ctx, reg, ACCEPT_TIMEOUT):
        raise NbuError(CLIENT_CONNECT_TIMED_OUT, "tar-restore did not connect to bptm")
    accepted = dataservice.accept_agent(reg, secret, ACCEPT_TIMEOUT, ctx.log)
    if accepted is None:
        raise NbuError(CLIENT_CONNECT_TIMED_OUT, "tar-restore did not connect to bptm")
    reg.close()
    return accepted.conn.sock


def _mount(ctx: Ctx, units: list[storage.Storage],
           images: list[dict[str, Any]]) -> list[storage.ImageReader]:
    """Seed step 12: each unit is there, and each image's block CRCs match the catalog."""
    readers = []
    for unit, im in zip(units, images):
        mounted = unit.mount()
        ctx.step(12, f"mounted {mounted} for image {im['backupid']}")
        image = storage.StoredImage.from_request(im)
        first = min((int(offset) for offset, _ in im["ranges"]), default=0)
        readers.append(unit.open_reader(image, *image.locate(first // image.block_size)))
    return readers


def child_main(ctx: Ctx, ring: Ring, tar: socket.socket) -> None:
    """bptm child: slots from the ring to tar-restore, then the end of the tar stream."""
    die_with_parent()
    ctx.ctl.sock.close()
    cons = ring.consumer()
    try:
        while True:
            item = cons.take()
            if isinstance(item, int):
                if item == 0:
                    tar.sendall(bytes(1024))  # two zero blocks end a tar stream
                    tar.shutdown(socket.SHUT_WR)
                    # The data is restored when tar-restore has written it and hung up; only
                    # then may bptm unmount and tell nbjm (seed restore step 15).
                    while tar.recv(65536):
                        pass
                tar.close()
                break
            tar.sendall(item[1])
            cons.release()
    except (RingBroken, OSError):
        os._exit(1)
    log_peak(ctx.log, "bptm child")
    os._exit(0)


def fill(ctx: Ctx, prod: Producer, source: Source, images: list[dict[str, Any]],
         child: int) -> int:
    """bptm parent: read the wanted blocks into slots, keeping only the wanted bytes. When
    the ring breaks, bptm `child` has ended: killed (82) or its send failed (24)."""
    mem = prod.ring.map
    first = True
    try:
        for k, im in enumerate(images):
            for index, pieces in blocks_for(im["ranges"], int(im["block_size"])):
                reader = source.reader(k, index)
                if reader is None:
                    continue
                while prod.would_block():
                    wait_readable(ctx, prod, 5.0)
                slot_index, slot = prod.acquire()
                if first:
                    ctx.step(14, "bptm reading image blocks into shared memory; bptm child "
                                 "sending them to tar-restore")
                    first = False
                reader.seek(index)
                reader.read(slot)
                if len(pieces) == 1:
                    prod.post(pieces[0][0], pieces[0][1])
                    continue
                base = slot_index * prod.ring.slot_size
                dst = 0
                for start, length in pieces:  # increasing, so memmove left never clobbers
                    mem.move(base + dst, base + start, length)
                    dst += length
                prod.post(0, dst)
        prod.end(0)
    except RingBroken as e:
        code = exit_code_of(child)
        if code < 0:
            raise NbuError(MEDIA_MANAGER_KILLED, f"bptm child was killed (signal {-code})") from e
        raise NbuError(SOCKET_WRITE_FAILED, "bptm child stopped sending to tar-restore") from e
    except NbuError:
        try:
            prod.end(85)
        except RingBroken:
            pass
        raise
    finally:
        source.close()
        prod.close()
    return source.bytes_read
