"""The .f (files file) format, and reading it: one block per directory, decoded in bulk.

Place: the image catalog's file list, below bpdbm. nbcli/catalog/fcatwrite.py writes it while a
backup runs; this module reads it for file_list and restore_plan. No network, no commands.

Theory of operation. bpbkar emits a directory's entries together, so the file is a sequence of
blocks, each holding the entries of one directory that arrived together (a directory may have
several blocks when its entries came in several batches):

    MAGIC (8 bytes)
    block*   DIRB: n, dir_len, names_len, links_len | dir | columns | names | links
             UGNM: count, payload_len | "u<uid>:<name>" / "g<gid>:<name>", NUL-joined
    INDX     n_blocks, dirs_len, names_len | block offsets (u64) | dir ids (u32) | dirs | names
    TRAILER  "NBFT", index offset, entry count, format version   (fixed size, at the very end)

A DIRB block stores its entries column by column - types (1 byte each), in_image, mode, uid,
gid, size, mtime_ns, ctime, offset, hdr_len as little-endian fixed-size arrays - then the names
joined by NUL and the link targets joined by NUL (empty for most). Listing a folder reads the
index once and that folder's blocks only; each wanted column is one array.frombytes and one
tolist, names one decode and one split: never a Python object per field per file that nobody
asked for. uid->uname and gid->gname are tables per image (UGNM blocks, gathered in the index).

The in-progress file has no index: a reader refuses it; the writer can rebuild its state from
the blocks (see fcatwrite.scan).
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbcli.status import DATABASE_ERROR, NbuError

MAGIC = b"NBCLIF\x00\x01"
FORMAT_VERSION = 1
BLOCK = struct.Struct("<4sIIII")
DIR_TAG, NAMES_TAG, INDEX_TAG, TRAILER_TAG = b"DIRB", b"UGNM", b"INDX", b"NBFT"
NAMES_HDR = struct.Struct("<4sII")
INDEX_HDR = struct.Struct("<4sIII")
TRAILER = struct.Struct("<4sQQI")

# An entry on the wire (docs/protocol.md "Catalog"), in this order.
ENTRY_FIELDS = ("path", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtime_ns",
                "ctime", "offset", "hdr_len", "link", "in_image")
# Fixed-size columns of a block, in storage order (after the 1-byte type column).
NUMERIC: tuple[tuple[str, str], ...] = (
    ("in_image", "B"), ("mode", "H"), ("uid", "I"), ("gid", "I"), ("size", "Q"),
    ("mtime_ns", "q"), ("ctime", "q"), ("offset", "q"), ("hdr_len", "I"))
CODES = dict(NUMERIC)
ITEMSIZE = {code: array(code).itemsize for _, code in NUMERIC}
assert ITEMSIZE == {"B": 1, "H": 2, "I": 4, "Q": 8, "q": 8}, "unsupported platform int sizes"
RECORD_BYTES = 1 + sum(ITEMSIZE[code] for _, code in NUMERIC)
BIG_ENDIAN = sys.byteorder == "big"
TYPES = frozenset("0123456")
DIRECTORY, HARDLINK = "5", "1"


def split_path(path: str) -> tuple[str, str]:
    """A path -> (its directory, its name); "/" itself lives in the pseudo-directory ""."""
    if path == "/":
        return "", "/"
    d, _, name = path.rpartition("/")
    return d or "/", name


def prefix_of(d: str) -> str:
    """What goes before a name of directory `d` to make its path."""
    return "" if d == "" else "/" if d == "/" else d + "/"


def to_array(code: str, values: Any) -> bytes:
    """A column as little-endian bytes (TypeError/OverflowError on a bad value)."""
    a = array(code, values)
    if BIG_ENDIAN:
        a.byteswap()
    return a.tobytes()


def from_array(code: str, data: bytes) -> list[int]:
    a = array(code)
    a.frombytes(data)
    if BIG_ENDIAN:
        a.byteswap()
    return a.tolist()


def decode_list(data: bytes, n: int) -> list[str]:
    """NUL-joined names -> n strings (undecodable bytes surrogate-escaped, as os.fsdecode)."""
    if n == 0:
        return []
    return data.decode("utf-8", "surrogateescape").split("\0")


def encode_list(items: Any) -> bytes:
    return "\0".join(items).encode("utf-8", "surrogateescape")


class Block:
    """The entries of one directory that arrived together; columns decode on demand."""

    __slots__ = ("buf", "offset", "n", "dir", "end", "_at")

    def __init__(self, buf: Any, offset: int) -> None:
        if offset + BLOCK.size > len(buf):
            raise NbuError(DATABASE_ERROR, f"block at {offset} is cut short")
        tag, n, dir_len, names_len, links_len = BLOCK.unpack_from(buf, offset)
        if tag != DIR_TAG:
            raise NbuError(DATABASE_ERROR, f"no directory block at {offset}")
        self.buf, self.offset, self.n = buf, offset, n
        p = offset + BLOCK.size
        self.dir = bytes(buf[p:p + dir_len]).decode("utf-8", "surrogateescape")
        p += dir_len
        self._at: dict[str, tuple[int, int]] = {"type": (p, p + n)}
        p += n
        for name, code in NUMERIC:
            self._at[name] = (p, p + ITEMSIZE[code] * n)
            p += ITEMSIZE[code] * n
        self._at["name"] = (p, p + names_len)
        self._at["link"] = (p + names_len, p + names_len + links_len)
        self.end = p + names_len + links_len
        if self.end > len(buf):
            raise NbuError(DATABASE_ERROR, f"block at {offset} is cut short")

    def _bytes(self, name: str) -> bytes:
        a, b = self._at[name]
        return bytes(self.buf[a:b])

    def column(self, name: str) -> list[Any]:
        """One field of every entry, as a list (path, name, link, type or a numeric field)."""
        if name == "path":
            return self.paths()
        if name in ("name", "link"):
            return decode_list(self._bytes(name), self.n)
        if name == "type":
            return list(self._bytes("type").decode("ascii"))
        return from_array(CODES[name], self._bytes(name))

    def names(self) -> list[str]:
        return self.column("name")

    def paths(self) -> list[str]:
        prefix = prefix_of(self.dir)
        return [prefix + name for name in self.names()]


def parse_ug(payload: bytes, users: dict[int, str], groups: dict[int, str]) -> None:
    """Add a UGNM payload's `u<uid>:<name>` / `g<gid>:<name>` items to the tables."""
    for item in decode_list(payload, 1 if payload else 0):
        ident, _, name = item[1:].partition(":")
        (users if item[:1] == "u" else groups)[int(ident)] = name


