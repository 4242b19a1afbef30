"""The service side: register names with the local PBX, take handed-over connections, dispatch.

Registration runs over PBX's SOCK_SEQPACKET socket, one socket per service name, so that
message boundaries hold and each handed-over file descriptor arrives with its own packet:

    service                               PBX
      | register{service, pid} ----------->|
      |<-------------------- reply{status} |
      |<-- connection{hello, peer} + fd ---|   (once per client, SCM_RIGHTS)
      | close ---------------------------->|   the name is free again

A daemon dispatches each connection's requests through an explicit table of ops: an unknown op
gets status 143 and never reaches getattr; each op declares its fields (nbcli.wire.schema) and
one validator checks them before the handler runs; a handler's NbuError goes back as
(status, msg); a malformed frame gets an error reply and that connection alone is closed.
"""

from __future__ import annotations

import array
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from nbcli.config import Paths
from nbcli.net.conn import Connection
from nbcli.net.trust import REFUSALS, Gate, Who
from nbcli.status import CANNOT_CONNECT, INVALID_PROTOCOL, LOGIC_ERROR, NbuError
from nbcli.unixaddr import Reach
from nbcli.wire import frames, schema
from nbcli.wire.frames import Message, ProtocolError

PACKET_MAX = 64 * 1024
# A connection that sends no first request for this long is closed (NetBackup's
# CLIENT_READ_TIMEOUT default): a peer that only said hello must not hold a daemon's thread for
# ever. Once it has made a request it is a client's line that may idle for a whole job (bptm's
# to nbjm, bpbrm's to bpdbm, a job reporter's to bpjobd): MAX_PER_PEER bounds those.
IDLE_TIMEOUT = 300.0
# Live connections one peer may hold in one daemon; more are refused with status 25. A peer is
# its address and, when the kernel tells (a local process, through PBX), its uid: every local
# process has the same address, so without the uid one user's flood would lock root out.
MAX_PER_PEER = 512


def _peer_key(accepted: Accepted) -> tuple[str, int | None]:
    """Whose connection this is, for MAX_PER_PEER: the address and the kernel's uid."""
    return accepted.peer, accepted.conn.uid


class _Detached:
    """Returned by a handler that gave its connection away (bpcd to a launched program)."""


DETACHED = _Detached()

# A handler answers one request: a dict is sent as the successful reply; None means the
# handler already answered on the connection itself (streams, long waits); DETACHED means
# the connection now belongs to someone else and this daemon must stop reading it.
Result = Message | None | _Detached
Handler = Callable[[Message, Connection], Result]


@dataclass(frozen=True)
class Op:
    """One entry of a service's op table: the handler, who may call it (nbcli.net.trust.Who)
    and the fields its requests carry.

    `rest` is for the few ops whose requests carry an open set of fields (bpjobd's job
    fields): it checks every field not in `fields` (nbcli.wire.schema.validate). `client`
    names the field that says which client a CLIENT-callable request is about (absent or
    empty: the client the peer is)."""

    handler: Handler
    who: Who
    fields: schema.Fields
    rest: schema.Rest | None = None
    client: str = ""
    audit: bool = False  # an admin change: who, from where and what go to the error log

    def audited(self) -> Op:
        """The same op, each request it carries out recorded in the master's error log."""
        return replace(self, audit=True)

    def about(self, field: str) -> Op:
        """The same op, its CLIENT and USER callers bound to the client `field` names."""
        return replace(self, client=field)

    def validate(self, name: str, msg: Message) -> Message:
        """The request as the handler sees it (NbuError 143 or 20 when it is not fit)."""
        return schema.validate(name, msg, self.fields, self.rest)


def op(handler: Handler, who: Who, /, **fields: schema.Field) -> Op:
    """An op table entry: `op(self.stu_delete, ADMIN, label=req(str))`."""
    return Op(handler, who, fields)


Ops = dict[str, Op]


def audited(ops: Ops, *names: str) -> Ops:
    """`ops` with the ops `names` audited (Op.audited): admin changes of a daemon's table."""
    missing = set(names) - set(ops)
    if missing:
        raise KeyError(f"no such ops to audit: {sorted(missing)}")
    return {n: o.audited() if n in names else o for n, o in ops.items()}


@dataclass
class Accepted:
    conn: Connection
    hello: Message
    peer: str  # the client's address, or "local" for PBX's Unix socket


