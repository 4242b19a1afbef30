"""A job's image stream in TLS, driven through memory BIOs: the encryption of a whole block in
one call and one system call to send it, the reception of up to a MiB of records in one
system call and their decryption from memory.

Why not ssl.SSLSocket: it writes each 16 KiB TLS record with a system call of its own and
reads each record with two (its header, then its body), and one recv_into returns one record;
for a GiB of image that is some 200,000 system calls and as many trips through Python on each
side, which cost more than the AES-GCM itself (bench/dte.py). The wire is the same TLS 1.3 as
SSLSocket's, so either end may use either; the contexts, certificate checks and refusals are
nbcli.net.tls's.

The stream looks enough like a socket for Connection (sendall, recv_into, timeouts, fileno,
shutdown, close) and for the image readers and writers (`pending`: bytes already decrypted or
received, which a poll on the socket would not see).

Place: net floor; imports tls and status only.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from nbcli.net import tls
from nbcli.net.certpaths import CertPaths
from nbcli.status import HANDSHAKE_FAILED, NbuError

RECV_SIZE = 1 << 20  # raw bytes taken from the socket at a time


class TlsStream:
    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                 outgoing: ssl.MemoryBIO) -> None:
        self.raw = sock
        self.obj = obj
        self.incoming = incoming
        self.outgoing = outgoing
        self.buf = bytearray(RECV_SIZE)
        self.view = memoryview(self.buf)
        self.eof = False

    # --- handshake --------------------------------------------------------------------------

    @classmethod
    def handshake(cls, sock: socket.socket, ctx: ssl.SSLContext, server_side: bool,
                  server_hostname: str | None = None) -> TlsStream:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_side=server_side,
                           server_hostname=server_hostname)
        stream = cls(sock, obj, incoming, outgoing)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                stream._flush()
                if not stream._receive():
                    raise ConnectionResetError("the peer closed the connection in the "
                                               "TLS handshake") from None
        stream._flush()
        return stream

    # --- the socket's face ------------------------------------------------------------------

    def sendall(self, data: Any) -> None:
        """Encrypt all of `data` into memory (TLS records), then send it in one go."""
        view = memoryview(data)
        try:
            while view.nbytes:  # SSL_write may take less than all of a very large write
                n = self.obj.write(view)
                view = view[n:]
        except ssl.SSLError as e:
            raise OSError(f"TLS: {e}") from e
        self._flush()

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """As many decrypted bytes as are at hand, up to `nbytes`; blocks (socket timeout) only
        when none are; 0 at the end of the stream."""
        view = memoryview(buffer).cast("B")
        want = nbytes or view.nbytes
        got = 0
        while got < want:
            try:
                # with a buffer, read returns the count (typeshed says bytes)
                n: int = self.obj.read(want - got, view[got:])  # type: ignore[assignment]
            except ssl.SSLWantReadError:
                if got or not self._receive():
                    break
                continue
            except ssl.SSLZeroReturnError:  # close_notify, or the peer's TCP end (half close)
                break
            except ssl.SSLError as e:
                raise OSError(f"TLS: {e}") from e
            if n == 0:
                break
            got += n
        return got

    def recv(self, bufsize: int) -> bytes:
        b = bytearray(bufsize)
        return bytes(b[:self.recv_into(b)])

    def pending(self) -> int:
        """Decrypted bytes, or received bytes still to decrypt, held here: a poll on the socket
        does not see them."""
        return self.obj.pending() + self.incoming.pending

    def getpeercert(self) -> Any:
        return self.obj.getpeercert()

    def fileno(self) -> int:
        return self.raw.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self.raw.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self.raw.gettimeout()

    def setsockopt(self, *args: Any) -> None:
        self.raw.setsockopt(*args)

    def shutdown(self, how: int) -> None:
        """The socket's own shutdown, as SSLSocket's: a sender ends the stream with a TCP end
        (the contexts read it as the end of the data, nbcli.net.tls._half_close)."""
        self.raw.shutdown(how)

    def close(self) -> None:
        self.raw.close()

    # --- inside -----------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.outgoing.pending:
            self.raw.sendall(self.outgoing.read())

    def _receive(self) -> bool:
        """Raw bytes from the socket into the TLS object; False at the socket's end."""
        if self.eof:
            return False
        k = self.raw.recv_into(self.buf)
        if k == 0:
            self.eof = True
            self.incoming.write_eof()
            return False
        self.incoming.write(self.view[:k])
        return True


def client(sock: socket.socket, paths: CertPaths, expected_host: str) -> TlsStream:
    """tls.wrap_client's handshake and checks, as a TlsStream."""
    try:
        return TlsStream.handshake(sock, tls.client_context(paths), False, expected_host)
    except ssl.SSLCertVerificationError as e:
        raise tls.refusal(e, f"{expected_host}'s certificate") from e
    except (ssl.SSLError, OSError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"TLS handshake with {expected_host} failed: "
                                         f"{tls.reason(e)}") from e


def server(sock: socket.socket, paths: CertPaths) -> TlsStream:
    """tls.wrap_server's handshake and checks, as a TlsStream."""
    try:
        return TlsStream.handshake(sock, tls.server_context(paths), True)
    except ssl.SSLCertVerificationError as e:
        raise tls.refusal(e, "the peer's certificate") from e
    except (ssl.SSLError, OSError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"TLS handshake failed: {tls.reason(e)}") from e


def encrypted(sock: object) -> bool:
    """Whether a connection's socket is TLS (either kind)."""
    return isinstance(sock, (TlsStream, ssl.SSLSocket))
