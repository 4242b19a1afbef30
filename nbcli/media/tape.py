"""Tape storage units: images on a cartridge in one drive of a library, in NetBackup's layout.

What goes on the tape (tapefmt.py has the bytes of each header):

    MH * EH *                                        a tape as mount labels a blank one
    MH * BH data.. * CRCS * BH data.. * CRCS * EH *  two fragments appended (EH overwritten)
    MH * ... BH data.. * CRCS * *                    a full tape: two tape marks, no EH

A fragment is three tape files: its backup header, its data (one record per block, the last
may be short), and a record of its block CRCs. Files are numbered from 0 (MH); the catalog's
`file_num` names the fragment's BH file, `block_offset` the logical block (as MTIOCPOS counts,
records and tape marks both) of its first data record: the BH's block + 2. A reader locates
straight there, checks the BH (94 if it is not the image's), reads the CRC record after the
data and comes back by spacing; it never reads the tape from BOT.

The storage unit record (`from_stu`) names what to use; for now the caller fills it, later
EMM (choosing media and drives) and ltid (mounting) will:

    stype        2 (storage.MEDIA_MANAGER: bpstuadd -dt 2)
    label        the storage unit's label
    library      the virtual library's home (<root>/volmgr/vtl)       \\ one of the two
    robot_device a real changer for mtx (/dev/sgN), "" for a standalone drive  /
    drive_path   a real drive (/dev/nstN), with robot_device
    drive        the robot drive number (mtx's data transfer element, from 0)
    barcode      the cartridge to use; the changer loads it if the drive holds another
    media_id     the id the media header must carry (<= 6 characters; default: the last
                 six characters of the barcode, NetBackup's default rule)

Mount loads the cartridge (if needed), opens the drive in variable block mode, labels a blank
tape (MH + EH) and checks a labelled one's media id (93). A writer verifies the EH after the
last image, overwrites it with its first BH and ends with a new EH; abort writes an EH where
its first BH began (a write cuts off what follows). At the first ENOSPC (early warning) the
fragment is closed with its CRCs and two tape marks and the writer fails with 96: spanning to
another medium is a later step (TapeWriter.pending keeps the block that did not fit, to
start the next medium with). Images are never deleted from a tape: expiration unassigns the
medium (delete_image does nothing). The fragment's locator in the catalog's `path` is
`tape:MEDIA:FILE:BLOCK:BLOCKSIZE:CRC` (the CRC of the fragment's bytes, which ties the
CRC record to the catalog's image checksum) until the catalog keeps those fields.

Emergency read without nbcli. A fragment's data file is the image's bytes, one block per
record; the fragments in order are a POSIX tar stream. On a real drive: `mt -f /dev/nst0
rewind; mt -f /dev/nst0 fsf FILE+1` (FILE from `bpimagelist -l`, the BH file number), then
`dd if=/dev/nst0 bs=1M >> image.tar` (dd stops at the tape mark), for each fragment, then
`tar -xvf image.tar`. A virtual cartridge is a SIMH .tap file (nbcli/vtl/simh.py): the
records of tape file FILE+1 are the data; tests/unit/test_tape_backend.py shows a 20-line
reader that feeds them to GNU tar.

Place: the tape backend of storage.py (TapeStorage). Imports storage, checksum, tapefmt,
status and nbcli.vtl (drives and changers); never an agent, catalog or daemon.
"""

from __future__ import annotations

import errno
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbcli.media import checksum, tapefmt
from nbcli.media.storage import Fragment, StoredImage
from nbcli.status import (
    CANNOT_POSITION,
    INVALID_PARAMETER,
    MEDIA_IN_USE,
    MEDIA_PROTECTED,
    MEDIA_READ_ERROR,
    MEDIA_REQUEST_FAILED,
    NO_MEDIA_AVAILABLE,
    WRONG_TAPE,
    NbuError,
)
from nbcli.vtl.api import Changer, ChangerError, TapeDrive, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.mtio import RealDrive
from nbcli.vtl.mtx import MtxChanger
from nbcli.vtl.vdrive import VirtualDrive

