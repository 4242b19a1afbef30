"""tar-restore's side of the image stream: members and their data, read in place.

The stream comes into one 1 MiB buffer (recv_into on a socket, readv on a pipe or file);
headers are parsed where they lie and file data goes to its file with os.write straight from
memoryviews of that buffer (reference/perf-baseline.md, py_untar_recv.py). Extended headers
(pax 'x' and 'g', GNU 'L' and 'K') are folded into the member that follows them.

`next_member` first skips whatever the caller left unread of the previous member's data, so
a member that is refused or fails costs nothing more than not reading it.

A large file's data bypasses the page cache (`copy_direct`, O_DIRECT): it is received
straight into a page-aligned buffer and written from there. On the machines we measured,
buffered writes of 2 GiB into new files took 3.8-5 s (the kernel finding fresh pages for the
cache) and O_DIRECT writes of the same 1.3-1.4 s.

End of stream: two zero blocks (one is enough), or EOF at a member boundary - a restore
stream may carry only the byte ranges of the members asked for. EOF anywhere else raises
ArchiveError (status 183). Imports only nbcli.client.tarstream.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from collections.abc import Callable

from nbcli.client.tarstream import (
    BLOCK,
    GNU_LONGLINK,
    GNU_LONGNAME,
    MAX_EXTENDED,
    PAX_GLOBAL,
    PAX_LOCAL,
    REGULAR,
    ZERO_BLOCK,
    ArchiveError,
    Member,
    apply_pax,
    extended_size,
    padding,
    parse_header,
    parse_pax,
)

ReadInto = Callable[[memoryview], int]
BUFFER_SIZE = 1 << 20
DIRECT_MIN = 8 << 20  # files this large are written with O_DIRECT
DIRECT_BUFFER = 4 << 20
_ALIGN = 4096  # O_DIRECT's offset, length and address alignment (a page; fs blocks are <= it)
_EXTENDED = (PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK)
# Types whose header size is followed by that much data: regular files (also '7',
# contiguous) and types we do not know. Links, folders, devices and fifos carry none.
_NO_DATA = frozenset((b"1", b"2", b"3", b"4", b"5", b"6"))


def reader_for_fd(fd: int) -> ReadInto:
    def readinto(view: memoryview) -> int:
        return os.readv(fd, [view])

    return readinto


class StreamReader:
    """Members of a tar stream, one after the other, from `readinto`."""

    def __init__(self, readinto: ReadInto, size: int = BUFFER_SIZE) -> None:
        self.readinto = readinto
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.start = self.end = 0
        self.received = 0  # bytes that came in
        self.left = 0  # data bytes of the current member not consumed yet
        self.pad = 0
        self.ended = False  # saw the end-of-archive block
        self.globals: dict[bytes, bytes] = {}
        self._aligned: memoryview | None = None  # copy_direct's buffer, made on first use

    def _more(self) -> int:
        """Read what is available into the free end of the buffer (0 at EOF)."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buf):
            self.mv[:self.end - self.start] = self.mv[self.start:self.end]
            self.end -= self.start
            self.start = 0
        n = self._read(self.mv[self.end:])
        self.end += n
        return n

    def _block(self) -> memoryview | None:
        """The next 512 bytes, or None at EOF on a block boundary."""
        while self.end - self.start < BLOCK:
            if not self._more():
                if self.start == self.end:
                    return None
                raise ArchiveError("the stream ends inside a header")
        block = self.mv[self.start:self.start + BLOCK]
        self.start += BLOCK
        return block

    def next_member(self) -> Member | None:
        """The next member (its data ready to copy or skip), or None at the end."""
        self.skip(self.left + self.pad)
        self.left = self.pad = 0
        pending: dict[bytes, bytes] = {}
        long_name = long_link = None
        while True:
            block = None if self.ended else self._block()
            if block is None or block == ZERO_BLOCK:
                if pending or long_name is not None or long_link is not None:
                    raise ArchiveError("the stream ends after an extended header")
                self.ended = True
                return None
            quick = extended_size(block)
            if quick is None:
                m = parse_header(block)
                if m.type not in _EXTENDED:
                    break
                kind, size = m.type, m.size
            else:
                kind, size = quick
            data = self._extended(size)
            if kind == PAX_LOCAL:
                pending.update(parse_pax(data))
            elif kind == PAX_GLOBAL:
                self.globals.update(parse_pax(data))
            elif kind == GNU_LONGNAME:
                long_name = data.split(b"\0", 1)[0]
            else:
                long_link = data.split(b"\0", 1)[0]
        self._fold(m, pending, long_name, long_link)
        self.left = 0 if m.type in _NO_DATA else m.size
        self.pad = padding(self.left)
        return m

    def _fold(self, m: Member, pending: dict[bytes, bytes], long_name: bytes | None,
              long_link: bytes | None) -> None:
        if self.globals:
            apply_pax(m, self.globals)
        if long_name is not None:
            m.name = long_name
        if long_link is not None:
            m.link = long_link
        apply_pax(m, pending)
        if m.type == b"7":
            m.type = REGULAR

    def _extended(self, size: int) -> bytes:
        if size > MAX_EXTENDED:
            raise ArchiveError(f"extended header of {size} bytes")
        data = bytearray()
        left = size + padding(size)
        while left:
            if self.start == self.end and not self._more():
                raise ArchiveError("the stream ends inside an extended header")
            n = min(left, self.end - self.start)
            data += self.mv[self.start:self.start + n]
            self.start += n
            left -= n
        return bytes(data[:size])

    def window(self) -> tuple[bytearray, int, int] | None:
        """(buffer, start, end): the unread bytes, when a member's first header begins at
        `start` and no global pax header applies - what a caller may parse itself, then
        `consumed` up to where it stopped. None otherwise."""
        if self.left or self.globals or self.ended:
            return None
        if self.pad:
            if self.pad > self.end - self.start:
                return None
            self.start += self.pad
            self.pad = 0
        return self.buf, self.start, self.end

    def consumed(self, upto: int) -> None:
        """The caller of `window` has used the members before buffer position `upto`."""
        assert self.start <= upto <= self.end
        self.start = upto

    def buffered(self) -> int:
        """Bytes of the stream already read and not yet used."""
        return self.end - self.start

    def copy(self, fd: int) -> None:
        """The current member's data into `fd`; an OSError comes after all of it is read."""
        error: OSError | None = None
        while self.left:
            if self.start == self.end and not self._more():
                raise ArchiveError("the stream ends inside a file's data")
            n = min(self.left, self.end - self.start)
            if error is None:
                try:
                    n = os.write(fd, self.mv[self.start:self.start + n])
                except OSError as e:
                    error = e
            self.start += n
            self.left -= n
        if error is not None:
            raise error

    def copy_direct(self, fd: int) -> None:
        """`copy`, bypassing the page cache where the filesystem allows (O_DIRECT).

        `fd` is a new, empty file open for writing. The data is gathered in a page-aligned
        buffer - received into it directly, so no bytes are copied once the buffer's first
        fill is done - and written in whole aligned pieces; the last piece is written padded
        to the alignment and the file is cut back to its size. A filesystem without O_DIRECT
        (tmpfs, some FUSE) gets ordinary writes."""
        size = self.left
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
        except OSError:
            self.copy(fd)
            return
        if self._aligned is None:
            self._aligned = memoryview(mmap.mmap(-1, DIRECT_BUFFER))
        view = self._aligned
        error: OSError | None = None
        while self.left:
            filled = self.fill(view)
            padded = -(-filled // _ALIGN) * _ALIGN
            view[filled:padded] = bytes(padded - filled)  # never another file's bytes
            if error is None:
                try:
                    _write_all(fd, view[:padded], flags)
                except OSError as e:
                    error = e
        if error is None:
            try:
                os.ftruncate(fd, size)  # the last piece's padding
            except OSError as e:
                error = e
        if error is not None:
            raise error

    def take(self) -> memoryview:
        """The current member's remaining data, all of it already buffered (see `buffered`),
        consumed; the view is valid until the next read."""
        assert self.left <= self.end - self.start
        view = self.mv[self.start:self.start + self.left]
        self.start += self.left
        self.left = 0
        return view

    def fill(self, view: memoryview) -> int:
        """Fill `view` with the member's next data bytes (all of them if fewer remain)."""
        want = min(self.left, len(view))
        n = min(want, self.end - self.start)
        view[:n] = self.mv[self.start:self.start + n]
        self.start += n
        while n < want:
            got = self._read(view[n:want])  # never past the member: the rest stays unread
            if not got:
                raise ArchiveError("the stream ends inside a file's data")
            n += got
        self.left -= want
        return want

    def _read(self, view: memoryview) -> int:
        try:
            n = self.readinto(view)
        except OSError as e:
            raise ArchiveError(f"cannot read the image: {e.strerror or e}") from e
        self.received += n
        return n

    def skip(self, n: int) -> None:
        while n:
            if self.start == self.end and not self._more():
                raise ArchiveError("the stream ends inside a file's data")
            k = min(n, self.end - self.start)
            self.start += k
            n -= k

    def drain(self) -> None:
        """Read to EOF, so the sender never blocks on a reader that stopped listening."""
        self.start = self.end = 0
        while self._more():
            self.start = self.end = 0



def _write_all(fd: int, data: memoryview, plain_flags: int) -> None:
    """Write all of `data` at the file's offset; a filesystem that accepts O_DIRECT on open
    but refuses the write (EINVAL), or a short write that leaves the rest unaligned, gets it
    and the rest of the file written plainly."""
    while data:
        try:
            n = os.write(fd, data)
        except OSError as e:
            if e.errno != errno.EINVAL or fcntl.fcntl(fd, fcntl.F_GETFL) == plain_flags:
                raise
            fcntl.fcntl(fd, fcntl.F_SETFL, plain_flags)
            continue
        data = data[n:]
