"""What a tape drive and a tape changer are to the rest of nbcli, virtual or real.

`TapeDrive` is the contract of Linux's `st` driver on a non-rewinding device (/dev/nstN), in
Python terms: calls fail with OSError carrying st's errno, and the same code drives a
VirtualDrive (vdrive.py) and a real one (mtio.py). `Changer` is what `mtx` does to a SCSI
medium changer; VirtualChanger (library.py) and MtxChanger (mtx.py) implement it.
`status_for` turns their errors into NetBackup statuses, for the commands and bptm.

Element numbers are mtx's: drives from 0, storage slots from 1, the mail slots (import/export
elements) numbered after the last storage slot.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Protocol

from nbcli import status


@dataclass(frozen=True)
class DriveStatus:
    """What MTIOCGET (`mt status`) tells, plus the position MTIOCPOS gives."""

    loaded: bool            # a cartridge is in the drive (else GMT_DR_OPEN)
    online: bool            # GMT_ONLINE
    file_number: int        # mt_fileno: tape marks passed since BOT (-1 unknown)
    block_number: int       # mt_blkno: records since the last tape mark (-1 unknown)
    logical_block: int      # MTIOCPOS: records and tape marks since BOT (SCSI logical object)
    block_size: int         # 0 = variable block mode
    bot: bool               # GMT_BOT: at the beginning of tape
    eof: bool               # GMT_EOF: just past a tape mark
    eod: bool               # GMT_EOD: at the end of recorded data
    eot: bool               # GMT_EOT: past the early-warning point
    write_protected: bool   # GMT_WR_PROT


class TapeDrive(Protocol):
    """A tape drive as Linux `st` presents a non-rewinding device.

    Positions count objects: a record or a tape mark is one logical block. Every call may
    raise OSError with st's errno: EIO (medium or drive error, spacing into BOT/EOD/a tape
    mark), ENOSPC (end of medium, see write), EACCES/EROFS (write protected), ENOMEM (a
    variable-mode record larger than the read), EINVAL (a fixed-mode count that is not a
    multiple of the block size), ENOMEDIUM (no cartridge), EBUSY (open elsewhere).
    """

    def open(self, writable: bool = True) -> None:
        """Take the drive (EBUSY if another holder has it); EROFS when `writable` and the
        cartridge is write protected, ENOMEDIUM when the drive is empty."""

    def close(self) -> None:
        """Release the drive; a tape mark is written first when the last op was a write."""

    def close_inherited(self) -> None:
        """In a process forked while the drive was open: close this process's copies of its
        descriptors (and so of its lock), touching neither the tape nor its state; the
        parent goes on using the drive."""

    def read(self, size: int) -> bytes:
        """The next record (variable mode) or as many whole blocks as fit (fixed mode).
        At a tape mark: b"" and the position moves past the mark. At the end of data: EIO,
        but b"" once when a tape mark was just read or spaced over."""

    def readinto(self, into: memoryview) -> int:
        """As read, into `into` without a copy; the bytes placed (0 at a tape mark)."""

    def write(self, data: bytes | memoryview) -> int:
        """Write one record (variable) or len/block_size records (fixed); data after the
        position is lost. Past the early-warning point writes alternate: one succeeds, the
        next raises ENOSPC (st.rst, "EOM Behaviour When Writing"); at the physical end every
        write raises ENOSPC."""

    # (before, after): bytes around a record that write_framed may use; (0, 0) for none
    frame_room: tuple[int, int]

    def write_framed(self, frame: memoryview, at: int, length: int) -> int:
        """As write(frame[at:at + length]); the drive may overwrite the frame_room bytes
        around the record in `frame` (not part of st: the virtual drive writes a record's
        framing there and the record with no copy)."""

    def write_filemarks(self, count: int = 1) -> None:
        """MTWEOF."""

    def forward_files(self, count: int = 1) -> None:
        """MTFSF: past the count-th tape mark."""

    def backward_files(self, count: int = 1) -> None:
        """MTBSF: onto the BOT side of the count-th tape mark back."""

    def forward_records(self, count: int = 1) -> None:
        """MTFSR (EIO and past the mark when a tape mark comes first)."""

    def backward_records(self, count: int = 1) -> None:
        """MTBSR (EIO and before the mark when a tape mark comes first)."""

    def rewind(self) -> None:
        """MTREW."""

    def end_of_data(self) -> None:
        """MTEOM: to the end of recorded data, where the next write appends."""

    def seek(self, block: int) -> None:
        """MTSEEK: to logical block `block` (as tell counts)."""

    def tell(self) -> int:
        """MTIOCPOS / MTTELL: the logical block number."""

    def set_block_size(self, size: int) -> None:
        """MTSETBLK: 0 = variable block mode."""

    def status(self) -> DriveStatus:
        """MTIOCGET."""


@dataclass(frozen=True)
class Element:
    """One element of a changer's inventory, as `mtx status` prints it."""

    kind: str                 # "drive" | "slot" | "mailslot"
    number: int               # mtx's element number
    full: bool
    barcode: str = ""         # the volume tag ("" when empty or unlabelled)
    source: int | None = None  # drives: the storage element the cartridge came from


