"""Client attributes (bpclient): db/client/<name>/client.toml, NetBackup's db/client folder.

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
from dataclasses import dataclass, field
from pathlib import Path

from nbcli import atomic
from nbcli.catalog import tomldoc
from nbcli.catalog.policy_model import check_name
from nbcli.config import Paths
from nbcli.status import ENTITY_EXISTS, INVALID_PARAMETER, NO_ENTITY, NbuError

FILE = "client.toml"
LOCK = ".lock"
MAX_JOBS = range(1, 100)  # bpclient -max_jobs [1-99]

# Codes of the 0|1|2 options and the words bpclient -L shows for them.
FREE_BROWSE = {0: "Allow", 1: "Deny", 2: "Use"}
LIST_RESTORE = {0: "Not Specified", 1: "Allow Both", 2: "List Only", 3: "Deny Both"}
# -connect_options: BPCD connect-back (0 random port, 1 VNETD port, 2 default), ports
# (0 reserved, 1 non-reserved, 2 default), daemon connection (0 automatic, 1 VNETD only,
# 2 daemon port only, 3 default).
CONNECT_RANGES = (range(0, 3), range(0, 3), range(0, 4))
DEFAULT_CONNECT = [2, 2, 3]


@dataclass
class ClientAttrs:
    """One client's entry; defaults are NetBackup's for a client bpclient just added."""

    name: str
    max_jobs: int | None = None  # "max jobs this client"; None = not set (global applies)
    current_host: str = ""  # the host name it is reached at now ("" = its name)
    ip_address: str = ""  # with a dynamic address: the one it last had
    port: int = 0  # connect on port (0 = the usual one)
    dynamic_address: bool = False
    free_browse: int = 0
    list_restore: int = 0
    connect_options: list[int] = field(default_factory=lambda: list(DEFAULT_CONNECT))
    offline_backup: bool = False  # backups of this client are not started
    offline_restore: bool = False  # restores to this client are refused

    @property
    def hostname(self) -> str:
        return self.current_host or self.name


def check(attrs: ClientAttrs) -> ClientAttrs:
    """`attrs` if every value is one bpclient accepts; status 20 (225 for a long name)."""
    check_name(attrs.name, "client name")
    if attrs.current_host:
        check_name(attrs.current_host, "host name")
    if attrs.max_jobs is not None and attrs.max_jobs not in MAX_JOBS:
        raise NbuError(INVALID_PARAMETER, f"max jobs must be {MAX_JOBS[0]} to {MAX_JOBS[-1]}, "
                                          f"not {attrs.max_jobs}")
    if attrs.free_browse not in FREE_BROWSE or attrs.list_restore not in LIST_RESTORE:
        raise NbuError(INVALID_PARAMETER, "free browse is 0, 1 or 2 and list restore 0 to 3")
    if len(attrs.connect_options) != 3 or any(
            v not in r for v, r in zip(attrs.connect_options, CONNECT_RANGES)):
        raise NbuError(INVALID_PARAMETER, "connect options are three numbers: 0-2 0-2 0-3")
    if not 0 <= attrs.port <= 65535 or any(c.isspace() for c in attrs.ip_address):
        raise NbuError(INVALID_PARAMETER, "bad port or IP address")
    return attrs


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
