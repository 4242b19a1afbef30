"""A job's image stream sealed for data-in-transit encryption: AES-256-GCM frames on plain TCP.

Why not TLS for the image. The control connections between hosts are TLS; the image stream
was too (STARTTLS with the bptm child), and cost a backup 1.68x its time in the clear
(bench/results/dte-20261205-010720.md). TLS cuts a stream into 16 KiB records and Python's
ssl hands over one record per read: 1.17 CPU seconds a GiB for both ends against 0.30 in the
clear, most of it per-record work, while AES-256-GCM on 1 MiB blocks runs at ~10 GB/s here.
So the stream keeps what TLS gave it - secrecy, integrity, order, a proven peer - with frames
as large as the job's blocks (bench/transit.py measures the three ways; bench/dte.py the whole
backup, about 1.03x its time in the clear).

Keys. The job's secret (nbcli.media.dataservice: 32 random bytes that bptm makes) reaches the
agent only through control channels, which between hosts are mutual TLS with host
certificates; knowing it is what makes a peer the job's own. Each connection gets its own key:
HKDF-SHA256 of the secret with both ends' 16-byte random salts (the agent's in its hello, the
service's in its answer), so no key - and no nonce under it - ever serves two connections.
The agent proves it knows the secret with a first frame of its own (PROOF) before the service
takes it; a stranger, or a replay of another connection, fails that frame's tag.

Frames. A 5-byte header - payload length (4 bytes, big-endian) and flags (LAST) - then the
payload encrypted and its 16-byte tag; the header is the associated data. The nonce is the
direction (agent to service, service to agent, or the proof) and the frame's number in it, so
a frame cannot be dropped, repeated, reordered or turned back without its tag failing. Each
direction ends with a LAST frame: a stream cut short (a stranger's FIN or RST, a dead peer)
is an error, never a shorter image. A direction that never carried a frame ends at the plain
end of the TCP stream (tar-restore hangs up after a restore without having sent anything).

`Sealing` is the pure part (no I/O); `SealedSocket` is a socket whose send and receive calls
go through it, so the code that moves images (bpbkar, the bptm child, tar-restore) is the
same for a sealed stream as for a clear one.

Place: net floor; imports nbcli.net.conn and nbcli.status (the AEAD is the cryptography package's).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nbcli.net.conn import Connection
from nbcli.status import HANDSHAKE_FAILED, NbuError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as Buffer

HEADER = struct.Struct(">IB")
TAG = 16
LAST = 0x01
FRAME_MAX = 1 << 20  # a job's default block: a block is one frame
SALT_BYTES = 16
INFO = b"nbcli image stream v1"
PROOF = b"nbcli image stream: the job's own agent"
# Nonce prefixes: one nonce space per direction, and one for the agent's proof.
TO_SERVICE, TO_AGENT, PROOF_DIRECTION = 1, 2, 3


def new_salt() -> str:
    return os.urandom(SALT_BYTES).hex()


def connection_key(secret: str, agent_salt: str, service_salt: str) -> bytes:
    """The connection's AES-256 key; NbuError(26) for salts that are not 16 hex bytes."""
    try:
        salt = bytes.fromhex(agent_salt) + bytes.fromhex(service_salt)
    except ValueError as e:
        raise NbuError(HANDSHAKE_FAILED, "a sealed stream's salt is not hexadecimal") from e
    if len(salt) != 2 * SALT_BYTES:
        raise NbuError(HANDSHAKE_FAILED, f"a sealed stream's salts are {SALT_BYTES} bytes each")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=INFO).derive(secret.encode())


class Broken(OSError):
    """The stream failed its integrity check or was cut short: the peer is not the job's own
    agent, a frame was changed on the way, or the connection ended before the last frame."""

    def __init__(self, why: str) -> None:
        super().__init__(errno.EBADMSG, why)


class Sealing:
    """One direction each way: frames to seal and frames to open, numbered."""

    def __init__(self, key: bytes, sending: int, receiving: int) -> None:
        self.aead = AESGCM(key)
        self.sending, self.receiving = sending, receiving
        self.sent = self.received = 0

    def seal_into(self, payload: bytes | memoryview, out: memoryview, flags: int = 0,
                  direction: int | None = None) -> tuple[bytes, int]:
        """Encrypt `payload` into `out` (len(payload) + TAG bytes); the frame's header and the
        number of bytes of `out` used."""
        n = len(memoryview(payload))
        if n > FRAME_MAX:
            raise ValueError(f"a frame carries at most {FRAME_MAX} bytes")
        header = HEADER.pack(n, flags)
        if direction is None:
            nonce, self.sent = _nonce(self.sending, self.sent), self.sent + 1
        else:
            nonce = _nonce(direction, 0)
        self.aead.encrypt_into(nonce, payload, header, out[:n + TAG])
        return header, n + TAG

    def open_into(self, header: bytes, sealed: memoryview, out: memoryview,
                  direction: int | None = None) -> None:
        """Decrypt a frame's body into `out` (exactly its payload's length); Broken when the
        tag fails (what `out` holds then is not to be used)."""
        if direction is None:
            nonce, self.received = _nonce(self.receiving, self.received), self.received + 1
        else:
            nonce = _nonce(direction, 0)
        try:
            self.aead.decrypt_into(nonce, sealed, header, out)
        except InvalidTag as e:
            raise Broken("the image stream failed its integrity check (a frame was changed, "
                         "or the peer does not know the job's secret)") from e


