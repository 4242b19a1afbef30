"""bptm's restore from tape: each medium through nbjm and ltid in the bprd child's mount order,
positioned to the fragment and block, its blocks to tar-restore (seed restore steps 7, 12-15).

    bpbrm     bptm (parent)                              nbjm          ltid       bptm child
      |-restore{images, mounts}->|                          |              |            |
      |          |-- restore_resources{media} ------------->|  (step 7)    |            |
      |<-requested (the bpbrm child starts tar-restore: step 8) ..............          |
      |          |-- allocate{media_id: first} ------------>|  (9-11: nbrb, nbemm)      |
      |          |-- mount{media_id, barcode, drive, r} ----------------->| (12)        |
      |          | locate to the fragment's backup header, check it, its CRC record,    |
      |          | locate to the first wanted block; fork --------------------------->| (13)
      |          | read blocks ==> ring ==============================================>| (14)
      |          | the next medium: unmount, allocate{media_id}, mount, locate ...      |
      |          |-- unmount --------------------------------------------->|            |
      |          |-- restore_done --------------------------->| (15, 16)                |
      |<--done{bytes_read, cartridge_bytes}                                             |

The blocks go in the plan's order (images in order, each one's blocks in order); a block on
another medium than the mounted one ends that mount and starts the next, so a spanned image's
media are mounted in the order its fragments were written. Only the wanted blocks are read:
for one file of a full tape bptm reads the media header, the fragment's backup header, its
CRC record and the file's blocks (the cartridge bytes read are counted and reported). ltid
mounts and unmounts each medium as on a backup (bptm_tape.py). nbemm hears of each medium
read (media_read: bpmedialist's last read and restores) and of a read or position error
(media_error: it counts toward the medium's threshold, as a backup's write error does).

Place: a part of bptm (bptm.py picks it for a restore request with "mounts"); shares the
ring, the child and the block loop with bptm_restore; imports media and net only.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from nbcli.media import dataservice, storage
from nbcli.media.bptm_ctx import Ctx, child_status, reap, reap_watching
from nbcli.media.bptm_restore import NbjmLink, accept_tar, blocks_for, child_main, fill
from nbcli.media.bptm_tape import drive_name, ltid_mount, ltid_unmount, media_error
from nbcli.media.ring import Ring
from nbcli.media.storage import StoredImage
from nbcli.media.tape import TapeReader, TapeStorage, close_inherited, parse_locator
from nbcli.net import client
from nbcli.net.service import Registration
from nbcli.status import INVALID_PARAMETER, NbuError

REPORT_WAIT = 30.0  # seconds bptm waits at its end for nbemm to take report_reads


class TapeMounts:
    """The media of one restore, mounted one at a time as the blocks need them."""

    def __init__(self, ctx: Ctx, nbjm: NbjmLink, req: dict[str, Any]) -> None:
        self.ctx = ctx
        self.nbjm = nbjm
        self.master = str(req["master"])
        self.plan = [str(m["media_id"]) for m in req["mounts"]]
        self.images = [StoredImage.from_request(im) for im in req["images"]]
        self.media = [[f.media_id or parse_locator(f.path).media_id for f in image.fragments]
                      for image in self.images]
        self.unit: TapeStorage | None = None
        self.stu: dict[str, Any] = {}
        self.ltid_drive = ""  # the drive ltid mounted for us ("": none now)
        self.readers: dict[int, TapeReader] = {}
        self.mounted: list[str] = []  # media mounted so far, in order
        self.read_media: list[str] = []  # those it read data from: report_reads tells nbemm
        self.done_bytes = 0      # image bytes read on media already unmounted
        self.done_cartridge = 0  # cartridge bytes read on them

    def medium_of(self, k: int, index: int) -> str:
        return self.media[k][self.images[k].locate(index)[0] - 1]

    def reader(self, k: int, index: int) -> TapeReader | None:
        media_id = self.medium_of(k, index)
        if media_id not in self.plan:
            return None  # on a medium of another media server: its own bpbrm reads it
        if self.unit is None or self.unit.media_id != media_id:
            self.mount(media_id)
        reader = self.readers.get(k)
        if reader is None:
            assert self.unit is not None
            reader = self.readers[k] = self.unit.open_reader(self.images[k],
                                                             *self.images[k].locate(index))
        return reader

    # --- mounts ------------------------------------------------------------------------------

    def mount(self, media_id: str) -> None:
        """Unmount what is mounted; nbjm allocates the medium and a drive (9-11), ltid mounts
        it (12)."""
        first = not self.mounted
        if not first:
            self.unmount()
        grant = self.nbjm.request("allocate", media_id=media_id)
        self.stu = {**grant["granted"]["stu"], "mode": "r"}  # read-only: nothing to sync
        if not self.stu.get("media_id"):
            raise NbuError(INVALID_PARAMETER, f"nbjm granted storage unit "
                           f"{self.stu.get('label')} without a medium for a tape restore")
        self.ltid_drive = ltid_mount(self.ctx, self.stu, "r")
        unit = storage.open_unit(self.stu)
        assert isinstance(unit, TapeStorage)
        phrase = unit.mount()
        self.unit = unit
        self.mounted.append(media_id)
        what = f"ltid mounted {phrase} for reading"
        if first:
            self.ctx.step(12, f"mount request for media {media_id} in {self.drive}: {what}")
        else:
            self.ctx.info(f"mount {len(self.mounted)} of the restore: {what}")

    @property
    def drive(self) -> str:
        return drive_name(self.stu)

    def unmount(self) -> None:
        """Close the drive here and tell ltid; count what was read on the medium (and note
        it for report_reads)."""
        read = sum(r.bytes_read for r in self.readers.values())
        self.done_bytes += read
        self.readers = {}
        if self.unit is not None:
            if read:
                self.read_media.append(self.unit.media_id)
            self.done_cartridge += self.unit.bytes_read()
            self.unit.unmount()
            self.unit = None
        if not self.ltid_drive:
            return
        drive, self.ltid_drive = self.ltid_drive, ""
        ltid_unmount(self.ctx, drive)

    def report_reads(self) -> None:
        """Tell nbemm each medium the restore read (bpmedialist's last read and restores).
        A statistic, never the restore's failure; it may run in a thread beside the end of
        the restore, so it only logs (the control channel is the main thread's)."""
        for media_id in self.read_media:
            try:
                client.call(self.ctx.cfg, self.master, "nbemm", "media_read",
                            jobid=self.ctx.jobid, media_id=media_id)
            except NbuError as e:
                self.ctx.log.warning("nbemm did not record the read of media %s: %s",
                                     media_id, e)
        self.read_media = []

    # --- Source (bptm_restore.fill) ------------------------------------------------------------

    def close(self) -> None:
        """The readers hold nothing of their own: the drive goes at unmount."""

    @property
    def bytes_read(self) -> int:
        return self.done_bytes + sum(r.bytes_read for r in self.readers.values())

    @property
    def cartridge_bytes(self) -> int:
        """Bytes of records read from the cartridges: labels, headers, CRC records, blocks."""
        return self.done_cartridge + (self.unit.bytes_read() if self.unit is not None else 0)


def _first_block(req: dict[str, Any], tapes: TapeMounts) -> tuple[int, int] | None:
    """(image, block) the restore reads first on this media server."""
    for k, im in enumerate(req["images"]):
        for index, _ in blocks_for(im["ranges"], int(im["block_size"])):
            if tapes.medium_of(k, index) in tapes.plan:
                return k, index
    return None


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    service = f"bptm.{ctx.jobid}"
    images = req["images"]
    reg = Registration(ctx.cfg.paths, service, ctx.host)
    child = 0
    reporting: threading.Thread | None = None
    with client.connect(ctx.cfg, str(req["master"]), "nbjm") as conn:
        nbjm = NbjmLink(ctx, conn)
        tapes = TapeMounts(ctx, nbjm, req)
        try:
            labels = sorted({str(im["stu"]["label"]) for im in images})
            media = list(dict.fromkeys(tapes.plan))
            ctx.step(7, f"sending resource request to nbjm for media {', '.join(media)} "
                        f"(tape storage unit {', '.join(labels)}) on {ctx.host}")
            nbjm.request("restore_resources", host=ctx.host, stus=labels, media=media)
            secret = dataservice.new_secret()  # for tar-restore alone (bpbrm passes it on)
            ctx.ctl.send({"op": "requested", "host": ctx.host, "service": service,
                          "secret": secret})
            tar = accept_tar(ctx, reg, secret)
            first = _first_block(req, tapes)
            where = "nothing to read"
            if first is not None:
                k, index = first
                reader = tapes.reader(k, index)
                assert reader is not None
                file_num, block = reader.position_at(index)
                where = (f"positioned media {tapes.mounted[-1]} to tape file {file_num} (the "
                         f"backup header of image {tapes.images[k].backupid} fragment "
                         f"{tapes.images[k].locate(index)[0]}), logical block {block}")
            ring = Ring(int(ctx.cfg.get("NUMBER_DATA_BUFFERS")),
                        max(int(im["block_size"]) for im in images))
            ctx.step(13, f"{where}; spawning bptm child")
            child = os.fork()
            if child == 0:
                close_inherited()  # the parent's drives: its unmounts must let them go
                child_main(ctx, ring, tar)
            tar.close()
            read = fill(ctx, ring.producer(), tapes, images, child)
            code = reap_watching(ctx, child)
            child = 0
            status = child_status(code)
            mounted = ", ".join(tapes.mounted)
            tapes.unmount()
            cartridge = tapes.cartridge_bytes
            ctx.step(15, f"restore data sent ({read} bytes read from tape; {cartridge} bytes "
                         f"of cartridge read; media mounted in order: {mounted}); bptm child "
                         f"exited; media unmounted; notifying nbjm")
            # beside the release and the word to bpbrm, not before them: a restore of one
            # file should not wait for a statistic (the child is reaped: no fork after this)
            reporting = threading.Thread(target=tapes.report_reads, daemon=True)
            reporting.start()
            nbjm.done(status)
            ctx.ctl.send({"op": "done", "status": status, "bytes_read": read,
                          "kbytes": read // 1024, "cartridge_bytes": cartridge,
                          "media": tapes.mounted})
            reporting.join(REPORT_WAIT)
            return status
        except BaseException as e:
            if child:
                reap(child, kill=True)
            if isinstance(e, NbuError) and tapes.unit is not None:
                # a read or position error counts toward the medium's threshold, as a
                # backup's write error does
                media_error(ctx, tapes.master, tapes.unit.media_id, tapes.drive, e,
                            "the restore fails")
            try:
                tapes.unmount()
            except NbuError as e:
                ctx.log.warning("unmount after a failure: %s", e)
            if reporting is None:
                tapes.report_reads()
            else:  # it reports them already (restore_done or the word to bpbrm failed)
                reporting.join(REPORT_WAIT)
            raise
        finally:
            reg.close()