class Registration:
    """One service name held at the local PBX; `accept` yields the connections it hands over."""

    def __init__(self, paths: Paths, service: str, host: str, timeout: float = 10.0) -> None:
        self.service = service
        self.host = host
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        try:
            with Reach(paths.pbx_register) as address:
                self.sock.connect(address)
            self.sock.send(frames.encode({"op": "register", "service": service,
                                          "pid": os.getpid()}))
            answer = self.sock.recv(PACKET_MAX)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            self.sock.close()
            raise NbuError(CANNOT_CONNECT,
                           f"cannot register {service}: pbx_exchange is not running") from e
        except OSError as e:
            self.sock.close()
            raise NbuError(CANNOT_CONNECT,
                           f"cannot register {service} with pbx_exchange: {e}") from e
        if not answer:
            self.sock.close()
            raise NbuError(CANNOT_CONNECT, f"pbx_exchange closed the registration of {service}")
        try:
            frames.raise_for_status(frames.decode_body(answer[frames.HEADER.size:]))
        except NbuError:
            self.sock.close()
            raise
        self.sock.settimeout(None)

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self, timeout: float | None = None) -> Accepted | None:
        """The next handed-over connection (hello answered), or None on timeout.

        EOFError when PBX has gone away (the registration is dead).
        """
        self.sock.settimeout(timeout)
        fds = array.array("i")
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(
                PACKET_MAX, socket.CMSG_SPACE(fds.itemsize))
        except (TimeoutError, BlockingIOError):
            return None
        finally:
            try:
                self.sock.settimeout(None)
            except OSError:
                pass
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        if not data:
            for fd in fds:
                os.close(fd)
            raise EOFError(self.service)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return None
        msg = frames.decode_body(data[frames.HEADER.size:])
        sock = socket.socket(fileno=fds[0])
        sock.settimeout(None)
        given = msg.get("hello")
        hello: Message = given if isinstance(given, dict) else {}
        conn = Connection(sock, str(hello.get("host", "?")), str(msg.get("peer", "")))
        conn.uid, conn.gid = _int_or_none(msg.get("uid")), _int_or_none(msg.get("gid"))
        conn.port = _int_or_none(msg.get("port"))
        names = msg.get("cert_names")
        if isinstance(names, list):
            conn.cert_names = [str(n) for n in names]
        try:
            conn.send(frames.reply(0, host=self.host, service=self.service))
        except NbuError:
            conn.close()
            return None
        return Accepted(conn, hello, conn.address)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def serve_connection(conn: Connection, ops: Ops, log: logging.Logger, gate: Gate,
                     service: str = "") -> None:
    """Answer requests on `conn` until the peer closes it or breaks the framing. Each request
    passes `gate` (its op's rule: who may call it) before its fields are looked at."""
    detached = False
    timeout: float | None = IDLE_TIMEOUT  # until the first request
    try:
        while True:
            try:
                msg = conn.recv(timeout=timeout)
            except EOFError:
                return
            except ProtocolError as e:
                log.warning("bad frame from %s: %s", conn.peer, e)
                _try_send(conn, frames.error(e))
                return
            except NbuError as e:
                log.info("connection from %s ended: %s", conn.peer, e)
                return
            timeout = None
            op = msg.get("op")
            entry = ops.get(op) if isinstance(op, str) else None
            if entry is None:
                _try_send(conn, frames.error(NbuError(INVALID_PROTOCOL, f"unknown request {op!r}")))
                continue
            try:
                gate.check(service, str(op), entry.who, entry.client, msg, conn)  # audits
                try:
                    checked = entry.validate(str(op), msg)
                    result = entry.handler(checked, conn)
                except NbuError as e:
                    if e.status in REFUSALS:  # the handler's own check of who asks
                        gate.refused(service, str(op), conn, e)
                    raise
                if entry.audit:
                    gate.record(service, str(op), checked, conn)
            except NbuError as e:
                if not _try_send(conn, frames.error(e)):
                    return
                continue
            except Exception as e:  # a bug must not take the daemon down with it
                log.exception("request %r failed", op)
                _try_send(conn, frames.error(NbuError(LOGIC_ERROR,
                                                      f"{op}: {type(e).__name__}: {e}")))
                continue
            if result is DETACHED:
                detached = True
                return
            if isinstance(result, dict) and not _send_result(conn, str(op), result, log):
                return
    finally:
        if not detached:
            conn.close()


