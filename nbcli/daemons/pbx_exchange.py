"""pbx_exchange: the one TCP port of a host, and the switchboard behind it.

It listens on the host's PBX address (bp.toml: PBX_PORT, default 1556), on a Unix socket for
local clients (var/run/pbx.sock) and on a SOCK_SEQPACKET socket where local services register
their names (var/run/pbx.reg). For each client it reads exactly the first frame - a hello naming
a service - and hands the socket itself to that service with SCM_RIGHTS; from then on PBX is off
the data path. An unknown service or a bad first frame gets an error frame and a closed socket.

One thread, one selectors loop, non-blocking sockets: a client that connects and says nothing
costs a few bytes of state and is dropped after HELLO_TIMEOUT; it cannot stall anyone else.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from nbcli.config import HostConfig
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.trust import tcp_owner
from nbcli.status import (
    CANNOT_CONNECT,
    CONNECTION_TIMED_OUT,
    ENTITY_EXISTS,
    PREMATURE_EOF,
    PROTOCOL_ERROR,
    SOCKET_OPEN_FAILED,
    NbuError,
)
from nbcli.wire import frames
from nbcli.wire.frames import ProtocolError

HELLO_TIMEOUT = 30.0
PACKET_MAX = 64 * 1024
# A hello is a few hundred bytes; PBX never buffers more than this for a client.
HELLO_MAX = 16 * 1024


@dataclass
class _Pending:
    """A client whose hello is still arriving."""

    sock: socket.socket
    peer: str
    # who is on the other end: the source port of a TCP peer (below 1024 only root can bind
    # it); the kernel's uid and gid of a local peer (SO_PEERCRED) - handed on to the service
    credentials: dict[str, int] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)
    decoder: frames.Decoder = field(default_factory=lambda: frames.Decoder(HELLO_MAX))


class PbxExchange(Daemon):
    """the port multiplexer: hands each connection to the local service it names"""

    name = "pbx_exchange"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.sel = selectors.DefaultSelector()
        self.registered: dict[str, socket.socket] = {}
        self.pending: dict[int, _Pending] = {}

    def serve(self) -> None:
        listeners = self._listen()
        try:
            while not self.stop.is_set():
                for key, _ in self.sel.select(timeout=0.5):
                    self._dispatch(*key.data)
                self._expire()
        finally:
            for s in listeners:
                s.close()
            for p in list(self.pending.values()):
                p.sock.close()
            for s in self.registered.values():
                s.close()
            for path in (self.paths.pbx_socket, self.paths.pbx_register):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    def _dispatch(self, kind: str, obj: Any) -> None:
        """One ready socket. Whatever a peer sent, a bug it finds costs that peer its
        connection, never the host its switchboard."""
        try:
            if kind == "listen":
                self._accept(obj)
            elif kind == "reglisten":
                self._accept_registration(obj)
            elif kind == "client":
                self._read_hello(obj)
            elif kind == "service":
                self._service_readable(obj)
        except Exception:
            self.log.exception("serving a %s socket failed", kind)
            if kind == "client":
                self._drop(obj)

    # --- listening sockets ------------------------------------------------------------------

    def _listen(self) -> list[socket.socket]:
        addr = self.cfg.own_address() or "0.0.0.0"
        tcp = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((addr, self.cfg.pbx_port))
        except OSError as e:
            tcp.close()
            raise NbuError(SOCKET_OPEN_FAILED,
                           f"cannot listen on {addr}:{self.cfg.pbx_port}: {e}") from e
        tcp.listen(128)
        out = [tcp]
        # Anyone on the host may ask for a service (bpbackup run by a user reaches bpcd here;
        # services see the caller's uid); only root's daemons may register one.
        for path, kind, mode in ((self.paths.pbx_socket, socket.SOCK_STREAM, 0o666),
                                 (self.paths.pbx_register, socket.SOCK_SEQPACKET, 0o600)):
            try:
                path.unlink()  # a previous run's socket file; our pid file says none is alive
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, kind)
            s.bind(str(path))
            os.chmod(path, mode)
            s.listen(128)
            out.append(s)
        for s, role in zip(out, ("listen", "listen", "reglisten")):
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, (role, s))
        self.log.info("listening on %s:%d and %s", addr, self.cfg.pbx_port, self.paths.run)
        return out

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # EMFILE and friends: keep serving the others
            self.log.warning("accept failed: %s", e)
            return
        sock.setblocking(False)
        if isinstance(addr, tuple):
            # Every frame is a small write that waits for its answer: with Nagle on, the
            # service's second frame waited for the peer's delayed ACK (~30 ms measured).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer, creds = addr[0], {"port": int(addr[1])}
            owner = tcp_owner((addr[0], int(addr[1])), sock.getsockname()[:2])
            if owner is not None:  # a process of this machine: its uid, as for local peers
                creds["uid"] = owner
        else:
            peer, creds = "local", _peer_credentials(sock)
        pending = _Pending(sock, peer, creds)
        self.pending[sock.fileno()] = pending
        self.sel.register(sock, selectors.EVENT_READ, ("client", pending))

    # --- clients: read exactly the hello, then hand the socket over -----------------------------

    def _read_hello(self, p: _Pending) -> None:
        try:
            data = p.sock.recv(p.decoder.wanted())
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(p)
            return
        if not data:
            if p.decoder.in_frame:  # half-closed inside the hello: say so, it can still read
                self._refuse(p, ProtocolError(PREMATURE_EOF, "connection closed inside the hello"))
            else:
                self._drop(p)
            return
        try:
            msg = p.decoder.feed(data)
            if msg is None:
                return
            service = frames.check_hello(msg)
            target = self.registered.get(service)
            if target is None:
                raise NbuError(CANNOT_CONNECT,
                               f"service {service!r} is not registered with pbx_exchange "
                                   f"on {self.cfg.client_name}")
            self._hand_over(p, target, service, msg)
        except NbuError as e:
            if not isinstance(e, ProtocolError):
                self.log.info("refused %s: %s", p.peer, e.detail)
            else:
                self.log.warning("bad hello from %s: %s", p.peer, e.detail)
            self._refuse(p, e)

    def _hand_over(self, p: _Pending, target: socket.socket, service: str,
                   hello: frames.Message) -> None:
        packet = frames.encode({"op": "connection", "hello": hello, "peer": p.peer,
                                **p.credentials})
        try:
            target.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       _fd_bytes(p.sock.fileno()))])
        except OSError as e:
            self._forget_service(service)
            raise NbuError(CANNOT_CONNECT, f"service {service!r} went away: {e}") from e
        self.log.debug("handed %s to %s", p.peer, service)
        self._drop(p)  # the service holds its own copy of the socket now

    def _refuse(self, p: _Pending, e: NbuError) -> None:
        try:
            p.sock.setblocking(True)
            p.sock.settimeout(1.0)
            p.sock.sendall(frames.encode(frames.error(e)))
        except OSError:
            pass
        self._drop(p)

    def _drop(self, p: _Pending) -> None:
        self.pending.pop(p.sock.fileno(), None)
        try:
            self.sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass
        p.sock.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for p in [p for p in self.pending.values() if now - p.since > HELLO_TIMEOUT]:
            self._refuse(p, ProtocolError(CONNECTION_TIMED_OUT, "no hello received in time"))

    # --- services: register, and unregister when their socket closes ------------------------------

    def _accept_registration(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.settimeout(2.0)
        try:
            packet = sock.recv(PACKET_MAX)
            msg = frames.decode_body(packet[frames.HEADER.size:])
            service = msg.get("service")
            if msg.get("op") != "register" or not isinstance(service, str) or not service:
                raise ProtocolError(PROTOCOL_ERROR, "expected register{service}")
            if service in self.registered:
                raise NbuError(ENTITY_EXISTS, f"service {service!r} is already registered")
            sock.send(frames.encode(frames.reply(0)))
        except (OSError, NbuError, ValueError) as e:
            err = e if isinstance(e, NbuError) else ProtocolError(PROTOCOL_ERROR, str(e))
            try:
                sock.send(frames.encode(frames.error(err)))
            except OSError:
                pass
            sock.close()
            return
        sock.setblocking(False)
        self.registered[service] = sock
        self.sel.register(sock, selectors.EVENT_READ, ("service", service))
        self.log.debug("registered %s (pid %s)", service, msg.get("pid"))

    def _service_readable(self, service: str) -> None:
        sock = self.registered.get(service)
        if sock is None:
            return
        try:
            data = sock.recv(PACKET_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the service closed its registration: the name is free
            self._forget_service(service)

    def _forget_service(self, service: str) -> None:
        sock = self.registered.pop(service, None)
        if sock is not None:
            try:
                self.sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
            self.log.debug("unregistered %s", service)


def _peer_credentials(sock: socket.socket) -> dict[str, int]:
    """The uid and gid of the process at the other end of a local connection."""
    try:
        _pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET,
                                                             socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
    except OSError:
        return {}
    return {"uid": uid, "gid": gid}


def _fd_bytes(fd: int) -> bytes:
    import array

    return array.array("i", [fd]).tobytes()


main = daemon_main(PbxExchange)
