"""A TOML document written atomically under a lock: what the master's small config stores share.

DESIGN.md, "State": config is TOML, written atomically and only by its commands. A store here is
one file (bpconfig.toml, retention.toml, db/client/<name>/client.toml) that readers open
without a lock - the file is replaced by rename (nbcli.atomic), so a reader sees the old
document or the new one, never half of one. Writers serialize a read-modify-write with
flock(2) on a separate lock file: locking the document itself would not work, since the rename
puts a new inode under the name and a second writer would lock the old one.

The dataclass helpers that turn a record into a TOML table and back (to_table, from_table) are
nbcli.model.records, shared with bpdbm's replies. This module imports only nbcli.atomic,
nbcli.status and nbcli.model, so every store can use it.
"""

from __future__ import annotations

import fcntl
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w

from nbcli import atomic
from nbcli.model.records import from_table, to_table
from nbcli.status import DATABASE_INCONSISTENT, NbuError

FORMAT_VERSION = 1
BAD_DOCUMENT = DATABASE_INCONSISTENT

__all__ = ["BAD_DOCUMENT", "FORMAT_VERSION", "from_table", "lock_path", "locked", "modify",
           "read", "to_table", "write"]


def lock_path(path: Path) -> Path:
    """The lock file that guards the document `path`: `.<name>.lock` beside it."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(lock: Path) -> Iterator[None]:
    """Hold an exclusive flock(2) on `lock` (created, with its folders, if missing)."""
    atomic.makedirs(lock.parent)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read(path: Path) -> dict[str, Any] | None:
    """The document at `path`, or None when there is none; status 238 when it is not TOML or
    was written by a newer nbcli."""
    try:
        text = path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise NbuError(BAD_DOCUMENT, f"{path}: {e}") from e
    version = data.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise NbuError(BAD_DOCUMENT, f"{path}: format version {version!r} is not one this "
                                     "nbcli reads")
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    """Replace the document at `path` atomically and durably (callers hold its lock)."""
    atomic.makedirs(path.parent)
    atomic.write_text(path, tomli_w.dumps({"version": FORMAT_VERSION, **data}))


@contextmanager
def modify(path: Path) -> Iterator[dict[str, Any]]:
    """Read-modify-write under the document's lock: the dict the block leaves is written back,
    only if the block ends without an exception. A missing document starts as {}."""
    with locked(lock_path(path)):
        data = read(path) or {}
        yield data
        write(path, data)