log = logging.getLogger(__name__)
LABEL_READ = 256 * 1024  # enough for any header record; a larger first record is foreign


def media_id_of(barcode: str) -> str:
    """NetBackup's default media id generation rule: the barcode's last six characters."""
    return barcode[-tapefmt.MEDIA_ID_MAX:]


def locator(media_id: str, file_num: int, block: int, block_size: int, crc: int) -> str:
    return f"tape:{media_id}:{file_num}:{block}:{block_size}:{crc:08x}"


@dataclass(frozen=True)
class Located:
    """A fragment's place on tape, from its catalog record."""

    media_id: str
    file_num: int
    block: int       # logical block of its first data record
    block_size: int
    crc: int


def parse_locator(path: str) -> Located:
    parts = path.split(":")
    try:
        if len(parts) != 6 or parts[0] != "tape":
            raise ValueError(path)
        return Located(parts[1], int(parts[2]), int(parts[3]), int(parts[4]),
                       int(parts[5], 16))
    except ValueError:
        raise NbuError(MEDIA_READ_ERROR, f"{path!r} is not a tape fragment locator") from None


def _fail(e: OSError, op: str, what: str) -> NbuError:
    return NbuError(status_for(e, op), f"{what}: {e.strerror or e}")


class _Held:
    """A drive this process has open with a mounted medium; shared by the TapeStorage
    objects of one unit (bptm builds one per image), so that one process never opens a
    drive twice (st's open is exclusive)."""

    def __init__(self, key: tuple[str, int], drive: TapeDrive, media_id: str,
                 writable: bool, name: str) -> None:
        self.key = key
        self.drive = drive
        self.media_id = media_id
        self.writable = writable
        self.name = name              # "drive 0 (A00000)" for messages
        self.writer: TapeWriter | None = None
        self.user: object = None      # the reader or writer that moved the tape last

    def locate(self, block: int) -> None:
        """To logical block `block`: forward by MTSEEK; backward by spacing records (within a
        tape file: a virtual drive's MTSEEK backward starts again from BOT), else MTSEEK."""
        try:
            at = self.drive.tell()
            if block < at:
                try:
                    self.drive.backward_records(at - block)
                    return
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: a tape mark between: locate instead
                        raise
            if self.drive.tell() != block:
                self.drive.seek(block)
        except OSError as e:
            raise _fail(e, "position", f"{self.name}: locate block {block}") from e

    def read_record(self, size: int = LABEL_READ) -> bytes:
        try:
            return self.drive.read(size)
        except OSError as e:
            raise _fail(e, "read", f"{self.name}: read at block "
                                   f"{self._tell_or_unknown()}") from e

    def _tell_or_unknown(self) -> str:
        try:
            return str(self.drive.tell())
        except OSError:
            return "?"

    def close(self) -> None:
        try:
            self.drive.close()
        except OSError as e:
            log.warning("%s: close: %s", self.name, e.strerror)


_HELD: dict[tuple[str, int], _Held] = {}


def release_all() -> None:
    """Close every drive this process holds (tests; a bptm that exits closes them too)."""
    for held in list(_HELD.values()):
        held.close()
    _HELD.clear()


