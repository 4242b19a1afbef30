"""Durable file writes: every persistent file nbcli writes goes through here.

The sequence is the one borg's SaveFile and restic's Local.Save use: a temp file in the same
folder, write, fsync, close, rename over the target, fsync the folder. A crash leaves either
the old file or the new one, never a torn one; the temp file is removed on any error.
`durable=False` leaves out both fsyncs, for a file that lives only while the processes that
use it do (a restore's neededimage file): readers never see it torn (the rename is atomic),
and after an OS crash - which ends those processes - it may be gone or empty.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some network filesystems refuse fsync on folders; that is not an I/O error.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644,
                durable: bool = True) -> None:
    """Replace `path` with `data` atomically and (unless told otherwise) durably."""
    path = Path(path)
    fd, tmp = _temp_file(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def _temp_file(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, open for writing (mode 0600 until the caller's chmod).

    Not tempfile.mkstemp: importing tempfile (shutil, random) cost every command ~2.5 ms."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, _NEW, 0o600), tmp
        except FileExistsError:
            continue


def write_text(path: str | os.PathLike[str], text: str, mode: int = 0o644,
               durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8", "surrogateescape"), mode, durable)


def makedirs(path: str | os.PathLike[str]) -> None:
    """mkdir -p, with each new folder's entry made durable in its parent."""
    path = Path(path)
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for p in reversed(missing):
        try:
            os.mkdir(p)
        except FileExistsError:
            continue
        fsync_dir(p.parent)
