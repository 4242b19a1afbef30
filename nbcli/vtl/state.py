"""The virtual library's state: one TOML file a human can read, and the records in it.

    <root>/volmgr/vtl/library.toml      this file: geometry, drives, cartridges, faults
    <root>/volmgr/vtl/library.lock      flock: every change of library.toml, and robot moves
    <root>/volmgr/vtl/drive<N>.lock     flock: held by the process that has drive N open
    <root>/volmgr/vtl/cartridges/<barcode>.tap   each cartridge, a SIMH tape image

Readers take no lock: library.toml is replaced by rename (nbcli.atomic), so a reader sees
the old file or the new one. Writers read, change and write it under library.lock
(`Library.update`). Faults live here too, so that a process driving a drive (bptm) sees the
ones `nbvtl fault` sets from another process.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

import tomli_w

BARCODE = re.compile(r"[A-Z0-9]{1,16}")
LOCATIONS = ("slot", "mailslot", "drive", "shelf")


@dataclass
class Geometry:
    drives: int
    slots: int
    mailslots: int
    capacity: int         # bytes of a new cartridge's image, framing included
    early_warning: int    # bytes before the physical end where early warning starts
    move_time: float      # seconds a robot move takes
    # bytes a second a drive reads or writes, as a real drive streams at its native rate
    # (0: as fast as the disk); tests use it for a job that moves data long enough to be hit
    speed: int = 0


@dataclass
class DriveState:
    """A drive: whether it is down, and where its tape stands (kept across opens, as a
    non-rewinding device keeps it)."""

    down: bool = False
    held: bool = False     # open for writing in a process; still true at the next open: it died
    source: int = 0        # the slot the loaded cartridge came from (0: none)
    block_size: int = 0    # 0: variable block mode
    offset: int = 0        # byte offset in the cartridge image
    file: int = 0          # mt_fileno (-1 unknown)
    block: int = 0         # mt_blkno (-1 unknown)
    logical: int = 0       # MTIOCPOS

    def at_bot(self) -> None:
        self.offset = self.file = self.block = self.logical = 0
        self.held = False


@dataclass
class Cartridge:
    location: str                  # slot | mailslot | drive | shelf
    element: int                   # its slot, mail slot or drive number (0 on the shelf)
    capacity: int
    write_protected: bool = False
    wont_load: bool = False        # fault: the drive rejects it
    write_errors: list[int] = field(default_factory=list)  # fault: EIO writing these blocks
    read_errors: list[int] = field(default_factory=list)   # fault: EIO reading these blocks


@dataclass
class State:
    geometry: Geometry
    drives: list[DriveState]
    cartridges: dict[str, Cartridge]

    def at(self, location: str, element: int) -> str | None:
        """The barcode of the cartridge in an element, or None when it is empty."""
        for barcode, c in self.cartridges.items():
            if c.location == location and c.element == element:
                return barcode
        return None

    def mailslot_numbers(self) -> range:
        """Mail slots are numbered after the storage slots, as mtx numbers them."""
        g = self.geometry
        return range(g.slots + 1, g.slots + g.mailslots + 1)


HEADER = """\
# nbcli virtual tape library (nbvtl). Change it with nbvtl, not by hand: nbvtl and bptm
# rewrite it under library.lock. Drives are numbered from 0, slots from 1, mail slots after
# the last slot; a cartridge's location is slot, mailslot, drive or shelf (out of the library).
"""


def dumps(state: State) -> str:
    doc: dict[str, Any] = {
        "library": asdict(state.geometry),
        "drives": {str(i): asdict(d) for i, d in enumerate(state.drives)},
        "cartridges": {b: asdict(c) for b, c in sorted(state.cartridges.items())},
    }
    return HEADER + "\n" + tomli_w.dumps(doc)


def loads(text: str) -> State:
    """The state in `text`; ValueError (or KeyError/TypeError) when it is not one."""
    doc = tomllib.loads(text)
    geometry = Geometry(**doc["library"])
    drives_doc = doc.get("drives", {})
    drives = [DriveState(**drives_doc[str(i)]) for i in range(geometry.drives)]
    cartridges = {b: Cartridge(**c) for b, c in doc.get("cartridges", {}).items()}
    for barcode, c in cartridges.items():
        if c.location not in LOCATIONS or not BARCODE.fullmatch(barcode):
            raise ValueError(f"bad cartridge {barcode!r} in the library state")
    return State(geometry, drives, cartridges)


def barcode_range(spec: str) -> list[str]:
    """`A00000L6..A00009L6` -> the ten barcodes; `A00000L6,B00000L6` -> those two; one
    barcode alone -> itself. ValueError when the range is not one number counting up."""
    if ".." not in spec:
        codes = [c.strip() for c in spec.split(",") if c.strip()]
    else:
        first, _, last = spec.partition("..")
        codes = _expand(first.strip(), last.strip())
    for c in codes:
        if not BARCODE.fullmatch(c):
            raise ValueError(f"barcode {c!r}: 1 to 16 upper-case letters and digits")
    if len(set(codes)) != len(codes):
        raise ValueError("a barcode is given twice")
    return codes


def _expand(first: str, last: str) -> list[str]:
    if len(first) != len(last):
        raise ValueError(f"{first}..{last}: both ends must have the same length")
    diff = [i for i, (a, b) in enumerate(zip(first, last)) if a != b]
    if not diff:
        return [first]
    lo, hi = diff[0], diff[-1] + 1
    while lo > 0 and first[lo - 1].isdigit() and last[lo - 1].isdigit():
        lo -= 1
    while hi < len(first) and first[hi].isdigit() and last[hi].isdigit():
        hi += 1
    a, b = first[lo:hi], last[lo:hi]
    if not (a.isdigit() and b.isdigit()) or int(a) > int(b):
        raise ValueError(f"{first}..{last}: the part that differs must be a number counting up")
    width = hi - lo
    return [f"{first[:lo]}{n:0{width}d}{first[hi:]}" for n in range(int(a), int(b) + 1)]