class FilesFile:
    """A complete .f file, open for reading (memory-mapped; blocks are read when asked)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                if self.size < len(MAGIC) + TRAILER.size:
                    raise NbuError(DATABASE_ERROR, f"{path}: too short for a files file")
                self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise NbuError(DATABASE_ERROR, f"cannot read {path}: {e}") from e
        try:
            self._read_index()
        except (struct.error, ValueError, IndexError) as e:
            raise NbuError(DATABASE_ERROR, f"{path}: damaged index: {e}") from e

    def _read_index(self) -> None:
        tag, index_at, self.count, version = TRAILER.unpack_from(self.buf, self.size
                                                                 - TRAILER.size)
        if self.buf[:len(MAGIC)] != MAGIC or tag != TRAILER_TAG or version != FORMAT_VERSION:
            raise NbuError(DATABASE_ERROR, f"{self.path}: not a complete nbcli files file")
        tag, nblocks, dirs_len, names_len = INDEX_HDR.unpack_from(self.buf, index_at)
        if tag != INDEX_TAG:
            raise NbuError(DATABASE_ERROR, f"{self.path}: no index at {index_at}")
        p = index_at + INDEX_HDR.size
        offsets = from_array("Q", bytes(self.buf[p:p + 8 * nblocks]))
        p += 8 * nblocks
        ids = from_array("I", bytes(self.buf[p:p + 4 * nblocks]))
        p += 4 * nblocks
        dirs = bytes(self.buf[p:p + dirs_len]).decode("utf-8", "surrogateescape").split("\0")
        p += dirs_len
        self.users: dict[int, str] = {}
        self.groups: dict[int, str] = {}
        parse_ug(bytes(self.buf[p:p + names_len]), self.users, self.groups)
        # Blocks in file (= stream) order, and each directory's blocks.
        self.order = [(o, dirs[i]) for o, i in zip(offsets, ids, strict=True)]
        self.by_dir: dict[str, list[int]] = {}
        for offset, d in self.order:
            self.by_dir.setdefault(d, []).append(offset)

    def block(self, offset: int) -> Block:
        return Block(self.buf, offset)

    def blocks_of(self, d: str) -> list[Block]:
        return [Block(self.buf, o) for o in self.by_dir.get(d, ())]

    def blocks(self) -> Iterator[Block]:
        for offset, _ in self.order:
            yield Block(self.buf, offset)

    def column(self, block: Block, name: str) -> list[Any]:
        """A block's column, with uname/gname looked up in this image's tables."""
        if name == "uname":
            return [self.users.get(u, str(u)) for u in block.column("uid")]
        if name == "gname":
            return [self.groups.get(g, str(g)) for g in block.column("gid")]
        return block.column(name)

    def close(self) -> None:
        try:
            self.buf.close()
        except (BufferError, ValueError):
            pass  # a column being read still holds a view; the map goes with the last one
