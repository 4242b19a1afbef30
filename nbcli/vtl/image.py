"""A cartridge image file's I/O: one length word read, erase gaps skipped, buffers written
where they belong.

The small system-call layer under vdrive: reads with pread and writes with pwritev, so that
a record goes from the caller's buffer to the file with no copy (its length words beside
it). Imports only nbcli.vtl.simh.
"""

from __future__ import annotations

import errno
import os

from nbcli.vtl import simh

IOV_MAX = 1024  # Linux's limit on the buffers of one pwritev
_CHUNK = 4096   # gap runs are read a page at a time (nbcli's are shorter than one)


def read_word(fd: int, offset: int) -> int | None:
    """The 32-bit word at `offset`, or None at the end of the file (a torn word included)."""
    raw = os.pread(fd, simh.WORD, offset)
    return simh.unpack_word(raw) if len(raw) == simh.WORD else None


def next_object(fd: int, offset: int) -> tuple[int, int | None]:
    """The first object at or after `offset` that is not an erase gap word: (its offset,
    its word; None at the end of the file, a torn word included). One read of a page for a
    record and the gap after it, as nbcli writes them."""
    while True:
        raw = os.pread(fd, _CHUNK, offset)
        n = simh.gap_prefix(raw, -offset % _CHUNK) if raw[:simh.WORD] == simh.GAP_WORD else 0
        offset += n
        if n + simh.WORD <= len(raw):
            return offset, simh.unpack_word(raw[n:n + simh.WORD])
        if len(raw) < _CHUNK:
            return offset, None


def skip_gaps(fd: int, offset: int) -> int:
    """The offset of the first object at or after `offset` that is not an erase gap word
    (the end of the file if only gaps follow)."""
    return next_object(fd, offset)[0]


def gaps_before(fd: int, offset: int) -> int:
    """Where the run of erase gap words that ends at `offset` begins (`offset` if none)."""
    while offset >= simh.WORD:
        start = max(0, offset - _CHUNK)
        raw = os.pread(fd, offset - start, start)
        n = simh.gap_suffix(raw)
        offset -= n
        if n < _CHUNK:
            return offset
    return offset


def write_at(fd: int, parts: list[bytes | memoryview], offset: int) -> int:
    """Write `parts` back to back from `offset`; the bytes written (all of them)."""
    written = 0
    for i in range(0, len(parts), IOV_MAX):
        batch = parts[i:i + IOV_MAX]
        total, done = sum(len(p) for p in batch), 0
        while done < total:  # a short write (a signal, a full disk): go on where it stopped
            n = os.pwritev(fd, _skip(batch, done), offset + written + done)
            if n <= 0:
                raise OSError(errno.EIO, "short write to a cartridge image")
            done += n
        written += total
    return written


def _skip(parts: list[bytes | memoryview], done: int) -> list[bytes | memoryview]:
    """`parts` without their first `done` bytes."""
    if not done:
        return parts
    out: list[bytes | memoryview] = []
    for p in parts:
        if done >= len(p):
            done -= len(p)
            continue
        out.append(memoryview(p)[done:] if done else p)
        done = 0
    return out