@dataclass(frozen=True)
class Inventory:
    drives: tuple[Element, ...]
    slots: tuple[Element, ...]
    mailslots: tuple[Element, ...]

    def find(self, barcode: str) -> Element | None:
        for e in (*self.drives, *self.slots, *self.mailslots):
            if e.full and e.barcode == barcode:
                return e
        return None


class Changer(Protocol):
    """A tape library's robot, as `mtx` drives one. Moves are serialized by the changer;
    a failed move raises ChangerError and leaves the cartridge where it was."""

    def inventory(self) -> Inventory:
        """`mtx status`."""

    def load(self, slot: int, drive: int) -> None:
        """`mtx load`: storage element -> drive."""

    def unload(self, drive: int, slot: int | None = None) -> None:
        """`mtx unload`: drive -> `slot`, or back to the slot it came from."""

    def transfer(self, source: int, target: int) -> None:
        """`mtx transfer`: storage element -> storage element (mail slots included)."""


class ChangerError(OSError):
    """A refused or failed robot move. `errno` says why:

    ENOMEDIUM  the source element is empty (SCSI sense 3B/0E)
    EEXIST     the destination element is full (3B/0D)
    EINVAL     no such element
    EBUSY      the drive holds the cartridge (open: medium removal prevented, 53/02)
    EIO        the move or the load failed (a cartridge that will not load, a drive down)
    """


# errno -> NetBackup status, for a changer move and for each kind of drive operation.
_CHANGER = {
    errno.ENOMEDIUM: status.NO_ENTITY,
    errno.EEXIST: status.ENTITY_EXISTS,
    errno.EINVAL: status.INVALID_PARAMETER,
    errno.EBUSY: status.MEDIA_IN_USE,
    errno.EIO: status.MEDIA_REQUEST_FAILED,
    errno.ENXIO: status.MEDIA_DOWN,  # the destination drive is not available
}
_DRIVE_OP = {"open": status.MEDIA_OPEN_ERROR, "write": status.MEDIA_WRITE_ERROR,
             "read": status.MEDIA_READ_ERROR, "position": status.MEDIA_POSITION_ERROR,
             "close": status.MEDIA_CLOSE_ERROR}


def status_for(err: OSError, op: str = "changer") -> int:
    """The NetBackup status of a failed changer move (`op` "changer") or drive operation
    (`op` one of open, read, write, position, close)."""
    if op == "changer":
        return _CHANGER.get(err.errno or 0, status.MEDIA_MANAGER_ERROR)
    if err.errno in (errno.EACCES, errno.EROFS):
        return status.MEDIA_PROTECTED
    if err.errno == errno.ENOMEDIUM:
        return status.MEDIA_REQUEST_FAILED
    if err.errno == errno.EBUSY:
        return status.MEDIA_IN_USE
    return _DRIVE_OP.get(op, status.MEDIA_MANAGER_ERROR)
