"""Where tar-restore may write, and how it reaches a folder there without following a symlink.

A member's name becomes a place (root, components below the root):

- standalone (`tar-restore -C DIR`): the name's components below DIR;
- under bpbrm (control mode): "/" + name, then the longest matching rename (`change /a/b to
  /x/y`: whole path components only), then the longest `dest` root that holds the result.

Refused (tar status 182), before anything is written: an empty or absolute name, a ".."
component, a NUL byte, a place outside every root. Then folders are opened one component at a
time from the root's descriptor with O_NOFOLLOW|O_DIRECTORY, creating missing ones with
mkdirat, so a symlink anywhere below a root - one the stream made a moment ago, or one that was
already there - refuses the member instead of leading outside. The roots themselves are opened
normally: they are the controller's (or the user's) choice.

Opened folders are kept in a small LRU cache: a stream holds a folder's entries together, so
most members reuse their parent's descriptor. Imports nothing from nbcli.
"""

from __future__ import annotations

import errno
import os

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CACHE_SIZE = 64

Place = tuple[int, tuple[bytes, ...]]


class Refused(Exception):
    """This member must not be written (status 182); the reason names what is wrong."""


def components(name: bytes) -> tuple[bytes, ...]:
    """A member name as path components, or Refused."""
    if not name.strip(b"/"):
        raise Refused("empty name")
    if name.startswith(b"/"):
        raise Refused("absolute name")
    if b"\0" in name:
        raise Refused("NUL byte in the name")
    parts = tuple(c for c in name.split(b"/") if c and c != b".")
    if b".." in parts:
        raise Refused("'..' in the name")
    return parts


def canonical(name: bytes) -> bool:
    """True for a name that is its own components joined: relative, no empty, '.' or '..'
    component, no NUL (what bpbkar writes)."""
    return b"\0" not in name and all(c not in (b"", b".", b"..") for c in name.split(b"/"))


def clean_root(path: bytes) -> bytes:
    """An absolute folder without '.', '..' or trailing slashes; ValueError otherwise."""
    if not path.startswith(b"/") or b"\0" in path:
        raise ValueError(f"{os.fsdecode(path)!r} is not an absolute path")
    parts = [c for c in path.split(b"/") if c and c != b"."]
    if b".." in parts:
        raise ValueError(f"{os.fsdecode(path)!r} contains '..'")
    return b"/" + b"/".join(parts)


def _under(path: bytes, top: bytes) -> bool:
    return top == b"/" or path == top or path.startswith(top + b"/")


def rename(path: bytes, renames: list[tuple[bytes, bytes]]) -> bytes:
    """`path` after the longest matching (from, to) rename; unchanged when none matches."""
    best: tuple[bytes, bytes] | None = None
    for old, new in renames:
        if _under(path, old) and (best is None or len(old) > len(best[0])):
            best = (old, new)
    if best is None:
        return path
    old, new = best
    rest = path[len(old):] if old != b"/" else path
    return (new.rstrip(b"/") + rest) or b"/"


class Destination:
    """The roots a restore may write below, and safe descriptors of folders inside them."""

    def __init__(self, roots: list[bytes], renames: list[tuple[bytes, bytes]] | None = None,
                 absolute: bool = False) -> None:
        self.roots = roots
        self.renames = renames or []
        self.absolute = absolute
        self._root_fds: list[int] = []
        self._cache: dict[Place, int] = {}
        try:
            for root in roots:
                os.makedirs(root, exist_ok=True)
                self._root_fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        except OSError:
            self.close()
            raise

    def locate(self, name: bytes) -> Place:
        """Where member `name` goes, or Refused."""
        parts = components(name)
        if not self.absolute:
            return 0, parts
        path = rename(b"/" + b"/".join(parts), self.renames)
        best = -1
        for i, root in enumerate(self.roots):
            if _under(path, root) and (best < 0 or len(root) > len(self.roots[best])):
                best = i
        if best < 0:
            raise Refused(f"{os.fsdecode(path)} is outside the restore destinations")
        below = path[len(self.roots[best]):] if self.roots[best] != b"/" else path
        return best, tuple(c for c in below.split(b"/") if c)

    def leaves_follow(self, folder: bytes) -> bool:
        """True when every member named `folder`/LEAF (`folder` canonical, b"" for the top)
        lands in the one folder with LEAF as its last component: so a caller that located
        one such member may place the others without locating them. Only a rename or a root
        that names such a member exactly makes them differ."""
        if not self.absolute:
            return True
        path = b"/" + folder
        if any(os.path.dirname(old) == path for old, _ in self.renames):
            return False
        moved = rename(path, self.renames)
        return not any(os.path.dirname(root) == moved for root in self.roots)

    def parent(self, place: Place) -> tuple[int, bytes]:
        """(descriptor of the folder holding `place`, its last component), folders created."""
        root, parts = place
        if not parts:
            raise Refused("it would replace a restore destination folder")
        return self.folder((root, parts[:-1])), parts[-1]

    def folder(self, place: Place, create: bool = True) -> int:
        """A descriptor of folder `place`, reached without following any symlink."""
        cache = self._cache
        fd = cache.pop(place, None)
        if fd is not None:
            cache[place] = fd  # most recently used goes last
            return fd
        root, parts = place
        fd, done = self._root_fds[root], 0
        for i in range(len(parts) - 1, 0, -1):
            if (root, parts[:i]) in cache:
                fd, done = self.folder((root, parts[:i])), i
                break
        for i in range(done, len(parts)):
            fd = self._step(fd, parts[i], create)
            self._remember((root, parts[:i + 1]), fd)
        return fd

    def _step(self, fd: int, name: bytes, create: bool) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as e:
            raise self._refusal(e, name) from e
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
        except FileExistsError:
            pass  # a dangling symlink, or created meanwhile: the open below decides
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            raise self._refusal(e, name) from e

    @staticmethod
    def _refusal(e: OSError, name: bytes) -> Exception:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            return Refused(f"folder {os.fsdecode(name)!r} on its path is a symbolic link "
                           "or not a folder")
        return e

    def _remember(self, place: Place, fd: int) -> None:
        cache = self._cache
        cache[place] = fd
        while len(cache) > CACHE_SIZE:
            oldest = next(iter(cache))
            os.close(cache.pop(oldest))

    def root_fd(self, root: int) -> int:
        return self._root_fds[root]

    def close(self) -> None:
        for fd in list(self._cache.values()) + self._root_fds:
            os.close(fd)
        self._cache.clear()
        self._root_fds = []