class TapeStorage:
    """A tape storage unit: one drive of a library and the medium mounted in it."""

    noun = "tape storage unit"

    def __init__(self, label: str, drive_index: int, barcode: str, media_id: str,
                 library: str = "", robot_device: str = "", drive_path: str = "") -> None:
        self.label = label
        self.drive_index = drive_index
        self.barcode = barcode
        self.media_id = media_id
        self.library = library
        self.robot_device = robot_device
        self.drive_path = drive_path
        self.key = (str(Path(library).resolve()) if library else drive_path, drive_index)

    @classmethod
    def from_stu(cls, stu: Mapping[str, Any]) -> TapeStorage:
        library, device = str(stu.get("library") or ""), str(stu.get("drive_path") or "")
        barcode = str(stu.get("barcode") or "")
        media_id = str(stu.get("media_id") or media_id_of(barcode))
        drive = stu.get("drive", 0)
        if bool(library) == bool(device):
            raise NbuError(INVALID_PARAMETER, "a tape storage unit names a virtual library "
                           "or a drive path (one of them)")
        if not isinstance(drive, int) or drive < 0 or not barcode:
            raise NbuError(INVALID_PARAMETER, "a tape storage unit needs a drive number and "
                           "a barcode")
        if not 0 < len(media_id) <= tapefmt.MEDIA_ID_MAX:
            raise NbuError(INVALID_PARAMETER, f"media id {media_id!r}: 1 to 6 characters")
        return cls(str(stu.get("label", "")), drive, barcode, media_id, library,
                   str(stu.get("robot_device") or ""), device)

    # --- mount -----------------------------------------------------------------------------

    def _parts(self) -> tuple[TapeDrive, Changer | None]:
        if self.library:
            lib = Library(self.library)
            if not lib.exists():
                raise NbuError(MEDIA_REQUEST_FAILED, f"no tape library in {self.library}")
            return VirtualDrive(lib, self.drive_index), VirtualChanger(lib)
        return RealDrive(self.drive_path), (MtxChanger(self.robot_device)
                                            if self.robot_device else None)

    def mount(self) -> str:
        self._held()
        where = self.library or self.drive_path
        return (f"{self.noun} {self.label}: media {self.media_id} ({self.barcode}) in drive "
                f"{self.drive_index} of {where}")

    def _held(self) -> _Held:
        held = _HELD.get(self.key)
        if held is not None and held.media_id == self.media_id:
            return held
        if held is not None:
            if held.writer is not None:
                raise NbuError(MEDIA_IN_USE, f"{held.name} is writing an image")
            held.close()
            del _HELD[self.key]
        drive, changer = self._parts()
        if changer is not None:
            self._load(changer)
        held = self._open(drive)
        _HELD[self.key] = held
        return held

    def _load(self, changer: Changer) -> None:
        """Put the cartridge into the drive with the robot, unless it is there."""
        try:
            inv = changer.inventory()
            found = inv.find(self.barcode)
            if found is None or found.kind == "mailslot":
                raise NbuError(MEDIA_REQUEST_FAILED,
                               f"cartridge {self.barcode} is not in a slot of the library")
            if found.kind == "drive":
                if found.number != self.drive_index:
                    raise NbuError(MEDIA_IN_USE, f"cartridge {self.barcode} is in drive "
                                   f"{found.number}")
                return
            if any(d.number == self.drive_index and d.full for d in inv.drives):
                changer.unload(self.drive_index)
            changer.load(found.number, self.drive_index)
        except ChangerError as e:
            raise NbuError(status_for(e), f"loading {self.barcode} into drive "
                           f"{self.drive_index}: {e.strerror or e}") from e

    def _open(self, drive: TapeDrive) -> _Held:
        name = f"drive {self.drive_index} ({self.media_id})"
        writable = True
        try:
            try:
                drive.open(True)
            except OSError as e:
                if e.errno not in (errno.EROFS, errno.EACCES):
                    raise
                drive.open(False)  # a protected tape is still read (restores)
                writable = False
        except OSError as e:
            raise _fail(e, "open", f"{name}: open") from e
        held = _Held(self.key, drive, self.media_id, writable, name)
        try:
            self._label_or_check(held)
        except BaseException:
            held.close()
            raise
        return held

    def _label_or_check(self, held: _Held) -> None:
        """Label a blank tape (MH * EH *); check a labelled one's media id (93)."""
        d = held.drive
        try:
            d.set_block_size(0)
            d.rewind()
            st = d.status()
        except OSError as e:
            raise _fail(e, "position", f"{held.name}: rewind") from e
        if st.bot and st.eod:
            if not held.writable:
                raise NbuError(MEDIA_PROTECTED, f"{held.name}: blank and write protected")
            mh = tapefmt.encode_mh(tapefmt.MediaHeader(self.media_id, int(time.time())))
            try:
                d.write(mh)
                d.write_filemarks(1)
                d.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.media_id, 1)))
                d.write_filemarks(1)
            except OSError as e:
                raise _fail(e, "write", f"{held.name}: labelling") from e
            return
        try:
            raw = d.read(LABEL_READ)
        except OSError as e:
            raise _fail(e, "read", f"{held.name}: reading the media header") from e
        found = tapefmt.decode_mh(raw).media_id
        if found != self.media_id:
            raise NbuError(WRONG_TAPE, f"drive {self.drive_index} holds media {found}, "
                           f"not {self.media_id}")

    def unmount(self) -> None:
        """Let go of the drive (the cartridge stays in it: ltid unloads it later)."""
        held = _HELD.pop(self.key, None)
        if held is not None:
            held.close()

    # --- images ----------------------------------------------------------------------------

    def open_writer(self, backupid: str, block_size: int, max_fragment: int) -> TapeWriter:
        held = self._held()
        if held.writer is not None:
            raise NbuError(MEDIA_IN_USE, f"{held.name} is writing image "
                           f"{held.writer.backupid}: one writer per drive")
        if not held.writable:
            raise NbuError(MEDIA_PROTECTED, f"{held.name} is write protected")
        if not 0 < block_size <= tapefmt.MAX_RECORD:
            raise NbuError(INVALID_PARAMETER, f"block size {block_size} for a tape record")
        tapefmt.encode_bh(tapefmt.BackupHeader(self.media_id, backupid, 1, 0, 0, 0, 0, 0))
        writer = TapeWriter(held, backupid, block_size, max_fragment)
        held.writer = writer
        return writer

    def open_reader(self, image: StoredImage, fragment: int = 1,
                    block: int = 0) -> TapeReader:
        reader = TapeReader(self._held(), image)
        reader.seek(image.block_index(fragment, block))
        return reader

    def delete_image(self, backupid: str, fragments: Sequence[str] = ()) -> int:
        """Nothing: a tape keeps its images until the medium is unassigned and relabelled
        (NetBackup's expiration of tape images touches only the catalog)."""
        return 0

    def free_space(self) -> int | None:
        """Bytes left after the last image on the mounted medium (the virtual drive knows;
        a real one does not: None). Moves the tape to the end of data when no writer is
        writing."""
        held = self._held()
        left = getattr(held.drive, "space_left", None)
        if left is None:
            return None
        try:
            if held.writer is None:
                held.drive.end_of_data()
                held.user = None
            return int(left())
        except OSError as e:
            raise _fail(e, "position", f"{held.name}: end of data") from e


