"""The virtual changer: mtx's moves, the inventory, the mail slot, and the errors of a move
(errno, and the NetBackup status nbvtl and bptm report for it)."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

from nbcli import status
from nbcli.vtl.api import ChangerError, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.state import Geometry, barcode_range
from tests.unit.tapekit import loaded_drive, make_library


def refused(code: int, call: object, *args: object) -> ChangerError:
    with pytest.raises(ChangerError) as e:
        call(*args)  # type: ignore[operator]
    assert e.value.errno == code, e.value
    return e.value


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return make_library(tmp_path, slots=4, mailslots=2, barcodes=["A00000L6", "A00001L6"])


def test_inventory_numbers_elements_as_mtx(lib: Library) -> None:
    """mtx's element numbers: drives from 0, slots from 1, mail slots after the last slot."""
    inv = VirtualChanger(lib).inventory()
    assert [d.number for d in inv.drives] == [0, 1]
    assert [(s.number, s.barcode) for s in inv.slots] == \
        [(1, "A00000L6"), (2, "A00001L6"), (3, ""), (4, "")]
    assert [m.number for m in inv.mailslots] == [5, 6] and not any(m.full for m in inv.mailslots)


def test_load_unload_transfer(lib: Library) -> None:
    """mtx load SLOT DRIVE; mtx unload [SLOT] DRIVE (back to its source by default);
    mtx transfer FROM TO."""
    robot = VirtualChanger(lib)
    robot.load(2, 1)
    inv = robot.inventory()
    assert inv.drives[1].barcode == "A00001L6" and inv.drives[1].source == 2
    assert not inv.slots[1].full
    robot.unload(1)
    assert robot.inventory().slots[1].barcode == "A00001L6"
    robot.load(1, 0)
    robot.unload(0, 4)
    assert robot.inventory().find("A00000L6").number == 4  # type: ignore[union-attr]
    robot.transfer(4, 3)
    assert robot.inventory().find("A00000L6").number == 3  # type: ignore[union-attr]
    # The state persists: a new Library object (another process) sees the same.
    assert VirtualChanger(Library(lib.home)).inventory() == robot.inventory()


def test_empty_source_full_destination_and_bad_elements(lib: Library) -> None:
    """SCSI MOVE MEDIUM's refusals: source empty (3B/0E) -> ENOMEDIUM, status 227;
    destination full (3B/0D) -> EEXIST, status 226; no such element -> EINVAL, status 20."""
    robot = VirtualChanger(lib)
    e = refused(errno.ENOMEDIUM, robot.load, 3, 0)
    assert status_for(e) == status.NO_ENTITY
    robot.load(1, 0)
    e = refused(errno.EEXIST, robot.load, 2, 0)
    assert status_for(e) == status.ENTITY_EXISTS
    refused(errno.EEXIST, robot.transfer, 2, 2)
    refused(errno.ENOMEDIUM, robot.unload, 1)
    e = refused(errno.EINVAL, robot.load, 9, 0)
    assert status_for(e) == status.INVALID_PARAMETER
    refused(errno.EINVAL, robot.load, 2, 7)
    robot.transfer(2, 1)
    refused(errno.EEXIST, robot.unload, 0)  # its home slot was filled meanwhile
    assert robot.inventory().drives[0].barcode == "A00000L6"  # a refused move moves nothing


def test_unload_of_an_open_drive_is_prevented(lib: Library) -> None:
    """Medium removal prevented (53/02) while a process has the drive open: EBUSY, 97."""
    d = loaded_drive(lib)
    e = refused(errno.EBUSY, VirtualChanger(lib).unload, 0)
    assert status_for(e) == status.MEDIA_IN_USE
    d.close()
    VirtualChanger(lib).unload(0)


