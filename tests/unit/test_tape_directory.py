"""The tape directory (nbcli/vtl/tapedir.py) on real cartridge images: a drive that opens a
cartridge another process wrote locates, spaces over files and goes to the end of data without
stepping over the records before (as an LTO drive uses its cartridge memory), lands exactly
where stepping would, and distrusts a directory that is not its image's (changed behind it, or
wrong where it is checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbcli.vtl import spacing, tapedir
from nbcli.vtl.library import Library
from nbcli.vtl.vdrive import VirtualDrive
from tests.unit.tapekit import loaded_drive, make_library

FILES, RECORDS = 4, 50  # four tape files of fifty 100-byte records: 204 objects


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    d = loaded_drive(library)
    for f in range(FILES):
        for r in range(RECORDS):
            d.write(bytes([f]) * 99 + bytes([r]))
        d.write_filemarks(1)
    d.close()
    return library


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every object a drive steps over (spacing.forward), counted."""
    seen: list[int] = []
    forward = spacing.forward

    def counted(fd: int, pos: object) -> str:
        seen.append(1)
        return forward(fd, pos)  # type: ignore[arg-type]

    monkeypatch.setattr(spacing, "forward", counted)
    return seen


def sidecar(lib: Library) -> Path:
    return Path(f"{lib.cartridge_path('A00000L6')}.dir")


def opened(lib: Library, writable: bool = False) -> VirtualDrive:
    d = VirtualDrive(lib, 0)
    d.open(writable)
    d.rewind()
    return d


def where(d: VirtualDrive) -> tuple[int, int, int]:
    s = d.status()
    return s.file_number, s.block_number, s.logical_block


def test_the_writer_keeps_the_directory_and_the_next_opener_jumps(lib: Library,
                                                                  steps: list[int]) -> None:
    doc = json.loads(sidecar(lib).read_text())
    assert [lb for lb, _ in doc["marks"]] == [(RECORDS + 1) * k for k in range(1, FILES + 1)]
    d = opened(lib)
    d.seek(3 * (RECORDS + 1) + 7)  # record 7 of tape file 3
    assert d.read(100) == bytes([3]) * 99 + bytes([7])
    assert len(steps) <= 7  # the records of that file before it, not the 160 before
    steps.clear()
    d.rewind()
    d.end_of_data()
    assert steps == [] and where(d) == (FILES, 0, FILES * (RECORDS + 1))
    d.rewind()
    d.forward_files(2)
    assert steps == [] and where(d) == (2, 0, 2 * (RECORDS + 1))
    assert d.read(100) == bytes([2]) * 99 + bytes([0])
    d.close()


def move(d: VirtualDrive, op: str, n: int) -> None:
    if op == "fsf":
        d.forward_files(n)
    elif op == "seek":
        d.seek(n)
    else:
        d.end_of_data()


def test_the_jumps_land_where_stepping_lands(lib: Library) -> None:
    """The same moves with the directory and with none (every object stepped): the same
    positions, and the same errors (a space past the last mark, a locate past the end)."""
    moves = [("fsf", 1), ("seek", 77), ("fsf", 1), ("eod", 0), ("fsf", 1), ("seek", 0),
             ("fsf", 3), ("seek", 150), ("fsf", 1), ("seek", 999), ("eod", 0), ("seek", 51),
             ("fsf", 2), ("fsf", 5)]
    got = []
    for keep in (True, False):
        d = opened(lib)
        if not keep:
            d._dir = None  # as if none was kept, and the scan found nothing to trust
            d._scan = lambda limit=None: None  # type: ignore[method-assign]
        trail: list[tuple[object, ...]] = []
        for op, n in moves:
            try:
                move(d, op, n)
                trail.append(where(d))
            except OSError as e:
                trail.append(("error", e.errno, where(d)))
        d.close()
        got.append(trail)
    assert got[0] == got[1]
    # spaces past the last mark (after the end of data, and fsf 5) and the locate past it
    assert [i for i, t in enumerate(got[0]) if t[0] == "error"] == [4, 9, 13], got[0]


def test_an_append_keeps_it_a_cut_rewrites_it(lib: Library, steps: list[int]) -> None:
    d = opened(lib, writable=True)
    d.end_of_data()
    d.write(b"appended")
    d.close()  # a tape mark after the write
    d = opened(lib)
    steps.clear()
    d.end_of_data()
    assert steps == [] and where(d) == (FILES + 1, 0, FILES * (RECORDS + 1) + 2)
    d.close()
    # a write in tape file 1 cuts the rest: the directory follows
    d = opened(lib, writable=True)
    d.forward_files(1)
    d.write(b"new")
    d.close()
    doc = json.loads(sidecar(lib).read_text())
    assert [lb for lb, _ in doc["marks"]] == [RECORDS + 1, RECORDS + 3]
    d = opened(lib)
    d.end_of_data()
    assert where(d)[2] == RECORDS + 3
    d.close()


def test_an_image_changed_behind_the_drive_is_scanned_again(lib: Library,
                                                            steps: list[int]) -> None:
    path = lib.cartridge_path("A00000L6")
    kept = len(path.read_bytes())
    with open(path, "r+b") as f:  # the last tape file cut by hand (a torn write's cut)
        f.truncate(kept - 4 - RECORDS * (4 + 100 + 4))
    d = opened(lib)
    d.end_of_data()
    assert where(d) == (FILES - 1, 0, (FILES - 1) * (RECORDS + 1))
    assert len(steps) > (FILES - 1) * RECORDS  # the directory was not believed: a scan
    d.close()
    doc = json.loads(sidecar(lib).read_text())  # ... kept for the next opener
    assert len(doc["marks"]) == FILES - 1


def test_a_directory_wrong_where_it_is_checked_is_not_believed(lib: Library) -> None:
    doc = json.loads(sidecar(lib).read_text())
    doc["marks"][2][1] += 100  # not after a tape mark; the key still says it is this image's
    doc["eod"][1] -= 4
    sidecar(lib).write_text(json.dumps(doc))
    d = opened(lib)
    d.seek(3 * (RECORDS + 1) + 7)
    assert d.read(100) == bytes([3]) * 99 + bytes([7])
    d.rewind()
    d.end_of_data()
    assert where(d) == (FILES, 0, FILES * (RECORDS + 1))
    d.close()


def test_a_reader_that_scanned_keeps_the_directory(lib: Library, steps: list[int]) -> None:
    tapedir.forget(str(sidecar(lib)))
    d = opened(lib)
    d.end_of_data()
    d.close()
    assert sidecar(lib).exists()
    steps.clear()
    d = opened(lib)
    d.end_of_data()
    assert steps == []
    d.close()
