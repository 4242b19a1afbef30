"""bpbkar's file-system walk: which paths go into an image, and in which order.

Order (docs/protocol.md, "Catalog"): a selection first, then all entries of a directory
(names sorted bytewise, lstat, never following a symlink) before the contents of any of its
subdirectories, which follow one by one in name order. So each directory's entries are
contiguous in the stream and the catalog can keep one block per directory. The parents of a
selection are not emitted; selection "/" emits its children, not itself.

A directory on another file system than its selection is emitted but not entered unless
`cross_mount_points`. Exclude patterns are globs matched against the full path (a pattern
without "/" also matches the base name, as NetBackup's exclude lists do); a path an include
pattern matches is not excluded (the include list holds the exceptions to the exclude list;
a folder that is excluded is not entered to look for them). What cannot be read
is reported through `warn` and skipped; the walk goes on.

Paths are bytes throughout: names that are not UTF-8 pass unchanged. Imports nothing from nbcli.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator

Warn = Callable[[str, bytes, OSError | None], None]


def _by_name(entry: os.DirEntry[bytes]) -> bytes:
    return entry.name


def normalize_selections(paths: Iterable[bytes]) -> list[bytes]:
    """Absolute, normalized, without duplicates or paths inside another selection."""
    out: list[bytes] = []
    for p in paths:
        p = os.path.normpath(p)
        if p.startswith(b"//"):
            p = b"/" + p.lstrip(b"/")
        if p not in out:
            out.append(p)

    def inside(p: bytes, q: bytes) -> bool:
        return p != q and (q == b"/" or p.startswith(q + b"/"))

    return [p for p in out if not any(inside(p, q) for q in out)]


class Excluder:
    """Glob patterns, compiled once into two regular expressions."""

    def __init__(self, patterns: Iterable[str]) -> None:
        full = [fnmatch.translate(p) for p in patterns if "/" in p]
        base = [fnmatch.translate(p) for p in patterns if p and "/" not in p]
        self.full = re.compile(os.fsencode("|".join(full))) if full else None
        self.base = re.compile(os.fsencode("|".join(base))) if base else None

    def __bool__(self) -> bool:
        return bool(self.full or self.base)

    def match(self, path: bytes) -> bool:
        if self.full is not None and self.full.match(path):
            return True
        return self.base is not None and bool(self.base.match(os.path.basename(path)))


class Walker:
    """Yields (path, lstat result) in image order; counts what it could not read."""

    def __init__(self, warn: Warn, exclude: Iterable[str] = (),
                 cross_mount_points: bool = False, include: Iterable[str] = ()) -> None:
        self.warn = warn
        self.excluder = Excluder(exclude)
        self.includer = Excluder(include)
        self.cross = cross_mount_points
        self.missing = 0  # selections that do not exist
        self.found = 0  # selections that do

    def walk(self, selections: Iterable[bytes]) -> Iterator[tuple[bytes, os.stat_result]]:
        for root in normalize_selections(selections):
            try:
                st = os.lstat(root)
            except OSError as e:
                self.missing += 1
                self.warn("Cannot stat", root, e)
                continue
            self.found += 1
            if self._excluded(root):
                continue
            if root != b"/":
                yield root, st
            if stat.S_ISDIR(st.st_mode):
                yield from self._tree(root, st.st_dev)

    def _tree(self, root: bytes, dev: int) -> Iterator[tuple[bytes, os.stat_result]]:
        excluding = bool(self.excluder)
        stack = [root]
        while stack:
            subdirs = []
            for entry in self._entries(stack.pop()):
                path = entry.path
                if excluding and self._excluded(path):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as e:
                    self.warn("Cannot stat", path, e)
                    continue
                yield path, st
                if stat.S_ISDIR(st.st_mode) and (st.st_dev == dev or self.cross):
                    subdirs.append(path)
            stack.extend(reversed(subdirs))

    def _excluded(self, path: bytes) -> bool:
        return self.excluder.match(path) and not (self.includer and self.includer.match(path))

    def _entries(self, folder: bytes) -> list[os.DirEntry[bytes]]:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as e:
            self.warn("Cannot read directory", folder, e)
            return []
        entries.sort(key=_by_name)
        return entries
