"""Writing a .f file while its backup runs: append blocks per batch, index it at completion.

Place: used by nbcli/catalog/images.py (bpdbm) only; the format is in nbcli/catalog/files.py.

Each `add` validates a batch of wire entries column by column (building a column's array is
the type check) and appends one DIRB block per run of entries of the same directory, after a
UGNM block for any owner or group not seen before - in one write, so that a crash leaves whole
blocks plus at most one torn tail, which `scan` cuts off. `finish` appends the index and the
trailer and fsyncs; the caller then renames the file (nbcli/atomic.py's fsync_dir makes that
durable). The writer keeps its state in memory, and `scan` rebuilds it from the blocks when
bpdbm restarts with images in progress.
"""

from __future__ import annotations

import mmap
import os
from itertools import groupby
from pathlib import Path
from typing import Any

from nbcli.catalog.files import (
    BLOCK,
    DIR_TAG,
    ENTRY_FIELDS,
    FORMAT_VERSION,
    INDEX_HDR,
    INDEX_TAG,
    MAGIC,
    NAMES_HDR,
    NAMES_TAG,
    NUMERIC,
    TRAILER,
    TRAILER_TAG,
    TYPES,
    Block,
    encode_list,
    parse_ug,
    split_path,
    to_array,
)
from nbcli.status import DATABASE_ERROR, FILE_WRITE_FAILED, INVALID_ENTRY, NbuError

NFIELDS = 14


def _member_end(offset: int, hdr_len: int, size: int) -> int:
    return offset + hdr_len + (size + 511) // 512 * 512


def _check_paths(paths: tuple[Any, ...], links: tuple[Any, ...]) -> None:
    for p, link in zip(paths, links, strict=True):
        if not isinstance(p, str) or not p.startswith("/") or "\0" in p or "//" in p \
                or (p.endswith("/") and p != "/") or not isinstance(link, str) or "\0" in link:
            raise NbuError(INVALID_ENTRY, f"invalid path or link in entry {p!r} -> {link!r}")


def columns_of(entries: Any) -> dict[str, tuple[Any, ...]]:
    """Wire entries -> columns by field name; status 223 for anything malformed."""
    if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) == NFIELDS
                                                for e in entries):
        raise NbuError(INVALID_ENTRY, f"entries must be lists of {NFIELDS} fields")
    cols = dict(zip(ENTRY_FIELDS, zip(*entries, strict=True), strict=True))
    _check_paths(cols["path"], cols["link"])
    if not all(isinstance(t, str) and t in TYPES for t in cols["type"]):
        raise NbuError(INVALID_ENTRY, "entry type must be one of 0-6")
    if not all(isinstance(n, str) and "\0" not in n for n in cols["uname"] + cols["gname"]):
        raise NbuError(INVALID_ENTRY, "owner and group names must be strings")
    return cols


