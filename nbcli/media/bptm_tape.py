"""bptm's media on a tape backup: the mount through ltid, spanning to the next medium, and what
nbemm hears about the media written.

    bptm                      ltid (this host)          nbemm (master)
      |-- mount{jobid, media_id, barcode, drive, mode w} -->|  robot moves it, avrd checks it
      |   write the image's fragments (TapeWriter)           |
      |   early warning: the fragment is closed (two tape marks), the writer fails 96
      |-- span{jobid, full_media_id} ---------------------------------->| another medium,
      |<-- {stu: ... media_id, barcode, same drive} ---------------------| same drive
      |   (a mount refused for the medium - RESELECT - asks span{..., full false, avoid})
      |-- unmount{jobid, drive}, mount{... the new medium} ->|
      |   a new TapeWriter goes on from TapeWriter.pending: the image's next fragment
      |-- media_written{jobid, media_id, kbytes, images, full, rl, expiration, backupid}
      |                        (per medium, once bpbrm said commit) ------>|
      |-- media_error{jobid, media_id, drive, kind} on 84/85/86 -------->| {action}
      |-- unmount{jobid, drive} (at the end, whatever happened) -->|

Reports nbemm cannot take are logged, never the cause of a failed backup: the image is on
tape either way, and in the catalog, from which bpdbm's next image cleanup counts what nbemm
missed (media_written names the image, so nothing is counted twice). `ltid_mount` and
`ltid_unmount` serve the restore from tape too.

Place: a part of bptm_backup (imported by it and by bptm_restore_tape); imports storage,
tape, the net client and status, never catalog or a daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbcli.media import storage
from nbcli.media.bptm_ctx import Ctx
from nbcli.media.tape import TapeStorage, TapeWriter
from nbcli.net import client
from nbcli.status import (
    CANNOT_POSITION,
    MEDIA_HEADER_UNREADABLE,
    MEDIA_POSITION_ERROR,
    MEDIA_PROTECTED,
    MEDIA_READ_ERROR,
    MEDIA_REQUEST_FAILED,
    MEDIA_WRITE_ERROR,
    NO_MEDIA_AVAILABLE,
    WRONG_TAPE,
    NbuError,
)

# A write's status -> the kind of media error nbemm counts toward its threshold.
ERROR_KINDS = {MEDIA_WRITE_ERROR: "write", MEDIA_READ_ERROR: "read",
               MEDIA_POSITION_ERROR: "position", CANNOT_POSITION: "position"}
MAX_SPANS = 64  # media one image may take; more is a loop (a medium that fills at once)
# A backup's mount that fails for the medium, not the drive: write protected, another media
# id in its header or not a NetBackup tape, a cartridge that would not load.
RESELECT = frozenset({MEDIA_PROTECTED, WRONG_TAPE, MEDIA_HEADER_UNREADABLE, MEDIA_REQUEST_FAILED})
RESELECT_MAX = 3  # selections of other media before a refused mount fails the job


def is_tape(stu: dict[str, Any]) -> bool:
    return storage.unit_type(stu) == storage.MEDIA_MANAGER


def drive_name(stu: dict[str, Any]) -> str:
    """The drive a granted tape unit names (nbemm's drive name; its number else)."""
    return str(stu.get("drive_name") or f"drive {stu.get('drive', 0)}")


def ltid_mount(ctx: Ctx, stu: dict[str, Any], mode: str) -> str:
    """ltid puts the medium of the granted unit `stu` in its drive (the robot's moves, avrd's
    check of the label); `stu` then says where the drive is. The drive ltid mounted."""
    drive = drive_name(stu)
    reply = client.call(ctx.cfg, ctx.host, "ltid", "mount", jobid=ctx.jobid,
                        media_id=str(stu.get("media_id") or ""),
                        barcode=str(stu.get("barcode", "")), drive=drive, mode=mode)
    for key, field in (("drnum", "drive"), ("library", "library"), ("path", "drive_path")):
        if reply.get(key) not in (None, ""):
            stu[field] = reply[key]
    if stu.get("drive_path") and stu.get("library"):
        stu.pop("drive_path")  # a virtual library's drive: the library names it
    return drive


def media_error(ctx: Ctx, master: str, media_id: str, drive: str, e: NbuError,
                after: str) -> str:
    """Tell nbemm on `master` about a write, read or position error (`e`) of `media_id`
    in `drive`, backup or restore: its threshold may freeze or suspend the medium or down
    the drive. The action nbemm took ("none" also for another error, or when nbemm could
    not be told); the job's details say it, then `after` (what the job does next)."""
    kind = ERROR_KINDS.get(e.status)
    if kind is None:
        return "none"
    try:
        reply = client.call(ctx.cfg, master, "nbemm", "media_error", jobid=ctx.jobid,
                            media_id=media_id, drive=drive, kind=kind)
    except NbuError as err:
        ctx.info(f"nbemm did not take the {kind} error of media {media_id}: {err}", "Warning")
        return "none"
    action = str(reply.get("action", "none"))
    if action != "none":
        what = {"frozen": f"media {media_id} is now FROZEN",
                "suspended": f"media {media_id} is now SUSPENDED",
                "drive_down": f"drive {drive} is now DOWN"}.get(action, action)
        ctx.info(f"{kind} error on media {media_id} in {drive}: {what}; {after}", "Error")
    return action


def ltid_unmount(ctx: Ctx, drive: str) -> None:
    """Tell ltid the job is done with `drive` (it unloads the cartridge later); a refusal is
    a warning of the job's, not its failure."""
    try:
        client.call(ctx.cfg, ctx.host, "ltid", "unmount", jobid=ctx.jobid, drive=drive)
    except NbuError as e:
        ctx.info(f"ltid did not take the unmount of {drive}: {e}", "Warning")


@dataclass
class Medium:
    """One medium this backup wrote on."""

    media_id: str
    drive: str
    full: bool = False


class TapeMedia:
    """The tape side of one bptm backup: which drive and media it holds, and their reports."""

    def __init__(self, ctx: Ctx, req: dict[str, Any], info: dict[str, Any]) -> None:
        """`req` bpbrm's backup request, `info` nbjm's media information (the unit with its
        drive and medium, the image's retention level and expiration)."""
        self.ctx = ctx
        self.master = str(req["master"])
        self.backupid = str(req["backupid"])
        self.rl = int(info.get("rl", -1))
        self.expiration = int(info.get("expiration", 0))
        self.stu = dict(info["stu"])
        self.unit: TapeStorage | None = None
        self.media: list[Medium] = []
        self.ltid_mounted = ""  # the drive ltid mounted for us ("": none now)
        self.unmountable: list[str] = []  # media this job could not mount (RESELECT)

    @property
    def drive(self) -> str:
        return drive_name(self.stu)

    @property
    def media_id(self) -> str:
        return str(self.stu.get("media_id") or "")

    # --- mount and unmount -----------------------------------------------------------------

    def mount(self) -> str:
        """ltid mounts the granted medium; the unit's phrase. A medium that cannot be mounted
        for writing (RESELECT) is given up for another one of the pool, in the same drive, as
        NetBackup cancels such a mount and selects other media for a backup."""
        while True:
            try:
                return self._mount_once()
            except NbuError as e:
                # a few media refused in turn: the drive, not they, is likely at fault
                if e.status not in RESELECT or len(self.unmountable) >= RESELECT_MAX:
                    raise
                self.unmount()
                self._reselect(e)

    def _mount_once(self) -> str:
        self.ltid_mounted = ltid_mount(self.ctx, self.stu, "w")
        unit = storage.open_unit(self.stu)
        assert isinstance(unit, TapeStorage)
        self.unit = unit
        phrase = unit.mount()
        self.media.append(Medium(unit.media_id, self.drive))
        return phrase

    def _reselect(self, e: NbuError) -> None:
        bad = self.media_id
        self.unmountable.append(bad)
        self.ctx.info(f"media {bad} cannot be mounted in {self.drive} for writing: "
                      f"{e.detail or e.message} (status {e.status}); selecting other media",
                      "Warning")
        grant = client.call(self.ctx.cfg, self.master, "nbemm", "span", jobid=self.ctx.jobid,
                            full_media_id=bad, full=False, avoid=self.unmountable)
        self.stu = dict(grant["stu"])

    def unmount(self) -> None:
        """Let go of the drive: close it here, then tell ltid (which unloads it later)."""
        if self.unit is not None:
            self.unit.unmount()
        if not self.ltid_mounted:
            return
        drive, self.ltid_mounted = self.ltid_mounted, ""
        ltid_unmount(self.ctx, drive)

    # --- writing ---------------------------------------------------------------------------

    def open_writer(self, block: int, max_fragment: int) -> SpanningWriter:
        return SpanningWriter(self, block, max_fragment)

    def first_writer(self, block: int, max_fragment: int) -> TapeWriter:
        """A writer on the mounted medium, or on the next one when this one is full (its last
        backup ended at the end of medium) or its end cannot be found."""
        assert self.unit is not None
        for _ in range(MAX_SPANS):
            try:
                return self.unit.open_writer(self.backupid, block, max_fragment)
            except NbuError as e:
                if e.status not in (NO_MEDIA_AVAILABLE, CANNOT_POSITION):
                    raise
                self.ctx.info(f"media {self.unit.media_id} cannot take the image: "
                              f"{e.detail or e.message}; asking for another medium", "Warning")
                if e.status == CANNOT_POSITION:
                    self.media_error(e)
                self.next_medium()
        raise NbuError(NO_MEDIA_AVAILABLE, "no medium could take the image")

    def next_medium(self) -> None:
        """Spanning: nbemm gives another medium for the same drive; unmount, mount it."""
        full = self.media[-1] if self.media else Medium(self.media_id, self.drive)
        full.full = True
        grant = client.call(self.ctx.cfg, self.master, "nbemm", "span", jobid=self.ctx.jobid,
                            full_media_id=full.media_id)
        self.unmount()
        self.stu = dict(grant["stu"])
        self.ctx.info(f"media {full.media_id} is full: the image goes on to media "
                      f"{self.media_id} in {self.drive}")
        self.mount()

    # --- what nbemm hears ------------------------------------------------------------------

    def media_error(self, e: NbuError) -> str:
        """Tell nbemm about a write/read/position error of the medium (its threshold); the
        action it took ("none", "frozen", "suspended", "drive_down")."""
        if not self.media:
            return "none"
        medium = self.media[-1]
        return media_error(self.ctx, self.master, medium.media_id, medium.drive, e,
                           "the job is to be retried on other resources")

    def media_written(self, fragments: list[storage.Fragment]) -> None:
        """Per medium the image has fragments on: its kbytes, one image more, whether full."""
        for medium in self.media:
            nbytes = sum(f.bytes for f in fragments if f.media_id == medium.media_id)
            if not nbytes and not medium.full:
                continue
            try:
                client.call(self.ctx.cfg, self.master, "nbemm", "media_written",
                            jobid=self.ctx.jobid, media_id=medium.media_id,
                            kbytes=(nbytes + 1023) // 1024, images=1 if nbytes else 0,
                            full=medium.full, rl=self.rl, expiration=self.expiration,
                            backupid=self.backupid)
            except NbuError as e:
                self.ctx.info(f"nbemm did not record what was written on media "
                              f"{medium.media_id}: {e}", "Warning")

    def where(self) -> str:
        ids = ", ".join(m.media_id for m in self.media)
        return f"{self.drive} (media {ids})"


class SpanningWriter:
    """An ImageWriter over the media of one tape backup: at the end of a medium it goes on
    with the image's next fragment on the next one (storage.ImageWriter's contract)."""

    def __init__(self, media: TapeMedia, block: int, max_fragment: int) -> None:
        self.tape = media
        self.block = block
        self.max_fragment = max_fragment
        self.cur = media.first_writer(block, max_fragment)

    @property
    def total(self) -> int:
        return self.cur.total

    @property
    def checksum(self) -> str:
        return self.cur.checksum

    @property
    def where(self) -> str:
        return self.tape.where()

    @property
    def frame_room(self) -> tuple[int, int]:
        return self.cur.frame_room  # every drive of one library frames alike

    def write_block(self, data: memoryview, block_crc: int | None = None,
                    slot: memoryview | None = None) -> None:
        for _ in range(MAX_SPANS):
            try:
                self.cur.write_block(data, block_crc, slot)
                return
            except NbuError:
                if self.cur.state != "full":
                    raise
            self._span()
        raise NbuError(NO_MEDIA_AVAILABLE, f"{self.tape.backupid}: more than {MAX_SPANS} media")

    def _span(self) -> None:
        """The medium is full (its last fragment closed with two tape marks): the next one.
        The block that met the end of medium (TapeWriter.pending) is written again there."""
        full = self.cur
        self.tape.next_medium()
        assert self.tape.unit is not None
        self.cur = self.tape.unit.open_writer(self.tape.backupid, self.block, self.max_fragment,
                                              after=full)

    def finish(self) -> list[storage.Fragment]:
        return self.cur.finish()

    def abort(self) -> None:
        """Undo on the mounted medium; fragments on full media before it stay there as dead
        space (no catalog entry names them; the media were marked full when spanned)."""
        self.cur.abort()
