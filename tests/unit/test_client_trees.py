"""A tree with every hard case of the image stream, and one comparison of two trees.

`build_hard_tree` makes what a backup must carry: long names and link targets, names that are
not UTF-8, hard links across folders, symlinks (dangling too), fifos, empty folders, setuid,
setgid and sticky modes, numeric owners (ids above ustar's range too, as root), nanosecond and
pre-1970 mtimes, and a file larger than one 1 MiB block. `assert_same_tree` compares bytes,
modes, owners, mtime_ns, link targets, hard-link identity, node types and empty folders.
The tests below check that the comparison does fail on each kind of difference.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

AS_ROOT = os.geteuid() == 0
LONG = b"l" * 150
NON_UTF8 = b"caf\xe9"
FIXED_NS = 1_600_000_000_123_456_789


def _file(path: bytes, data: bytes, mode: int = 0o644, mtime_ns: int = FIXED_NS,
          owner: tuple[int, int] | None = None) -> None:
    with open(path, "wb") as f:
        f.write(data)
    if owner and AS_ROOT:
        os.chown(path, *owner)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def build_hard_tree(root: Path) -> Path:
    """Fill `root` (created) with the hard cases; returns root."""
    r = os.fsencode(root)
    for d in (b"", b"/sub", b"/sub/deeper", b"/empty", b"/empty/nested", b"/sticky",
              b"/" + LONG, b"/" + LONG + b"/" + LONG, b"/" + NON_UTF8 + b"dir"):
        os.makedirs(r + d, exist_ok=True)
    _file(r + b"/plain.txt", b"hello\n")
    _file(r + b"/empty.dat", b"")
    _file(r + b"/big.bin", os.urandom((3 << 20) + 123), 0o600, 1_500_000_000_000_000_000)
    _file(r + b"/setuid", b"#!/bin/sh\n", 0o4755)
    _file(r + b"/setgid", b"g", 0o2750, owner=(1234, 5678))
    _file(r + b"/readonly", b"ro", 0o444, -157_766_399_500_000_000)  # 1965, pre-epoch
    _file(r + b"/bigids", b"ids", 0o640, owner=(3_000_000, 2_500_000))
    _file(r + b"/sp ace", b"space")
    _file(r + b"/" + NON_UTF8, b"latin-1 name")
    _file(r + b"/" + NON_UTF8 + b"dir/" + b"\xff" * 120, b"long non-UTF-8 name")
    _file(r + b"/" + LONG + b"/" + LONG + b"/" + b"z" * 200, b"deep and long")
    _file(r + b"/sub/deeper/f", b"deep")
    os.link(r + b"/plain.txt", r + b"/sub/hardlink")
    os.link(r + b"/plain.txt", r + b"/sub/deeper/hardlink2")
    os.symlink(b"plain.txt", r + b"/symlink")
    os.symlink(b"t" * 300, r + b"/longlink")
    os.symlink(b"/nonexistent/target", r + b"/sub/dangling")
    os.mkfifo(r + b"/fifo", 0o640)
    if AS_ROOT:
        os.mknod(r + b"/chardev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    for link in (b"/symlink", b"/longlink", b"/sub/dangling"):
        os.utime(r + link, ns=(FIXED_NS, FIXED_NS + 7), follow_symlinks=False)
    os.chmod(r + b"/sticky", 0o1777)
    os.chmod(r + b"/sub/deeper", 0o700)
    os.utime(r + b"/fifo", ns=(FIXED_NS, FIXED_NS + 3))
    _set_folder_times(r)
    return root


def _set_folder_times(root: bytes) -> None:
    """Folder mtimes last, deepest first (creating their contents moved them)."""
    folders = [dirpath for dirpath, _, _ in os.walk(root)]
    for n, d in enumerate(sorted(folders, key=len, reverse=True)):
        os.utime(d, ns=(FIXED_NS, FIXED_NS + 1000 * n + 1))


def snapshot(root: Path, mtime_resolution_ns: int = 1) -> dict[bytes, tuple[object, ...]]:
    """Path (relative, bytes) -> everything a restore must bring back."""
    base = os.fsencode(root)
    out: dict[bytes, tuple[object, ...]] = {}
    first_name: dict[tuple[int, int], bytes] = {}
    paths = [base]
    for dirpath, dirnames, filenames in os.walk(base):
        paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    for path in sorted(paths):
        st = os.lstat(path)
        rel = os.path.relpath(path, base)
        kind = stat.S_IFMT(st.st_mode)
        mtime = st.st_mtime_ns // mtime_resolution_ns
        info: tuple[object, ...] = (kind, st.st_uid, st.st_gid, mtime)
        if stat.S_ISLNK(st.st_mode):
            info += (os.readlink(path),)
        else:
            info += (stat.S_IMODE(st.st_mode),)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                info += (st.st_size, hashlib.sha256(f.read()).hexdigest(),
                         first_name.setdefault((st.st_dev, st.st_ino), rel))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info += (st.st_rdev,)
        out[rel] = info
    return out


def assert_same_tree(expected: Path, actual: Path, mtime_resolution_ns: int = 1) -> None:
    a = snapshot(expected, mtime_resolution_ns)
    b = snapshot(actual, mtime_resolution_ns)
    problems = [f"missing {p!r}" for p in a if p not in b]
    problems += [f"unexpected {p!r}" for p in b if p not in a]
    problems += [f"{p!r}: {a[p]} != {b[p]}" for p in a if p in b and a[p] != b[p]]
    assert not problems, "trees differ:\n" + "\n".join(problems[:20])


# --- the comparison must fail on every kind of difference -----------------------------------

def _copy(src: Path, dst: Path) -> None:
    """GNU cp -a keeps everything the comparison looks at."""
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


@pytest.fixture
def two_trees(tmp_path: Path) -> tuple[Path, Path]:
    a = build_hard_tree(tmp_path / "a")
    b = tmp_path / "b"
    _copy(a, b)
    assert_same_tree(a, b)
    return a, b


@pytest.mark.parametrize("change", ["content", "mode", "mtime", "link", "hardlink", "fifo",
                                    "empty_dir", "owner"])
def test_comparison_catches(two_trees: tuple[Path, Path], change: str) -> None:
    a, b = two_trees
    # Folder mtimes are put back after the change, so that it is the only difference.
    keep = {p: os.lstat(p).st_mtime_ns for p in (b, b / "sub", b / "empty")}
    if change == "content":
        _file(os.fsencode(b / "plain.txt"), b"HELLO\n")
    elif change == "mode":
        os.chmod(b / "setuid", 0o755)
    elif change == "mtime":
        os.utime(b / "sub/deeper/f", ns=(FIXED_NS, FIXED_NS + 1))
    elif change == "link":
        os.unlink(b / "symlink")
        os.symlink("other", b / "symlink")
    elif change == "hardlink":  # same bytes and metadata, but no longer the same inode
        st = os.stat(b / "sub/hardlink")
        os.unlink(b / "sub/hardlink")
        shutil.copy2(b / "plain.txt", b / "sub/hardlink")
        os.utime(b / "sub/hardlink", ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "fifo":
        os.unlink(b / "fifo")
        _file(os.fsencode(b / "fifo"), b"", 0o640, FIXED_NS + 3)
    elif change == "empty_dir":
        os.rmdir(b / "empty/nested")
    elif change == "owner":
        if not AS_ROOT:
            pytest.skip("changing an owner needs root")
        os.chown(b / "plain.txt", 4321, 4321)
    for p, ns in keep.items():
        os.utime(p, ns=(ns, ns))
    with pytest.raises(AssertionError, match="trees differ"):
        assert_same_tree(a, b)
