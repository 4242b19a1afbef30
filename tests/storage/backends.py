"""The storage backends the conformance suite runs against, and how a test makes a unit of each.

Adding a backend to the suite is one line: its `Backend` in BACKENDS. A backend gives a new
empty unit's record (what nbemm would hold for it: stype, label, path...), a unit that really
runs out of room at about `capacity` bytes, what is stored on a unit (to see what a test left
behind), and the status its writes fail with when the unit is full. Where tape differs by
nature it says so: `deletes` (a tape never deletes an image: expiration unassigns the whole
medium), `lists` (so a tape lists no image for the cleanup to remove), `concurrent_writers`
(one drive writes one image at a time), and `release` lets go
of what the unit holds open (a tape drive) when a test ends.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbcli.media import tape, tapefmt
from nbcli.media.storage import BASIC_DISK, MEDIA_MANAGER
from nbcli.status import DISK_FULL, NO_MEDIA_AVAILABLE
from nbcli.vtl import simh
from nbcli.vtl.library import Library, home_of
from nbcli.vtl.state import Geometry

Unit = dict[str, Any]


@dataclass(frozen=True)
class Backend:
    name: str
    unit: Callable[[Path], Unit]  # a new, empty unit under a test's own folder
    small_unit: Callable[[Path, int], AbstractContextManager[Unit]]  # one that fills at ~capacity
    contents: Callable[[Unit], set[str]]  # the names of what is stored on the unit
    full_status: int  # a write's status when the unit has no room left
    deletes: bool = True  # delete_image removes the image's pieces
    lists: bool = True  # image_ids names the images stored (a tape lists none: nothing to remove)
    concurrent_writers: bool = True  # two images can be written at once
    release: Callable[[], None] = lambda: None  # close what the unit holds (end of a test)


def _disk_unit(base: Path) -> Unit:
    folder = base / "stu"
    folder.mkdir()
    return {"stype": BASIC_DISK, "label": "conformance", "path": str(folder)}


@contextlib.contextmanager
def _small_disk_unit(base: Path, capacity: int) -> Iterator[Unit]:
    """A disk unit on a tmpfs of `capacity` bytes: the kernel says ENOSPC, nothing is faked.
    Mounting needs root (CAP_SYS_ADMIN); without it the test is skipped, with the reason."""
    folder = base / "small"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={capacity},mode=0700",
                        "nbcli-conformance", str(folder)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a {capacity}-byte tmpfs here: {r.stderr.strip()}")
    try:
        yield {"stype": BASIC_DISK, "label": "small", "path": str(folder)}
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _disk_contents(unit: Unit) -> set[str]:
    return set(os.listdir(unit["path"]))


DISK = Backend("disk", _disk_unit, _small_disk_unit, _disk_contents, DISK_FULL)


def _tape_unit(base: Path, capacity: int = 64 << 20) -> Unit:
    """Drive 0 of a new virtual library (one drive, two slots) under the test's folder, its
    first cartridge the unit's medium (blank: mount labels it)."""
    home = home_of(base / "tape-root")
    Library.create(home, Geometry(drives=1, slots=2, mailslots=0, capacity=capacity,
                                  early_warning=capacity // 32, move_time=0),
                   ["A00000L6", "A00001L6"])
    return {"stype": MEDIA_MANAGER, "label": "conformance", "library": str(home), "drive": 0,
            "barcode": "A00000L6", "media_id": "A00000"}


@contextlib.contextmanager
def _small_tape_unit(base: Path, capacity: int) -> Iterator[Unit]:
    yield _tape_unit(base, capacity)


def tape_files(unit: Unit) -> list[list[bytes]]:
    """The tape files of the unit's cartridge, read from its .tap file: the records of each,
    up to the end of data (a tiny SIMH reader: 4-byte length, data, pad, length; 0 = mark;
    erase gap words skipped)."""
    raw = Library(unit["library"]).cartridge_path(unit["barcode"]).read_bytes()
    files: list[list[bytes]] = [[]]
    at = 0
    while at + 4 <= len(raw):
        word = simh.unpack_word(raw[at:at + 4])
        if word in (simh.TAPE_MARK, simh.ERASE_GAP):
            if word == simh.TAPE_MARK:
                files.append([])
            at += 4
            continue
        n = simh.length_of(word)
        files[-1].append(raw[at + 4:at + 4 + n])
        at += simh.record_size(n)
    return files


def _tape_contents(unit: Unit) -> set[str]:
    """Each image tape file before the empty header: `<backupid>_F<n> BH|DATA|CRCS`."""
    names: set[str] = set()
    files = tape_files(unit)[1:]  # file 0: the media header
    for i, records in enumerate(files):
        if not records or tapefmt.kind_of(records[0]) != "BH":
            continue
        bh = tapefmt.decode_bh(records[0])
        name = f"{bh.backupid}_F{bh.fragment}"
        names.add(f"{name} BH")
        if i + 1 < len(files) and files[i + 1]:
            names.add(f"{name} DATA")
        if i + 2 < len(files) and files[i + 2] and tapefmt.kind_of(files[i + 2][0]) == "CRCS":
            names.add(f"{name} CRCS")
    return names


TAPE = Backend("virtual tape", _tape_unit, _small_tape_unit, _tape_contents,
               NO_MEDIA_AVAILABLE, deletes=False, lists=False, concurrent_writers=False,
               release=tape.release_all)

BACKENDS = [DISK, TAPE]
