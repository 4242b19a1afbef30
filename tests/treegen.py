"""Test trees with every case a backup must keep, and a comparison that checks all of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def make_hard_tree(root: Path) -> Path:
    """A folder with long names, links, empty dirs, odd modes and owners, ns mtimes,
    non-UTF-8 names; returns it."""
    root.mkdir(parents=True)
    (root / "plain.txt").write_bytes(b"hello\n" * 1000)
    (root / "empty_file").write_bytes(b"")
    (root / "empty_dir").mkdir()
    deep = root / ("d" * 60) / ("e" * 60) / ("f" * 60)
    deep.mkdir(parents=True)
    (deep / ("long_name_" + "x" * 150 + ".bin")).write_bytes(os.urandom(70000))
    # over streamreader.DIRECT_MIN: restored with O_DIRECT, its tail not aligned
    (root / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024 + 17))
    os.symlink("plain.txt", root / "link_rel")
    os.symlink("/nonexistent/target/" + "t" * 120, root / "link_long_dangling")
    os.link(root / "plain.txt", root / "hardlink_to_plain")
    odd = root / os.fsdecode(b"caf\xe9_\xff\xfe")  # not UTF-8
    odd.write_bytes(b"latin-1 name")
    (root / "setuid_exec").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "setuid_exec", 0o4755)
    (root / "private").write_bytes(b"secret")
    os.chmod(root / "private", 0o600)
    os.mkfifo(root / "a_fifo")
    sub = root / "sub"
    sub.mkdir()
    for i in range(50):
        (sub / f"f{i:03d}").write_bytes(os.urandom(i * 100))
    if os.geteuid() == 0:
        os.chown(root / "private", 1234, 5678)
        os.lchown(root / "link_rel", 4321, 8765)
    os.chmod(sub, 0o750)
    for p in [*root.rglob("*"), root]:
        os.utime(p, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789),
                 follow_symlinks=False)
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything a restore must reproduce, by path relative to `root`."""
    out: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        dirnames.sort()  # a stable order, so hard-link groups are named alike in both trees
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, os.fsencode(root))
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            content: object = None
            if stat.S_ISREG(st.st_mode):
                content = Path(os.fsdecode(full)).read_bytes()
                if st.st_nlink > 1:
                    first = inodes.setdefault((st.st_dev, st.st_ino), rel.decode(errors="replace"))
                    content = (content, "hardlink-group", first)
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(full)
            mtime = None if stat.S_ISLNK(st.st_mode) and os.geteuid() != 0 else st.st_mtime_ns
            out[os.fsdecode(rel)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                     mtime, content)
    return out


def assert_same_tree(a: Path, b: Path) -> None:
    sa, sb = snapshot(a), snapshot(b)
    assert sorted(sa) == sorted(sb), (set(sa) ^ set(sb))
    for key in sa:
        assert sa[key] == sb[key], f"{key}: {sa[key][:5]} != {sb[key][:5]}"
