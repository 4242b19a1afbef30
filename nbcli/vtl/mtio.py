"""A real tape drive: Linux `st` (/dev/nstN) through the mtio ioctls, as api.TapeDrive.

Thin on purpose: st already has the semantics VirtualDrive imitates, so each method is one
system call. The ioctl request numbers are computed with the kernel's _IOC encoding, which
x86_64 and aarch64 share (asm-generic/ioctl.h: 8 bits number, 8 bits type, 14 bits size,
2 bits direction; write = 1, read = 2), from the sizes of the C structures on this machine:

    struct mtop  { short mt_op; int mt_count; }                        8 bytes  MTIOCTOP
    struct mtget { long mt_type, mt_resid, mt_dsreg, mt_gstat, mt_erreg;
                   int mt_fileno, mt_blkno; }                         48 bytes  MTIOCGET
    struct mtpos { long mt_blkno; }                                    8 bytes  MTIOCPOS

Not tried against a drive: this machine has none (tests check the encoding and packing
against the kernel's numbers). Imports only nbcli.vtl.api.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import replace

from nbcli.vtl.api import DriveStatus

_IOC_WRITE, _IOC_READ = 1, 2
MTOP = struct.Struct("@hi")
MTGET = struct.Struct("@5l2i")
MTPOS = struct.Struct("@l")

# linux/mtio.h operation codes (mt_op)
MTFSF, MTBSF, MTFSR, MTBSR, MTWEOF, MTREW, MTOFFL = 1, 2, 3, 4, 5, 6, 7
MTEOM, MTSETBLK, MTSEEK, MTTELL = 12, 20, 22, 23

# mt_gstat bits (GMT_*)
GMT_EOF, GMT_BOT, GMT_EOT = 0x80000000, 0x40000000, 0x20000000
GMT_EOD, GMT_WR_PROT, GMT_ONLINE, GMT_DR_OPEN = 0x08000000, 0x04000000, 0x01000000, 0x00040000
MT_ST_BLKSIZE_MASK = 0xFFFFFF


def ioc(direction: int, kind: str, number: int, size: int) -> int:
    """The kernel's _IOC(dir, type, nr, size)."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


MTIOCTOP = ioc(_IOC_WRITE, "m", 1, MTOP.size)
MTIOCGET = ioc(_IOC_READ, "m", 2, MTGET.size)
MTIOCPOS = ioc(_IOC_READ, "m", 3, MTPOS.size)


def pack_mtop(op: int, count: int) -> bytes:
    return MTOP.pack(op, count)


def unpack_mtget(raw: bytes) -> DriveStatus:
    """A DriveStatus from struct mtget (logical_block is not in it: -1)."""
    _type, _resid, dsreg, gstat, _erreg, fileno, blkno = MTGET.unpack(raw)
    gstat &= 0xFFFFFFFF
    return DriveStatus(
        loaded=not gstat & GMT_DR_OPEN, online=bool(gstat & GMT_ONLINE), file_number=fileno,
        block_number=blkno, logical_block=-1, block_size=dsreg & MT_ST_BLKSIZE_MASK,
        bot=bool(gstat & GMT_BOT), eof=bool(gstat & GMT_EOF), eod=bool(gstat & GMT_EOD),
        eot=bool(gstat & GMT_EOT), write_protected=bool(gstat & GMT_WR_PROT))


class RealDrive:
    """A /dev/nst* device; errors are the OSErrors st gives."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._fd = -1

    def open(self, writable: bool = True) -> None:
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
        self._fd = os.open(self.device, flags)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # st writes the tape mark after a write

    def close_inherited(self) -> None:
        # st's release runs when the last copy closes: the parent's stays open.
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def read(self, size: int) -> bytes:
        return os.read(self._fd, size)

    def readinto(self, into: memoryview) -> int:
        return os.readv(self._fd, [into])

    def write(self, data: bytes | memoryview) -> int:
        return os.write(self._fd, data)

    frame_room = (0, 0)  # st takes the record from any memory: nothing to frame

    def write_framed(self, frame: memoryview, at: int, length: int) -> int:
        return self.write(frame[at:at + length])

    def _op(self, op: int, count: int = 1) -> None:
        fcntl.ioctl(self._fd, MTIOCTOP, pack_mtop(op, count))

    def write_filemarks(self, count: int = 1) -> None:
        self._op(MTWEOF, count)

    def forward_files(self, count: int = 1) -> None:
        self._op(MTFSF, count)

    def backward_files(self, count: int = 1) -> None:
        self._op(MTBSF, count)

    def forward_records(self, count: int = 1) -> None:
        self._op(MTFSR, count)

    def backward_records(self, count: int = 1) -> None:
        self._op(MTBSR, count)

    def rewind(self) -> None:
        self._op(MTREW)

    def end_of_data(self) -> None:
        self._op(MTEOM)

    def seek(self, block: int) -> None:
        self._op(MTSEEK, block)

    def tell(self) -> int:
        raw = fcntl.ioctl(self._fd, MTIOCPOS, bytes(MTPOS.size))
        return int(MTPOS.unpack(raw)[0])

    def set_block_size(self, size: int) -> None:
        self._op(MTSETBLK, size)

    def status(self) -> DriveStatus:
        raw = fcntl.ioctl(self._fd, MTIOCGET, bytes(MTGET.size))
        got = unpack_mtget(raw)
        return replace(got, logical_block=self.tell())
