"""tar-restore killed mid-file, or writing into a full file system: nothing half-written is
left where a user would find it, and the status says what came back."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import programs
from tests.conftest import wait_for

BIG = 24 << 20


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_600_000_000
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def start_restore(dest: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(programs.argv_for("tar-restore") + ["-C", str(dest)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def kill_mid_file(dest: Path, stream: bytes) -> None:
    """Feed all but the end of `stream` (so the last file is being written), then SIGKILL."""
    proc = start_restore(dest)
    assert proc.stdin is not None
    part = stream[:len(stream) - (4 << 20)]
    proc.stdin.write(part)  # blocks until tar-restore has read all but a pipe's worth
    proc.stdin.flush()
    # The big file is open and growing once its folder holds more than its header's worth.
    wait_for(lambda: _written(dest) > 8 << 20, what="tar-restore writing the big file")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()


def _written(dest: Path) -> int:
    """Bytes allocated below `dest`, unnamed files included (they count against the file
    system, so df sees them while nothing in a listing does)."""
    st = os.statvfs(dest)
    return (_baseline[dest] - st.f_bavail) * st.f_frsize


_baseline: dict[Path, int] = {}


def test_a_killed_restore_leaves_no_partial_file(tmp_path: Path) -> None:
    dest = tmp_path / "fresh_dest"
    dest.mkdir()
    _baseline[dest] = os.statvfs(dest).f_bavail
    kill_mid_file(dest, tar_of({"small": b"s" * 100, "big": os.urandom(BIG)}))
    names = sorted(p.name for p in dest.iterdir())
    assert "big" not in names and not [n for n in names if n.startswith(".nbtr")], names


def test_a_killed_restore_keeps_the_file_it_was_replacing(tmp_path: Path) -> None:
    dest = tmp_path / "fresh_dest"
    dest.mkdir()
    (dest / "big").write_bytes(b"the old content")
    _baseline[dest] = os.statvfs(dest).f_bavail
    kill_mid_file(dest, tar_of({"big": os.urandom(BIG)}))
    assert (dest / "big").read_bytes() == b"the old content"
    assert sorted(p.name for p in dest.iterdir()) == ["big"]


@pytest.fixture
def full_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: too small for any of the files restored into it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "small_fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_restore_into_a_full_file_system_fails_with_status_5(full_fs: Path) -> None:
    files = {f"f{i}": os.urandom(300 << 10) for i in range(4)}
    r = subprocess.run(programs.argv_for("tar-restore") + ["-C", str(full_fs)],
                       input=tar_of(files), capture_output=True)
    assert r.returncode == 5, r.stderr
    assert r.stderr.count(b"No space left on device") == 4, r.stderr
    assert [p.name for p in full_fs.iterdir()] == []


def test_a_partly_full_file_system_is_a_partial_success(full_fs: Path) -> None:
    files = {"fits": b"x" * 1000, "too_big": os.urandom(300 << 10)}
    r = subprocess.run(programs.argv_for("tar-restore") + ["-C", str(full_fs)],
                       input=tar_of(files), capture_output=True)
    assert r.returncode == 1, r.stderr
    assert sorted(p.name for p in full_fs.iterdir()) == ["fits"]
    assert (full_fs / "fits").read_bytes() == b"x" * 1000
