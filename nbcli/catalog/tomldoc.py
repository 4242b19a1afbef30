"""A TOML document written atomically under a lock: what the master's small config stores share.

DESIGN.md, "State": config is TOML, written atomically and only by its commands. A store here is
one file (bpconfig.toml, retention.toml, db/client/<name>/client.toml) that readers open
without a lock - the file is replaced by rename (nbcli.atomic), so a reader sees the old
document or the new one, never half of one. Writers serialize a read-modify-write with
flock(2) on a separate lock file: locking the document itself would not work, since the rename
puts a new inode under the name and a second writer would lock the old one.

The dataclass helpers turn a record into a TOML table and back with the types its annotations
name (a bool is not an int here, None means "left out of the file"). This module imports only
nbcli.atomic and nbcli.status, so every store can use it.
"""

from __future__ import annotations

import fcntl
import os
import tomllib
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from nbcli import atomic
from nbcli.status import DATABASE_INCONSISTENT, NbuError

FORMAT_VERSION = 1
BAD_DOCUMENT = DATABASE_INCONSISTENT

T = TypeVar("T")


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


# --- dataclass records <-> TOML tables --------------------------------------------------------

def to_table(record: Any) -> dict[str, Any]:
    """A dataclass record's fields as a TOML table; None ("not set") fields are left out."""
    assert is_dataclass(record)
    return {f.name: getattr(record, f.name) for f in fields(record)
            if getattr(record, f.name) is not None}


def from_table(cls: type[T], table: dict[str, Any], what: str, **given: Any) -> T:
    """A `cls` record from a TOML table, each value checked against the field's annotation;
    fields missing from the table keep their defaults, `given` ones are set as they are.
    Status 238 (naming `what`) when a value has the wrong type."""
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in given or f.name not in table:
            continue
        value = table[f.name]
        if not _fits(value, hints[f.name]):
            raise NbuError(BAD_DOCUMENT, f"{what}: {f.name} = {value!r} is not "
                                         f"{_type_name(hints[f.name])}")
        values[f.name] = value
    return cls(**values)


def _fits(value: Any, hint: Any) -> bool:
    """Whether `value` (from tomllib) is of type `hint`: int, str, bool, list[x], x | None."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    # bool is a subclass of int, but `true` is no number of minutes and `1` is no flag
    return isinstance(value, hint) and isinstance(value, bool) == (hint is bool)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)
