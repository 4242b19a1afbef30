"""bpbkar's image builder: walked paths in, tar members and catalog file entries out.

For each (path, lstat) from the walk it writes the member into the block buffer - header(s),
then file data read straight from the file - and records the file entry the catalog keeps
(docs/protocol.md, "Catalog"): offset of the first header block, header length, in_image.

Member names are the absolute path without its leading "/" (directories end in "/"), so
`tar -xf image -C /` puts files back where they were. A path whose (dev, inode) was already
written becomes a hard link (type 1) to that first name. Incremental (`since`): a non-directory
goes in when its mtime or ctime is at or after `since`; directories always go in; with `tir`,
unchanged files still get an entry, with in_image 0 and offset -1.

A file that cannot be opened is skipped; one that fails or shrinks while being read is padded
with zeros to the size its header announced. Both are reported through `warn`.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable
from typing import Any

from nbcli.client.blocks import BlockBuffer, ReadError
from nbcli.client.scan import Warn
from nbcli.client.tarstream import (
    BLOCK,
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FIFO,
    HARDLINK,
    MAX_ID,
    MAX_SIZE,
    NS,
    REGULAR,
    SYMLINK,
    device_field,
    mtime_record,
    pack_member_into,
    pack_simple_into,
    padding,
    pax_header_block,
    pax_records,
)

Entry = list[Any]
# O_NONBLOCK: a file swapped for a fifo after the walk saw it must not hang the backup.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TYPE_TEXT = {t: t.decode() for t in (REGULAR, HARDLINK, SYMLINK, CHARDEV, BLOCKDEV,
                                      DIRECTORY, FIFO)}
ENTRY_BATCH = 1000
_ZERO_BLOCK = bytes(BLOCK)


def _owner_names(table: Callable[[int], Any], ident: int) -> tuple[bytes, str]:
    try:
        name: str = table(ident)[0]
    except (KeyError, OverflowError):
        return b"", ""
    return os.fsencode(name), name


class ImageWriter:
    """Writes members into `out`; hands file entries to `on_entries` in batches."""

    def __init__(self, out: BlockBuffer, warn: Warn, *, since: int | None = None,
                 tir: bool = False, on_entries: Callable[[list[Entry]], None] | None = None,
                 on_file: Callable[[bytes], None] | None = None,
                 batch: int = ENTRY_BATCH) -> None:
        self.out = out
        self.warn = warn
        self.since_ns = None if since is None else since * NS
        self.tir = tir
        self.on_entries = on_entries
        self.on_file = on_file
        self.batch_size = batch
        self.batch: list[Entry] = []
        self.entries = 0
        self._links: dict[tuple[int, int], tuple[bytes, str]] = {}
        self._users: dict[int, tuple[bytes, str]] = {}
        self._groups: dict[int, tuple[bytes, str]] = {}

    # --- members -------------------------------------------------------------------------

    def add(self, path: bytes, st: os.stat_result) -> None:
        """One walked path into the image (or only into the entries, when unchanged)."""
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return  # GNU tar does not archive sockets either
        if stat.S_ISDIR(mode):
            self._member(path, st, DIRECTORY, path[1:] + b"/")
        elif self.since_ns is not None and st.st_mtime_ns < self.since_ns \
                and st.st_ctime_ns < self.since_ns:
            if self.tir:
                self._entry(path, _type_of(mode), st, st.st_size, -1, 0, "", 0)
        elif stat.S_ISREG(mode):
            self._regular(path, st)
        elif stat.S_ISLNK(mode):
            self._symlink(path, st)
        elif stat.S_ISFIFO(mode):
            self._member(path, st, FIFO, path[1:])
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            typeflag = CHARDEV if stat.S_ISCHR(mode) else BLOCKDEV
            dev = device_field(os.major(st.st_rdev), os.minor(st.st_rdev))
            self._member(path, st, typeflag, path[1:], dev=dev)

    def _member(self, path: bytes, st: os.stat_result, typeflag: bytes, name: bytes,
                link: bytes = b"", dev: bytes = b"", entry_link: str = "") -> None:
        offset = self.out.tell()
        hdr_len = self._header(name, typeflag, st, 0, link, dev)
        self._entry(path, typeflag, st, 0, offset, hdr_len, entry_link, 1)

    def _symlink(self, path: bytes, st: os.stat_result) -> None:
        try:
            target = os.readlink(path)
        except OSError as e:
            self.warn("can't read symbolic link", path, e)
            return
        self._member(path, st, SYMLINK, path[1:], target, entry_link=os.fsdecode(target))

    def _regular(self, path: bytes, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self._links:
            first, first_path = self._links[key]
            self._member(path, st, HARDLINK, path[1:], first, entry_link=first_path)
            return
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as e:
            self.warn("can't open file", path, e)
            return
        try:
            self._file(path, st, fd)
        finally:
            os.close(fd)
        if st.st_nlink > 1:
            self._links[key] = (path[1:], os.fsdecode(path))

    def _file(self, path: bytes, st: os.stat_result, fd: int) -> None:
        out, size = self.out, st.st_size
        offset = out.tell()
        hdr_len = self._header(path[1:], REGULAR, st, size)
        try:
            got = out.read_from(fd, size)
        except ReadError as e:
            got = e.done
            self.warn("read error on file", path, e.error)
        else:
            if got < size:
                self.warn("file shrank while being read (padded with zeros)", path, None)
        out.zeros(size - got + padding(size))
        self._entry(path, REGULAR, st, size, offset, hdr_len, "", 1)

    def _header(self, name: bytes, typeflag: bytes, st: os.stat_result, size: int,
                link: bytes = b"", dev: bytes = b"") -> int:
        """Pax header (when needed) and ustar block; returns their length in bytes."""
        if not link and not dev:
            hdr_len = self._simple_header(name, typeflag, st, size)
            if hdr_len:
                return hdr_len
        out = self.out
        start = out.tell()
        uid, gid = st.st_uid, st.st_gid
        uname = self._user(uid)[0]
        gname = self._group(gid)[0]
        recs = pax_records(name, link, size, uid, gid, uname, gname, st.st_mtime_ns)
        if recs:
            out.pax(recs)
        pos = out.reserve()
        pack_member_into(out.mv, pos, name, typeflag, st.st_mode & 0o7777, uid, gid, size,
                         st.st_mtime_ns, link, uname, gname, dev)
        out.pos = pos + BLOCK
        return out.tell() - start

    def _simple_header(self, name: bytes, typeflag: bytes, st: os.stat_result,
                       size: int) -> int:
        """The common member - every field fits ustar, at most an mtime fraction for pax -
        written in place with no intermediate objects; 0 when the member is not that simple
        (the general path handles it). Small files are all header: this is their speed."""
        out = self.out
        pos = out.pos
        uid, gid, mtime_ns = st.st_uid, st.st_gid, st.st_mtime_ns
        if pos + 3 * BLOCK > out.size or len(name) > 100 or uid > MAX_ID or gid > MAX_ID \
                or size > MAX_SIZE or mtime_ns < 0:
            return 0
        uname, gname = self._user(uid)[0], self._group(gid)[0]
        if len(uname) > 32 or len(gname) > 32:
            return 0
        mv = out.mv
        start = pos
        sec, frac = divmod(mtime_ns, NS)
        if frac:
            rec = mtime_record(sec, frac)
            mv[pos:pos + BLOCK] = pax_header_block(len(rec))
            pos += BLOCK
            mv[pos:pos + len(rec)] = rec
            mv[pos + len(rec):pos + BLOCK] = _ZERO_BLOCK[len(rec):]
            pos += BLOCK
        pack_simple_into(mv, pos, name, typeflag, st.st_mode & 0o7777, uid, gid, size, sec,
                         uname, gname)
        out.pos = pos + BLOCK
        return out.pos - start

    # --- file entries --------------------------------------------------------------------

    def _entry(self, path: bytes, typeflag: bytes, st: os.stat_result, size: int, offset: int,
               hdr_len: int, link: str, in_image: int) -> None:
        self.entries += 1
        if in_image and self.on_file is not None:
            self.on_file(path)
        if self.on_entries is None:
            return
        self.batch.append([os.fsdecode(path), _TYPE_TEXT[typeflag], st.st_mode & 0o7777,
                           st.st_uid, st.st_gid, self._user(st.st_uid)[1],
                           self._group(st.st_gid)[1], size, st.st_mtime_ns, int(st.st_ctime),
                           offset, hdr_len, link, in_image])
        if len(self.batch) >= self.batch_size:
            self.flush_entries()

    def flush_entries(self) -> None:
        if self.batch and self.on_entries is not None:
            self.on_entries(self.batch)
        self.batch = []

    def _user(self, uid: int) -> tuple[bytes, str]:
        names = self._users.get(uid)
        if names is None:
            names = self._users[uid] = _owner_names(pwd.getpwuid, uid)
        return names

    def _group(self, gid: int) -> tuple[bytes, str]:
        names = self._groups.get(gid)
        if names is None:
            names = self._groups[gid] = _owner_names(grp.getgrgid, gid)
        return names


def _type_of(mode: int) -> bytes:
    if stat.S_ISREG(mode):
        return REGULAR
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISFIFO(mode):
        return FIFO
    return CHARDEV if stat.S_ISCHR(mode) else BLOCKDEV
