"""bpbkar's send buffer: the image stream leaves in whole blocks, with a running checksum.

One `block_size` buffer (1 MiB by default) is the only place file data is copied to: headers
are packed into it, file data is read into it with os.readv, many small files share a block,
and each full block goes to the sink in one call (sendall to bptm, or write to stdout). No
Python object is made per data byte range beyond the memoryview slice a read needs.

Every byte that leaves is counted and, unless the stream is sealed, added to a running
zlib.crc32, which bpbrm compares with the CRC bptm computed of what it received (a sealed
stream, nbcli.net.sealed, carries its own proof that every byte arrived, in order: AES-GCM's
tags and numbered frames, so a second checksum of it would only cost the client CPU).
Offsets in the stream are `tell()`: what was flushed plus what is buffered.
Headers always start on a 512-byte boundary, and block_size is a multiple of 512, so a header
block never straddles two blocks. Imports only nbcli.client.tarstream.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

from nbcli.client.tarstream import BLOCK, END_OF_ARCHIVE, pack_pax_into, padding

# Source of zero bytes for padding and for files that shrank while being read.
_ZEROS = memoryview(bytes(1 << 20))

Sink = Callable[[memoryview], None]


class ReadError(Exception):
    """Reading a file failed after `done` of its bytes were already in the stream."""

    def __init__(self, done: int, error: OSError) -> None:
        super().__init__(done, error)
        self.done = done
        self.error = error


class BlockBuffer:
    """Fills block-sized buffers and hands each full one to `sink`."""

    def __init__(self, sink: Sink, block_size: int = 1 << 20,
                 on_flush: Callable[[], None] | None = None, checksummed: bool = True) -> None:
        if block_size <= 0 or block_size % BLOCK:
            raise ValueError(f"block size {block_size} is not a multiple of {BLOCK}")
        self.sink = sink
        self.size = block_size
        self.buf = bytearray(block_size)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.flushed = 0
        self.crc = 0
        self.checksummed = checksummed
        self.on_flush = on_flush

    def tell(self) -> int:
        """The stream offset of the next byte."""
        return self.flushed + self.pos

    def flush(self) -> None:
        if not self.pos:
            return
        block = self.mv[:self.pos]
        if self.checksummed:
            self.crc = zlib.crc32(block, self.crc)
        self.sink(block)
        self.flushed += self.pos
        self.pos = 0
        if self.on_flush is not None:
            self.on_flush()

    def reserve(self) -> int:
        """The buffer position of a free header block (flushing a full buffer first)."""
        if self.pos == self.size:
            self.flush()
        return self.pos

    def put(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self.pos == self.size:
                self.flush()
            n = min(len(view), self.size - self.pos)
            self.mv[self.pos:self.pos + n] = view[:n]
            self.pos += n
            view = view[n:]

    def zeros(self, n: int) -> None:
        if n <= self.size - self.pos:  # padding: almost always fits
            self.mv[self.pos:self.pos + n] = _ZEROS[:n]
            self.pos += n
            return
        while n:
            k = min(n, len(_ZEROS))
            self.put(_ZEROS[:k])
            n -= k

    def pax(self, recs: bytes) -> None:
        """A pax extended header ('x' block, records, padding)."""
        pos = self.reserve()
        pack_pax_into(self.mv, pos, recs)
        data, end = pos + BLOCK, pos + BLOCK + len(recs) + padding(len(recs))
        if end <= self.size:  # the usual case: all of it fits, no flush in between
            self.mv[data:data + len(recs)] = recs
            self.mv[data + len(recs):end] = _ZEROS[:end - data - len(recs)]
            self.pos = end
            return
        self.pos = data
        self.put(recs)
        self.zeros(padding(len(recs)))

    def read_from(self, fd: int, size: int) -> int:
        """Up to `size` bytes of `fd` into the stream; fewer only at end of file."""
        mv, bs = self.mv, self.size
        left = size
        try:
            while left:
                if self.pos == bs:
                    self.flush()
                pos = self.pos
                n = os.readv(fd, [mv[pos:pos + min(left, bs - pos)]])
                if not n:
                    break
                self.pos = pos + n
                left -= n
        except OSError as e:
            raise ReadError(size - left, e) from e
        return size - left

    def finish(self) -> None:
        """End of archive (two zero blocks) and the last, partial block."""
        self.put(END_OF_ARCHIVE)
        self.flush()

    @property
    def checksum(self) -> str:
        """crc32:xxxxxxxx, or "" for a stream that was not checksummed (a sealed one)."""
        return f"crc32:{self.crc:08x}" if self.checksummed else ""