class TapeWriter:
    """Writes one image after the last on the medium: BH *, data *, CRCS * per fragment."""

    def __init__(self, held: _Held, backupid: str, block_size: int, max_fragment: int) -> None:
        self.held = held
        self.backupid = backupid
        self.block_size = block_size
        self.max_fragment = max(max_fragment, block_size)
        self.fragments: list[Fragment] = []
        self.pending: bytes | None = None   # the block that met the end of medium
        self.state = "open"                 # open | failed | full | finished | aborted
        self._why: NbuError | None = None
        self._start: tuple[int, int] | None = None   # (block, file) of the first BH
        self._wrote = False                 # whether anything was written (abort cuts)
        self._next_file = 0
        self._eh_block = -1
        self._done_crc = 0                  # CRC of the finished fragments' bytes
        self._done_bytes = 0
        self._frag_crc = checksum.ImageCrc(block_size)
        self._blocks: list[int] = []        # block CRCs of the fragment being written
        self._frag: Fragment | None = None
        self._append_point()

    @property
    def total(self) -> int:
        return self._done_bytes + self._frag_crc.length

    @property
    def checksum(self) -> str:
        return checksum.format_crc(checksum.crc32_combine(
            self._done_crc, self._frag_crc.value, self._frag_crc.length))

    @property
    def where(self) -> str:
        return self.held.name

    def _append_point(self) -> None:
        """Position to the EH after the last image and check it (NetBackup does before it
        appends): EOD, back over the last tape mark, back one record, read it."""
        d, name = self.held.drive, self.held.name
        self.held.user = self
        try:
            d.end_of_data()
            d.backward_files(1)
        except OSError as e:
            raise _fail(e, "position", f"{name}: to the end of data") from e
        try:
            d.backward_records(1)
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: a tape mark, not a record, before the last one
                raise _fail(e, "position", f"{name}: to the empty header") from e
            raise NbuError(NO_MEDIA_AVAILABLE, f"{name}: the tape ends with two tape marks "
                           f"and no empty header: the medium is full") from e
        try:
            at = d.tell()
            raw = d.read(LABEL_READ)
            d.backward_records(1)
        except OSError as e:
            raise _fail(e, "position", f"{name}: reading the empty header") from e
        eh = tapefmt.decode_eh(raw)
        if eh is None or eh.media_id != self.held.media_id:
            kind = tapefmt.kind_of(raw) or "data"
            raise NbuError(CANNOT_POSITION, f"{name}: the last tape file is a {kind} record, "
                           f"not an empty header: the medium is damaged")
        self._start = (at, eh.file_num)
        self._next_file = eh.file_num

    def _check(self) -> None:
        if self.state != "open":
            raise self._why or NbuError(MEDIA_IN_USE, f"the writer of {self.backupid} is "
                                        f"{self.state}")

    def write_block(self, data: memoryview, block_crc: int | None = None) -> None:
        self._check()
        if block_crc is None:
            block_crc = zlib.crc32(data)
        n = len(data)
        if self._frag is not None and (self._frag_crc.length + n > self.max_fragment or
                                       len(self._blocks) >= tapefmt.MAX_FRAGMENT_BLOCKS):
            self._end_fragment()
        if self._frag is None:
            self._begin_fragment()
        self.held.user = self
        try:
            self.held.drive.write(data)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._end_of_medium(data)
            raise self._failed(_fail(e, "write", f"{self.held.name}: writing block "
                                                 f"{len(self._blocks)} of {self.backupid}")) \
                from e
        self._blocks.append(block_crc)
        self._frag_crc.add(block_crc, n)

    def _failed(self, err: NbuError) -> NbuError:
        if self.state == "open":
            self.state = "failed"
        self._why = self._why or err
        return self._why

    def _begin_fragment(self) -> None:
        d = self.held.drive
        self._wrote = True
        try:
            block = d.tell()
            bh = tapefmt.BackupHeader(self.held.media_id, self.backupid,
                                      len(self.fragments) + 1, self.block_size,
                                      self._next_file, self._done_bytes, block + 2,
                                      int(time.time()))
            d.write(tapefmt.encode_bh(bh))
            d.write_filemarks(1)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._end_of_medium(None)
            raise self._failed(_fail(e, "write", f"{self.held.name}: backup header")) from e
        self._frag = Fragment(len(self.fragments) + 1, "", self._done_bytes, 0,
                              self.held.media_id, self._next_file, block + 2, self.block_size)
        self._blocks = []
        self._frag_crc = checksum.ImageCrc(self.block_size)

    def _end_fragment(self, marks: int = 1) -> None:
        """Tape mark after the data, the CRC record, `marks` tape marks (2: end of medium)."""
        frag, d = self._frag, self.held.drive
        assert frag is not None
        crcs = tapefmt.encode_crcs(tapefmt.FragmentCrcs(
            self.backupid, frag.num, self._frag_crc.length, self.block_size,
            self._frag_crc.value, self._blocks))
        try:
            d.write_filemarks(1)
            for attempt in (1, 2):  # past early warning every other write fails
                try:
                    d.write(crcs)
                    break
                except OSError as e:
                    if e.errno != errno.ENOSPC or attempt == 2:
                        raise
            d.write_filemarks(marks)
        except OSError as e:
            raise self._failed(_fail(e, "write", f"{self.held.name}: closing fragment "
                                                 f"{frag.num}")) from e
        frag.bytes = self._frag_crc.length
        frag.path = locator(frag.media_id, frag.file_num, frag.block_offset,
                            self.block_size, self._frag_crc.value)
        self.fragments.append(frag)
        self._done_crc = checksum.crc32_combine(self._done_crc, self._frag_crc.value,
                                                frag.bytes)
        self._done_bytes += frag.bytes
        self._frag_crc = checksum.ImageCrc(self.block_size)
        self._frag = None
        self._next_file += 3

    def _end_of_medium(self, data: memoryview | None) -> None:
        """End the tape as NetBackup ends a full one: the fragment's CRCs, two tape marks,
        no EH. The writer then fails with 96 (spanning comes later)."""
        self.pending = bytes(data) if data is not None else None
        why = NbuError(NO_MEDIA_AVAILABLE, f"end of medium on {self.held.media_id} after "
                       f"{self.total} bytes of {self.backupid}: the medium is full "
                       f"(spanning to another medium is not done yet)")
        try:
            if self._frag is not None:
                self._end_fragment(marks=2)
            else:
                self.held.drive.write_filemarks(2)
        except (NbuError, OSError) as e:
            log.warning("%s: ending the full medium: %s", self.held.name, e)
        self.state, self._why = "full", why

    def finish(self) -> list[Fragment]:
        self._check()
        if self._frag is not None:
            self._end_fragment()
        d = self.held.drive
        try:
            self._eh_block = d.tell()
            d.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.held.media_id,
                                                          self._next_file)))
            d.write_filemarks(1)
        except OSError as e:
            raise self._failed(_fail(e, "write", f"{self.held.name}: empty header")) from e
        self.state = "finished"
        self._let_go()
        return self.fragments

    def _let_go(self) -> None:
        if self.held.writer is self:
            self.held.writer = None

    def abort(self) -> None:
        """Leave the tape as if the image was never written: an EH where its first BH was.
        After finish, only while it is still the last image (tape cannot cut out the middle:
        a later image keeps it, as dead space no catalog entry names)."""
        if self.state == "aborted":
            return
        state, self.state = self.state, "aborted"
        self._let_go()
        if self._start is None or not self._wrote:
            return  # nothing written
        block, file_num = self._start
        d = self.held.drive
        self.held.user = self
        try:
            if state == "finished":
                self.held.locate(self._eh_block)
                eh = tapefmt.decode_eh(d.read(LABEL_READ))
                if eh is None or eh.file_num != self._next_file:
                    log.warning("%s: image %s is no longer the last: left on the tape",
                                self.held.name, self.backupid)
                    return
            self.held.locate(block)
            d.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.held.media_id, file_num)))
            d.write_filemarks(1)
        except (NbuError, OSError) as e:
            # The next append finds no EH and refuses the medium: nothing is overwritten.
            log.warning("%s: abort of %s: %s", self.held.name, self.backupid, e)


