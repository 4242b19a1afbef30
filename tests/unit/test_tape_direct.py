"""The virtual drive's O_DIRECT write-behind (nbcli/vtl/direct.py): records staged and written
in aligned pieces read back whole, every read or move sees what was written, and a writer
killed between flushes leaves a tape whose half-written record the next open cuts off."""

from __future__ import annotations

import os
import random
from pathlib import Path

from nbcli.vtl import direct
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
