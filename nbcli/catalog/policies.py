"""The policy store: db/class/<policy>/policy.toml, one folder per policy.

Only bpdbm writes here (the policy commands ask it: nbcli.daemons.bpdbm_config); nbpem and
bprd read with `load`/`load_all` whenever they need a policy, so a change is seen without a
restart. Files are replaced atomically
(nbcli.atomic), so a reader never needs a lock and never sees half a policy.

Writers serialize with flock(2):

    db/class/.lock            held while the set of policies changes (create, delete, rename)
    db/class/<policy>/.lock   held for one read-modify-write of that policy (`modify`)

A rename or delete takes both, in that order, so it waits for edits in progress. An edit that
waited on a policy that was renamed or deleted meanwhile finds its lock file gone from the path
it opened and fails with 230 instead of writing into a stale folder. Names starting with "."
are never policies: that is where creations and deletions are staged.
"""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbcli import atomic, clock
from nbcli.config import HostConfig, Paths
from nbcli.model.policy import (
    MAX_NAME,
    Policy,
    check_generation,
    check_name,
    from_toml,
    to_toml,
)
from nbcli.status import ENTITY_EXISTS, NO_SUCH_POLICY, NOT_MASTER, NbuError

POLICY_FILE = "policy.toml"
LOCK_FILE = ".lock"
# MAX_NAME and check_name (NetBackup's naming rule) are part of this module's API too; they
# live with the model so that schedule and client names are checked the same way.
__all__ = ["MAX_NAME", "Policy", "check_name", "create", "delete", "exists", "list_names",
           "load", "load_all", "master_paths", "modify", "rename", "save"]


def master_paths(cfg: HostConfig) -> Paths:
    """The host's paths, if it is a master (policies live there only); status 153 otherwise."""
    if "master" not in cfg.roles:
        raise NbuError(NOT_MASTER, f"{cfg.client_name} is not the master server")
    return cfg.paths


def _folder(paths: Paths, name: str) -> Path:
    return paths.policies / check_name(name)


def list_names(paths: Paths) -> list[str]:
    """Every policy name, sorted."""
    try:
        entries = list(os.scandir(paths.policies))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries
                  if not e.name.startswith(".") and os.path.exists(Path(e.path) / POLICY_FILE))


def exists(paths: Paths, name: str) -> bool:
    return (_folder(paths, name) / POLICY_FILE).is_file()


def load(paths: Paths, name: str) -> Policy:
    """Read one policy; status 230 when there is no such policy."""
    try:
        text = (_folder(paths, name) / POLICY_FILE).read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError) as e:
        raise NbuError(NO_SUCH_POLICY, f"policy {name} does not exist") from e
    return from_toml(name, text)


def load_all(paths: Paths) -> list[Policy]:
    """Every policy, by name; one deleted while listing is skipped."""
    out = []
    for name in list_names(paths):
        try:
            out.append(load(paths, name))
        except NbuError as e:
            if e.status != 230:
                raise
    return out


@contextmanager
def _flock(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _policy_lock(paths: Paths, name: str) -> Iterator[None]:
    lock = _folder(paths, name) / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise NbuError(NO_SUCH_POLICY, f"policy {name} does not exist") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = -1
        if current != os.fstat(fd).st_ino:
            raise NbuError(NO_SUCH_POLICY, f"policy {name} was renamed or deleted meanwhile")
        yield
    finally:
        os.close(fd)


def _write(folder: Path, policy: Policy) -> None:
    atomic.write_text(folder / POLICY_FILE, to_toml(policy))


@contextmanager
def modify(paths: Paths, name: str, generation: int | None = None) -> Iterator[Policy]:
    """Read-modify-write under the policy's lock: `with modify(p, n) as pol: pol.x = ...`.

    The policy is saved (generation + 1) only if the block ends without an exception. With
    `generation` (the -generation of the policy commands) it is refused, status 20, unless the
    policy's generation is still that: it changed since the caller read it.
    """
    with _policy_lock(paths, name):
        policy = load(paths, name)
        check_generation(policy, generation)
        yield policy
        policy.generation += 1
        _write(_folder(paths, name), policy)


def save(paths: Paths, policy: Policy) -> None:
    """Replace an existing policy with `policy` (last writer wins; prefer `modify`)."""
    with _policy_lock(paths, policy.name):
        policy.generation += 1
        _write(_folder(paths, policy.name), policy)


def _clean_staging(paths: Paths) -> None:
    """Remove staging folders a crashed writer left (callers hold the class lock)."""
    for entry in os.scandir(paths.policies):
        if entry.name.startswith((".new-", ".gone-")):
            shutil.rmtree(entry.path, ignore_errors=True)


@contextmanager
def _class_lock(paths: Paths) -> Iterator[None]:
    atomic.makedirs(paths.policies)
    with _flock(paths.policies / LOCK_FILE):
        _clean_staging(paths)
        yield


def create(paths: Paths, name: str, sameas: str | None = None) -> Policy:
    """A new policy with NetBackup's defaults, or a copy of `sameas` (226 if `name` exists)."""
    check_name(name)
    with _class_lock(paths):
        if exists(paths, name):
            raise NbuError(ENTITY_EXISTS, f"policy {name} already exists")
        policy = Policy(name, effective_date=int(clock.now()))
        if sameas is not None:
            policy = copy.deepcopy(load(paths, sameas))
            policy.name = name
        policy.generation = 1
        staging = paths.policies / f".new-{uuid.uuid4().hex}"
        os.mkdir(staging)
        os.close(os.open(staging / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644))
        _write(staging, policy)
        # The folder appears whole under its name, or not at all.
        os.rename(staging, _folder(paths, name))
        atomic.fsync_dir(paths.policies)
    return policy


def delete(paths: Paths, name: str) -> None:
    """Remove a policy (230 if there is none)."""
    with _class_lock(paths), _policy_lock(paths, name):
        gone = paths.policies / f".gone-{uuid.uuid4().hex}"
        os.rename(_folder(paths, name), gone)
        atomic.fsync_dir(paths.policies)
        shutil.rmtree(gone, ignore_errors=True)


def rename(paths: Paths, old: str, new: str) -> None:
    """Rename a policy (230 if `old` is missing, 226 if `new` exists)."""
    check_name(new)
    with _class_lock(paths):
        if exists(paths, new):
            raise NbuError(ENTITY_EXISTS, f"policy {new} already exists")
        with _policy_lock(paths, old):
            os.rename(_folder(paths, old), _folder(paths, new))
            atomic.fsync_dir(paths.policies)
