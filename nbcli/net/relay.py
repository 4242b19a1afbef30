"""Relaying a TLS connection to a local socket: PBX's half of secure communication.

A connection from another host is TLS from end to end between the caller and this host's PBX
(NetBackup's vnetd proxy does the same for its daemons). The service behind PBX gets the other
end of a local socketpair, so everything a daemon does with a connection - pass its descriptor
to an agent (bpcd), fork with it (bpbrm), read it from a spare - works unchanged, and no daemon
holds TLS state that could not cross a process boundary.

`relay` moves bytes both ways until both directions have ended: one thread, non-blocking
sockets, at most BUFFER bytes held per direction (a side is read only while the other side has
room), so a slow reader slows the writer instead of growing memory. An end of stream on one side
becomes a shutdown of writing on the other (half-close), as a plain TCP connection would give.

Imports nothing from nbcli; the handshake is nbcli.net.tls's.
"""

from __future__ import annotations

import selectors
import socket
import ssl
from collections import deque

CHUNK = 256 * 1024
BUFFER = 1024 * 1024


class _Side:
    """One socket of the relay and the chunks waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out: deque[memoryview] = deque()
        self.queued = 0      # bytes in `out`
        self.reading = True  # its peer has not ended its stream yet
        self.shut = False    # we have shut down writing to it

    def read_into(self, other: _Side) -> None:
        """Read until the socket has nothing more (a TLS socket gives one record a call, so
        one readiness is many reads) or the other side's queue is full."""
        while self.reading and other.queued < BUFFER:
            try:
                data = self.sock.recv(CHUNK)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.reading = False
                return
            other.out.append(memoryview(data))
            other.queued += len(data)

    def flush(self) -> bool:
        """Write what waits; False when the socket is gone. After a would-block the same
        chunk is offered again, as a TLS write that must be retried needs."""
        while self.out:
            head = self.out[0]
            try:
                n = self.sock.send(head)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return True
            except (ConnectionError, ssl.SSLError, OSError):
                return False
            self.queued -= n
            if n == len(head):
                self.out.popleft()
            else:
                self.out[0] = head[n:]
        return True

    def shutdown_write(self) -> None:
        if self.shut:
            return
        self.shut = True
        try:
            raw = self.sock
            if isinstance(raw, ssl.SSLSocket):
                # close_notify would need the TLS object's own state machine; the end of the
                # TCP stream is what a reader sees either way (ragged EOFs read as the end)
                socket.socket.shutdown(raw, socket.SHUT_WR)
            else:
                raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(tls_side: socket.socket, local: socket.socket, half_closed_idle: float = 300.0) -> int:
    """Relay until both directions have ended or a socket failed; bytes moved both ways.

    While both directions are open the relay waits as long as the connection lives (the
    service's own idle rules apply through the local socket); once one has ended, the other
    may be silent `half_closed_idle` seconds at most, so a peer that never closes its end
    cannot hold the relay."""
    a, b = _Side(tls_side), _Side(local)
    for s in (a.sock, b.sock):
        s.setblocking(False)
    moved = 0
    sel = selectors.DefaultSelector()
    masks = {a.sock: 0, b.sock: 0}
    try:
        while True:
            for src, dst in ((a, b), (b, a)):
                before = dst.queued
                src.read_into(dst)
                moved += dst.queued - before
                if not dst.flush():
                    return moved
                if not src.reading and not dst.out:
                    dst.shutdown_write()
            if a.shut and b.shut:
                return moved
            for side, other in ((a, b), (b, a)):
                mask = (selectors.EVENT_READ if side.reading and other.queued < BUFFER else 0) \
                    | (selectors.EVENT_WRITE if side.out else 0)
                if mask != masks[side.sock]:
                    if not masks[side.sock]:
                        sel.register(side.sock, mask)
                    elif not mask:
                        sel.unregister(side.sock)
                    else:
                        sel.modify(side.sock, mask)
                    masks[side.sock] = mask
            if not any(masks.values()):
                return moved
            if not sel.select(None if a.reading and b.reading else half_closed_idle):
                return moved
    finally:
        sel.close()
