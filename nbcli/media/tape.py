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
    density      the drive's and medium's density ("hcart", or its code), which the
                 catalog's fragments record (default hcart)
    mode         "r": a restore's mount, which opens the drive read-only (no writer can
                 open on it; closing it syncs nothing); else read-write (default)

Mount loads the cartridge (if needed), opens the drive in variable block mode, labels a blank
tape (MH + EH) and checks a labelled one's media id (93). A writer verifies the EH after the
last image, overwrites it with its first BH and ends with a new EH; abort writes an EH where
its first BH began (a write cuts off what follows). At the first ENOSPC (early warning) the
fragment is closed with its CRCs and two tape marks and the writer fails with 96; bptm then
spans (bptm_tape.py): a writer opened `after` the full one on the next medium goes on with
the image's next fragment, starting with TapeWriter.pending (the block that did not fit). A
writer that finds a backup header where the EH should be (a bptm killed mid-image) writes the
EH back there first; one that finds the tape ending with its MH (a labelling cut off) writes
the EH after it. Images are never deleted from a tape: expiration unassigns the
medium (delete_image does nothing), and the next backup that takes it is granted `relabel`:
mount writes MH * EH * from the start again, which ends the old data there. The
fragment's locator in the catalog's `path` is
`tape:MEDIA:FILE:BLOCK:BLOCKSIZE:CRC` (the CRC of the fragment's bytes, which ties the
CRC record to the catalog's image checksum); the catalog also keeps the fields themselves
(TAPE_FRAGMENT lines: media_id, file_num, block_offset, block_size, density).

Emergency read without nbcli. A fragment's data file is the image's bytes, one block per
record; the fragments in order are a POSIX tar stream. On a real drive: `mt -f /dev/nst0
rewind; mt -f /dev/nst0 fsf FILE+1` (FILE from `bpimagelist -l`, the BH file number), then
`dd if=/dev/nst0 bs=1M >> image.tar` (dd stops at the tape mark), for each fragment, then
`tar -xvf image.tar`. A virtual cartridge is a SIMH .tap file (nbcli/vtl/simh.py): the
records of tape file FILE+1 are the data; tests/unit/test_tape_backend.py shows a 20-line
reader that feeds them to GNU tar.

Place: the tape backend of storage.py (TapeStorage: the unit, mounting); tapeio.py has the
mounted drive and the writer and reader, tapefmt.py the header bytes. Imports those, storage,
status, kinds (density codes) and nbcli.vtl (drives and changers); never an agent, catalog
or daemon.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nbcli.kinds import DENSITIES, DENSITY_CODES
from nbcli.media import tapefmt
from nbcli.media.storage import StoredImage
from nbcli.media.tapeio import (
    LABEL_READ,
    Held,
    Located,
    TapeReader,
    TapeWriter,
    fail,
    locator,
    parse_locator,
)
from nbcli.status import (
    INVALID_PARAMETER,
    MEDIA_IN_USE,
    MEDIA_PROTECTED,
    MEDIA_REQUEST_FAILED,
    WRONG_TAPE,
    NbuError,
)
from nbcli.vtl.api import Changer, ChangerError, TapeDrive, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.mtio import RealDrive
from nbcli.vtl.mtx import MtxChanger
from nbcli.vtl.vdrive import VirtualDrive

__all__ = ["Located", "TapeReader", "TapeStorage", "TapeWriter", "close_inherited", "locator",
           "media_id_of", "parse_locator", "release_all"]

log = logging.getLogger(__name__)


DEFAULT_DENSITY = DENSITY_CODES["hcart"]


def density_code(value: object) -> int:
    """A unit's density (a name as bpstuadd -den gives it, or NetBackup's code) -> the code;
    hcart when the record does not say. Status 20 for a density NetBackup does not know."""
    if value is None or value == "":
        return DEFAULT_DENSITY
    if isinstance(value, int) and not isinstance(value, bool) and value in DENSITIES:
        return value
    if isinstance(value, str) and value.lower() in DENSITY_CODES:
        return DENSITY_CODES[value.lower()]
    raise NbuError(INVALID_PARAMETER, f"unknown tape density {value!r}")


def media_id_of(barcode: str) -> str:
    """NetBackup's default media id generation rule: the barcode's last six characters."""
    return barcode[-tapefmt.MEDIA_ID_MAX:]


_HELD: dict[tuple[str, int], Held] = {}


def close_inherited() -> None:
    """In a child forked while drives were held (bptm child): close its copies of their
    descriptors, so that the parent's unmount really lets the drive go (a copy kept open
    holds the drive's lock: the robot could not take the cartridge out)."""
    for held in list(_HELD.values()):
        held.drive.close_inherited()
    _HELD.clear()


def release_all() -> None:
    """Close every drive this process holds (tests; a bptm that exits closes them too)."""
    for held in list(_HELD.values()):
        held.close()
    _HELD.clear()


class TapeStorage:
    """A tape storage unit: one drive of a library and the medium mounted in it."""

    noun = "tape storage unit"

    def __init__(self, label: str, drive_index: int, barcode: str, media_id: str,
                 library: str = "", robot_device: str = "", drive_path: str = "",
                 density: int = DEFAULT_DENSITY, read_only: bool = False,
                 relabel: bool = False) -> None:
        self.label = label
        self.read_only = read_only
        self.relabel = relabel and not read_only
        self.relabelled = False
        self.density = density
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
                   str(stu.get("robot_device") or ""), device, density_code(stu.get("density")),
                   read_only=stu.get("mode") == "r", relabel=stu.get("relabel") is True)

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
        again = "; labelled again (unassigned: what it held expired)" if self.relabelled else ""
        return (f"{self.noun} {self.label}: media {self.media_id} ({self.barcode}) in drive "
                f"{self.drive_index} of {where}{again}")

    def _held(self) -> Held:
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

    def _open(self, drive: TapeDrive) -> Held:
        name = f"drive {self.drive_index} ({self.media_id})"
        writable = not self.read_only
        try:
            try:
                drive.open(writable)
            except OSError as e:
                if e.errno not in (errno.EROFS, errno.EACCES):
                    raise
                drive.open(False)  # a protected tape is still read (restores)
                writable = False
        except OSError as e:
            raise fail(e, "open", f"{name}: open") from e
        held = Held(self.key, drive, self.media_id, writable, name)
        try:
            self._label_or_check(held)
        except BaseException:
            held.close()
            raise
        return held

    def _label_or_check(self, held: Held) -> None:
        """Label a blank tape (MH * EH *); check a labelled one's media id (93), and label
        it again when EMM says the medium was unassigned (`relabel`: its images expired)."""
        d = held.drive
        try:
            d.set_block_size(0)
            d.rewind()
            st = d.status()
        except OSError as e:
            raise fail(e, "position", f"{held.name}: rewind") from e
        if st.bot and st.eod:
            if self.read_only:
                raise NbuError(WRONG_TAPE, f"{held.name} is blank: no media {self.media_id} "
                               f"to read")
            self._label(held, "blank")
            return
        try:
            raw = d.read(LABEL_READ)
        except OSError as e:
            raise fail(e, "read", f"{held.name}: reading the media header") from e
        held.bytes_read += len(raw)
        found = tapefmt.decode_mh(raw).media_id
        if found != self.media_id:
            raise NbuError(WRONG_TAPE, f"drive {self.drive_index} holds media {found}, "
                           f"not {self.media_id}")
        if self.relabel:
            try:
                d.rewind()
            except OSError as e:
                raise fail(e, "position", f"{held.name}: rewind") from e
            self._label(held, "unassigned")
            self.relabelled = True

    def _label(self, held: Held, why: str) -> None:
        """MH * EH * from the tape's start (the drive there): a write ends the data, so
        whatever followed is gone (NetBackup labels a new or unassigned volume on first use)."""
        if not held.writable:
            raise NbuError(MEDIA_PROTECTED, f"{held.name}: {why} and write protected")
        mh = tapefmt.encode_mh(tapefmt.MediaHeader(self.media_id, int(time.time())))
        try:
            held.drive.write(mh)
            held.drive.write_filemarks(1)
            held.drive.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.media_id, 1)))
            held.drive.write_filemarks(1)
        except OSError as e:
            raise fail(e, "write", f"{held.name}: labelling") from e

    def bytes_read(self) -> int:
        """Bytes this process read from the mounted cartridge (headers, CRC records, blocks)."""
        held = _HELD.get(self.key)
        return held.bytes_read if held is not None and held.media_id == self.media_id else 0

    def unmount(self) -> None:
        """Let go of the drive (the cartridge stays in it: ltid unloads it later)."""
        held = _HELD.pop(self.key, None)
        if held is not None:
            held.close()

    # --- images ----------------------------------------------------------------------------

    def open_writer(self, backupid: str, block_size: int, max_fragment: int,
                    after: TapeWriter | None = None) -> TapeWriter:
        """A writer after the last image on the medium; `after` a writer of the same image
        that filled another medium: this one writes the image's next fragment (spanning)."""
        held = self._held()
        if held.writer is not None:
            raise NbuError(MEDIA_IN_USE, f"{held.name} is writing image "
                           f"{held.writer.backupid}: one writer per drive")
        if not held.writable:
            raise NbuError(MEDIA_PROTECTED, f"{held.name} is write protected" if
                           not self.read_only else f"{held.name} is mounted for reading")
        if not 0 < block_size <= tapefmt.MAX_RECORD:
            raise NbuError(INVALID_PARAMETER, f"block size {block_size} for a tape record")
        tapefmt.encode_bh(tapefmt.BackupHeader(self.media_id, backupid, 1, 0, 0, 0, 0, 0))
        writer = TapeWriter(held, backupid, block_size, max_fragment, self.density, after)
        held.writer = writer
        return writer

    def open_reader(self, image: StoredImage, fragment: int = 1,
                    block: int = 0) -> TapeReader:
        held = self._held()
        if held.writer is not None:  # a reader would move the tape under the writer
            raise NbuError(MEDIA_IN_USE, f"{held.name} is writing image "
                           f"{held.writer.backupid}")
        reader = TapeReader(held, image)
        reader.seek(image.block_index(fragment, block))
        return reader

    def delete_image(self, backupid: str, fragments: Sequence[str] = ()) -> int:
        """Nothing: a tape keeps its images until the medium is unassigned and relabelled
        (NetBackup's expiration of tape images touches only the catalog)."""
        return 0

    def image_ids(self) -> dict[str, float]:
        """Nothing to list: a tape keeps every image written on it until the medium is
        unassigned and relabelled, and no image on it can be removed alone (delete_image does
        nothing), so there is no orphan for the image cleanup to remove. Listing would also
        mean loading and reading the whole medium."""
        return {}

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
            raise fail(e, "position", f"{held.name}: end of data") from e
