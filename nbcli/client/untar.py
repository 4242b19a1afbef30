"""tar-restore's writer: members from the stream become files, safely, with their metadata.

Every node is made under a temporary name in its folder and renamed over its final name, so a
final name never holds a half-written file, and an existing symlink there is replaced, never
written through. Folders come from `Destination`, which never follows a symlink below a root.
Refused members (status 182) are reported and skipped; the rest of the stream goes on.

Metadata: numeric owners (chown only when running as root, before chmod, because chown clears
setuid bits), modes including setuid/setgid/sticky, mtimes with nanoseconds (symlinks too,
without following them). Folder metadata is set at the end, deepest first, so that writing a
folder's contents neither fails on a read-only mode nor moves its mtime afterwards.

Statuses: 183 a truncated or corrupt stream (what is written stays whole), 186 no bytes at all,
182 some member refused, 1 some member could not be written, else 0.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from nbcli.client.destination import Destination, Place, Refused
from nbcli.client.streamreader import DIRECT_MIN, StreamReader
from nbcli.client.tarstream import (
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    ArchiveError,
    Member,
)

Report = Callable[[str, str], None]  # (severity "Info" / "Warning" / "Error", message)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REPLACE_FOLDER = (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)


@dataclass
class RestoreResult:
    status: int
    files: int
    stream_bytes: int

    @property
    def kbytes(self) -> int:
        return (self.stream_bytes + 1023) // 1024


class Untar:
    """Restores the members of one stream below a Destination."""

    def __init__(self, reader: StreamReader, dest: Destination, report: Report,
                 keep_existing: bool = False) -> None:
        self.reader = reader
        self.dest = dest
        self.report = report
        self.keep = keep_existing
        self.as_root = os.geteuid() == 0
        self.files = self.refused = self.failed = 0
        self._folders: list[tuple[Place, Member]] = []
        self._tmp_count = 0
        self._tmp_prefix = b".nbtr%d." % os.getpid()
        self._umask = os.umask(0o022)  # reading the umask means setting it: put it back
        os.umask(self._umask)
        self._handlers: dict[bytes, Callable[[Member, int, bytes], None]] = {
            REGULAR: self._regular, HARDLINK: self._hardlink, SYMLINK: self._symlink,
            FIFO: self._node, CHARDEV: self._node, BLOCKDEV: self._node}

    def run(self) -> RestoreResult:
        broken = False
        try:
            while (m := self.reader.next_member()) is not None:
                self._member(m)
            self.reader.drain()
        except ArchiveError as e:
            broken = True
            self.report("Error", f"ERR - tar received an invalid archive: {e}")
        finally:
            self._set_folders()
        if not self.reader.received:
            status = 186
        elif broken:
            status = 183
        else:
            status = 182 if self.refused else 1 if self.failed else 0
        return RestoreResult(status, self.files, self.reader.received)

    def _member(self, m: Member) -> None:
        try:
            if m.sparse or (m.type not in self._handlers and m.type != DIRECTORY):
                raise OSError(errno.ENOTSUP, f"member type {m.type!r} is not supported")
            place = self.dest.locate(m.name)
            if m.type == DIRECTORY:
                self._folder(m, place)
            else:
                parent, leaf = self.dest.parent(place)
                if self.keep and _exists(parent, leaf):
                    self.report("Info", f"INF - kept existing file {_show(m.name)}")
                    return
                self._handlers[m.type](m, parent, leaf)
            self.files += 1
        except (Refused, ValueError) as e:  # ValueError: a NUL byte in a link target
            self.refused += 1
            self.report("Error", f"ERR - refused member {_show(m.name)}: {e} "
                                 "(tar received an invalid file name)")
        except OSError as e:
            self.failed += 1
            self.report("Error", f"ERR - cannot restore {_show(m.name)}: {e.strerror or e}")

    # --- nodes ---------------------------------------------------------------------------

    def _regular(self, m: Member, parent: int, leaf: bytes) -> None:
        if m.size <= self.reader.buffered() and self._direct(m, parent, leaf):
            return
        tmp, fd = self._new_file(parent, m.mode & 0o777)
        self._fill(fd, m, parent, tmp)
        self._install(parent, tmp, leaf)

    def _direct(self, m: Member, parent: int, leaf: bytes) -> bool:
        """A new file whose data is all in hand: created under its own name and written at
        once (no temporary name to rename - most of a small-file restore's cost otherwise).
        False when the name exists: replacing goes through a temporary name, so the old
        file stays whole until the new one is."""
        try:
            fd = os.open(leaf, _NEW_FILE, m.mode & 0o777, dir_fd=parent)
        except FileExistsError:
            return False
        self._fill(fd, m, parent, leaf)
        return True

    def _fill(self, fd: int, m: Member, parent: int, name: bytes) -> None:
        """The member's data and metadata into new file `fd` (`name` in `parent`), which
        is closed; on failure the file is removed."""
        try:
            if m.size >= DIRECT_MIN:
                self.reader.copy_direct(fd)
            else:
                self.reader.copy(fd)
            # Created with its mode already: chmod only for what umask or chown take away.
            self._fd_metadata(fd, m, chmod=bool(m.mode & (0o7000 | self._umask)))
        except BaseException:
            os.close(fd)
            _unlink(parent, name)
            raise
        os.close(fd)

    def _hardlink(self, m: Member, parent: int, leaf: bytes) -> None:
        try:
            root, parts = self.dest.locate(m.link)
        except Refused as e:
            raise Refused(f"its link target {_show(m.link)}: {e}") from e
        if not parts:
            raise Refused("hard link to a restore destination folder")
        here = os.dup(parent)  # opening the target's folder may evict `parent` from the cache
        try:
            source = self.dest.folder((root, parts[:-1]), create=False)
            tmp = self._tmp_name()
            os.link(parts[-1], tmp, src_dir_fd=source, dst_dir_fd=here, follow_symlinks=False)
            self._install(here, tmp, leaf)
            _unlink(here, tmp)  # renaming one name of an inode over another leaves both
        finally:
            os.close(here)

    def _symlink(self, m: Member, parent: int, leaf: bytes) -> None:
        tmp = self._tmp_name()
        os.symlink(m.link, tmp, dir_fd=parent)
        try:
            if self.as_root:
                os.chown(tmp, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(tmp, ns=(m.mtime_ns, m.mtime_ns), dir_fd=parent, follow_symlinks=False)
        except BaseException:
            _unlink(parent, tmp)
            raise
        self._install(parent, tmp, leaf)

    def _node(self, m: Member, parent: int, leaf: bytes) -> None:
        """A fifo or a device node (devices only as root, as mknod requires)."""
        tmp = self._tmp_name()
        if m.type == FIFO:
            os.mkfifo(tmp, 0o600, dir_fd=parent)
        else:
            kind = stat.S_IFCHR if m.type == CHARDEV else stat.S_IFBLK
            os.mknod(tmp, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=parent)
        try:
            if self.as_root:
                os.chown(tmp, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(tmp, m.mode, dir_fd=parent)  # our own new node: not a symlink
            os.utime(tmp, ns=(m.mtime_ns, m.mtime_ns), dir_fd=parent, follow_symlinks=False)
        except BaseException:
            _unlink(parent, tmp)
            raise
        self._install(parent, tmp, leaf)

    def _folder(self, m: Member, place: Place) -> None:
        root, parts = place
        created = False
        if parts:
            parent, leaf = self.dest.parent(place)
            try:
                os.mkdir(leaf, 0o700, dir_fd=parent)
                created = True
            except FileExistsError:
                st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    if self.keep:
                        raise
                    os.unlink(leaf, dir_fd=parent)  # a file or symlink where a folder goes
                    os.mkdir(leaf, 0o700, dir_fd=parent)
                    created = True
        if created or not self.keep:
            self._folders.append((place, m))

    def _set_folders(self) -> None:
        for place, m in sorted(self._folders, key=lambda f: len(f[0][1]), reverse=True):
            try:
                fd = self.dest.folder(place, create=False)
                self._fd_metadata(fd, m)
            except (OSError, Refused) as e:
                self.failed += 1
                self.report("Error", f"ERR - cannot set the attributes of {_show(m.name)}: {e}")
        self._folders = []

    # --- helpers -------------------------------------------------------------------------

    def _fd_metadata(self, fd: int, m: Member, chmod: bool = True) -> None:
        if self.as_root:
            os.fchown(fd, m.uid, m.gid)
        if chmod:
            os.fchmod(fd, m.mode)
        os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))

    def _tmp_name(self) -> bytes:
        self._tmp_count += 1
        return b"%s%d" % (self._tmp_prefix, self._tmp_count)

    def _new_file(self, parent: int, mode: int) -> tuple[bytes, int]:
        while True:
            tmp = self._tmp_name()
            try:
                return tmp, os.open(tmp, _NEW_FILE, mode, dir_fd=parent)
            except FileExistsError:
                continue  # left behind by a crashed run with our pid

    def _install(self, parent: int, tmp: bytes, leaf: bytes) -> None:
        """Rename `tmp` over `leaf`: replaces a file or symlink, never a folder."""
        try:
            os.rename(tmp, leaf, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as e:
            _unlink(parent, tmp)
            if e.errno in _REPLACE_FOLDER:
                raise Refused("it would replace a folder") from e
            raise


def _exists(parent: int, leaf: bytes) -> bool:
    try:
        os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _unlink(parent: int, name: bytes) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def _show(name: bytes) -> str:
    return os.fsdecode(name)
