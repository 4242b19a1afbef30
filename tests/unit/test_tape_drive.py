"""The virtual drive, op by op, on real cartridge files: each test names the st behaviour
(Documentation/scsi/st.rst, SSC) it checks."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest

from nbcli.vtl import image, simh, vdrive
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.unit.tapekit import loaded_drive, make_library


def fails(code: int, call: object, *args: object) -> None:
    with pytest.raises(OSError) as e:
        call(*args)  # type: ignore[operator]
    assert e.value.errno == code, e.value


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return make_library(tmp_path)


@pytest.fixture
def tape(lib: Library) -> VirtualDrive:
    """Drive 0 with A00000L6 holding: r0 r1 FM r3 FM (file 0: two records, file 1: one)."""
    d = loaded_drive(lib)
    d.write(b"r0" * 10)
    d.write(b"r1" * 20)
    d.write_filemarks(1)
    d.write(b"r3" * 30)
    d.write_filemarks(1)
    d.rewind()
    return d


def test_positions_count_records_and_tape_marks(tape: VirtualDrive) -> None:
    """MTIOCPOS: a record and a tape mark are each one logical block (SSC logical objects)."""
    assert tape.tell() == 0 and tape.status().bot
    assert tape.read(1000) == b"r0" * 10
    assert tape.tell() == 1
    st = tape.status()
    assert (st.file_number, st.block_number, st.bot) == (0, 1, False)
    tape.end_of_data()
    assert tape.tell() == 5
    st = tape.status()
    assert st.eod and (st.file_number, st.block_number) == (2, 0)


def test_read_at_tape_mark_returns_nothing_and_moves_past_it(tape: VirtualDrive) -> None:
    """st: a read that meets a filemark returns 0 bytes; the tape is then past the mark."""
    tape.read(1000)
    tape.read(1000)
    assert tape.read(1000) == b""
    st = tape.status()
    assert st.eof and (st.file_number, st.block_number, st.logical_block) == (1, 0, 3)
    assert tape.read(1000) == b"r3" * 30


def test_read_at_end_of_data(tape: VirtualDrive, lib: Library) -> None:
    """st_read: at the end of data right after a tape mark a read returns 0 bytes once
    (ST_FM -> ST_EOD), then EIO - so a reader sees two 0-byte reads at the end, as st.rst
    says; anywhere else at the end of data (after MTEOM, after a record with no tape mark
    behind it, on a blank tape) the blank check is EIO at once."""
    tape.seek(3)
    assert tape.read(1000) == b"r3" * 30
    assert tape.read(1000) == b""  # the tape mark
    assert tape.read(1000) == b""  # the end of data, right after it
    fails(errno.EIO, tape.read, 1000)
    tape.forward_files(0)
    tape.end_of_data()
    fails(errno.EIO, tape.read, 1000)
    tape.close()
    lib.cartridge_path("A00001L6").write_bytes(simh.pack_record(b"last"))
    d = loaded_drive(lib, slot=2, drive=1, writable=False)
    assert d.read(100) == b"last"
    fails(errno.EIO, d.read, 100)
    d.close()
    VirtualChanger(lib).unload(1)
    blank = loaded_drive(lib, slot=3, drive=1, writable=False)
    fails(errno.EIO, blank.read, 100)
    blank.close()


def test_variable_mode_read_smaller_than_record_is_enomem(tape: VirtualDrive) -> None:
    """st.rst: in variable block mode a read() smaller than the block fails with ENOMEM."""
    fails(errno.ENOMEM, tape.read, 5)
    assert tape.tell() == 1  # the block was read by the drive: the tape is past it


def test_forward_and_backward_files(tape: VirtualDrive) -> None:
    """MTFSF leaves the tape after the mark; MTBSF before it (on its BOT side), and the
    block number becomes unknown (-1) as st reports it."""
    tape.forward_files(1)
    assert tape.tell() == 3 and tape.read(1000) == b"r3" * 30
    tape.backward_files(1)
    assert tape.tell() == 2
    st = tape.status()
    assert (st.file_number, st.block_number) == (0, -1)
    assert tape.read(1000) == b""  # the mark itself
    tape.rewind()
    fails(errno.EIO, tape.forward_files, 3)  # only two marks: EIO at the end of data
    assert tape.status().eod
    fails(errno.EIO, tape.backward_files, 3)  # BOT first: EIO at BOT
    assert tape.tell() == 0 and tape.status().bot


def test_forward_and_backward_records(tape: VirtualDrive) -> None:
    """MTFSR/MTBSR space records; meeting a tape mark they cross it and fail with EIO."""
    tape.forward_records(2)
    assert tape.tell() == 2
    fails(errno.EIO, tape.forward_records, 1)
    assert tape.tell() == 3 and tape.status().file_number == 1
    tape.backward_records(0)
    fails(errno.EIO, tape.backward_records, 1)  # the mark before r3: crossed backward
    assert tape.tell() == 2
    tape.backward_records(2)
    assert tape.tell() == 0
    fails(errno.EIO, tape.backward_records, 1)  # at BOT


def test_seek_and_tell(tape: VirtualDrive) -> None:
    """MTSEEK to a logical block, forward or back; file/block numbers become unknown."""
    tape.seek(3)
    assert tape.tell() == 3 and tape.read(1000) == b"r3" * 30
    tape.seek(1)
    assert tape.read(1000) == b"r1" * 20
    assert tape.status().file_number == -1
    fails(errno.EIO, tape.seek, 9)
    assert tape.tell() == 5 and tape.status().eod
    tape.seek(0)
    assert tape.status().bot


def test_write_after_positioning_cuts_off_what_followed(tape: VirtualDrive,
                                                        lib: Library) -> None:
    """Tape semantics: data after a written record is gone."""
    tape.forward_records(1)
    tape.write(b"new")
    assert tape.status().eod
    tape.rewind()  # writes the tape mark st writes before a rewind after a write
    assert tape.read(1000) == b"r0" * 10
    assert tape.read(1000) == b"new"
    assert tape.read(1000) == b""
    tape.end_of_data()
    assert tape.tell() == 3
    tape.close()
    assert lib.cartridge_path("A00000L6").stat().st_size == (8 + 20) + (8 + 4) + 4


def test_write_filemark_in_the_middle_cuts_too(tape: VirtualDrive) -> None:
    """MTWEOF is a write: what followed the position is gone."""
    tape.forward_files(1)
    tape.write_filemarks(2)
    tape.rewind()
    tape.end_of_data()
    assert tape.tell() == 5  # r0 r1 FM FM FM: r3 and its mark are gone


def test_close_after_write_writes_one_tape_mark(lib: Library) -> None:
    """st: closing after a write writes one filemark (ST_TWO_FM off); after MTWEOF none."""
    d = loaded_drive(lib)
    d.write(b"a")
    d.close()
    d.open()
    d.rewind()
    d.end_of_data()
    assert d.tell() == 2
    d.write_filemarks(1)
    d.close()
    d.open()
    d.rewind()
    d.end_of_data()
    assert d.tell() == 3
    d.close()


def test_position_is_kept_between_opens(tape: VirtualDrive, lib: Library) -> None:
    """/dev/nstN does not rewind on close: the next open continues where the last ended."""
    tape.forward_files(1)
    tape.close()
    again = VirtualDrive(lib, 0)
    again.open(writable=False)
    assert again.tell() == 3 and again.read(1000) == b"r3" * 30
    again.close()


def test_a_reader_writes_the_library_state_once_and_dying_leaves_the_old_position(
        tape: VirtualDrive, lib: Library) -> None:
    """A read-only open marks nothing held (no write of library.toml); its close keeps the
    position; a reader that dies leaves the position the last close kept (it tore nothing:
    no rewind to BOT as after a dead writer)."""
    tape.forward_files(1)
    tape.close()
    state = lib.state_file.stat()
    reader = VirtualDrive(lib, 0)
    reader.open(writable=False)
    assert (lib.state_file.stat().st_ino, lib.state_file.stat().st_mtime_ns) == \
        (state.st_ino, state.st_mtime_ns)
    assert reader.read(1000) == b"r3" * 30 and reader.tell() == 4
    reader.close()
    assert lib.state_file.stat().st_ino != state.st_ino  # the close kept the position
    dying = VirtualDrive(lib, 0)
    dying.open(writable=False)
    dying.rewind()
    dying.close_inherited()  # what the kernel does for a process that dies
    again = VirtualDrive(lib, 0)
    again.open(writable=False)
    assert again.tell() == 4
    again.close()


def test_fixed_block_mode(lib: Library) -> None:
    """MTSETBLK n: a write of k*n bytes makes k blocks; other counts fail with EINVAL; a read
    returns whole blocks and stops at a tape mark, which the next read returns as 0 bytes."""
    d = loaded_drive(lib)
    d.set_block_size(512)
    assert d.write(b"x" * 2048) == 2048
    assert d.tell() == 4
    fails(errno.EINVAL, d.write, b"x" * 100)
    d.write_filemarks(1)
    d.rewind()
    assert d.read(1024) == b"x" * 1024
    assert d.tell() == 2
    assert d.read(4096) == b"x" * 1024  # two blocks left before the mark
    assert d.read(4096) == b""           # the mark
    fails(errno.EINVAL, d.read, 100)
    d.set_block_size(0)
    d.rewind()
    assert d.read(65536) == b"x" * 512   # variable mode: one block a read
    d.set_block_size(1024)
    d.rewind()
    fails(errno.EIO, d.read, 1024)       # a 512-byte block in 1024-byte fixed mode
    d.close()


def test_early_warning_then_alternate_enospc(tmp_path: Path) -> None:
    """st.rst "EOM Behaviour When Writing": the write that passes early warning succeeds;
    then -1/ENOSPC and a successful write alternate until the physical end, where every
    write fails with ENOSPC and writes nothing."""
    # room for ten blocks and a tape mark; early warning after seven blocks
    lib = make_library(tmp_path, capacity=10 * 1008 + 4, early_warning=3 * 1008 + 4)
    d = loaded_drive(lib)
    block = b"b" * 1000  # 1008 bytes with the two length words
    results = []
    for _ in range(14):
        try:
            d.write(block)
            results.append("ok")
        except OSError as e:
            assert e.errno == errno.ENOSPC
            results.append("ENOSPC")
    # 7 blocks reach the early-warning point (7*1008); the 8th passes it.
    assert results == ["ok"] * 8 + ["ENOSPC", "ok"] * 2 + ["ENOSPC", "ENOSPC"]
    assert d.status().eot
    assert d.tell() == 10 and lib.cartridge_path("A00000L6").stat().st_size == 10 * 1008
    fails(errno.ENOSPC, d.write, block)
    d.write_filemarks(1)  # a tape mark still fits: 4 bytes
    d.close()


def test_capacity_fills_up_without_early_warning_zone(tmp_path: Path) -> None:
    """Physical end of medium: the write that does not fit fails with ENOSPC and writes nothing."""
    lib = make_library(tmp_path, capacity=4096, early_warning=0)
    d = loaded_drive(lib)
    assert d.space_left() == 4096
    written = 0
    with pytest.raises(OSError) as e:
        while True:
            written += d.write(b"z" * 1000)
    assert e.value.errno == errno.ENOSPC and written == 4000
    assert d.space_left() == 4096 - 4 * 1008
    assert lib.cartridge_path("A00000L6").stat().st_size == 4 * 1008
    d.rewind()
    d.end_of_data()
    assert d.tell() == 5  # four records and the mark rewind wrote


def test_write_protect(lib: Library) -> None:
    """st: opening a write-protected tape for writing fails with EROFS; a write to it
    (opened read-only, or protected while open) fails with EACCES/EBADF."""
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = True
    VirtualChanger(lib).load(1, 0)
    d = VirtualDrive(lib, 0)
    fails(errno.EROFS, d.open, True)
    d.open(writable=False)
    assert d.status().write_protected
    fails(errno.EBADF, d.write, b"x")
    d.close()
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = False
    d.open()
    d.write(b"x")
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = True
    fails(errno.EACCES, d.write, b"y")
    fails(errno.EACCES, d.write_filemarks, 1)
    d.close()


def test_open_twice_is_ebusy_and_empty_drive_is_enomedium(lib: Library) -> None:
    """st's open: EBUSY while the device is open elsewhere, ENOMEDIUM with no tape; ops on a
    closed drive EBADF."""
    d = loaded_drive(lib)
    fails(errno.EBUSY, VirtualDrive(lib, 0).open)
    d.close()
    fails(errno.ENOMEDIUM, VirtualDrive(lib, 1).open)
    fails(errno.EBADF, d.read, 10)  # closed


def test_readinto_places_records_without_a_copy(tape: VirtualDrive, lib: Library) -> None:
    """readinto: the same records, marks and errors as read, into the caller's buffer."""
    buf = bytearray(100)
    assert tape.readinto(memoryview(buf)) == 20 and buf[:20] == b"r0" * 10
    fails(errno.ENOMEM, tape.readinto, memoryview(bytearray(10)))  # r1 is 40 bytes
    assert tape.readinto(memoryview(buf)) == 0  # the tape mark
    assert tape.readinto(memoryview(buf)) == 60 and buf[:60] == b"r3" * 30
    tape.set_block_size(2)
    tape.rewind()
    fails(errno.EIO, tape.readinto, memoryview(buf))  # 20-byte block in 2-byte fixed mode