def parse_header(header: bytes) -> tuple[int, int]:
    n, flags = HEADER.unpack(header)
    if n > FRAME_MAX or flags & ~LAST:
        raise Broken(f"an image stream frame header is not one we send ({n} bytes, "
                     f"flags {flags:#x})")
    return n, flags


def _nonce(direction: int, number: int) -> bytes:
    return direction.to_bytes(4, "big") + number.to_bytes(8, "big")


class SealedSocket(socket.socket):
    """A connected TCP socket whose stream is sealed: `sendall`/`send` seal, `recv_into`/`recv`
    open, `shutdown` for writing sends the LAST frame. Every other way to move bytes raises,
    so nothing can slip past the sealing."""

    def __init__(self, sock: socket.socket, sealing: Sealing) -> None:
        timeout = sock.gettimeout()
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.settimeout(timeout)
        self.sealing = sealing
        # a frame's room each way, made at first use: a stream goes one way (3 MiB both)
        self._out_buf: memoryview | None = None
        self._in_buf: memoryview | None = None
        self._plain_buf: memoryview | None = None
        self._start = self._end = 0  # opened bytes in _plain not yet given to the caller
        self._ended = False  # the peer's LAST frame has come
        self._last_sent = False

    @property
    def _out(self) -> memoryview:
        if self._out_buf is None:
            self._out_buf = memoryview(bytearray(FRAME_MAX + TAG))
        return self._out_buf

    @property
    def _in(self) -> memoryview:
        if self._in_buf is None:
            self._in_buf = memoryview(bytearray(FRAME_MAX + TAG))
        return self._in_buf

    @property
    def _plain(self) -> memoryview:
        if self._plain_buf is None:
            self._plain_buf = memoryview(bytearray(FRAME_MAX))
        return self._plain_buf

    # sending

    def sendall(self, data: Buffer, flags: int = 0) -> None:
        if flags:
            raise ValueError("a sealed stream takes no flags")
        if self._last_sent:
            raise BrokenPipeError(errno.EPIPE, "the sealed stream has ended")
        view = memoryview(data).cast("B")
        for at in range(0, len(view), FRAME_MAX):
            self._send_frame(view[at:at + FRAME_MAX], 0)

    def send(self, data: Buffer, flags: int = 0) -> int:
        self.sendall(data, flags)
        return len(memoryview(data))

    def _send_frame(self, payload: memoryview, flags: int) -> None:
        header, used = self.sealing.seal_into(payload, self._out, flags)
        sent = super().sendmsg([header, self._out[:used]])
        whole = len(header) + used
        if sent < whole:  # a signal or a timeout cut the write short: send the rest
            rest = (header + bytes(self._out[:used]))[sent:]
            super().sendall(rest)

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR) and not self._last_sent:
            self._last_sent = True
            try:
                self._send_frame(memoryview(b""), LAST)
            except OSError:
                pass  # the shutdown below reports the connection's state
        super().shutdown(how)

    # receiving

    def recv_into(self, buffer: Buffer, nbytes: int = 0,
                  flags: int = 0) -> int:
        if flags:
            raise ValueError("a sealed stream takes no flags")
        out = memoryview(buffer).cast("B")
        if nbytes:
            out = out[:nbytes]
        if not out:
            return 0
        while self._start == self._end:
            if self._ended:
                return 0
            n = self._next_frame(out)
            if n > 0 or (n == 0 and self._ended):
                return n
            # -1: the frame waits in our buffer (the loop ends); 0 and not ended: an empty
            # frame that is not the last (we never send one, but it is no end either)
        n = min(len(out), self._end - self._start)
        out[:n] = self._plain[self._start:self._start + n]
        self._start += n
        return n

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        buf = bytearray(bufsize)
        n = self.recv_into(buf, bufsize, flags)
        return bytes(buf[:n])

    def pending(self) -> int:
        """Opened bytes waiting here rather than in the kernel (tar-restore polls the socket)."""
        return self._end - self._start

    def _next_frame(self, out: memoryview) -> int:
        """Read and open the next frame: straight into `out` when it fits (the number of bytes
        given), else into our buffer (-1). 0 at the end of the stream."""
        header = bytearray(HEADER.size)
        got = self._read_exact(memoryview(header))
        if got == 0 and not self.sealing.received:
            self._ended = True  # this direction never carried a frame
            return 0
        if got < HEADER.size:
            raise Broken("the image stream ended before its last frame")
        n, flags = parse_header(bytes(header))
        body = self._in[:n + TAG]
        if self._read_exact(body) < len(body):
            raise Broken("the image stream ended in the middle of a frame")
        target = out[:n] if n <= len(out) else self._plain[:n]
        self.sealing.open_into(bytes(header), body, target)
        if flags & LAST:
            self._ended = True
        if n <= len(out):
            return n
        self._start, self._end = 0, n
        return -1

    def _read_exact(self, view: memoryview, deadline: float | None = None) -> int:
        """Fill `view`: its length, or fewer bytes at the end of the stream. TimeoutError past
        `deadline` (time.monotonic), however the bytes trickle in."""
        got = 0
        while got < len(view):
            if deadline is not None:
                # The socket's timeout bounds each read, not all of them: a stranger sending
                # a byte just inside it would hold the handshake for 60 of them.
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(errno.ETIMEDOUT, "the proof did not come in time")
                super().settimeout(left)
            k = super().recv_into(view[got:], 0, socket.MSG_WAITALL)
            if not k:
                break
            got += k
        return got

    # the agent's proof that it knows the job's secret

    def send_proof(self) -> None:
        header, used = self.sealing.seal_into(PROOF, self._out, 0, PROOF_DIRECTION)
        super().sendall(header + bytes(self._out[:used]))

    def take_proof(self, timeout: float) -> bool:
        """Whether the first frame, within `timeout` seconds, is the agent's proof, sealed
        with this connection's key."""
        deadline = time.monotonic() + timeout
        header = bytearray(HEADER.size)
        if self._read_exact(memoryview(header), deadline) < HEADER.size:
            return False
        n, _ = parse_header(bytes(header))
        if n != len(PROOF):
            return False
        # a buffer of the proof's size, not the 1 MiB frame buffer: the data service checks
        # many strangers' proofs at once (nbcli.media.dataservice.HANDSHAKES_MAX)
        body = memoryview(bytearray(n + TAG))
        if self._read_exact(body, deadline) < len(body):
            return False
        proof = bytearray(n)
        try:
            self.sealing.open_into(bytes(header), body, memoryview(proof), PROOF_DIRECTION)
        except Broken:
            return False
        return bytes(proof) == PROOF

    def _unsealed(self, *_: Any, **__: Any) -> Any:
        raise OSError(errno.EOPNOTSUPP, "a sealed stream moves bytes with send and recv only")

    sendmsg = sendto = sendfile = _unsealed
    recvmsg = recvmsg_into = recvfrom = recvfrom_into = _unsealed


