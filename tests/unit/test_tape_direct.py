"""The virtual drive's O_DIRECT write-behind (nbcli/vtl/direct.py): records staged and written
in aligned pieces read back whole, every read or move sees what was written, and a writer
killed between flushes leaves a tape whose half-written record the next open cuts off."""

from __future__ import annotations

import errno
import mmap
import os
import random
from pathlib import Path

import pytest

from nbcli.vtl import direct, simh
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.unit.tapekit import loaded_drive, make_library


def lib_of(tmp_path: Path) -> Library:
    return make_library(tmp_path, capacity=64 << 20, early_warning=1 << 20)


def test_records_go_through_the_staging_and_read_back(tmp_path: Path) -> None:
    lib = lib_of(tmp_path)
    d = loaded_drive(lib)
    assert d._app is not None  # this file system takes O_DIRECT
    rnd = random.Random(1)
    records = [rnd.randbytes(rnd.choice([1, 3, 4095, 4096, 65537, 1 << 20]))
               for _ in range(40)]  # > 8 MiB: full staging buffers are written too
    for r in records[:20]:
        d.write(r)
    assert d.tell() == 20
    d.rewind()  # a move: everything staged is in the file
    assert [d.read(1 << 21) for _ in range(20)] == records[:20]
    for r in records[20:]:
        d.write(r)
    d.write_filemarks(1)
    size = os.path.getsize(lib.cartridge_path("A00000L6"))
    assert size == sum(8 + len(r) + len(r) % 2 for r in records) + 4  # records, one mark
    d.close()
    assert os.path.getsize(lib.cartridge_path("A00000L6")) == size  # cut to its real end
    d = VirtualDrive(lib, 0)
    d.open(False)
    d.rewind()
    assert [d.read(1 << 21) for _ in range(40)] == records and d.read(10) == b""
    d.close()


def test_a_writer_killed_between_flushes_leaves_whole_records(tmp_path: Path) -> None:
    lib = lib_of(tmp_path)
    VirtualDrive(lib, 0)  # the library, drive 0 loaded below in the child
    rec = os.urandom(3 << 20)
    pid = os.fork()
    if pid == 0:
        try:
            d = loaded_drive(lib)
            d.write(b"first")
            d.write_filemarks(1)  # flushed
            for _ in range(4):  # 12 MiB: one staging buffer written, the rest not
                d.write(rec)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    path = lib.cartridge_path("A00000L6")
    with open(path, "rb") as f:
        assert direct.torn_end(f.fileno()) is not None  # ends inside a record
    d = VirtualDrive(lib, 0)
    d.open(True)  # the dead holder's half record is cut off
    with open(path, "rb") as f:
        assert direct.torn_end(f.fileno()) is None
    assert d.read(100) == b"first" and d.read(100) == b""
    got = []
    while True:
        try:
            got.append(d.read(4 << 20))
        except OSError:  # the end of data
            break
    assert got and all(g == rec for g in got)
    d.end_of_data()
    d.write(b"next")  # appends after the last whole record
    d.close()


def test_the_robot_cuts_the_half_record_when_it_unloads_a_dead_writers_drive(
        tmp_path: Path) -> None:
    lib = lib_of(tmp_path)
    rec = os.urandom(3 << 20)
    pid = os.fork()
    if pid == 0:
        try:
            d = loaded_drive(lib)
            for _ in range(4):
                d.write(rec)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    path = lib.cartridge_path("A00000L6")
    with open(path, "rb") as f:
        assert direct.torn_end(f.fileno()) is not None
    changer = VirtualChanger(lib)
    changer.unload(0)  # the cartridge leaves the drive whose holder died
    with open(path, "rb") as f:
        assert direct.torn_end(f.fileno()) is None
    changer.load(1, 1)
    d = VirtualDrive(lib, 1)
    d.open(False)
    assert d.read(4 << 20) == rec
    d.close()


FRAME = 1 << 20  # a record as bptm writes them from its ring


def framed(view: memoryview, data: bytes) -> tuple[memoryview, int, int]:
    """A ring slot as bptm's child fills it: the record after the drive's room."""
    before = VirtualDrive.frame_room[0]
    view[before:before + len(data)] = data
    return view, before, len(data)