def test_moves_after_a_write_write_a_tape_mark_first(lib: Library) -> None:
    """st.rst: "If rewind, offline, bsf, or seek is done and previous tape operation was
    write, a filemark is written before moving tape" - and MTBSF then stops before it."""
    d = loaded_drive(lib)
    d.write(b"one")
    d.backward_files(1)
    assert d.tell() == 1                     # before the mark the move wrote
    assert d.read(100) == b""                # which is there
    d.write(b"two")                          # over nothing: the end of data
    d.seek(0)
    d.end_of_data()
    assert d.tell() == 4                     # one FM two FM
    d.forward_records(0)
    d.close()
    d.open()
    assert d.tell() == 4
    d.end_of_data()
    assert d.tell() == 4                     # no mark at close: the last op was a move
    d.close()


def test_a_library_speed_paces_reads_and_writes(lib: Library) -> None:
    """Geometry.speed: a drive moves at most that many bytes a second, both ways (what the
    fault tests rely on for a job still moving data when its victim is killed)."""
    with lib.update() as s:
        s.geometry.speed = 1 << 20
    d = loaded_drive(lib)
    start = time.monotonic()
    for _ in range(4):
        d.write(bytes(64 << 10))
    wrote = time.monotonic() - start
    d.rewind()
    start = time.monotonic()
    got = sum(len(d.read(64 << 10)) for _ in range(4))
    read = time.monotonic() - start
    d.close()
    assert got == 256 << 10
    assert wrote >= 0.24 and read >= 0.24, (wrote, read)


