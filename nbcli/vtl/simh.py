"""The SIMH magnetic tape image format (.tap): what a virtual cartridge file holds.

A tape image is a sequence of objects, each introduced by a 32-bit little-endian word:

    0x00000000              a tape mark (filemark)
    0xFFFFFFFF              end of medium: nothing after it is recorded
    0xFFFFFFFE              an erase gap: 4 bytes of blank tape, skipped by every move and
                            read (SIMH's own); nbcli writes runs of them after a record
                            written straight from bptm's memory, so that the next object
                            starts on a page (O_DIRECT: direct.py)
    0xFF000000-0xFFFFFFFD   reserved (an error here)
    n (bits 23..0)          a data record of n bytes: the word, the data padded to an even
                            length with one zero byte, and the same word again, so that the
                            tape can be spaced backward; bit 31 marks a record that was
                            written with an error (reading it fails, spacing passes it)

The end of the file is the end of recorded data, as a trailing end-of-medium word is. This
module is pure: it packs and unpacks words and records and knows nothing of files.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

TAPE_MARK = 0x00000000
END_OF_MEDIUM = 0xFFFFFFFF
ERASE_GAP = 0xFFFFFFFE
RESERVED_LOW = 0xFF000000
ERROR_FLAG = 0x80000000
LENGTH_MASK = 0x00FFFFFF
MAX_RECORD = LENGTH_MASK  # 16 MiB - 1: a record length has 24 bits
WORD = 4

_WORD = struct.Struct("<I")
GAP_WORD = _WORD.pack(ERASE_GAP)


def pack_word(value: int) -> bytes:
    return _WORD.pack(value)


def unpack_word(raw: bytes) -> int:
    return int(_WORD.unpack(raw)[0])


def padded(length: int) -> int:
    """Bytes of data a record of `length` takes on the image (SIMH pads to even)."""
    return length + (length & 1)


def record_size(length: int) -> int:
    """Bytes a data record of `length` takes on the image, both length words included."""
    return WORD + padded(length) + WORD


def pack_record(data: bytes | memoryview) -> bytes:
    """One data record as it is written to the image."""
    n = len(data)
    if not 0 < n <= MAX_RECORD:
        raise ValueError(f"a SIMH record holds 1 to {MAX_RECORD} bytes, not {n}")
    word = _WORD.pack(n)
    pad = b"\0" if n & 1 else b""
    return b"".join((word, bytes(data), pad, word))


def record_parts(records: list[memoryview]) -> list[bytes | memoryview]:
    """The records as buffers for one pwritev: word, data, pad, word each - no copy."""
    parts: list[bytes | memoryview] = []
    for data in records:
        n = len(data)
        if not 0 < n <= MAX_RECORD:
            raise ValueError(f"a SIMH record holds 1 to {MAX_RECORD} bytes, not {n}")
        word = _WORD.pack(n)
        parts += (word, data, b"\0", word) if n & 1 else (word, data, word)
    return parts


def gaps(nbytes: int) -> bytes:
    """`nbytes` (a multiple of 4) of erase gap words."""
    if nbytes % WORD:
        raise ValueError(f"an erase gap is whole words, not {nbytes} bytes")
    return GAP_WORD * (nbytes // WORD)


def gap_prefix(raw: bytes, likely: int = 0) -> int:
    """How many bytes at the start of `raw` are whole erase gap words; `likely` is the
    answer to try first (a gap nbcli wrote ends on a page: one comparison)."""
    if likely and likely % WORD == 0 and raw[:likely] == GAP_WORD * (likely // WORD) \
            and len(raw) >= likely + WORD and raw[likely:likely + WORD] != GAP_WORD:
        return likely
    # (at C speed: a word at a time in Python costs ~0.1 ms a page, on every record read)
    bound = (len(raw) - len(raw.lstrip(b"\xfe\xff"))) // WORD
    return _longest(lambda m: raw[:m * WORD] == GAP_WORD * m, bound) * WORD


def gap_suffix(raw: bytes) -> int:
    """How many bytes at the end of `raw` are whole erase gap words."""
    bound = (len(raw) - len(raw.rstrip(b"\xfe\xff"))) // WORD
    return _longest(lambda m: raw[len(raw) - m * WORD:] == GAP_WORD * m, bound) * WORD


def _longest(holds: Callable[[int], bool], bound: int) -> int:
    """The largest m <= bound for which holds(m), holds being true up to some m and false
    from there on (holds(0) is true)."""
    if holds(bound):
        return bound
    lo, hi = 0, bound - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if holds(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def is_data(word: int) -> bool:
    """A word that starts (or ends) a data record, with or without its error flag."""
    return word != TAPE_MARK and word < RESERVED_LOW and not word & 0x7F000000


def length_of(word: int) -> int:
    return word & LENGTH_MASK


def has_error(word: int) -> bool:
    return bool(word & ERROR_FLAG) and is_data(word)
