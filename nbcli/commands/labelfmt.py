"""The two records a label puts on a tape, for bplabel and bpmedialist -mheader: pure bytes.

A labelled tape starts `MH * EH *` (next-areas.md §1.4): the media header (NetBackup's bytes:
"VOL1", the media id, the allocation time, the "ThIs Is A BP tApE hEaDer" marker) and the
empty header the first backup verifies and overwrites (nbcli's "EH01" record with its CRC).
These are the bytes bptm writes when it labels a blank tape (nbcli/media/tapefmt.py); the
commands may not import the media agents, so this module repeats the two encoders and the MH
decoder, and tests/unit/test_mediafmt.py holds them byte for byte equal to tapefmt's.

Place: pure, for the media commands; imports status only.
"""

from __future__ import annotations

import struct
import zlib

from nbcli.status import INVALID_PARAMETER, MEDIA_HEADER_UNREADABLE, NbuError

HEADER_SIZE = 1024
MARKER = b"ThIs Is A BP tApE hEaDer"
MEDIA_ID_MAX = 6
LABEL_READ = 256 * 1024  # one read takes any header record; a larger first record is foreign

_MH = struct.Struct(">4s6s10xII I40xI36x24s")
_EH = struct.Struct(">4s6s6xII")


def _media(media_id: str) -> bytes:
    raw = media_id.encode("ascii", "replace")
    if not 0 < len(raw) <= MEDIA_ID_MAX:
        raise NbuError(INVALID_PARAMETER, f"media id {media_id!r}: 1 to 6 characters")
    return raw


def encode_mh(media_id: str, allocated: int) -> bytes:
    head = _MH.pack(b"VOL1", _media(media_id), 1, 12, allocated, HEADER_SIZE, MARKER)
    return head.ljust(HEADER_SIZE, b"\0")


def encode_eh(media_id: str, file_num: int = 1) -> bytes:
    body = _EH.pack(b"EH01", _media(media_id), HEADER_SIZE, file_num)
    body = body.ljust(HEADER_SIZE - 4, b"\0")
    return body + struct.pack(">I", zlib.crc32(body))


def decode_mh(raw: bytes) -> tuple[str, int]:
    """(media id, allocation time) of the media header in `raw`; status 172 when `raw` is
    not one."""
    if len(raw) != HEADER_SIZE or raw[:4] != b"VOL1" or raw[112:136] != MARKER:
        raise NbuError(MEDIA_HEADER_UNREADABLE, "block read is not a NetBackup media header")
    _vol, media, _one, _twelve, allocated, _size, _marker = _MH.unpack_from(raw)
    return media.rstrip(b"\0").decode("ascii", "replace"), allocated
