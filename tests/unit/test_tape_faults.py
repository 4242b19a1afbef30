"""Fault injection: kept in library.toml, so a process other than the one that set it (bptm,
here a child process) meets it: a write error at a block, a cartridge that will not load, a
drive that goes down while open and comes back."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbcli import status
from nbcli.status import NbuError
from nbcli.vtl import admin
from nbcli.vtl.api import ChangerError, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.unit.tapekit import loaded_drive, make_library

REPO = Path(__file__).resolve().parents[2]

# A child process: open drive 0, then for each command on stdin do it and print the result.
WORKER = r"""
import json, sys
from nbcli.vtl.library import Library
from nbcli.vtl.vdrive import VirtualDrive
d = VirtualDrive(Library(sys.argv[1]), 0)
d.open()
print("open", flush=True)
for line in sys.stdin:
    op = line.split()
    try:
        if op[0] == "write":
            d.write(b"w" * int(op[1]))
        elif op[0] == "rewind":
            d.rewind()
        out = {"ok": True, "tell": d.tell()}
    except OSError as e:
        out = {"ok": False, "errno": e.errno}
    print(json.dumps(out), flush=True)
"""


class Worker:
    def __init__(self, lib: Library) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(lib.home)], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "open\n"

    def do(self, command: str) -> dict[str, object]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        result: dict[str, object] = json.loads(self.proc.stdout.readline())
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        self.proc.stdout.close()


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return make_library(tmp_path)


def test_write_error_at_block_seen_by_another_process(lib: Library) -> None:
    """A write_error fault set here makes the child's write of that block fail with EIO, each
    time, until cleared; EIO on write is status 84."""
    VirtualChanger(lib).load(1, 0)
    admin.fault(lib, ["write_error", "A00000L6", "2"])
    w = Worker(lib)
    assert w.do("write 100") == {"ok": True, "tell": 1}
    assert w.do("write 100") == {"ok": True, "tell": 2}
    assert w.do("write 100") == {"ok": False, "errno": errno.EIO}  # block 2
    assert w.do("write 100") == {"ok": False, "errno": errno.EIO}  # every time it is tried
    admin.fault(lib, ["clear", "A00000L6"])
    assert w.do("write 100") == {"ok": True, "tell": 3}
    w.close()
    err = OSError(errno.EIO, "x")
    assert status_for(err, "write") == status.MEDIA_WRITE_ERROR


def test_read_error_at_block_fails_that_record_each_time_until_cleared(lib: Library) -> None:
    """read_error BARCODE BLOCK: reading the record at that logical block fails with EIO
    (status 85 on a read), each time, the drive staying before it; the records before it
    read."""
    d = loaded_drive(lib)
    for n in range(4):
        d.write(bytes([n]) * 100)
    d.rewind()
    admin.fault(lib, ["read_error", "A00000L6", "2"])
    assert d.read(100) == b"\0" * 100 and d.read(100) == b"\1" * 100
    for _ in range(2):
        with pytest.raises(OSError) as e:
            d.read(100)
        assert e.value.errno == errno.EIO and d.tell() == 2
    assert status_for(e.value, "read") == status.MEDIA_READ_ERROR
    admin.fault(lib, ["clear", "A00000L6"])
    assert d.read(100) == b"\2" * 100
    d.close()


def test_fault_set_while_a_process_has_the_drive_open(lib: Library) -> None:
    """The drive re-reads the library's state before each op: a fault set after the open
    still hits the next write."""
    VirtualChanger(lib).load(1, 0)
    w = Worker(lib)
    assert w.do("write 10")["ok"]
    admin.fault(lib, ["write-error", "A00000L6", "1"])
    assert w.do("write 10") == {"ok": False, "errno": errno.EIO}
    w.close()


def test_drive_down_fails_every_op_until_up(lib: Library) -> None:
    """drive_down: every op of the process holding the drive fails with EIO, open fails, nothing
    loads (the drive is not accessible: status 164); drive_up/clear bring it back."""
    VirtualChanger(lib).load(1, 0)
    w = Worker(lib)
    assert w.do("write 10")["ok"]
    admin.fault(lib, ["drive_down", "0"])
    assert w.do("write 10") == {"ok": False, "errno": errno.EIO}
    assert w.do("rewind") == {"ok": False, "errno": errno.EIO}
    admin.fault(lib, ["drive_up", "0"])
    assert w.do("rewind") == {"ok": True, "tell": 0}
    w.close()
    admin.fault(lib, ["drive_down", "0"])
    with pytest.raises(OSError) as e:
        VirtualDrive(lib, 0).open()
    assert e.value.errno == errno.EIO
    VirtualChanger(lib).unload(0)
    with pytest.raises(ChangerError) as ce:
        VirtualChanger(lib).load(1, 0)  # nothing loads into a down drive
    assert ce.value.errno == errno.ENXIO and status_for(ce.value) == status.MEDIA_DOWN
    admin.fault(lib, ["clear"])
    VirtualChanger(lib).load(1, 0)


def test_cartridge_that_will_not_load(lib: Library) -> None:
    """load_fail: the load fails with EIO and the cartridge stays in its slot; it still moves
    between slots."""
    admin.fault(lib, ["load_fail", "A00001L6"])
    robot = VirtualChanger(lib)
    with pytest.raises(ChangerError) as e:
        robot.load(2, 0)
    assert e.value.errno == errno.EIO
    assert robot.inventory().slots[1].barcode == "A00001L6"  # still in its slot
    robot.load(1, 0)  # other cartridges load
    robot.transfer(2, 5)  # it still moves (to the mail slot)


def test_fault_usage_errors_are_status_20(lib: Library) -> None:
    """Bad fault words are status 20; an unknown cartridge is 227."""
    for args in (["melt"], ["write_error", "A00000L6"], ["drive_down", "x"], []):
        with pytest.raises(NbuError) as e:
            admin.fault(lib, args)
        assert e.value.status == status.INVALID_PARAMETER
    with pytest.raises(NbuError) as e:
        admin.fault(lib, ["drive_down", "5"])
    assert e.value.status == status.INVALID_PARAMETER
    with pytest.raises(NbuError) as e:
        admin.fault(lib, ["load_fail", "NOSUCH"])
    assert e.value.status == status.NO_ENTITY


def test_write_error_fault_writes_nothing(lib: Library) -> None:
    """A failed write leaves the image as it was, and close writes no tape mark after it."""
    admin.fault(lib, ["write_error", "A00000L6", "0"])
    d = loaded_drive(lib)
    with pytest.raises(OSError):
        d.write(b"x" * 10)
    d.close()  # no tape mark after a failed write
    assert lib.cartridge_path("A00000L6").stat().st_size == 0


def test_holder_killed_with_the_drive_open(lib: Library) -> None:
    """A process that dies holding a drive releases it (flock): the robot may unload it, and
    the next open starts at BOT since where the dead process left the tape is unknown."""
    VirtualChanger(lib).load(1, 0)
    w = Worker(lib)
    assert w.do("write 100") == {"ok": True, "tell": 1}
    assert lib.drive_in_use(0)
    w.proc.kill()
    w.proc.wait(timeout=30)
    assert w.proc.stdin is not None and w.proc.stdout is not None
    w.proc.stdin.close()
    w.proc.stdout.close()
    assert not lib.drive_in_use(0)
    d = VirtualDrive(lib, 0)
    d.open()
    assert d.tell() == 0 and d.status().bot
    assert d.read(1000) == b"w" * 100  # what it wrote before it died is on the tape
    d.close()
    VirtualChanger(lib).unload(0)
