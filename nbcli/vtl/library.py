"""The virtual tape library: its folder, its locks, and its robot (VirtualChanger).

Theory of operation. All state is library.toml (state.py). A change is a read-modify-write
under an exclusive flock on library.lock, ending in an atomic replace, so two processes never
lose each other's change; readers re-read the file only when its inode or mtime changed (one
stat per call). The robot holds library.lock for a whole move, move time included, so moves
are serialized as a real changer serializes them. A process that opens a drive holds an
exclusive flock on drive<N>.lock until it closes it: the same drive cannot be opened twice
(EBUSY, as st's open), and the robot will not pull a cartridge out of an open drive (medium
removal prevented). Two processes can drive two drives of one library at once: they share
only library.lock, and only for the short state updates.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbcli import atomic
from nbcli.vtl import direct
from nbcli.vtl import state as st
from nbcli.vtl.api import ChangerError, Element, Inventory
from nbcli.vtl.state import Cartridge, DriveState, Geometry, State

# A cartridge holds backup data: its owner's alone, as a disk storage unit's fragments are
# (media/disk.py) and as st's /dev/nst* are not open to all.
CARTRIDGE_MODE = 0o600


def keep_private(fd: int) -> None:
    """Take group and other access off an open cartridge file (one a library made before
    cartridges were created CARTRIDGE_MODE, or a copy put in place by hand)."""
    if os.fstat(fd).st_mode & 0o077:
        # the drive's holder may: opening a drive takes its lock file read-write, which only
        # the library's owner (root) can, and root may change any file's mode
        os.fchmod(fd, CARTRIDGE_MODE)


def home_of(root: str | os.PathLike[str]) -> Path:
    """Where the virtual library of the host at `root` lives."""
    return Path(root) / "volmgr" / "vtl"


class Library:
    """One virtual library in `home` (<root>/volmgr/vtl)."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.state_file = self.home / "library.toml"
        self.lock_file = self.home / "library.lock"
        self.cartridge_dir = self.home / "cartridges"
        self._cache: tuple[tuple[int, int, int], State] | None = None

    def exists(self) -> bool:
        return self.state_file.is_file()

    def cartridge_path(self, barcode: str) -> Path:
        return self.cartridge_dir / f"{barcode}.tap"

    def drive_lock_path(self, drive: int) -> Path:
        return self.home / f"drive{drive}.lock"

    @classmethod
    def create(cls, home: str | os.PathLike[str], geometry: Geometry,
               barcodes: list[str]) -> Library:
        """A new library with `barcodes` in slots 1, 2, ...; FileExistsError if one is there."""
        lib = cls(home)
        if len(barcodes) > geometry.slots:
            raise ValueError(f"{len(barcodes)} barcodes for {geometry.slots} slots")
        atomic.makedirs(lib.cartridge_dir)
        with lib._locked():
            if lib.exists():
                raise FileExistsError(str(lib.state_file))
            cartridges = {b: Cartridge("slot", i + 1, geometry.capacity)
                          for i, b in enumerate(barcodes)}
            for b in barcodes:
                atomic.write_bytes(lib.cartridge_path(b), b"", mode=CARTRIDGE_MODE)
            new = State(geometry, [DriveState() for _ in range(geometry.drives)], cartridges)
            atomic.write_text(lib.state_file, st.dumps(new))
        return lib

    def state(self) -> State:
        """The current state (cached until library.toml is replaced). Do not change it:
        changes go through `update`."""
        try:
            s = os.stat(self.state_file)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "no tape library here",
                                    str(self.state_file)) from None
        key = (s.st_ino, s.st_mtime_ns, s.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, st.loads(self.state_file.read_text(encoding="utf-8")))
        return self._cache[1]

    @contextmanager
    def update(self) -> Iterator[State]:
        """A fresh copy of the state to change; written back atomically on a clean exit."""
        with self._locked():
            fresh = st.loads(self.state_file.read_text(encoding="utf-8"))
            yield fresh
            atomic.write_text(self.state_file, st.dumps(fresh))
            self._cache = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def drive_in_use(self, drive: int) -> bool:
        """Whether some process has drive `drive` open (its lock is held)."""
        fd = os.open(self.drive_lock_path(drive), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


class VirtualChanger:
    """The library's robot, with mtx's moves (api.Changer) and the operator's mail slot."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def inventory(self) -> Inventory:
        s = self.library.state()
        drives = []
        for i, d in enumerate(s.drives):
            code = s.at("drive", i)
            drives.append(Element("drive", i, code is not None, code or "",
                                  d.source if code else None))
        slots = tuple(_element(s, "slot", n) for n in range(1, s.geometry.slots + 1))
        mail = tuple(_element(s, "mailslot", n) for n in s.mailslot_numbers())
        return Inventory(tuple(drives), slots, mail)

    def load(self, slot: int, drive: int) -> None:
        with self._move() as s:
            code = self._take(s, slot)
            _check_drive(s, drive)
            if s.at("drive", drive) is not None:
                raise ChangerError(errno.EEXIST, f"drive {drive} is full")
            if s.drives[drive].down:  # the element is not accessible (a SCSI changer's
                # "destination not available"): the drive's fault, not the cartridge's
                raise ChangerError(errno.ENXIO, f"drive {drive} is down")
            if s.cartridges[code].wont_load:
                raise ChangerError(errno.EIO, f"{code} will not load in drive {drive}: "
                                   f"returned to its slot")
            self._place(s, code, "drive", drive)
            s.drives[drive].source = slot
            s.drives[drive].at_bot()

    def unload(self, drive: int, slot: int | None = None) -> None:
        with self._move() as s:
            _check_drive(s, drive)
            code = s.at("drive", drive)
            if code is None:
                raise ChangerError(errno.ENOMEDIUM, f"drive {drive} is empty")
            if self.library.drive_in_use(drive):
                raise ChangerError(errno.EBUSY, f"drive {drive} is open: medium removal "
                                   f"prevented")
            target = slot if slot is not None else s.drives[drive].source
            self._free(s, target)
            if s.drives[drive].held:  # its holder died with it open, maybe mid-record
                direct.cut_torn(str(self.library.cartridge_path(code)))
            self._place(s, code, _kind(s, target), target)
            s.drives[drive].source = 0
            s.drives[drive].at_bot()

    def transfer(self, source: int, target: int) -> None:
        with self._move() as s:
            code = self._take(s, source)
            self._free(s, target)
            self._place(s, code, _kind(s, target), target)

    # --- the operator's side of the mail slot --------------------------------------------

    def insert(self, barcode: str) -> int:
        """Put a cartridge (a new blank one, or one from the shelf) into a free mail slot;
        its number. No robot move: the operator does this."""
        with self.library.update() as s:
            c = s.cartridges.get(barcode)
            if c is not None and c.location != "shelf":
                raise ChangerError(errno.EEXIST, f"{barcode} is already in the library "
                                   f"({c.location} {c.element})")
            free = [n for n in s.mailslot_numbers() if s.at("mailslot", n) is None]
            if not free:
                raise ChangerError(errno.EEXIST, "no free mail slot")
            if c is None:
                path = self.library.cartridge_path(barcode)
                if not path.exists():
                    atomic.write_bytes(path, b"", mode=CARTRIDGE_MODE)
                c = s.cartridges[barcode] = Cartridge("shelf", 0, s.geometry.capacity)
            c.location, c.element = "mailslot", free[0]
            return free[0]

    def remove(self, barcode: str) -> None:
        """Take a cartridge out of its mail slot onto the shelf (its image is kept)."""
        with self.library.update() as s:
            c = s.cartridges.get(barcode)
            if c is None or c.location != "mailslot":
                raise ChangerError(errno.ENOMEDIUM, f"{barcode} is not in a mail slot")
            c.location, c.element = "shelf", 0

    def first_free(self, kind: str) -> int:
        """The lowest empty slot or mail slot (ChangerError EEXIST when none is)."""
        s = self.library.state()
        numbers = range(1, s.geometry.slots + 1) if kind == "slot" else s.mailslot_numbers()
        homes = {d.source for d in s.drives}  # a loaded cartridge's slot stays its home
        for n in numbers:
            if s.at(kind, n) is None and n not in homes:
                return n
        raise ChangerError(errno.EEXIST, f"every {kind.replace('mail', 'mail ')} is full")

    # --- moves ---------------------------------------------------------------------------

    @contextmanager
    def _move(self) -> Iterator[State]:
        """One robot move: serialized with every other by library.lock, taking move_time."""
        with self.library.update() as s:
            if s.geometry.move_time > 0:
                time.sleep(s.geometry.move_time)
            yield s

    def _take(self, s: State, element: int) -> str:
        code = s.at(_kind(s, element), element)
        if code is None:
            raise ChangerError(errno.ENOMEDIUM, f"source element {element} is empty")
        return code

    def _free(self, s: State, element: int) -> None:
        if s.at(_kind(s, element), element) is not None:
            raise ChangerError(errno.EEXIST, f"destination element {element} is full")

    @staticmethod
    def _place(s: State, code: str, kind: str, element: int) -> None:
        c = s.cartridges[code]
        c.location, c.element = kind, element


def _kind(s: State, element: int) -> str:
    """slot or mailslot, by mtx's storage element number."""
    if 1 <= element <= s.geometry.slots:
        return "slot"
    if element in s.mailslot_numbers():
        return "mailslot"
    raise ChangerError(errno.EINVAL, f"no storage element {element}")


def _check_drive(s: State, drive: int) -> None:
    if not 0 <= drive < s.geometry.drives:
        raise ChangerError(errno.EINVAL, f"no drive {drive}")


def _element(s: State, kind: str, n: int) -> Element:
    code = s.at(kind, n)
    return Element(kind, n, code is not None, code or "")
