"""How tar-restore makes a file: the rules shared by its parsing process (untar.py) and its
file writer process (filewriter.py).

A new name is created with O_EXCL and written in place; an existing name is replaced by a
file made under a temporary name and renamed over it, so the old file stays whole until the
new one is, and a symlink there is replaced, never written through. A folder is never
replaced by a file. Metadata comes after the data: chown only as root and before chmod
(chown clears setuid bits), mtimes with nanoseconds.
"""

from __future__ import annotations

import errno
import os

from nbcli.client.destination import Refused

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REPLACE_FOLDER = (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)


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
        while True:
            tmp = self.tmp_name()
            try:
                return tmp, os.open(tmp, NEW_FILE, mode, dir_fd=parent)
            except FileExistsError:
                continue  # left behind by a crashed run with our pid

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
            unlink(parent, name)
            raise
        os.close(fd)
        if renamed:
            self.install(parent, name, leaf)


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
