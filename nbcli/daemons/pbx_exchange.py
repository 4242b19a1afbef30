"""pbx_exchange: the one TCP port of a host, and the switchboard behind it.

It listens on the host's PBX address (bp.toml: PBX_PORT, default 1556), on a Unix socket for
local clients (var/run/pbx.sock) and on a SOCK_SEQPACKET socket where local services register
their names (var/run/pbx.reg). For each client it reads exactly the first frame - a hello naming
a service - and hands the socket itself to that service with SCM_RIGHTS; from then on PBX is off
the data path. An unknown service or a bad first frame gets an error frame and a closed socket.

Secure communication. Another host's connection that opens with a TLS ClientHello is TLS up to
here: a thread of PBX makes the handshake (the peer's host certificate checked against the CA
and its CRL, and against the address it comes from), reads the hello inside TLS and hands the
service one end of a local socketpair, relaying between it and the TLS connection (relay.py) -
the vnetd proxy's job in NetBackup. Once this host holds a host certificate, plain TCP from
other hosts reaches nbwmc alone (a host that is not enrolled yet asks it for the CA certificate
and its own) and a job's data service (an image stream, which the job's secret guards: sealed
end to end with the service when data-in-transit encryption is on, nbcli.net.sealed, in the
clear when it is off); everything else is refused with status 26. Local clients (the
Unix socket, or TCP from this host's own address by a process the kernel names) need no TLS.

One thread, one selectors loop, non-blocking sockets: a client that connects and says nothing
costs a few bytes of state and is dropped after HELLO_TIMEOUT; it cannot stall anyone else.
"""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nbcli.config import HostConfig
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net import tls
from nbcli.net.certpaths import CertPaths
from nbcli.net.relay import relay
from nbcli.net.trust import tcp_owner
from nbcli.status import (
    CANNOT_CONNECT,
    CERT_NAME_MISMATCH,
    CONNECTION_TIMED_OUT,
    ENTITY_EXISTS,
    HANDSHAKE_FAILED,
    PREMATURE_EOF,
    PROTOCOL_ERROR,
    SOCKET_OPEN_FAILED,
    NbuError,
)
from nbcli.unixaddr import Reach
from nbcli.wire import frames
from nbcli.wire.frames import ProtocolError

HELLO_TIMEOUT = 30.0
PACKET_MAX = 64 * 1024
# A hello is a few hundred bytes; PBX never buffers more than this for a client.
HELLO_MAX = 16 * 1024
TLS_RECORD = 0x16  # the first byte of a TLS handshake record; never of a frame (a length)
MAX_TLS = 1024  # TLS connections relayed at once: a thread each
# What a host that is not enrolled yet may reach in plain TCP: the CA, for its certificate.
ENROLMENT_SERVICES = frozenset({"nbwmc"})
# A local process that cannot speak TLS for this host (a user's command: the host's key is
# root's) asks PBX to open its connection to another host: PBX makes the TLS connection with
# the host's certificate, from an unprivileged port (so the other host sees what it saw of a
# user's plain connection: this host, not root), and relays (NetBackup's outbound vnetd proxy).
OUTBOUND = "pbx_outbound"
# A job's data service (bptm.<jobid>), which a job's agent reaches in plain TCP: the stream is
# sealed end to end with the service (nbcli.net.sealed) or, with data-in-transit encryption off
# for the job (nbcli.net.dte), in the clear; the service takes only the peer that knows the
# job's secret (nbcli.media.dataservice).
DATA_SERVICES = "bptm."


