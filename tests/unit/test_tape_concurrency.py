"""Two processes drive two drives of one library at once: each writes its own cartridge in
full, neither waits for the other's data, and both drives' positions survive in the shared
state (no lost update of library.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.unit.tapekit import make_library

REPO = Path(__file__).resolve().parents[2]

# Write 200 records of 4 KiB (each starting with the drive number), a tape mark, close;
# wait for "go" on stdin first so that both processes write at the same time.
WRITER = r"""
import sys
from nbcli.vtl.library import Library
from nbcli.vtl.vdrive import VirtualDrive
home, drive = sys.argv[1], int(sys.argv[2])
d = VirtualDrive(Library(home), drive)
d.open()
print("open", flush=True)
sys.stdin.readline()
for i in range(200):
    d.write(bytes([drive]) + i.to_bytes(4, "big") + b"." * 4091)
d.write_filemarks(1)
d.close()
"""


def test_two_processes_two_drives(tmp_path: Path) -> None:
    """Two real processes hold drives 0 and 1 open at once and write 200 records each."""
    lib = make_library(tmp_path, capacity=8 << 20)
    robot = VirtualChanger(lib)
    robot.load(1, 0)
    robot.load(2, 1)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(lib.home), str(n)],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for n in (0, 1)]
    for p in procs:  # both drives are open at the same time before either writes
        assert p.stdout is not None and p.stdout.readline() == "open\n"
    assert all(Library(lib.home).drive_in_use(n) for n in (0, 1))
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
    for p in procs:
        assert p.wait(timeout=60) == 0 and p.stdout is not None
        p.stdout.close()
    state = Library(lib.home).state()
    assert [(d.logical, d.file) for d in state.drives] == [(201, 1), (201, 1)]
    for n in (0, 1):
        d = VirtualDrive(lib, n)
        d.open(writable=False)
        d.rewind()
        for i in range(200):
            block = d.read(65536)
            assert block[:5] == bytes([n]) + i.to_bytes(4, "big") and len(block) == 4096
        assert d.read(65536) == b""
        d.close()
