"""The records NetBackup (and nbcli) write on tape around the image data: pure encode/decode.

    MH   media header, 1024 bytes, the first record of a labelled tape (tape file 0)
    BH   backup header, 1024 bytes, alone in the tape file before each fragment's data
    EH   empty header, 1024 bytes, alone in the tape file after the last image: where the
         next backup appends (verified, then overwritten by its BH)
    CRCS the block CRCs of one fragment: alone in the tape file after the fragment's data

Integers are big-endian (as in NetBackup's MH dumps), text is ASCII padded with NULs.

MH, NetBackup's bytes (next-areas 1.4):
    0..3 "VOL1"  4..9 media id  20..23 u32 1  24..27 u32 12  28..31 u32 allocation time
    72..75 u32 1024 (header size)  112..135 "ThIs Is A BP tApE hEaDer"  rest zero

BH, nbcli's format (NetBackup's is not documented):
    0..3 "BH01"  4..9 media id  16..19 u32 1024  20..23 u32 fragment number (from 1)
    24..27 u32 block size  28..31 u32 tape file number of this BH  32..39 u64 offset of the
    fragment in the image stream  40..47 u64 logical block where its data starts (this BH's
    block + 2)  48..55 u64 write time  56..59 u32 copy number  64..319 backup id
    1020..1023 CRC-32 of bytes 0..1019

EH, nbcli's format:
    0..3 "EH01"  4..9 media id  16..19 u32 1024  20..23 u32 tape file number of this EH
    1020..1023 CRC-32 of bytes 0..1019

CRCS, nbcli's format: a 64-byte head, then one u32 CRC-32 per data block of the fragment:
    0..3 "CR01"  4..7 u32 fragment number  8..15 u64 fragment bytes  16..19 u32 blocks
    20..23 u32 block size  24..27 u32 CRC-32 of the fragment's bytes  28..31 CRC-32 of the
    whole record with these four bytes zero  32..63 the first 32 bytes of the backup id

Place: used by tape.py only. Imports nothing of nbcli but status: no I/O here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from nbcli.status import (
    BACKUP_HEADER_UNREADABLE,
    INVALID_PARAMETER,
    MEDIA_HEADER_UNREADABLE,
    NbuError,
)

HEADER_SIZE = 1024
MARKER = b"ThIs Is A BP tApE hEaDer"  # what tells a NetBackup data tape from a foreign one
MEDIA_ID_MAX = 6
BACKUPID_MAX = 256
CRCS_HEAD = 64
MAX_RECORD = 0xFFFFFF  # a SIMH record holds at most 16 MiB - 1
MAX_FRAGMENT_BLOCKS = (MAX_RECORD - CRCS_HEAD) // 4  # CRCs one CRCS record can list

_MH = struct.Struct(">4s6s10xII I40xI36x24s")
_BH = struct.Struct(">4s6s6xIIIIQQQI4x256s")
_EH = struct.Struct(">4s6s6xII")
_CRCS = struct.Struct(">4sIQIIII32s")


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", "replace")


def _pad(text: str, size: int, what: str) -> bytes:
    raw = text.encode("ascii", "replace")
    if len(raw) > size:
        raise NbuError(INVALID_PARAMETER, f"{what} {text!r} is longer than {size} characters")
    return raw


def _sealed(head: bytes) -> bytes:
    """`head` padded to a 1024-byte header, its CRC-32 in the last four bytes."""
    body = head.ljust(HEADER_SIZE - 4, b"\0")
    return body + struct.pack(">I", zlib.crc32(body))


def _sound(raw: bytes) -> bool:
    return len(raw) == HEADER_SIZE and \
        struct.unpack(">I", raw[-4:])[0] == zlib.crc32(raw[:-4])


@dataclass(frozen=True)
class MediaHeader:
    media_id: str
    allocated: int  # seconds since the epoch: when the tape was labelled


def encode_mh(mh: MediaHeader) -> bytes:
    head = _MH.pack(b"VOL1", _pad(mh.media_id, MEDIA_ID_MAX, "media id"), 1, 12,
                    mh.allocated, HEADER_SIZE, MARKER)
    return head.ljust(HEADER_SIZE, b"\0")


def decode_mh(raw: bytes) -> MediaHeader:
    """The media header in `raw`; status 172 when it is not a NetBackup media header."""
    if len(raw) != HEADER_SIZE or raw[:4] != b"VOL1" or raw[112:136] != MARKER:
        raise NbuError(MEDIA_HEADER_UNREADABLE,
                       "block read is not a NetBackup media header")
    _vol, media, _one, _twelve, allocated, _size, _marker = _MH.unpack_from(raw)
    return MediaHeader(_text(media), allocated)


@dataclass(frozen=True)
class BackupHeader:
    media_id: str
    backupid: str
    fragment: int     # 1-based fragment number of the image
    block_size: int
    file_num: int     # tape file number of this header
    offset: int       # where the fragment starts in the image stream
    data_block: int   # logical block of the fragment's first data record
    written: int      # seconds since the epoch
    copy: int = 1


def encode_bh(bh: BackupHeader) -> bytes:
    return _sealed(_BH.pack(b"BH01", _pad(bh.media_id, MEDIA_ID_MAX, "media id"),
                            HEADER_SIZE, bh.fragment, bh.block_size, bh.file_num, bh.offset,
                            bh.data_block, bh.written, bh.copy,
                            _pad(bh.backupid, BACKUPID_MAX, "backup id")))


def decode_bh(raw: bytes) -> BackupHeader:
    """The backup header in `raw`; status 173 when it is not a sound one."""
    if raw[:4] != b"BH01" or not _sound(raw):
        raise NbuError(BACKUP_HEADER_UNREADABLE, "block read is not a backup header")
    (_magic, media, _size, frag, bs, file_num, offset, data_block, written, copy,
     backupid) = _BH.unpack_from(raw)
    return BackupHeader(_text(media), _text(backupid), frag, bs, file_num, offset,
                        data_block, written, copy)


@dataclass(frozen=True)
class EmptyHeader:
    media_id: str
    file_num: int  # tape file number of this header: the next image's BH takes it


def encode_eh(eh: EmptyHeader) -> bytes:
    return _sealed(_EH.pack(b"EH01", _pad(eh.media_id, MEDIA_ID_MAX, "media id"),
                            HEADER_SIZE, eh.file_num))


def decode_eh(raw: bytes) -> EmptyHeader | None:
    """The empty header in `raw`, or None when `raw` is not one."""
    if raw[:4] != b"EH01" or not _sound(raw):
        return None
    _magic, media, _size, file_num = _EH.unpack_from(raw)
    return EmptyHeader(_text(media), file_num)


def kind_of(raw: bytes) -> str:
    """"MH", "BH", "EH", "CRCS" or "" (data): what a record is, by its first bytes."""
    if len(raw) == HEADER_SIZE:
        for magic, kind in ((b"VOL1", "MH"), (b"BH01", "BH"), (b"EH01", "EH")):
            if raw[:4] == magic:
                return kind
    return "CRCS" if raw[:4] == b"CR01" and len(raw) >= CRCS_HEAD else ""


@dataclass(frozen=True)
class FragmentCrcs:
    backupid: str       # its first 32 bytes: enough to tell images apart on one tape
    fragment: int
    nbytes: int
    block_size: int
    crc: int            # CRC-32 of the fragment's bytes
    blocks: list[int]   # CRC-32 of each block


def encode_crcs(c: FragmentCrcs) -> bytes:
    tail = struct.pack(f">{len(c.blocks)}I", *c.blocks)
    head = _CRCS.pack(b"CR01", c.fragment, c.nbytes, len(c.blocks), c.block_size, c.crc, 0,
                      c.backupid.encode("ascii", "replace")[:32])
    seal = zlib.crc32(tail, zlib.crc32(head))
    return head[:28] + struct.pack(">I", seal) + head[32:] + tail


def decode_crcs(raw: bytes) -> FragmentCrcs:
    """The CRC record in `raw`; status 173 when it is missing or damaged."""
    if len(raw) < CRCS_HEAD or raw[:4] != b"CR01":
        raise NbuError(BACKUP_HEADER_UNREADABLE, "the fragment's CRC record is missing")
    _magic, frag, nbytes, count, bs, crc, seal, bid = _CRCS.unpack_from(raw)
    tail = raw[CRCS_HEAD:]
    zeroed = raw[:28] + b"\0\0\0\0" + raw[32:CRCS_HEAD]
    if len(tail) != 4 * count or zlib.crc32(tail, zlib.crc32(zeroed)) != seal:
        raise NbuError(BACKUP_HEADER_UNREADABLE, "the fragment's CRC record is damaged")
    return FragmentCrcs(_text(bid), frag, nbytes, bs, crc,
                        list(struct.unpack(f">{count}I", tail)))
