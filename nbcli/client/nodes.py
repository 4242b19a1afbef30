"""How tar-restore makes a file: the rules shared by its parsing process (untar.py) and its
file writer process (filewriter.py).

A file whose data is all in hand gets a new name with O_EXCL and is written in place (a
moment's work). A file streamed from the image, or one that replaces an existing name, is made
as an unnamed file (O_TMPFILE) and linked in only once its data and metadata are whole: a
tar-restore killed at any point, even by SIGKILL, leaves no partial file behind, because the
kernel frees an inode that was never linked. Replacing links it under a temporary name and
renames that over the old one, so the old file stays whole until the new one is, and a symlink
there is replaced, never written through. File systems without O_TMPFILE get a named temporary
file instead, removed on any error. A folder is never
replaced by a file. Metadata comes after the data: chown only as root and before chmod
(chown clears setuid bits), mtimes with nanoseconds.
"""

from __future__ import annotations

import errno
import os

from nbcli.client.destination import Refused

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REPLACE_FOLDER = (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)
# An unnamed file in a folder (linked in by link_in); not O_EXCL, which would forbid the link.
_UNNAMED = os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC
# What a file system (or a kernel) without O_TMPFILE answers.
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


class Nodes:
    """Node-making for one process (its temporary names carry its pid)."""

    def __init__(self, keep_existing: bool = False) -> None:
        self.keep = keep_existing
        self.as_root = os.geteuid() == 0
        self.umask = os.umask(0o022)  # reading the umask means setting it: put it back
        os.umask(self.umask)
        self._tmp_count = 0
        self._tmp_prefix = b".nbtr%d." % os.getpid()

    def tmp_name(self) -> bytes:
        self._tmp_count += 1
        return b"%s%d" % (self._tmp_prefix, self._tmp_count)

    def new_file(self, parent: int, mode: int) -> tuple[bytes, int]:
        """A new file in `parent` to fill, and its temporary name (b"" when it has none:
        `link_in` gives it its name). The caller closes it, or hands it to link_in."""
        try:
            return b"", os.open(".", _UNNAMED, mode, dir_fd=parent)
        except OSError as e:
            if e.errno not in _NO_TMPFILE:
                raise
        while True:
            tmp = self.tmp_name()
            try:
                return tmp, os.open(tmp, NEW_FILE, mode, dir_fd=parent)
            except FileExistsError:
                continue  # left behind by a crashed run with our pid

    def link_in(self, parent: int, fd: int, tmp: bytes, leaf: bytes) -> None:
        """Give new file `fd` (from new_file, whole now) the name `leaf`, and close it."""
        try:
            if not tmp:
                tmp = self._link_unnamed(parent, fd, leaf)
                if not tmp:
                    return  # linked straight to `leaf`
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        self.install(parent, tmp, leaf)

    def _link_unnamed(self, parent: int, fd: int, leaf: bytes) -> bytes:
        """Link an O_TMPFILE file as `leaf`, or under a temporary name when `leaf` exists (the
        name to rename over it, b"" when linked as `leaf`)."""
        source = b"/proc/self/fd/%d" % fd
        try:
            os.link(source, leaf, dst_dir_fd=parent, follow_symlinks=True)
            return b""
        except FileExistsError:
            pass
        while True:
            tmp = self.tmp_name()
            try:
                os.link(source, tmp, dst_dir_fd=parent, follow_symlinks=True)
                return tmp
            except FileExistsError:
                continue

    def install(self, parent: int, tmp: bytes, leaf: bytes) -> None:
        """Rename `tmp` over `leaf`: replaces a file or symlink, never a folder."""
        try:
            os.rename(tmp, leaf, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as e:
            unlink(parent, tmp)
            if e.errno in _REPLACE_FOLDER:
                raise Refused("it would replace a folder") from e
            raise

    def metadata(self, fd: int, mode: int, uid: int, gid: int, mtime_ns: int,
                 chmod: bool = True) -> None:
        if self.as_root:
            os.fchown(fd, uid, gid)
        if chmod:
            os.fchmod(fd, mode)
        os.utime(fd, ns=(mtime_ns, mtime_ns))

    def needs_chmod(self, mode: int) -> bool:
        """A file created with `mode` lacks what umask takes away, and setuid/setgid/sticky."""
        return bool(mode & (0o7000 | self.umask))

    def file_from(self, parent: int, leaf: bytes, data: memoryview, mode: int, uid: int,
                  gid: int, mtime_ns: int) -> None:
        """Regular file `leaf` in folder `parent` from data all in hand: a new name is
        written in place, an existing one replaced through a temporary name. Refused or
        OSError when it cannot be made."""
        try:
            name, fd, renamed = leaf, os.open(leaf, NEW_FILE, mode & 0o777, dir_fd=parent), False
        except FileExistsError:
            (name, fd), renamed = self.new_file(parent, mode & 0o777), True
        try:
            while data:
                data = data[os.write(fd, data):]
            self.metadata(fd, mode, uid, gid, mtime_ns, chmod=self.needs_chmod(mode))
        except BaseException:
            os.close(fd)
            if name:
                unlink(parent, name)
            raise
        if renamed:
            self.link_in(parent, fd, name, leaf)
        else:
            os.close(fd)


def exists(parent: int, leaf: bytes) -> bool:
    try:
        os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def unlink(parent: int, name: bytes) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def show(name: bytes) -> str:
    return os.fsdecode(name)


def kept_text(name: bytes) -> str:
    return f"INF - kept existing file {show(name)}"


def refused_text(name: bytes, e: Exception) -> str:
    return f"ERR - refused member {show(name)}: {e} (tar received an invalid file name)"


def failed_text(name: bytes, e: OSError) -> str:
    return f"ERR - cannot restore {show(name)}: {e.strerror or e}"
