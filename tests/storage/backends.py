"""The storage backends the conformance suite runs against, and how a test makes a unit of each.

Adding a backend to the suite is one line: its `Backend` in BACKENDS. A backend gives a new
empty unit's record (what nbemm would hold for it: stype, label, path...), a unit that really
runs out of room at about `capacity` bytes, what is stored on a unit (to see what a test left
behind), and the status its writes fail with when the unit is full.
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

from nbcli.media.storage import BASIC_DISK
from nbcli.status import DISK_FULL

Unit = dict[str, Any]


@dataclass(frozen=True)
class Backend:
    name: str
    unit: Callable[[Path], Unit]  # a new, empty unit under a test's own folder
    small_unit: Callable[[Path, int], AbstractContextManager[Unit]]  # one that fills at ~capacity
    contents: Callable[[Unit], set[str]]  # the names of what is stored on the unit
    full_status: int  # a write's status when the unit has no room left


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

BACKENDS = [DISK]
