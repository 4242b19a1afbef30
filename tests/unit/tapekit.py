"""Helpers shared by the tape tests: a small virtual library on tmp_path."""

from __future__ import annotations

from pathlib import Path

from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.state import Geometry
from nbcli.vtl.vdrive import VirtualDrive


def make_library(tmp_path: Path, *, drives: int = 2, slots: int = 4, mailslots: int = 1,
                 capacity: int = 1 << 20, early_warning: int = 1 << 16,
                 barcodes: list[str] | None = None) -> Library:
    codes = barcodes if barcodes is not None else [f"A{n:05d}L6" for n in range(slots)]
    return Library.create(tmp_path / "volmgr" / "vtl",
                          Geometry(drives, slots, mailslots, capacity, early_warning, 0.0),
                          codes)


def loaded_drive(lib: Library, slot: int = 1, drive: int = 0,
                 writable: bool = True) -> VirtualDrive:
    """Drive `drive` with the cartridge of `slot` loaded, open."""
    VirtualChanger(lib).load(slot, drive)
    d = VirtualDrive(lib, drive)
    d.open(writable)
    return d
