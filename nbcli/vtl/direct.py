"""Writing a cartridge image's tail with O_DIRECT: the virtual drive's write-behind buffer.

Why: on this machine the page cache is the slow part (bench/README.md: buffered writes of 2
GiB took 3-4 times as long as O_DIRECT ones), and a disk storage unit writes its fragments
with O_DIRECT; a virtual drive writing its records buffered made tape backups the slower.
SIMH records are framed (a length word before and after the data), so a record's data never
lands on an aligned file offset.

bptm's blocks are written from its ring with no copy (`append_frame`): the caller leaves
room in the ring slot before and after the block, the drive writes the length words there,
fills the rest of the last page with erase gap words (SIMH's own filler, which every reader
skips), and writes the slot's pages at a page boundary of the file, after a run of gap words
from the end of data to there. The copy this saves was bptm's largest CPU cost on tape: the
ring's pages were just written by the child on the other core (cold here), 0.17 s of CPU
for 2 GiB, about 8% of the backup. Other records (headers, small blocks, a record not on a
word boundary) are copied into an aligned staging buffer and written from it in large
aligned pieces, synchronously, as a disk storage unit writes its fragments. (A second buffer
that a thread wrote while the first one filled hid the copy, but cost more CPU in thread
hand-offs than the copy itself: with two cores busy with the backup's other processes, tape
backups were the slower for it.) `flush` writes what is staged (the last partial page
padded, the file then cut back to its real end) - the drive flushes before every read, move,
tape mark and close, so that a reader of the file (the drive itself, another process after
close) sees every record.

A writer killed between flushes leaves the file ending inside a record; `torn_end` finds the
end of the last whole object, where `cut_torn` cuts the image when the drive's next user
opens it, or when the robot takes the cartridge out of that drive (a real drive's
interrupted write leaves the records before it).

A file system without O_DIRECT (tmpfs) gets no Appender (`open_appender` returns None) and
the drive writes buffered, as before. Imports only nbcli.vtl's own modules.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

from nbcli.vtl import image, simh

ALIGN = 4096           # O_DIRECT's alignment of offsets, lengths and memory (a page)
STAGE = 4 << 20        # a staging buffer: aligned pieces of up to this much are written


def open_appender(path: str) -> Appender | None:
    """An Appender for the image at `path`, or None where O_DIRECT cannot be used."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        fd = os.open(path, os.O_WRONLY | flag | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise
    return Appender(fd)


