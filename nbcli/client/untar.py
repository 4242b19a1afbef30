"""tar-restore's restorer: members from the stream become files, safely, with their metadata.

The rules for making a file are nodes.py's: a new name is written in place, an existing one
is replaced through a temporary name renamed over it (so the old file stays whole until the
new one is, and a symlink there is replaced, never written through). Links, devices and fifos
are always made under a temporary name. Folders come from `Destination`, which never follows
a symlink below a root. Refused members (status 182) are reported and skipped; the rest of
the stream goes on.

Small regular files go to the file writer process (filewriter.py), which creates them while
this process parses the next headers; every other member waits until the writer has caught
up, so members take effect in stream order. Once a small file is queued here, the plain ones
after it in the same folder are queued in C (FileWriter.queue_plain) without a Member each.

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

from nbcli.client.destination import Destination, Place, Refused, canonical
from nbcli.client.filewriter import QUEUE_MAX
from nbcli.client.nodes import (
    Nodes,
    exists,
    failed_text,
    kept_text,
    refused_text,
    show,
    unlink,
)
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
from nbcli.client.writers import Writers, writer_count

Report = Callable[[str, str], None]  # (severity "Info" / "Warning" / "Error", message)
# Small files go to the writer process once more than this many have come: a restore of a
# few files is not worth a fork.
WRITER_AFTER = 16
# The largest owner id chown takes (uid_t is 32 bits; all ones means "leave it").
ID_MAX = (1 << 32) - 2


@dataclass
class RestoreResult:
    status: int
    files: int
    stream_bytes: int
    by_writer: int = 0  # of `files`, made by the file writer process

    @property
    def kbytes(self) -> int:
        return (self.stream_bytes + 1023) // 1024


class Untar:
    """Restores the members of one stream below a Destination."""

    def __init__(self, reader: StreamReader, dest: Destination, report: Report,
                 keep_existing: bool = False, writer_after: int | None = WRITER_AFTER,
                 writers: int | None = None) -> None:
        """`writer_after`: use writer processes from that many small files on (None: never);
        `writers`: how many (default: writers.writer_count())."""
        self.reader = reader
        self.dest = dest
        self.report = report
        self.keep = keep_existing
        self.nodes = Nodes(keep_existing)
        self.files = self.refused = self.failed = 0
        self.leaves = 0  # of `files`, those that are not folders
        self._folders: list[tuple[Place, Member]] = []
        self._small = 0
        self.by_writer = 0
        self._writer_after = writer_after
        self._writers = writers or writer_count()
        self.writer: Writers | None = None
        # (folder, its name in the stream) of the last small file queued here, while the
        # members after it in that folder may be queued without locating each one.
        self._plain: tuple[Place, bytes] | None = None
        self._handlers: dict[bytes, Callable[[Member, int, bytes], None]] = {
            REGULAR: self._regular, HARDLINK: self._hardlink, SYMLINK: self._symlink,
            FIFO: self._node, CHARDEV: self._node, BLOCKDEV: self._node}

    def run(self) -> RestoreResult:
        broken = False
        try:
            try:
                while True:
                    if self._plain is not None and self.writer is not None:
                        self.writer.queue_plain(self.reader, *self._plain)
                    m = self.reader.next_member()
                    if m is None:
                        break
                    self._member(m)
                self.reader.drain()
            finally:
                self._close_writer()
        except ArchiveError as e:
            broken = True
            self.report("Error", f"ERR - tar received an invalid archive: {e}")
        finally:
            self._set_folders()
        if not self.reader.received:
            status = 186
        elif broken:
            status = 183
        elif self.refused:
            status = 182
        elif self.failed:
            # Nothing but folders came back (a full file system, say): NetBackup's "the restore
            # failed to recover the requested files", not a partial success.
            status = 1 if self.leaves else 5
        else:
            status = 0
        return RestoreResult(status, self.files, self.reader.received, self.by_writer)

    def _member(self, m: Member) -> None:
        try:
            if m.sparse or (m.type not in self._handlers and m.type != DIRECTORY):
                raise OSError(errno.ENOTSUP, f"member type {m.type!r} is not supported")
            if m.uid > ID_MAX or m.gid > ID_MAX:  # a pax header may say anything
                if self.nodes.as_root:
                    raise OSError(errno.EINVAL, f"owner {m.uid}:{m.gid} cannot be set here")
                m.uid = m.gid = 0  # not set by a restore that is not root's anyway
            place = self.dest.locate(m.name)
            if m.type == REGULAR and m.size <= QUEUE_MAX and self._queued(m, place):
                return
            if self.writer is not None:
                self.writer.sync()  # what it has queued comes first
            if m.type == DIRECTORY:
                self._folder(m, place)
            else:
                parent, leaf = self.dest.parent(place)
                if self.keep and exists(parent, leaf):
                    self.report("Info", kept_text(m.name))
                    return
                self._handlers[m.type](m, parent, leaf)
                self.leaves += 1
            self.files += 1
        except (Refused, ValueError) as e:  # ValueError: a NUL byte in a link target
            self.refused += 1
            self.report("Error", refused_text(m.name, e))
        except OSError as e:
            self.failed += 1
            self.report("Error", failed_text(m.name, e))

    def _queued(self, m: Member, place: Place) -> bool:
        """Hand a small file to the writer process; False to write it here."""
        self._small += 1
        if self.writer is None:
            if self._writer_after is None or self._small <= self._writer_after:
                return False
            self.writer = Writers.start(self.nodes, self.report, self._writers)
            if self.writer is None:  # fork failed: write everything here
                self._writer_after = None
                return False
        folder = (place[0], place[1][:-1])
        if not self.writer.knows(folder):
            try:  # opening existing folders changes nothing the queued files could meet
                self.dest.folder(folder, create=False)
            except FileNotFoundError:
                self.writer.sync()  # creating one does: what is queued goes first
        parent, leaf = self.dest.parent(place)
        if not self.writer.queue(m, folder, parent, leaf, self.reader):
            return False
        if self._plain is None or self._plain[0] != folder:
            cut = m.name.rfind(b"/")
            key = m.name[:cut] if cut >= 0 else b""
            follow = canonical(m.name) and self.dest.leaves_follow(key)
            self._plain = (folder, key) if follow else None
        return True

    def _close_writer(self) -> None:
        if self.writer is not None:
            w, self.writer = self.writer, None
            w.close()
            self.files += w.files
            self.leaves += w.files
            self.by_writer += w.files
            self.refused += w.refused
            self.failed += w.failed

    # --- nodes ---------------------------------------------------------------------------

    def _regular(self, m: Member, parent: int, leaf: bytes) -> None:
        if m.size <= self.reader.buffered():  # all in hand: made as the writer makes it
            self.nodes.file_from(parent, leaf, self.reader.take(), m.mode, m.uid, m.gid,
                                 m.mtime_ns)
            return
        tmp, fd = self.nodes.new_file(parent, m.mode & 0o777)
        self._fill(fd, m, parent, tmp)
        self.nodes.link_in(parent, fd, tmp, leaf)

    def _fill(self, fd: int, m: Member, parent: int, name: bytes) -> None:
        """The member's data and metadata into new file `fd` (temporary name `name` in
        `parent`, or none); on failure the file is closed and removed."""
        try:
            if m.size >= DIRECT_MIN:
                self.reader.copy_direct(fd)
            else:
                self.reader.copy(fd)
            # Created with its mode already: chmod only for what umask or chown take away.
            self.nodes.metadata(fd, m.mode, m.uid, m.gid, m.mtime_ns,
                                chmod=self.nodes.needs_chmod(m.mode))
        except BaseException:
            os.close(fd)
            if name:
                unlink(parent, name)
            raise

    def _hardlink(self, m: Member, parent: int, leaf: bytes) -> None:
        try:
            root, parts = self.dest.locate(m.link)
        except Refused as e:
            raise Refused(f"its link target {show(m.link)}: {e}") from e
        if not parts:
            raise Refused("hard link to a restore destination folder")
        here = os.dup(parent)  # opening the target's folder may evict `parent` from the cache
        try:
            source = self.dest.folder((root, parts[:-1]), create=False)
            tmp = self.nodes.tmp_name()
            os.link(parts[-1], tmp, src_dir_fd=source, dst_dir_fd=here, follow_symlinks=False)
            self.nodes.install(here, tmp, leaf)
            unlink(here, tmp)  # renaming one name of an inode over another leaves both
        finally:
            os.close(here)

    def _symlink(self, m: Member, parent: int, leaf: bytes) -> None:
        tmp = self.nodes.tmp_name()
        os.symlink(m.link, tmp, dir_fd=parent)
        try:
            if self.nodes.as_root:
                os.chown(tmp, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(tmp, ns=(m.mtime_ns, m.mtime_ns), dir_fd=parent, follow_symlinks=False)
        except BaseException:
            unlink(parent, tmp)
            raise
        self.nodes.install(parent, tmp, leaf)

    def _node(self, m: Member, parent: int, leaf: bytes) -> None:
        """A fifo or a device node (devices only as root, as mknod requires)."""
        tmp = self.nodes.tmp_name()
        if m.type == FIFO:
            os.mkfifo(tmp, 0o600, dir_fd=parent)
        else:
            kind = stat.S_IFCHR if m.type == CHARDEV else stat.S_IFBLK
            os.mknod(tmp, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=parent)
        try:
            if self.nodes.as_root:
                os.chown(tmp, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(tmp, m.mode, dir_fd=parent)  # our own new node: not a symlink
            os.utime(tmp, ns=(m.mtime_ns, m.mtime_ns), dir_fd=parent, follow_symlinks=False)
        except BaseException:
            unlink(parent, tmp)
            raise
        self.nodes.install(parent, tmp, leaf)

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
                self.nodes.metadata(fd, m.mode, m.uid, m.gid, m.mtime_ns)
            except (OSError, Refused) as e:
                self.failed += 1
                self.report("Error", f"ERR - cannot set the attributes of {show(m.name)}: {e}")
        self._folders = []