class _Signalled(Exception):
    """What bptm's SIGTERM handler raises (Aborted), wherever the main thread is."""


def test_an_exception_while_a_write_is_paced_leaves_a_whole_position(
        lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paced drive sleeps after each record; bptm's SIGTERM handler raises there. The
    position must still count the record it is past (offset and logical block moved as one),
    or bptm's undo - back to the image's backup header, an empty header written there - lands
    one record late and leaves the dead image's header on the tape."""
    with lib.update() as s:
        s.geometry.speed = 1 << 30
    d = loaded_drive(lib)
    d.write(b"MH" * 40)
    d.write_filemarks(1)
    d.write(b"BH" * 40)
    d.write_filemarks(1)

    def interrupted(seconds: float) -> None:
        raise _Signalled

    monkeypatch.setattr(vdrive.time, "sleep", interrupted)
    with pytest.raises(_Signalled):
        d.write(bytes(64 << 10))
    monkeypatch.undo()
    assert d.tell() == 5  # MH, mark, BH, mark, the record it wrote
    d.seek(2)  # the undo: back to the backup header ...
    d.write(b"EH" * 40)  # ... and the empty header over it
    d.write_filemarks(1)
    d.rewind()
    d.forward_files(1)
    assert d.read(100) == b"EH" * 40  # tape file 1 is the empty header, nothing before it
    d.close()


def test_an_exception_after_a_record_went_out_leaves_no_tail_behind_a_shorter_write(
        lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a file system without O_DIRECT (records written straight, no staging to cut back
    at close): interrupted once the record is in the file but before the position moved
    past it, the next (shorter) write at that position cuts it off, so the end of data is
    where the tape says, with no rest of the long record after it."""
    d = loaded_drive(lib)
    d._app = None  # as open_appender leaves it where O_DIRECT is refused
    d.write(b"BH" * 40)
    d.write_filemarks(1)
    written = image.write_at

    def then_signalled(fd: int, parts: list[bytes | memoryview], offset: int) -> int:
        written(fd, parts, offset)
        raise _Signalled

    monkeypatch.setattr(image, "write_at", then_signalled)
    with pytest.raises(_Signalled):
        d.write(bytes(64 << 10))
    monkeypatch.undo()
    assert d.tell() == 2
    d.write(b"EH" * 40)
    d.close()  # a tape mark after it
    assert lib.cartridge_path("A00000L6").stat().st_size == 2 * (4 + 80 + 4) + 2 * 4
    e = VirtualDrive(lib, 0)
    e.open(False)
    e.rewind()
    e.end_of_data()
    assert e.tell() == 4  # BH, mark, EH, mark: nothing of the 64 KiB record
    e.close()