def seal_agent(conn: Connection, secret: str, agent_salt: str, timeout: float) -> None:
    """The agent's side, its hello answered: the service's salt, then our proof; from here on
    `conn.sock` is sealed. NbuError(26) when the service does not answer as one."""
    answer = conn.recv(timeout)
    salt = answer.get("salt")
    if answer.get("op") != "sealed" or not isinstance(salt, str):
        raise NbuError(HANDSHAKE_FAILED, f"{conn.peer} did not answer a sealed stream's hello")
    sock = SealedSocket(conn.sock, Sealing(connection_key(secret, agent_salt, salt),
                                           TO_SERVICE, TO_AGENT))
    conn.sock = sock
    try:
        sock.send_proof()
    except OSError as e:
        raise NbuError(HANDSHAKE_FAILED, f"{conn.peer} closed a sealed stream's handshake: "
                                         f"{e.strerror or e}") from e


def seal_service(conn: Connection, secret: str, agent_salt: str, timeout: float) -> bool:
    """The data service's side of an agent's sealed hello: our salt, then its proof. True (and
    `conn.sock` sealed) when the agent knows the job's secret."""
    salt = new_salt()
    try:
        key = connection_key(secret, agent_salt, salt)
    except NbuError:
        return False
    try:
        conn.send({"op": "sealed", "salt": salt})
    except NbuError:
        # A stranger that hung up after its hello: a refusal like any other, not an error
        # that would end the data service's wait for the job's own agent.
        return False
    sock = SealedSocket(conn.sock, Sealing(key, TO_AGENT, TO_SERVICE))
    conn.sock = sock
    try:
        return sock.take_proof(timeout)
    except OSError:
        return False
    finally:
        sock.settimeout(None)
