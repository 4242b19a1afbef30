"""A framed connection over a socket: the only place messages meet sockets.

`Connection` reads exactly one frame at a time (never past it), so after an op switches the
connection to raw bytes, whatever follows is still in the socket for the data path.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from nbcli.status import (
    CONNECTION_BROKEN,
    CONNECTION_TIMED_OUT,
    PREMATURE_EOF,
    SOCKET_READ_FAILED,
    SOCKET_WRITE_FAILED,
    NbuError,
)
from nbcli.wire import frames
from nbcli.wire.frames import Message, ProtocolError


class Connection:
    """Messages over one socket. Errors raise NbuError with NetBackup's network statuses."""

    def __init__(self, sock: socket.socket, peer: str = "", address: str = "") -> None:
        self.sock = sock
        self.peer = peer  # who the peer says it is (for logs and messages)
        self.address = address  # where it connected from, as PBX saw it ("local": Unix socket)
        # a local peer's uid and gid, from the kernel (PBX); a TCP peer's uid when it is a
        # process of this machine (nbcli.net.trust.tcp_owner)
        self.uid: int | None = None
        self.gid: int | None = None
        self.port: int | None = None  # a TCP peer's source port
        # the host names in the certificate of a TLS peer, as PBX verified it (the CA, the
        # CRL): who the peer is, rather than what its hello says or its address
        self.cert_names: list[str] = []
        # what leaves this end crosses the network encrypted (client.connect sets it: TLS with
        # the peer, PBX's outbound relay making the TLS for a process that is not root, or a
        # job's image stream sealed with its data service)
        self.encrypted = False

    @property
    def privileged(self) -> bool:
        """The peer is root on its host: a local root process, or a TCP source port below
        1024 (which only root binds - the rcmd trust NetBackup's bpcd relies on)."""
        if self.address == "local":
            return self.uid == 0
        # a TCP peer of this machine whose owner PBX found must be root too
        return self.port is not None and self.port < 1024 and self.uid in (None, 0)

    def local_pid(self) -> int | None:
        """The pid of the local process that connected (PBX's Unix socket: the kernel says,
        SO_PEERCRED of the socket PBX handed over); None for any other peer."""
        if self.address != "local" or self.sock.family != socket.AF_UNIX:
            return None
        try:
            pid, _uid, _gid = struct.unpack("3i", self.sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except OSError:
            return None
        return pid or None

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: Message) -> None:
        try:
            self.sock.sendall(frames.encode(msg))
        except (BrokenPipeError, ConnectionResetError) as e:
            raise NbuError(SOCKET_WRITE_FAILED,
                           f"{self.peer or 'peer'} closed the connection") from e
        except TimeoutError as e:
            raise NbuError(CONNECTION_TIMED_OUT, f"sending to {self.peer or 'peer'}") from e
        except OSError as e:
            raise NbuError(SOCKET_WRITE_FAILED, f"sending to {self.peer or 'peer'}: {e}") from e

    def recv(self, timeout: float | None = None) -> Message:
        """The next message; EOFError on a clean close between frames."""
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            header = self._exact(frames.HEADER.size, at_boundary=True)
            return frames.decode_body(self._exact(frames.frame_length(header)))
        finally:
            if timeout is not None:
                try:
                    self.sock.settimeout(old)
                except OSError:
                    pass

    def _exact(self, n: int, at_boundary: bool = False) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:])
            except TimeoutError as e:
                raise NbuError(CONNECTION_TIMED_OUT, f"waiting for {self.peer or 'peer'}") from e
            except (ConnectionResetError, BrokenPipeError) as e:
                raise NbuError(CONNECTION_BROKEN,
                               f"{self.peer or 'peer'} reset the connection") from e
            except OSError as e:
                raise NbuError(SOCKET_READ_FAILED,
                               f"reading from {self.peer or 'peer'}: {e}") from e
            if k == 0:
                if at_boundary and got == 0:
                    raise EOFError(self.peer)
                raise ProtocolError(PREMATURE_EOF, f"{self.peer or 'peer'} closed the connection "
                                         "in the middle of a message")
            got += k
        return bytes(buf)

    def call(self, msg: Message, timeout: float | None = None, /) -> Message:
        """Send a request and return its successful reply (remote errors re-raised)."""
        self.send(msg)
        try:
            return frames.raise_for_status(self.recv(timeout))
        except EOFError as e:
            raise NbuError(CONNECTION_BROKEN, f"{self.peer or 'peer'} closed the connection "
                                              f"before answering {msg.get('op')!r}") from e

    def request(self, op: str, /, *, recv_timeout: float | None = None,
                **fields: Any) -> Message:
        """`{op, **fields}` and its reply. Fields may be named anything, even host or
        timeout: the parameters before them are positional-only."""
        return self.call({"op": op, **fields}, recv_timeout)

    def buffered(self) -> bool:
        """Bytes already read from the socket wait here (TLS decrypts whole records): a
        select or poll on the socket would not see them."""
        pending = getattr(self.sock, "pending", None)
        return bool(pending is not None and pending())

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