def _success(result: Message) -> Message:
    """A handler's result as a successful reply (a relayed reply's own status is dropped)."""
    return frames.reply(0, **{k: v for k, v in result.items() if k not in ("status", "msg")})


def _send_result(conn: Connection, op: str, result: Message, log: logging.Logger) -> bool:
    """Send a handler's result; one JSON cannot carry (a bug) is answered as status 256."""
    try:
        return _try_send(conn, _success(result))
    except (TypeError, ValueError) as e:
        log.exception("the reply to %r cannot be sent", op)
        return _try_send(conn, frames.error(NbuError(LOGIC_ERROR, f"{op}: unsendable reply: "
                                                                  f"{e}")))


def _try_send(conn: Connection, msg: Message) -> bool:
    try:
        conn.send(msg)
        return True
    except NbuError:
        return False


class ServiceHost:
    """A daemon's services: registers them, keeps them registered, runs one thread per client.

    Threads, not one event loop: a request such as "wait for this job" or "allocate resources"
    may block for minutes while others must be answered at once. Daemons never fork, so
    threads are safe here; the processes that fork (bptm) do not use this class.
    """

    def __init__(self, paths: Paths, host: str, services: dict[str, Ops],
                 log: logging.Logger, gate: Gate) -> None:
        self.paths = paths
        self.gate = gate
        self.host = host
        self.services = services
        self.log = log
        self.stop = threading.Event()
        self._regs: dict[str, Registration] = {}
        # live connections per peer address ("local": through PBX's Unix socket)
        self._peers: dict[tuple[str, int | None], int] = {}
        self._peers_lock = threading.Lock()

    def register_all(self, deadline: float) -> None:
        """Register every service, retrying while PBX is still starting."""
        for name in self.services:
            while True:
                try:
                    self._regs[name] = Registration(self.paths, name, self.host)
                    break
                except NbuError:
                    if time.monotonic() > deadline or self.stop.is_set():
                        raise
                    time.sleep(0.05)

    def run(self) -> None:
        """Accept and dispatch until `stop` is set."""
        sel = selectors.DefaultSelector()
        for name, reg in self._regs.items():
            sel.register(reg, selectors.EVENT_READ, name)
        while not self.stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                name = key.data
                reg = self._regs[name]
                try:
                    accepted = reg.accept(timeout=0)
                except (EOFError, OSError, NbuError):
                    sel.unregister(reg)
                    reg.close()
                    self._reregister(sel, name)
                    continue
                if accepted is not None and self._admit(accepted):
                    threading.Thread(target=self._serve, daemon=True,
                                     args=(accepted, self.services[name], name),
                                     name=f"{name}:{accepted.peer}").start()
        for reg in self._regs.values():
            reg.close()

    def _admit(self, accepted: Accepted) -> bool:
        """Count the peer's connection; refuse one over MAX_PER_PEER (status 25, closed), so
        that no one peer holds all of a daemon's threads."""
        key = _peer_key(accepted)
        with self._peers_lock:
            n = self._peers.get(key, 0)
            if n < MAX_PER_PEER:
                self._peers[key] = n + 1
                return True
        self.log.warning("refused a connection from %s: it holds %d already", accepted.peer, n)
        _try_send(accepted.conn, frames.error(NbuError(
            CANNOT_CONNECT, f"too many connections from {accepted.peer} ({MAX_PER_PEER})")))
        accepted.conn.close()
        return False

    def _serve(self, accepted: Accepted, ops: Ops, service: str) -> None:
        try:
            serve_connection(accepted.conn, ops, self.log, self.gate, service)
        finally:
            key = _peer_key(accepted)
            with self._peers_lock:
                left = self._peers.get(key, 1) - 1
                if left:
                    self._peers[key] = left
                else:
                    self._peers.pop(key, None)

    def _reregister(self, sel: selectors.BaseSelector, name: str) -> None:
        """PBX went away (restarted): hold the name again as soon as it is back."""
        self.log.warning("lost registration of %s with pbx_exchange; registering again", name)
        while not self.stop.is_set():
            try:
                reg = Registration(self.paths, name, self.host)
            except NbuError:
                time.sleep(0.2)
                continue
            self._regs[name] = reg
            sel.register(reg, selectors.EVENT_READ, name)
            return