def test_unload_rewinds(lib: Library) -> None:
    """A cartridge unloaded and loaded again starts at BOT (mtx unload after the drive rewinds)."""
    d = loaded_drive(lib)
    d.write(b"data")
    d.close()
    robot = VirtualChanger(lib)
    robot.unload(0)
    robot.load(1, 1)
    assert lib.state().drives[1].offset == 0 and lib.state().drives[0].offset == 0


def test_mail_slot_import_and_export(lib: Library) -> None:
    """The operator puts a cartridge in the mail slot, the robot moves it to a slot (import);
    export is the way back, then the operator takes it out (onto the shelf)."""
    robot = VirtualChanger(lib)
    mail = robot.insert("B00000L6")
    assert mail == 5 and lib.cartridge_path("B00000L6").exists()
    robot.transfer(mail, robot.first_free("slot"))
    assert robot.inventory().find("B00000L6").number == 3  # type: ignore[union-attr]
    robot.transfer(1, robot.first_free("mailslot"))
    assert robot.inventory().mailslots[0].barcode == "A00000L6"
    robot.remove("A00000L6")
    assert robot.inventory().find("A00000L6") is None
    assert lib.state().cartridges["A00000L6"].location == "shelf"
    refused(errno.EEXIST, robot.insert, "A00001L6")   # already in the library
    assert robot.insert("A00000L6") == 5              # back from the shelf
    robot.insert("C00000L6")
    refused(errno.EEXIST, robot.insert, "D00000L6")   # both mail slots full
    refused(errno.ENOMEDIUM, robot.remove, "A00001L6")  # not in a mail slot


def test_first_free_slot_skips_the_home_of_a_loaded_cartridge(lib: Library) -> None:
    """Import picks a free slot that is not the home of a cartridge in a drive, so unload goes
    home."""
    robot = VirtualChanger(lib)
    robot.load(1, 0)
    assert robot.first_free("slot") == 3


def test_moves_are_serialized_and_take_move_time(tmp_path: Path) -> None:
    """Two moves at once: the robot does one after the other, each taking move_time."""
    lib = Library.create(tmp_path / "vtl", Geometry(2, 4, 0, 1 << 20, 0, 0.2),
                         ["A00000L6", "A00001L6"])
    errors: list[BaseException] = []

    def move(slot: int, drive: int) -> None:
        try:
            VirtualChanger(Library(lib.home)).load(slot, drive)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    start = time.monotonic()
    threads = [threading.Thread(target=move, args=(n + 1, n)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert time.monotonic() - start >= 0.4
    assert [d.barcode for d in VirtualChanger(lib).inventory().drives] == \
        ["A00000L6", "A00001L6"]


def test_barcode_ranges() -> None:
    """--barcodes FIRST..LAST: the differing part counts up, width kept; lists; bad ranges
    refused."""
    assert barcode_range("A00000L6..A00003L6") == ["A00000L6", "A00001L6", "A00002L6",
                                                   "A00003L6"]
    assert barcode_range("A00008L6..A00011L6")[-1] == "A00011L6"
    assert barcode_range("X1,Y2") == ["X1", "Y2"]
    for bad in ("A00009L6..A00000L6", "A1..B22", "abc", "A0..Z0", "X1,X1"):
        with pytest.raises(ValueError):
            barcode_range(bad)


def test_cartridges_are_their_owners_alone(lib: Library) -> None:
    """A cartridge holds backup data: created 0600 (made with the library or put in the mail
    slot), and a wider one - a library made before, a copy put in place by hand - loses group
    and other access the first time a drive opens it."""
    robot = VirtualChanger(lib)
    robot.insert("B00000L6")
    paths = [lib.cartridge_path(b) for b in ("A00000L6", "A00001L6", "B00000L6")]
    assert [p.stat().st_mode & 0o777 for p in paths] == [0o600] * 3
    paths[1].chmod(0o644)
    loaded_drive(lib, slot=2, drive=0, writable=False).close()
    assert paths[1].stat().st_mode & 0o777 == 0o600