@dataclass
class _Pending:
    """A client whose hello is still arriving."""

    sock: socket.socket
    peer: str
    # who is on the other end: the source port of a TCP peer (below 1024 only root can bind
    # it); the kernel's uid and gid of a local peer (SO_PEERCRED) - handed on to the service
    credentials: dict[str, int] = field(default_factory=dict)
    # a TCP peer at this host's own address whose owner the kernel named: a local process
    # (known as surely as on the Unix socket), which needs no TLS
    same_host: bool = False
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
        self.certs = CertPaths(cfg.root)
        self.relays = threading.BoundedSemaphore(MAX_TLS)

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
            with Reach(path) as address:
                s.bind(address)
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
            here = sock.getsockname()[:2]
            owner = tcp_owner((addr[0], int(addr[1])), here)
            if owner is not None:  # a process of this machine: its uid, as for local peers
                creds["uid"] = owner
            same_host = owner is not None and addr[0] == here[0]
        else:
            peer, creds, same_host = "local", _peer_credentials(sock), False
        pending = _Pending(sock, peer, creds, same_host)
        self.pending[sock.fileno()] = pending
        self.sel.register(sock, selectors.EVENT_READ, ("client", pending))

    # --- clients: read exactly the hello, then hand the socket over -----------------------------

    def _read_hello(self, p: _Pending) -> None:
        if "port" in p.credentials and not p.decoder.in_frame and self._starts_tls(p):
            return
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
            if service == OUTBOUND and p.peer == "local":
                self._start_outbound(p, msg)
                return
            if "port" in p.credentials and not p.same_host and self._secure() \
                    and service not in ENROLMENT_SERVICES \
                    and not service.startswith(DATA_SERVICES):
                raise NbuError(HANDSHAKE_FAILED,
                               f"{self.cfg.client_name} accepts only secure (TLS) connections "
                               f"from other hosts: enrol {p.peer} with nbcertcmd "
                               "-getCACertificate and -getCertificate")
            self._hand_over(p, self._target(service), service, msg)
        except NbuError as e:
            if not isinstance(e, ProtocolError):
                self.log.info("refused %s: %s", p.peer, e.detail)
            else:
                self.log.warning("bad hello from %s: %s", p.peer, e.detail)
            self._refuse(p, e)

    def _target(self, service: str) -> socket.socket:
        target = self.registered.get(service)
        if target is None:
            raise NbuError(CANNOT_CONNECT, f"service {service!r} is not registered with "
                                           f"pbx_exchange on {self.cfg.client_name}")
        return target

    def _hand_over(self, p: _Pending, target: socket.socket, service: str,
                   hello: frames.Message) -> None:
        self._send_fd(target, service, p.sock, {"op": "connection", "hello": hello,
                                                "peer": p.peer, **p.credentials})
        self.log.debug("handed %s to %s", p.peer, service)
        self._drop(p)  # the service holds its own copy of the socket now

    def _send_fd(self, target: socket.socket, service: str, sock: socket.socket,
                 packet: dict[str, Any]) -> None:
        try:
            target.sendmsg([frames.encode(packet)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                      _fd_bytes(sock.fileno()))])
        except OSError as e:
            # the service's registration is dead: the main loop forgets it when it reads EOF
            raise NbuError(CANNOT_CONNECT, f"service {service!r} went away: {e}") from e

    # --- TLS from other hosts ----------------------------------------------------------------

    def _secure(self) -> bool:
        """This host is enrolled: other hosts must come in TLS."""
        return self.certs.host_cert.exists()

    def _starts_tls(self, p: _Pending) -> bool:
        """Peek at a TCP client's first byte; a TLS handshake goes to a thread of its own."""
        try:
            first = p.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return True  # nothing yet (the selector fires again)
        except OSError:
            self._drop(p)
            return True
        if first[:1] != bytes([TLS_RECORD]):
            return False
        self.pending.pop(p.sock.fileno(), None)
        self.sel.unregister(p.sock)
        if not self.relays.acquire(blocking=False):
            self.log.warning("refused TLS from %s: %d relayed connections already",
                             p.peer, MAX_TLS)
            p.sock.close()
            return True
        threading.Thread(target=self._serve_tls, args=(p,), daemon=True,
                         name=f"tls:{p.peer}").start()
        return True

    def _serve_tls(self, p: _Pending) -> None:
        """Handshake, read the hello inside TLS, hand the service a socketpair and relay."""
        here: socket.socket | None = None
        try:
            p.sock.setblocking(True)
            p.sock.settimeout(HELLO_TIMEOUT)
            try:
                secure = tls.wrap_server_optional(p.sock, self.certs)
            except NbuError as e:
                self.log.info("TLS from %s refused: %s", p.peer, e.detail)
                return
            try:
                here = self._tls_hand_over(p, secure)
            except NbuError as e:
                self.log.info("refused TLS client %s: %s", p.peer, e.detail)
                try:
                    secure.sendall(frames.encode(frames.error(e)))
                except OSError:
                    pass
                return
            secure.settimeout(None)
            relay(secure, here)
        except Exception:
            self.log.exception("relaying TLS from %s failed", p.peer)
        finally:
            if here is not None:
                here.close()
            p.sock.close()
            self.relays.release()

    def _tls_hand_over(self, p: _Pending, secure: ssl.SSLSocket) -> socket.socket:
        hello = _read_frame(secure, p.decoder)
        service = frames.check_hello(hello)
        host_id, names = tls.peer_identity_or_none(secure)
        if not names and service not in ENROLMENT_SERVICES:
            raise NbuError(HANDSHAKE_FAILED, f"{p.peer} presented no host certificate: "
                                             f"only {', '.join(ENROLMENT_SERVICES)} serves "
                                             "hosts that are not enrolled")
        if names and not self._comes_from(names, p.peer):
            raise NbuError(CERT_NAME_MISMATCH, f"the certificate of {', '.join(names)} is "
                                               f"presented from {p.peer}, not their address")
        here, there = socket.socketpair()
        try:
            self._send_fd(self._target(service), service, there,
                          {"op": "connection", "hello": hello, "peer": p.peer,
                           **p.credentials, "cert_names": names, "hostid": host_id})
        except BaseException:
            here.close()
            raise
        finally:
            there.close()
        self.log.debug("relaying TLS from %s (%s) to %s", p.peer, host_id or "no certificate",
                       service)
        return here

    def _start_outbound(self, p: _Pending, hello: frames.Message) -> None:
        """Hand a local client's outbound request to a thread (connect, TLS, relay)."""
        target = hello.get("target")
        if not isinstance(target, str) or not target:
            self._refuse(p, ProtocolError(PROTOCOL_ERROR, f"{OUTBOUND} needs a target host"))
            return
        self.pending.pop(p.sock.fileno(), None)
        self.sel.unregister(p.sock)
        if not self.relays.acquire(blocking=False):
            self._refuse(p, NbuError(CANNOT_CONNECT, f"{MAX_TLS} relayed connections already"))
            return
        threading.Thread(target=self._serve_outbound, args=(p, target), daemon=True,
                         name=f"out:{target}").start()

    def _serve_outbound(self, p: _Pending, target: str) -> None:
        remote: socket.socket | None = None
        try:
            p.sock.setblocking(True)
            p.sock.settimeout(HELLO_TIMEOUT)
            try:
                addr = self.cfg.address_of(target)
                own = self.cfg.own_address()
                raw = socket.create_connection(addr, timeout=HELLO_TIMEOUT,
                                               source_address=(own, 0) if own else None)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    remote = tls.wrap_client(raw, self.certs, target)
                except NbuError:
                    raw.close()
                    raise
            except OSError as e:
                raise NbuError(CANNOT_CONNECT, f"cannot connect to {target}: {e}") from e
            p.sock.sendall(frames.encode(frames.reply(0)))
            remote.settimeout(None)
            p.sock.settimeout(None)
            self.log.debug("relaying %s (uid %s) to %s", p.peer, p.credentials.get("uid"),
                           target)
            relay(remote, p.sock)
        except NbuError as e:
            self.log.info("outbound connection to %s for uid %s failed: %s", target,
                          p.credentials.get("uid"), e.detail)
            try:
                p.sock.sendall(frames.encode(frames.error(e)))
            except OSError:
                pass
        except Exception:
            self.log.exception("relaying to %s failed", target)
        finally:
            if remote is not None:
                remote.close()
            p.sock.close()
            self.relays.release()

    def _comes_from(self, names: list[str], address: str) -> bool:
        """One of the certificate's host names has `address` (the hosts table, else DNS)."""
        for name in names:
            try:
                if self.cfg.address_of(name)[0] == address:
                    return True
            except NbuError:
                continue
        return False

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


def _read_frame(sock: socket.socket, decoder: frames.Decoder) -> frames.Message:
    """One frame, read from a blocking socket (its timeout bounds the wait)."""
    while True:
        try:
            data = sock.recv(decoder.wanted())
        except TimeoutError as e:
            raise ProtocolError(CONNECTION_TIMED_OUT, "no hello received in time") from e
        except OSError as e:
            raise ProtocolError(PREMATURE_EOF, f"reading the hello: {e}") from e
        if not data:
            raise ProtocolError(PREMATURE_EOF, "connection closed inside the hello")
        msg = decoder.feed(data)
        if msg is not None:
            return msg


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
