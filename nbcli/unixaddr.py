"""Unix socket addresses for socket files whose path is too long for one.

bind() and connect() take at most 107 bytes of path (sockaddr_un.sun_path), and a host root
may sit deep: a home folder, an administrator's --root, a test's temporary folder. With one
such root nbcmdd could not listen and `netbackup start` failed with 103. Linux resolves
/proc/self/fd/N as the folder descriptor N is open on, so the same socket file is reached by a
short name while that descriptor is open; a path that fits is used as it is.

    with unixaddr.Reach(paths.cmd_socket) as address:
        sock.bind(address)

Base floor: imports only os (the launcher uses it, and counts its imports).
"""

from __future__ import annotations

import os
from types import TracebackType

SUN_PATH = 108  # bytes in sockaddr_un.sun_path, its terminating NUL included


class Reach:
    """The address to bind or connect a Unix socket at `path`, valid inside the `with`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd: int | None = None

    def __enter__(self) -> str:
        if len(os.fsencode(self.path)) < SUN_PATH:
            return self.path
        folder, name = os.path.split(self.path)
        self.fd = os.open(folder or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self.fd}/{name}"

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
