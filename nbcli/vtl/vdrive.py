"""A virtual tape drive: Linux st's behaviour (api.TapeDrive) over a SIMH cartridge image.

The drive reads the cartridge the library says it holds, at the position the library kept
for it (a non-rewinding device keeps its position between opens). Semantics follow
Documentation/scsi/st.rst and SSC:

- positions count objects: each record and each tape mark is one logical block (MTIOCPOS);
  mt_fileno/mt_blkno become -1 where st cannot know them (after MTBSF, MTBSR over a mark,
  MTSEEK), as st reports them;
- a read at a tape mark returns b"" and moves past it; a read at the end of data fails
  with EIO, except the first one right after a tape mark, which returns b"" (st_read: a
  blank check in state ST_FM reads as 0 bytes, then the state is ST_EOD);
- MTFSR/MTBSR that meet a tape mark cross it and fail with EIO (SSC: the position is on the
  far side of the mark); MTFSF/MTBSF/MTFSR/MTSEEK that meet the end of data fail with EIO
  there; MTBSF/MTBSR that meet BOT fail with EIO at BOT;
- a write (or MTWEOF) anywhere cuts the tape there: what followed is gone;
- early warning: st.rst "EOM Behaviour When Writing" - the write that passes the early-warning
  point succeeds; from then on writes alternate: ENOSPC (nothing written), then one that is
  written, then ENOSPC... until the physical end, where every write fails with ENOSPC and
  nothing is written. Tape marks are always written while they fit. Any move resets it;
- MTREW, MTBSF and MTSEEK, and close, write one tape mark first when the last op was a write;
- records stream at the library's speed when it sets one (Geometry.speed), as a real drive
  reads and writes at its native rate, whatever the disk could do;
- MTSEEK, MTFSF and MTEOM go to the tape mark or the end of data at once by the cartridge's
  tape directory (tapedir.py), as an LTO drive locates by its cartridge memory, and step
  over the records from there; without a directory the drive makes one by a scan.

A write is all or nothing here (a real drive may write part of a fixed-mode request). Records
are staged and written to the image with O_DIRECT where the file system allows (direct.py;
write_framed writes a large one from the caller's memory, erase gaps around it);
everything staged is in the file before any read, move, tape mark or close, and a drive
opened after a holder died cuts a record that holder left half written.
This module imports only nbcli.vtl's own modules.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from nbcli.vtl import direct, image, simh, spacing, tapedir
from nbcli.vtl.api import DriveStatus
from nbcli.vtl.library import Library, keep_private
from nbcli.vtl.state import Cartridge, DriveState, State

_MARK, _EOD, _BOT = spacing.MARK, spacing.EOD, spacing.BOT


def _err(code: int, what: str) -> OSError:
    return OSError(code, f"{os.strerror(code)}: {what}")


def _check_count(count: int) -> None:
    # st spaces backward for a negative count; nbcli's callers say which way they mean.
    if count < 0:
        raise _err(errno.EINVAL, f"negative count {count}")


class VirtualDrive:
    """Drive `index` of `library`, used as /dev/nst<index> is (see the module docstring)."""

    def __init__(self, library: Library, index: int) -> None:
        self.library = library
        self.index = index
        self._fd = -1
        self._lock = -1
        self._writable = False
        self._barcode = ""
        self._pos = DriveState()
        self._size = 0             # bytes of the image: the end of recorded data
        self._last = ""            # "write" | "weof" | "read" | "move"
        self._after_mark = False   # GMT_EOF
        self._ew = "none"          # early warning: none | refuse (next write ENOSPC) | allow
        self._app: direct.Appender | None = None  # O_DIRECT writes of a writable open
        self._speed = 0            # bytes a second (Geometry.speed; 0: unpaced)
        self._due = 0.0            # monotonic time by which the bytes moved so far are done
        self._dir: tapedir.TapeDir | None = None  # the image's marks and end (tapedir.py)
        self._dir_path = ""
        self._dir_state = ""  # "" as loaded | "changed": saved at close | "changing": forgotten
        self._dir_unscannable = False  # a scan met what stepping must report: step only

    # --- open and close ------------------------------------------------------------------

    def open(self, writable: bool = True) -> None:
        if self._fd >= 0:
            raise _err(errno.EBUSY, f"drive {self.index} is already open")
        lock = os.open(self.library.drive_lock_path(self.index),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _err(errno.EBUSY, f"drive {self.index} is open elsewhere") from None
            self._open_image(writable)
        except BaseException:
            os.close(lock)
            raise
        self._lock = lock

    def _open_image(self, writable: bool) -> None:
        s = self.library.state()
        if not 0 <= self.index < len(s.drives):
            raise _err(errno.ENXIO, f"no drive {self.index}")
        if s.drives[self.index].down:
            raise _err(errno.EIO, f"drive {self.index} is down")
        barcode = s.at("drive", self.index)
        if barcode is None:
            raise _err(errno.ENOMEDIUM, f"drive {self.index} is empty")
        if writable and s.cartridges[barcode].write_protected:
            raise _err(errno.EROFS, f"{barcode} is write protected")
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
        path = self.library.cartridge_path(barcode)
        fd = os.open(path, flags)
        appender = None
        try:
            keep_private(fd)
            if not writable and not s.drives[self.index].held:
                # A reader tears nothing: it need not mark the drive held (a durable write of
                # library.toml) for the next opener; dying, it leaves the position its last
                # holder closed at, which this drive lock keeps unchanged meanwhile.
                self._pos = replace(s.drives[self.index])
            else:
                with self.library.update() as fresh:
                    d = fresh.drives[self.index]
                    dead = d.held
                    if dead:
                        # The last holder died with the drive open: where it left the tape
                        # is not known, so start at BOT, as after a reset; a record it was
                        # writing when it died is not on the tape (direct.py: staged writes).
                        d.at_bot()
                        direct.cut_torn(str(path), fd)
                    d.held = writable
                    self._pos = replace(d)
            if writable:
                appender = direct.open_appender(str(path))
        except BaseException:
            os.close(fd)
            raise
        self._app = appender
        self._fd, self._writable, self._barcode = fd, writable, barcode
        self._speed, self._due = s.geometry.speed, 0.0
        self._size = os.fstat(self._fd).st_size
        self._pos.offset = min(self._pos.offset, self._size)
        self._last, self._after_mark, self._ew = "", False, "none"
        self._dir_path = f"{path}.dir"
        self._dir, self._dir_state = tapedir.load(self._dir_path, fd), ""
        self._dir_unscannable = False

    def close(self) -> None:
        """Write a tape mark if the last op was a write, keep the position, let go."""
        if self._fd < 0:
            return
        try:
            try:
                if self._last == "write":
                    self._write_marks(1)
                self._flush()
                if self._writable:
                    with self._on_disk():
                        os.fsync(self._fd)
            finally:  # even when the tape mark did not fit: the position is known
                with self.library.update() as s:
                    if s.at("drive", self.index) == self._barcode:
                        d = s.drives[self.index]
                        d.offset, d.file, d.block, d.logical = (
                            self._pos.offset, self._pos.file, self._pos.block,
                            self._pos.logical)
                        d.block_size, d.held = self._pos.block_size, False
        finally:
            app, self._app = self._app, None
            try:
                if app is not None:
                    with self._on_disk():
                        app.close(self._fd)
                self._keep_directory()
            finally:
                os.close(self._fd)
                os.close(self._lock)
                self._fd = self._lock = -1

    def _keep_directory(self) -> None:
        """The tape directory of the image as it is closed, for the next opener; forgotten
        when this drive could not keep it (then the next one scans)."""
        if not self._dir_state:
            return
        try:
            if self._dir is not None and self._dir_state == "changed":
                tapedir.save(self._dir_path, self._fd, self._dir)
            else:
                tapedir.forget(self._dir_path)
        except OSError:
            try:
                tapedir.forget(self._dir_path)
            except OSError:
                pass  # a stale one is not trusted anyway: its image key differs

    def close_inherited(self) -> None:
        # Nothing staged is written: the parent owns what it staged (direct.py).
        app, self._app = self._app, None
        for fd in (self._fd, self._lock, app.dfd if app is not None else -1):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock = -1

    def __enter__(self) -> VirtualDrive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- data ----------------------------------------------------------------------------

    def read(self, size: int) -> bytes:
        out: list[bytes] = []
        self._read(size, lambda n, at: out.append(self._pread(n, at)))
        return b"".join(out)

    def readinto(self, into: memoryview) -> int:
        """As read, into `into` (no copy); the bytes placed there."""
        filled = 0

        def place(n: int, at: int) -> None:
            nonlocal filled
            if os.preadv(self._fd, [into[filled:filled + n]], at) != n:
                raise _err(errno.EIO, "record cut short in the image")
            filled += n

        self._read(len(into), place)
        return filled

    def _read(self, size: int, place: Callable[[int, int], None]) -> None:
        """Read records (one, or size/block_size in fixed mode), `place(n, at)` each one's
        n bytes found at byte `at` of the image; stop at a tape mark or the end of data."""
        self._ready()
        if size <= 0:
            return
        bs = self._pos.block_size
        if bs and size % bs:
            raise _err(errno.EINVAL, f"fixed block mode: read {size} is not a multiple of {bs}")
        if self._last == "write":
            self._last = "read"  # st flushes; the position is at the end of data
        self._ew = "none"
        wanted, done = (size // bs if bs else 1), 0
        bad = self._cartridge().read_errors
        while done < wanted:
            word = spacing.next_word(self._fd, self._pos)
            if word is None or word == simh.END_OF_MEDIUM:
                if done:
                    break
                # st: the blank check right after a tape mark reads as 0 bytes once
                # (ST_FM -> ST_EOD); any other read at the end of data fails with EIO.
                if not self._after_mark:
                    raise _err(errno.EIO, "read at the end of recorded data")
                self._after_mark = False
                return
            if word == simh.TAPE_MARK:
                if not done:
                    spacing.over_mark(self._pos)
                    self._after_mark = True
                    return
                break  # the next read returns b"" for the mark (st's FM_HIT)
            if bad and self._pos.logical in bad:
                if done:
                    break  # the records before it first; the next read fails
                raise _err(errno.EIO, f"read error on {self._barcode} at block "
                                      f"{self._pos.logical} (injected)")
            n, at = self._record(word, bs or size)
            place(n, at)
            self._pace(n)
            done += 1
        self._after_mark, self._last = False, "read"

    def _record(self, word: int, room: int) -> tuple[int, int]:
        """(length, byte offset) of the record at the position, which the drive moves past
        even when it cannot be read (EIO for a flagged record or a fixed-mode size that
        differs, ENOMEM for a variable-mode record larger than the read)."""
        spacing.check_data(word, self._pos.offset)
        n = simh.length_of(word)
        at = self._pos.offset + simh.WORD
        spacing.over_record(self._pos, n)
        self._after_mark = False
        if simh.has_error(word):
            raise _err(errno.EIO, f"record {self._pos.logical - 1} was written with an error")
        if self._pos.block_size and n != room:
            raise _err(errno.EIO, f"block of {n} bytes in fixed {room}-byte mode")
        if n > room:
            raise _err(errno.ENOMEM, f"record of {n} bytes, read of {room}")
        return n, at

    def _pread(self, n: int, at: int) -> bytes:
        data = os.pread(self._fd, n, at)
        if len(data) != n:
            raise _err(errno.EIO, "record cut short in the image")
        return data

    # A record written from a frame takes a page more than its data at most: only records
    # this large are, so that the gaps cost the cartridge under 2% of its capacity.
    FRAME_MIN = 256 << 10
    frame_room = (simh.WORD, direct.ALIGN)

    def write(self, data: bytes | memoryview) -> int:
        return self._write(memoryview(data))

    def write_framed(self, frame: memoryview, at: int, length: int) -> int:
        """As write(frame[at:at + length]). The caller lends the `frame_room` bytes before
        and after the record in `frame`: where the drive can, it puts the record's length
        words and a trailing erase gap there and writes the frame's pages from that memory
        with O_DIRECT, no copy (a page-aligned frame: bptm's ring slots are)."""
        data = frame[at:at + length]
        if (self._app is None or length < self.FRAME_MIN or length > simh.MAX_RECORD
                or self._pos.block_size not in (0, length) or self._pos.offset % simh.WORD
                or not direct.frameable(frame, at, length)):
            return self._write(data)
        return self._write(data, (frame, at))

    def _write(self, view: memoryview, frame: tuple[memoryview, int] | None = None) -> int:
        s = self._ready(writing=True)
        n, bs = len(view), self._pos.block_size
        if n == 0:
            return 0
        if bs and n % bs:
            raise _err(errno.EINVAL, f"fixed block mode: write {n} is not a multiple of {bs}")
        if self._ew == "refuse":
            self._ew = "allow"
            raise _err(errno.ENOSPC, "early warning: end of medium is near")
        chunks = [view[i:i + bs] for i in range(0, n, bs)] if bs else [view]
        if any(len(c) > simh.MAX_RECORD for c in chunks):
            raise _err(errno.EINVAL, f"a record holds at most {simh.MAX_RECORD} bytes")
        cart = s.cartridges[self._barcode]
        if frame is not None:  # one record, after the gap that takes it to a page boundary
            end = (self._pos.offset + -self._pos.offset % direct.ALIGN
                   + direct.frame_size(n))
        else:
            end = self._pos.offset + sum(simh.record_size(len(c)) for c in chunks)
        if end > cart.capacity:
            raise _err(errno.ENOSPC, f"end of medium on {self._barcode}")
        first = self._pos.logical
        if any(first <= b < first + len(chunks) for b in cart.write_errors):
            self._last = "move"  # what follows is uncertain on a real drive; no mark at close
            raise _err(errno.EIO, f"write error on {self._barcode} (injected)")
        start = self._pos.offset
        if frame is not None:
            written = self._put([], direct.fill_frame(frame[0], frame[1], n))
        else:
            written = self._put(simh.record_parts(chunks))
        # One store for the whole position: bptm's SIGTERM handler raises anywhere, and an
        # undo that found the offset moved but not the block count would write its empty
        # header in the wrong place (and the tape directory would learn wrong numbers).
        self._pos.offset, self._size, self._pos.logical, self._pos.block = (
            start + written, start + written, first + len(chunks),
            self._pos.block + len(chunks) if self._pos.block >= 0 else -1)
        self._directory_cut(start, first)
        self._pace(n)
        self._last, self._after_mark = "write", False
        if end > cart.capacity - s.geometry.early_warning:
            self._ew = "refuse"
        return n

    def write_filemarks(self, count: int = 1) -> None:
        self._ready(writing=True)
        if count < 0:
            raise _err(errno.EINVAL, "negative count")
        self._write_marks(count)
        self._last = "weof"

    def _write_marks(self, count: int) -> None:
        if self._pos.offset + simh.WORD * count > self._cartridge().capacity:
            raise _err(errno.ENOSPC, f"end of medium on {self._barcode}")
        start, first, p = self._pos.offset, self._pos.logical, self._pos
        written = self._put([simh.pack_word(simh.TAPE_MARK) * count])
        # one store for the whole position, as in write
        p.offset, self._size, p.logical, p.file, p.block, self._after_mark = (
            start + written, start + written, first + count,
            (p.file + count if p.file >= 0 else -1) if count else p.file,
            0 if count else p.block, True if count else self._after_mark)
        self._directory_cut(start, first, marks=count)
        self._flush()
        with self._on_disk():
            os.fsync(self._fd)  # a tape mark is st's synchronization point

    def _directory_cut(self, start: int, first: int, marks: int = 0) -> None:
        """What was written at byte `start` (logical `first`) is now the end of the tape:
        the directory keeps the marks before it, then `marks` tape marks from there. With
        none kept, the marks before `start` are found first (a scan up to there: once, as
        the directory is then kept; none at all for a new tape or a label at BOT). While it
        changes it is "changing": a SIGTERM's exception in the middle leaves it unsaved."""
        self._dir_state = "changing"
        if self._dir is None:
            if self._dir_unscannable:
                self._dir_state = "changed"
                return
            self._dir = self._scan(limit=start)
            if self._dir is None:
                self._dir_unscannable = True  # not once a write: it stays so
                self._dir_state = "changed"
                return
        self._dir.cut(start, first)
        for k in range(1, marks + 1):
            self._dir.mark_written(first + k, start + k * simh.WORD)
        self._dir.eod = (self._pos.logical, self._pos.offset)
        self._dir_state = "changed"

    def _directory(self) -> tapedir.TapeDir | None:
        """The directory, made by one scan of the image when none was kept for it (or the
        kept one failed a check); None when the image cannot be scanned (stepping meets what
        is wrong, where it is)."""
        if self._dir is None and not self._dir_unscannable:
            self._dir = self._scan()
            self._dir_unscannable = self._dir is None
            self._dir_state = "changed"
        return self._dir

    def _scan(self, limit: int | None = None) -> tapedir.TapeDir | None:
        """The marks of the image from BOT to its end of data (or to byte `limit`)."""
        pos, found = DriveState(), tapedir.TapeDir()
        try:
            while limit is None or pos.offset < limit:
                kind = spacing.forward(self._fd, pos)
                if kind == spacing.EOD:
                    break
                if kind == spacing.MARK:
                    found.marks.append((pos.logical, pos.offset))
        except OSError:
            return None
        found.eod = (pos.logical, pos.offset)
        return found

    def _distrust(self) -> None:
        """A kept directory failed a check, or the image changed in ways not followed (a
        full file system's cut): scan again when one is needed, and keep the new one."""
        self._dir, self._dir_state = None, "changed"

    def _pace(self, n: int) -> None:
        """Take as long as moving `n` bytes takes at the library's speed, counted from the
        end of the last transfer or now, whichever is later (an idle drive saves no time)."""
        if self._speed > 0:
            now = time.monotonic()
            self._due = max(self._due, now) + n / self._speed
            if self._due > now:
                time.sleep(self._due - now)

    @contextmanager
    def _on_disk(self) -> Iterator[None]:
        """The host's I/O on the cartridge image. Its file system filling up is the drive
        failing to write (EIO), never the end of the tape (ENOSPC): bptm would mark a good
        tape FULL and span the image onto the next one, which fails the same way. The image
        is cut after its last whole object, as a dead writer's is (direct.cut_torn), so that
        the next append finds the end of data; the position is unknown then, as st's is
        after an error."""
        try:
            yield
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            why = e.strerror
        else:
            return
        # (outside the except: its traceback would keep the staged buffers exported)
        self._distrust()
        if self._app is not None:
            self._app.forget()
        try:
            direct.cut_torn(str(self.library.cartridge_path(self._barcode)), self._fd)
            self._size = os.fstat(self._fd).st_size
        except OSError:
            pass  # the next opener cuts it (DriveState.held)
        if self._pos.offset > self._size:
            self._pos.offset = self._size
            self._pos.file = self._pos.block = -1
        raise _err(errno.EIO, f"the file system holding the cartridge {self._barcode} is "
                              f"full ({why})")

    def _put(self, parts: list[bytes | memoryview], pages: memoryview | None = None) -> int:
        """Write at the position, cutting off whatever followed (tape semantics): `parts`,
        or a record's frame `pages` (write_framed: after the gap to a page boundary); the
        bytes written. The caller moves the position (and the end of data) past them."""
        if self._pos.offset < self._size:
            self._flush()
            with self._on_disk():
                os.ftruncate(self._fd, self._pos.offset)
        # As far as these bytes may reach, before they go: interrupted (bptm's SIGTERM) with
        # the position not moved past them, the next write there cuts them off first.
        self._size = self._pos.offset + (direct.ALIGN + len(pages) if pages is not None
                                         else sum(len(p) for p in parts))
        with self._on_disk():
            if self._app is None:
                assert pages is None  # write_framed frames only with an Appender
                return image.write_at(self._fd, parts, self._pos.offset)
            if pages is not None:
                return self._app.append_frame(self._fd, pages, self._pos.offset)
            return self._app.append(self._fd, parts, self._pos.offset)

    def _flush(self) -> None:
        """Put staged records into the image file (before anything reads or moves)."""
        if self._app is not None:
            with self._on_disk():
                self._app.flush(self._fd)

    # --- positioning ---------------------------------------------------------------------

    def forward_files(self, count: int = 1) -> None:
        _check_count(count)
        self._moving()
        d = self._directory() if count else None
        if d is not None:
            i = d.next_mark_after(self._pos.offset) + count - 1
            if i < len(d.marks) and d.checks(self._fd, i):
                self._pos.logical, self._pos.offset = d.marks[i]
                self._pos.file = i + 1 if self._pos.file >= 0 else -1
                self._pos.block, self._after_mark = 0, True
                return
            if i < len(d.marks):
                self._distrust()
        for _ in range(count):
            while (kind := self._step()) != _MARK:
                if kind == _EOD:
                    raise _err(errno.EIO, "end of data before the tape mark")

    def backward_files(self, count: int = 1) -> None:
        _check_count(count)
        self._moving(flush=True)
        for _ in range(count):
            while (kind := self._step_back()) != _MARK:
                if kind == _BOT:
                    raise _err(errno.EIO, "beginning of tape before the tape mark")
        self._pos.block = -1 if count else self._pos.block

    def forward_records(self, count: int = 1) -> None:
        _check_count(count)
        self._moving()
        for _ in range(count):
            kind = self._step()
            if kind in (_MARK, _EOD):
                raise _err(errno.EIO, f"{'tape mark' if kind == _MARK else 'end of data'} "
                           f"while spacing records")

    def backward_records(self, count: int = 1) -> None:
        _check_count(count)
        self._moving()
        for _ in range(count):
            kind = self._step_back()
            if kind in (_MARK, _BOT):
                raise _err(errno.EIO, f"{'tape mark' if kind == _MARK else 'BOT'} "
                           f"while spacing records back")

    def rewind(self) -> None:
        self._moving(flush=True)
        self._pos.at_bot()

    def end_of_data(self) -> None:
        self._moving()
        d = self._directory()
        if d is not None and d.eod[1] >= self._pos.offset:
            if d.eod_checks(self._fd):
                crossed = d.next_mark_after(self._pos.offset) < len(d.marks)
                if crossed:
                    self._pos.file = len(d.marks) if self._pos.file >= 0 else -1
                    self._pos.block = d.eod[0] - d.marks[-1][0]
                elif self._pos.block >= 0:
                    self._pos.block += d.eod[0] - self._pos.logical
                self._pos.logical, self._pos.offset = d.eod
                self._after_mark = False
                return
            self._distrust()
        while self._step() != _EOD:
            pass
        self._after_mark = False  # st: ST_EOD, a read there fails

    def seek(self, block: int) -> None:
        self._moving(flush=True)
        if block < 0:
            raise _err(errno.EINVAL, "negative block")
        if block < self._pos.logical:
            self._pos.at_bot()
        d = self._directory() if block > self._pos.logical else None
        if d is not None:
            i = d.last_mark_at_or_before(block)
            if i >= 0 and d.marks[i][1] > self._pos.offset:
                if d.checks(self._fd, i):
                    self._pos.logical, self._pos.offset = d.marks[i]
                else:
                    self._distrust()
        while self._pos.logical < block:
            if self._step() == _EOD:
                raise _err(errno.EIO, f"block {block} is past the end of data")
        if block:
            self._pos.file = self._pos.block = -1
        self._after_mark = False

    def tell(self) -> int:
        self._ready()
        return self._pos.logical

    def set_block_size(self, size: int) -> None:
        self._ready()
        if not 0 <= size <= simh.MAX_RECORD:
            raise _err(errno.EINVAL, f"block size {size}")
        self._pos.block_size = size

    def space_left(self) -> int:
        """Bytes of image left from the position to the physical end (each record also takes
        8 bytes of length words). Not part of st: a real drive does not tell it."""
        self._ready()
        return max(0, self._cartridge().capacity - self._pos.offset)

    def status(self) -> DriveStatus:
        self._ready()
        cart = self._cartridge()
        off = self._pos.offset
        ew = cart.capacity - self.library.state().geometry.early_warning
        word = self._word(image.skip_gaps(self._fd, off))
        return DriveStatus(
            loaded=True, online=True, file_number=self._pos.file,
            block_number=self._pos.block, logical_block=self._pos.logical,
            block_size=self._pos.block_size, bot=off == 0, eof=self._after_mark,
            eod=word is None or word == simh.END_OF_MEDIUM, eot=off > ew,
            write_protected=cart.write_protected)

    def _moving(self, flush: bool = False) -> None:
        self._ready()
        if flush and self._last == "write":
            self._write_marks(1)
        self._last, self._ew, self._after_mark = "move", "none", False

    def _step(self) -> str:
        kind = spacing.forward(self._fd, self._pos)
        if kind != spacing.EOD:
            self._after_mark = kind == spacing.MARK
        return kind

    def _step_back(self) -> str:
        kind = spacing.backward(self._fd, self._pos)
        if kind != spacing.BOT:
            self._after_mark = False
        return kind

    # --- checks --------------------------------------------------------------------------

    def _word(self, offset: int) -> int | None:
        return image.read_word(self._fd, offset)

    def _ready(self, writing: bool = False) -> State:
        """EIO when the drive is down or the cartridge is gone; EACCES/EBADF for writes.
        Anything but a write first puts staged records into the image. The library's state,
        read once: this runs for every record (a write of 1 MiB takes well under 1 ms)."""
        if self._fd < 0:
            raise _err(errno.EBADF, f"drive {self.index} is not open")
        if not writing:
            self._flush()
        s = self.library.state()
        if s.drives[self.index].down:
            raise _err(errno.EIO, f"drive {self.index} is down")
        cart = s.cartridges.get(self._barcode)
        if cart is None or (cart.location, cart.element) != ("drive", self.index):
            raise _err(errno.EIO, f"{self._barcode} is no longer in drive {self.index}")
        if writing:
            if not self._writable:
                raise _err(errno.EBADF, f"drive {self.index} is open read-only")
            if cart.write_protected:
                raise _err(errno.EACCES, f"{self._barcode} is write protected")
        return s

    def _cartridge(self) -> Cartridge:
        return self.library.state().cartridges[self._barcode]