class FilesWriter:
    """An in-progress .f file of one image."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.data_end = os.fstat(fd).st_size
        self.count = 0
        self.max_end = 0  # where the last member in the image stream ends
        self.blocks: list[tuple[int, str]] = []
        self.users: dict[int, str] = {}
        self.groups: dict[int, str] = {}

    @classmethod
    def create(cls, path: Path) -> FilesWriter:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, MAGIC)
        return cls(path, fd)

    def add(self, entries: Any) -> int:
        """Append a batch in stream order; returns how many entries it held."""
        if not entries:
            return 0
        cols = columns_of(entries)
        try:
            numeric = {name: to_array(code, cols[name]) for name, code in NUMERIC}
        except (TypeError, OverflowError) as e:
            raise NbuError(INVALID_ENTRY, f"bad number in entries: {e}") from e
        if max(cols["mode"]) > 0o7777 or max(cols["in_image"]) > 1:
            raise NbuError(INVALID_ENTRY, "mode above 07777 or in_image not 0/1")
        members = zip(cols["offset"], cols["hdr_len"], cols["size"], cols["in_image"],
                      strict=True)
        ends = [_member_end(o, h, s) for o, h, s, i in members if i and o >= 0]
        if len(ends) != sum(cols["in_image"]):
            raise NbuError(INVALID_ENTRY, "an entry in the image has a negative offset")
        out = [self._new_names(cols)]
        at = self.data_end + len(out[0])
        new_blocks = []
        start = 0
        split = [split_path(p) for p in cols["path"]]
        for d, run in groupby(split, key=lambda s: s[0]):
            names = [name for _, name in run]
            block = self._block(d, names, cols, numeric, start, start + len(names))
            new_blocks.append((at, d))
            out.append(block)
            at += len(block)
            start += len(names)
        self._append(b"".join(out))
        self.blocks += new_blocks
        self.count += len(entries)
        self.max_end = max([self.max_end, *ends])
        return len(entries)

    def _new_names(self, cols: dict[str, tuple[Any, ...]]) -> bytes:
        """A UGNM block for owners and groups this image has not named yet (b"" if none)."""
        items = []
        for ids, names, table, tag in ((cols["uid"], cols["uname"], self.users, "u"),
                                       (cols["gid"], cols["gname"], self.groups, "g")):
            for ident, name in zip(ids, names, strict=True):
                if ident not in table:
                    table[ident] = name
                    items.append(f"{tag}{ident}:{name}")
        if not items:
            return b""
        payload = encode_list(items)
        return NAMES_HDR.pack(NAMES_TAG, len(items), len(payload)) + payload

    @staticmethod
    def _block(d: str, names: list[str], cols: dict[str, tuple[Any, ...]],
               numeric: dict[str, bytes], a: int, b: int) -> bytes:
        dirb = d.encode("utf-8", "surrogateescape")
        namesb = encode_list(names)
        linksb = encode_list(cols["link"][a:b])
        parts = [dirb, "".join(cols["type"][a:b]).encode("ascii")]
        for name, _ in NUMERIC:
            width = len(numeric[name]) // len(cols["path"])
            parts.append(numeric[name][a * width:b * width])
        parts += [namesb, linksb]
        return BLOCK.pack(DIR_TAG, b - a, len(dirb), len(namesb), len(linksb)) + b"".join(parts)

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.pwrite(self.fd, view, self.data_end + len(data) - len(view)):]
        except OSError as e:
            os.ftruncate(self.fd, self.data_end)  # never leave half a batch behind
            raise NbuError(FILE_WRITE_FAILED, f"cannot write {self.path}: {e}") from e
        self.data_end += len(data)

    def finish(self) -> None:
        """Append the index and trailer (replacing any earlier attempt's) and fsync."""
        dirs: dict[str, int] = {}
        ids = [dirs.setdefault(d, len(dirs)) for _, d in self.blocks]
        dirsb = encode_list(dirs)
        names = encode_list([f"u{k}:{v}" for k, v in self.users.items()]
                            + [f"g{k}:{v}" for k, v in self.groups.items()])
        index = b"".join([
            INDEX_HDR.pack(INDEX_TAG, len(self.blocks), len(dirsb), len(names)),
            to_array("Q", [o for o, _ in self.blocks]), to_array("I", ids), dirsb, names,
            TRAILER.pack(TRAILER_TAG, self.data_end, self.count, FORMAT_VERSION)])
        try:
            os.ftruncate(self.fd, self.data_end)
            os.pwrite(self.fd, index, self.data_end)
            os.fsync(self.fd)
        except OSError as e:
            raise NbuError(FILE_WRITE_FAILED, f"cannot write {self.path}: {e}") from e

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def scan(path: Path) -> FilesWriter:
    """Reopen an in-progress .f: rebuild the writer's state, cut off a torn last block."""
    fd = os.open(path, os.O_RDWR)
    try:
        if os.fstat(fd).st_size < len(MAGIC):  # created, then a crash before the first write
            os.ftruncate(fd, 0)
            os.pwrite(fd, MAGIC, 0)
        w = FilesWriter(path, fd)
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as buf:
            if bytes(buf[:len(MAGIC)]) != MAGIC:
                raise NbuError(DATABASE_ERROR, f"{path} is not an nbcli files file")
            w.data_end = _scan_blocks(w, buf, len(MAGIC))
        os.ftruncate(fd, w.data_end)
        return w
    except BaseException:
        os.close(fd)
        raise


def _scan_blocks(w: FilesWriter, buf: Any, p: int) -> int:
    """Read blocks from `p` into `w`; return where the last whole block ends."""
    while p + NAMES_HDR.size <= len(buf):
        tag = bytes(buf[p:p + 4])
        if tag == NAMES_TAG:
            _, _, plen = NAMES_HDR.unpack_from(buf, p)
            if p + NAMES_HDR.size + plen > len(buf):
                break
            parse_ug(bytes(buf[p + NAMES_HDR.size:p + NAMES_HDR.size + plen]), w.users,
                     w.groups)
            p += NAMES_HDR.size + plen
            continue
        if tag != DIR_TAG:
            break  # an index from a failed completion, or a torn tail
        try:
            block = Block(buf, p)
        except NbuError:
            break
        offs, hdrs, sizes, inimg = (block.column(c) for c in ("offset", "hdr_len", "size",
                                                              "in_image"))
        w.max_end = max([w.max_end, *(_member_end(o, h, s) for o, h, s, i
                                      in zip(offs, hdrs, sizes, inimg, strict=True) if i)])
        w.blocks.append((p, block.dir))
        w.count += block.n
        p = block.end
    return p