class TapeReader:
    """Reads an image's blocks from its fragments' data files, each checked against its CRC
    from the fragment's CRC record (itself checked against the catalog's checksum)."""

    def __init__(self, held: _Held, image: StoredImage) -> None:
        self.held = held
        self.image = image
        self.block_size = image.block_size
        self.bytes_read = 0
        self.position = 0
        self.places = [parse_locator(f.path) for f in image.fragments]
        self._crcs: dict[int, list[int]] = {}
        self._at = -1  # the logical block the drive is at, when this reader moved it last
        acc = 0
        for f, p in zip(image.fragments, self.places):
            acc = checksum.crc32_combine(acc, p.crc, f.bytes)
        if checksum.format_crc(acc) != image.checksum or \
                sum(f.bytes for f in image.fragments) != image.stream_bytes:
            raise NbuError(MEDIA_READ_ERROR, f"the fragments of {image.backupid} do not add "
                                             f"up to the catalog's checksum")
        if any(p.media_id != held.media_id for p in self.places):
            raise NbuError(MEDIA_REQUEST_FAILED, f"{image.backupid} has fragments on another "
                           f"medium than {held.media_id} (spanned images come later)")

    def seek(self, index: int) -> None:
        self.position = index

    def read(self, into: memoryview) -> int:
        if self.position * self.block_size >= self.image.stream_bytes:
            return 0
        num, blk = self.image.locate(self.position)
        frag, place = self.image.fragments[num - 1], self.places[num - 1]
        crcs = self._load(num)
        target = place.block + blk
        if self.held.user is not self or self._at != target:
            self.held.locate(target)
        self.held.user = self
        want = min(self.block_size, frag.bytes - blk * self.block_size)
        try:
            n = self.held.drive.readinto(into[:max(want, self.block_size)])
        except OSError as e:
            self._at = -1
            raise _fail(e, "read", f"{self.held.name}: block {target}") from e
        self._at = target + 1
        if n != want:
            raise NbuError(MEDIA_READ_ERROR, f"{self.held.name}: block {target} holds {n} "
                           f"bytes, the catalog says {want}")
        if zlib.crc32(into[:n]) != crcs[blk]:
            raise NbuError(MEDIA_READ_ERROR, f"block {self.position} of {self.image.backupid} "
                           f"fails its checksum")
        self.bytes_read += n
        self.position += 1
        return n

    def _load(self, num: int) -> list[int]:
        """The block CRCs of fragment `num`: check its BH (94), read its CRC record (after
        the data, past one tape mark), check it against the catalog's fragment CRC."""
        if num in self._crcs:
            return self._crcs[num]
        frag, place = self.image.fragments[num - 1], self.places[num - 1]
        blocks = -(-frag.bytes // self.block_size)
        held, d = self.held, self.held.drive
        held.user, self._at = self, -1
        held.locate(place.block - 2)
        try:
            bh = tapefmt.decode_bh(held.read_record())
        except NbuError as e:
            raise NbuError(CANNOT_POSITION, f"{held.name}: block {place.block - 2}: "
                           f"{e.detail or e.message}") from e
        if (bh.backupid, bh.fragment) != (self.image.backupid, num):
            raise NbuError(CANNOT_POSITION, f"{held.name}: file {place.file_num} holds "
                           f"{bh.backupid} fragment {bh.fragment}, not {self.image.backupid} "
                           f"fragment {num}")
        held.locate(place.block + blocks + 1)
        got = tapefmt.decode_crcs(held.read_record(tapefmt.CRCS_HEAD + 4 * blocks))
        if (got.fragment, got.nbytes, got.crc, len(got.blocks)) != \
                (num, frag.bytes, place.crc, blocks) or checksum.combine_blocks(
                got.blocks, self.block_size, frag.bytes) != got.crc:
            raise NbuError(MEDIA_READ_ERROR, f"{held.name}: the CRC record of fragment {num} "
                           f"of {self.image.backupid} does not match the catalog")
        try:  # back to the data's end by spacing (st's MTBSF: onto the mark's BOT side)
            d.backward_files(1)
            self._at = place.block + blocks
        except OSError as e:
            raise _fail(e, "position", f"{held.name}: back to fragment {num}") from e
        self._crcs[num] = got.blocks
        return got.blocks

    def close(self) -> None:
        """Nothing to release: the drive stays mounted for the unit (unmount lets it go)."""