class Appender:
    """Staged appends to one image file through its O_DIRECT descriptor `dfd`."""

    def __init__(self, dfd: int) -> None:
        self.dfd = dfd
        self.buf = mmap.mmap(-1, STAGE + ALIGN)  # page aligned
        self.view = memoryview(self.buf)
        self.base = 0      # the file offset of view[0] (aligned)
        self.fill = 0      # bytes staged: the file's logical end is base + fill
        self.dirty = False  # staged bytes not written yet
        self.active = False  # whether base/fill describe the file's tail

    @property
    def end(self) -> int:
        return self.base + self.fill

    def append(self, fd: int, parts: list[bytes | memoryview], offset: int) -> int:
        """Stage `parts` at `offset` (the file's logical end; `fd` reads the partial page
        before it when the staging starts there); the bytes staged."""
        if not self.active or offset != self.end:
            self.flush(fd)
            self._start(fd, offset)
        total = 0
        for part in parts:
            src = memoryview(part).cast("B")
            n, at = len(src), 0
            while at < n:
                room = STAGE - self.fill
                take = min(room, n - at)
                self.view[self.fill:self.fill + take] = src[at:at + take]
                self.fill += take
                at += take
                self.dirty = True
                if self.fill == STAGE:
                    self._write_full()
            total += n
        return total

    def append_frame(self, fd: int, frame: memoryview, offset: int) -> int:
        """Write `frame` (page-aligned memory, whole pages: a record with its length words
        and trailing gap, direct.frame_size) with no copy, at the first page boundary at or
        after `offset` (the file's logical end, a multiple of 4); the gap before it is
        staged and written first. The bytes the file grew by."""
        lead = -offset % ALIGN
        if lead:
            self.append(fd, [simh.gaps(lead)], offset)
        self.flush(fd)
        try:
            _pwrite(self.dfd, frame, offset + lead)
        except OSError:
            self.active = False  # what the file holds is not known: start again
            raise
        self.base, self.fill = offset + lead + len(frame), 0
        self.active, self.dirty = True, False
        return lead + len(frame)

    def _start(self, fd: int, offset: int) -> None:
        """Stage from `offset`: the partial page before it is read back from the file."""
        self.base = offset - offset % ALIGN
        self.fill = offset - self.base
        if self.fill:
            got = os.preadv(fd, [self.view[:self.fill]], self.base)
            if got != self.fill:
                raise OSError(errno.EIO, "cartridge image shorter than its position")
        self.active, self.dirty = True, False

    def _write_full(self) -> None:
        """Write the full staging buffer (aligned) and begin it again empty."""
        try:
            with self.view[:STAGE] as piece:
                _pwrite(self.dfd, piece, self.base)
        except OSError:
            self.active = False  # what the file holds is not known: start again
            raise
        self.base += STAGE
        self.fill = 0
        self.dirty = False

    def flush(self, fd: int) -> None:
        """Write what is staged: the last page padded, then the file cut to its end."""
        if not (self.active and self.dirty):
            return
        length = -(-self.fill // ALIGN) * ALIGN
        self.view[self.fill:length] = bytes(length - self.fill)
        with self.view[:length] as pages:  # released even when the write fails (close)
            _pwrite(self.dfd, pages, self.base)
        os.ftruncate(fd, self.end)
        # The staged pages stay: later appends go on in them and write them again whole.
        self.dirty = False

    def forget(self) -> None:
        """The file changed under the staging (truncated elsewhere): start again."""
        self.active = self.dirty = False

    def close(self, fd: int) -> None:
        try:
            self.flush(fd)
        finally:
            try:
                self.view.release()
                self.buf.close()
            finally:
                os.close(self.dfd)


def _pwrite(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        # a slice left alive by a failed write (in the traceback) would keep the staging
        # buffer from being closed
        with data[done:] as rest:
            n = os.pwrite(fd, rest, offset + done)
        if n <= 0:
            raise OSError(errno.EIO, "short write to a cartridge image")
        done += n


def frame_size(length: int) -> int:
    """Bytes a record of `length` takes written from a frame: its length words and data,
    then erase gap words up to a page boundary."""
    return -(-simh.record_size(length) // ALIGN) * ALIGN


def frameable(frame: memoryview, at: int, length: int) -> bool:
    """Whether the record frame[at:at + length] can be written from `frame` itself: its
    first length word's place (at - 4) starts a page, the frame holds its whole pages, and
    the length is whole words (the gap after it is)."""
    if at < simh.WORD or length % simh.WORD or len(frame) < at - simh.WORD + frame_size(length):
        return False
    if frame.readonly:
        return False
    anchor = ctypes.c_char.from_buffer(frame, at - simh.WORD)
    try:
        return ctypes.addressof(anchor) % ALIGN == 0
    finally:
        del anchor  # the buffer export it holds would keep the memory from being unmapped


def fill_frame(frame: memoryview, at: int, length: int) -> memoryview:
    """Put the SIMH framing around frame[at:at + length]: the length word before and after,
    erase gap words to the page boundary; the frame's pages to write."""
    word = simh.pack_word(length)
    start, size = at - simh.WORD, frame_size(length)
    frame[start:at] = word
    frame[at + length:at + length + simh.WORD] = word
    frame[at + length + simh.WORD:start + size] = simh.gaps(size - simh.record_size(length))
    return frame[start:start + size]


def torn_end(fd: int) -> int | None:
    """Where the last whole object of the image ends, when the file goes on past it with a
    piece of a record (a writer killed between flushes); None when the image is whole."""
    size = os.fstat(fd).st_size
    at = 0
    while at < size:
        word = image.read_word(fd, at)
        if word is None:
            return at
        if word in (simh.TAPE_MARK, simh.END_OF_MEDIUM):
            at += simh.WORD
            continue
        if word == simh.ERASE_GAP:
            at = image.skip_gaps(fd, at)
            continue
        if not simh.is_data(word):
            return at
        end = at + simh.record_size(simh.length_of(word))
        if end > size or image.read_word(fd, end - simh.WORD) != word:
            return at
        at = end
    return None


def cut_torn(path: str, fd: int | None = None) -> int | None:
    """Cut the image at `path` after its last whole object if a dead writer left part of a
    record after it; where it was cut (None: it was whole)."""
    own = fd is None
    if fd is None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        torn = torn_end(fd)
    finally:
        if own:
            os.close(fd)
    if torn is not None:
        os.truncate(path, torn)
    return torn