def test_framed_records_are_written_from_the_frame_and_read_back(tmp_path: Path) -> None:
    """write_framed puts the length words and a gap around the record in the caller's
    memory and writes its pages from there (the record starts a page of the image); every
    read and move passes over the gaps as if they were not there."""
    lib = lib_of(tmp_path)
    d = loaded_drive(lib)
    rnd = random.Random(2)
    big = [rnd.randbytes(n) for n in (FRAME, FRAME, 300_000, FRAME - 4)]
    slot = mmap.mmap(-1, FRAME + 2 * direct.ALIGN)
    view = memoryview(slot)
    d.write(b"labels!!")                  # 16 bytes: the next record needs a leading gap
    for r in big[:2]:
        d.write_framed(*framed(view, r))
    d.write_filemarks(1)
    d.write(b"xx")                        # 10 bytes: the end is 2 bytes past a word
    d.write_framed(*framed(view, big[2]))  # so this one is copied, framed as write() does
    d.write(b"yy")                        # back on a word
    d.write_framed(*framed(view, big[3]))
    d.write_filemarks(1)
    want = [b"labels!!", big[0], big[1], b"", b"xx", big[2], b"yy", big[3], b""]
    raw = lib.cartridge_path("A00000L6").read_bytes()
    # the framed records start pages, with erase gaps before and after them
    for r in (big[0], big[1], big[3]):
        at = raw.index(r)
        assert (at - 4) % direct.ALIGN == 0 and raw[at - 4:at] == simh.pack_word(len(r))
        assert raw[at + len(r) + 4:at + len(r) + 8] == simh.GAP_WORD
    at = raw.index(big[2])
    assert raw[at - 8:at - 4] != simh.GAP_WORD and raw[at + len(big[2]) + 4:][:4] != simh.GAP_WORD
    assert d.tell() == len(want)
    d.rewind()
    assert [d.read(2 * FRAME) for _ in want] == want
    # moves over the gaps, both ways, and the directory's jumps agree with stepping
    d.backward_files(1)
    d.backward_records(2)
    assert d.tell() == 6 and d.read(2 * FRAME) == b"yy"
    d.rewind()
    d.forward_records(2)
    assert d.read(2 * FRAME) == big[1]
    d.forward_files(1)
    assert d.read(10) == b"xx"
    d.seek(7)
    assert d.read(2 * FRAME) == big[3]
    d.end_of_data()
    assert d.tell() == len(want) and d.status().eod
    d.close()
    view.release()
    slot.close()
    with open(lib.cartridge_path("A00000L6"), "rb") as f:
        assert direct.torn_end(f.fileno()) is None
    os.unlink(f"{lib.cartridge_path('A00000L6')}.dir")  # the next opener scans
    d = VirtualDrive(lib, 0)
    d.open(False)
    d.rewind()
    d.end_of_data()
    assert d.tell() == len(want)
    d.seek(2)
    assert d.read(2 * FRAME) == big[1]
    d.close()


def test_a_frame_not_on_a_page_or_a_small_record_is_copied(tmp_path: Path) -> None:
    lib = lib_of(tmp_path)
    d = loaded_drive(lib)
    slot = mmap.mmap(-1, FRAME + 3 * direct.ALIGN)
    view = memoryview(slot)
    rec = os.urandom(FRAME)
    view[12:12 + FRAME] = rec  # its length word's place is not a page start
    d.write_framed(view, 12, FRAME)
    small = os.urandom(4096)
    d.write_framed(*framed(view, small))
    d.close()
    raw = lib.cartridge_path("A00000L6").read_bytes()
    assert simh.GAP_WORD not in raw  # both copied, framed as write() frames
    assert raw == simh.pack_record(rec) + simh.pack_record(small) + simh.pack_word(0)
    view.release()
    slot.close()


def test_a_framed_record_past_the_physical_end_is_enospc_and_writes_nothing(
        tmp_path: Path) -> None:
    """The gaps count against the capacity as the record does."""
    lib = make_library(tmp_path, capacity=3 * FRAME, early_warning=0)
    d = loaded_drive(lib)
    slot = mmap.mmap(-1, FRAME + 2 * direct.ALIGN)
    view = memoryview(slot)
    d.write(b"hdr!")
    d.write_framed(*framed(view, b"a" * FRAME))
    d.write_framed(*framed(view, b"b" * FRAME))
    assert d.tell() == 3  # (and what is staged is in the file)
    size = os.path.getsize(lib.cartridge_path("A00000L6"))
    assert size == direct.ALIGN + 2 * (FRAME + direct.ALIGN)  # hdr + gap, 2 x (record + gap)
    with pytest.raises(OSError) as e:
        d.write_framed(*framed(view, b"c" * FRAME))
    assert e.value.errno == errno.ENOSPC
    del e  # its traceback holds slices of the slot
    assert os.path.getsize(lib.cartridge_path("A00000L6")) == size
    d.close()
    view.release()
    slot.close()


def test_a_framed_record_cut_short_is_cut_off_after_the_last_whole_one(
        tmp_path: Path) -> None:
    """A writer that died in the middle of a frame's pages (or a full file system) leaves
    whole records and gaps before it: the next opener cuts there and appends."""
    lib = lib_of(tmp_path)
    d = loaded_drive(lib)
    slot = mmap.mmap(-1, FRAME + 2 * direct.ALIGN)
    view = memoryview(slot)
    rec = os.urandom(FRAME)
    d.write(b"frst")
    d.write_framed(*framed(view, rec))
    d.write_framed(*framed(view, rec))
    d.close()
    path = lib.cartridge_path("A00000L6")
    whole = os.path.getsize(path) - direct.frame_size(FRAME) - 4  # without the 2nd, the mark
    os.truncate(path, whole + 4096 + 100)  # the second frame half there
    with open(path, "rb") as f:
        assert direct.torn_end(f.fileno()) == whole
    with lib.update() as s:
        s.drives[0].held = True  # its holder died with it open
    d = VirtualDrive(lib, 0)
    d.open(True)  # cuts the dead holder's half record
    assert os.path.getsize(path) == whole
    d.rewind()
    assert d.read(10) == b"frst" and d.read(2 * FRAME) == rec
    d.write(b"next")
    d.rewind()
    assert [d.read(2 * FRAME) for _ in range(3)] == [b"frst", rec, b"next"]
    d.close()
    view.release()
    slot.close()
