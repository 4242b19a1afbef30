"""Client attributes (bpclient): db/client/<name>/client.toml, NetBackup's db/client folder.

bpdbm is the writer (its client_* ops, nbcli.daemons.bpdbm_config); the record and its check
are nbcli.model.clientattrs.

A client has an entry here only when bpclient added one; a client without an entry has every
default, and its job limit is the global one (bpconfig -mj). nbpem and nbrb read an entry with
`load_client` when they need it, so a change applies without a restart.

Writers serialize with flock(2) on db/client/.lock (nbcli.catalog.tomldoc): adding, updating
and deleting are all short, so one lock for the folder is enough, and it makes "add unless it
exists" and "update unless it was deleted" single steps. Each client.toml is replaced
atomically; a folder without one (a crash between mkdir and write) is not a client.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbcli import atomic
from nbcli.catalog import tomldoc
from nbcli.config import Paths
from nbcli.model.clientattrs import (
    CONNECT_RANGES,
    DEFAULT_CONNECT,
    FREE_BROWSE,
    LIST_RESTORE,
    MAX_JOBS,
    ClientAttrs,
    check,
)
from nbcli.model.policy import check_name
from nbcli.status import ENTITY_EXISTS, NO_ENTITY, NbuError

FILE = "client.toml"
LOCK = ".lock"
__all__ = ["CONNECT_RANGES", "DEFAULT_CONNECT", "FREE_BROWSE", "LIST_RESTORE", "MAX_JOBS",
           "ClientAttrs", "add_client", "check", "delete_client", "folder", "list_clients",
           "load_client", "modify_client", "save_client"]


def folder(paths: Paths) -> Path:
    return paths.db / "client"


def _file(paths: Paths, name: str) -> Path:
    return folder(paths) / check_name(name, "client name") / FILE


def load_client(paths: Paths, name: str) -> ClientAttrs | None:
    """The entry of client `name`, or None when bpclient has none for it."""
    data = tomldoc.read(_file(paths, name))
    if data is None:
        return None
    return tomldoc.from_table(ClientAttrs, data, f"client {name}", name=name)


def list_clients(paths: Paths) -> list[ClientAttrs]:
    """Every client entry, by name."""
    try:
        names = sorted(e.name for e in os.scandir(folder(paths))
                       if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            attrs = load_client(paths, name)
        except NbuError as e:
            if e.status not in (20, 225):
                raise
            continue  # a folder someone made by hand, under a name no client can have
        if attrs is not None:  # deleted meanwhile, or a folder left without its file
            out.append(attrs)
    return out


def _write(paths: Paths, attrs: ClientAttrs) -> None:
    table = tomldoc.to_table(check(attrs))
    del table["name"]  # the folder's name is the client's
    tomldoc.write(_file(paths, attrs.name), table)


@contextmanager
def _store_lock(paths: Paths) -> Iterator[None]:
    with tomldoc.locked(folder(paths) / LOCK):
        yield


def add_client(paths: Paths, attrs: ClientAttrs) -> None:
    """A new entry (status 226 if the client has one already)."""
    check(attrs)
    with _store_lock(paths):
        if load_client(paths, attrs.name) is not None:
            raise NbuError(ENTITY_EXISTS, f"client {attrs.name} already exists")
        _write(paths, attrs)


def save_client(paths: Paths, attrs: ClientAttrs) -> None:
    """Create or replace the entry of `attrs.name` (last writer wins; prefer modify_client)."""
    check(attrs)
    with _store_lock(paths):
        _write(paths, attrs)


@contextmanager
def modify_client(paths: Paths, name: str) -> Iterator[ClientAttrs]:
    """Read-modify-write of an existing entry under the lock (status 227 if there is none);
    written only if the block ends without an exception."""
    with _store_lock(paths):
        attrs = load_client(paths, name)
        if attrs is None:
            raise NbuError(NO_ENTITY, f"client {name} does not exist")
        yield attrs
        _write(paths, attrs)


def delete_client(paths: Paths, name: str) -> None:
    """Remove the entry of `name` (status 227 if there is none)."""
    with _store_lock(paths):
        if load_client(paths, name) is None:
            raise NbuError(NO_ENTITY, f"client {name} does not exist")
        # The entry disappears in one rename; the folder's removal may then take its time.
        gone = folder(paths) / f".gone-{uuid.uuid4().hex}"
        os.rename(_file(paths, name).parent, gone)
        atomic.fsync_dir(folder(paths))
        shutil.rmtree(gone, ignore_errors=True)
