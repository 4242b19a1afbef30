"""Who may ask a host to do what: each op's rule (`Who`), checked before its handler runs.

Place: the service layer (nbcli.net.service) asks `Gate.check` for every request, before the
fields are validated and before the handler sees it. This module imports config and status
only; the audit trail is a callable the daemon hands in (nbcli.events lives above net).

A caller is what the kernel and PBX say about the connection, never what the peer claims:

    ROOT    this host's root: PBX's Unix socket, SO_PEERCRED uid 0
    USER    any user of this host on PBX's Unix socket (uid from SO_PEERCRED): only for
            user-directed requests, whose handlers act as that uid
    SERVER  a server of this host: a TCP peer whose address belongs to a SERVER or
            MEDIA_SERVER entry, unless PBX found that the peer is a non-root process of this
            machine; this host's root when the host lists itself (the all-in-one case); a
            user of this host in a group bp.toml's ADMIN_GROUPS names (an administrator)
    CLIENT  the client the request is about: a TCP peer whose address belongs to the name it
            gave in its hello, and the request's client field (Op.client) empty or that name
    OTHER   anyone at all (ping, the CA's certificate, the CRL, enrolment with a token)

Until mutual TLS lands (nbcli.net.tls), a server is known by its address; PBX closes the hole
that leaves on a shared machine by looking up the owner of a TCP peer that is on this machine
(nbcli.daemons.pbx_exchange: /proc/net/tcp), so an ordinary user connecting over TCP from a
server's address is a user, not the server.
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from nbcli.config import HostConfig
from nbcli.status import (
    CLIENT_NOT_VALIDATED,
    CLIENT_NOT_VALIDATED_FOR_OP,
    SERVER_NOT_ALLOWED,
    NbuError,
)


class Who(enum.Flag):
    """Who may call an op: the op table's column beside the fields."""

    ROOT = enum.auto()
    USER = enum.auto()
    SERVER = enum.auto()
    CLIENT = enum.auto()
    OTHER = enum.auto()


ROOT, USER, SERVER, CLIENT, OTHER = Who.ROOT, Who.USER, Who.SERVER, Who.CLIENT, Who.OTHER
ANYONE = ROOT | USER | SERVER | CLIENT | OTHER
ADMIN = ROOT | SERVER  # root here, or a server of this host (policies, storage, expiration)
LISTERS = ADMIN | CLIENT | USER  # image and file lists: a client or user sees its own only


class Peer(Protocol):
    """What the gate reads of a connection (nbcli.net.conn.Connection)."""

    peer: str
    address: str
    uid: int | None
    port: int | None
    cert_names: list[str]


def server_name(cfg: HostConfig, address: str) -> str | None:
    """The SERVER/MEDIA_SERVER entry `address` belongs to, or None."""
    names = list(dict.fromkeys(cfg.servers + cfg.media_servers))
    if address == "local":
        return cfg.client_name if cfg.client_name in names else None
    for name in names:
        if address in cfg.addresses_of(name):
            return name
    return None


def server_of(cfg: HostConfig, conn: Peer) -> str | None:
    """The SERVER/MEDIA_SERVER entry the caller is: by its certificate's names when it came in
    TLS (PBX checked them), else by its address (a host not enrolled, or a local one)."""
    if conn.cert_names:
        names = set(cfg.servers + cfg.media_servers)
        return next((n for n in conn.cert_names if n in names), None)
    return server_name(cfg, conn.address)


def caller(cfg: HostConfig, conn: Peer) -> Who:
    """What the connection is, message aside (CLIENT needs the message: `speaks_for`)."""
    if conn.address == "local":
        if conn.uid is None:
            return OTHER
        if conn.uid != 0:
            return OTHER | USER | (SERVER if in_admin_group(cfg, conn.uid) else Who(0))
        return OTHER | ROOT | USER | (SERVER if server_name(cfg, "local") else Who(0))
    if conn.uid not in (None, 0):
        return OTHER  # a non-root process of this machine, whatever address it took
    return OTHER | (SERVER if server_of(cfg, conn) else Who(0))


def in_admin_group(cfg: HostConfig, uid: int) -> bool:
    """`uid` is in a group the host's ADMIN_GROUPS names: an administrator who is not root
    (NetBackup's NBU_Admin), who may do what a server may on this host."""
    names = cfg.get("ADMIN_GROUPS", [])
    if not names:
        return False
    try:
        user = pwd.getpwuid(uid)
        member = set(os.getgrouplist(user.pw_name, user.pw_gid))
    except (KeyError, OSError):
        return False
    for name in [names] if isinstance(names, str) else names:
        try:
            if grp.getgrnam(str(name)).gr_gid in member:
                return True
        except KeyError:
            continue
    return False


def speaks_for(cfg: HostConfig, conn: Peer, client: str) -> bool:
    """The TCP peer is `client` itself: its certificate names `client` (TLS); without TLS, the
    name it gave in its hello is `client` and the connection comes from one of its addresses."""
    if conn.address == "local" or conn.uid not in (None, 0) or not client:
        return False
    if conn.cert_names:
        return client in conn.cert_names
    return client == conn.peer and conn.address in cfg.addresses_of(client)


# The statuses that refuse a caller (NetBackup's): a handler raising one is audited as the gate is.
REFUSALS = frozenset({SERVER_NOT_ALLOWED, CLIENT_NOT_VALIDATED, CLIENT_NOT_VALIDATED_FOR_OP})


def refusal(who: Who, have: Who, what: str, conn: Peer, host: str) -> NbuError:
    """NetBackup's status for a refused caller: 131 when a host asks as a client it is not,
    135 when a user asks for what is not theirs (another client's images, a non-root process
    of a client), 46 for whoever asks what only root or a server may."""
    origin = f"{conn.peer or '?'} ({conn.address or '?'}" + \
        (f", uid {conn.uid})" if conn.uid is not None else ")")
    user = USER in have or conn.uid not in (None, 0)  # a process that is not root
    if CLIENT in who and not user:
        return NbuError(CLIENT_NOT_VALIDATED, f"{what}: {origin} is not the client the request "
                                              f"names")
    if who & (USER | CLIENT):
        return NbuError(CLIENT_NOT_VALIDATED_FOR_OP, f"{what}: not allowed to {origin}")
    return NbuError(SERVER_NOT_ALLOWED, f"{what}: {origin} is not a server of {host}")


def own_client(cfg: HostConfig, conn: Peer) -> str | None:
    """None when the caller may ask about any client (root here, a server); otherwise the
    one client it may ask about: itself, or this host for a user of this host ("" if none).
    For handlers whose check needs the request's content (a job's or an image's client)."""
    have = caller(cfg, conn)
    if have & (ROOT | SERVER):
        return None
    if USER in have:
        return cfg.client_name
    if conn.cert_names and conn.uid in (None, 0):  # the certificate says who it is
        return conn.peer if conn.peer in conn.cert_names else conn.cert_names[0]
    return conn.peer if speaks_for(cfg, conn, conn.peer) else ""


def asking_client(cfg: HostConfig, conn: Peer) -> str | None:
    """own_client, with 131 for a caller that is neither a server nor a client of this master
    (so a handler gets None: any client, or the one client the caller is)."""
    me = own_client(cfg, conn)
    if me == "":
        raise NbuError(CLIENT_NOT_VALIDATED, f"{conn.peer} ({conn.address}) is not a "
                                             f"client of this master")
    return me


def require_own(cfg: HostConfig, conn: Peer, client: str, what: str) -> None:
    """135 unless the caller may ask about `client` (own_client)."""
    mine = own_client(cfg, conn)
    if mine is not None and client != mine:
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                       f"{what}: {conn.peer or '?'} ({conn.address}) may not ask about {client}")


def describe(conn: Peer) -> str:
    """`peer (address, uid N)`: who asked and from where, as the kernel and PBX said."""
    uid = f", uid {conn.uid}" if conn.uid is not None else ""
    return f"{conn.peer or '?'} ({conn.address or '?'}{uid})"


SECRETS = frozenset({"token", "csr", "proof", "current", "key"})
SUMMARY_MAX = 400


def summary(msg: dict[str, object]) -> str:
    """A request's fields for the audit trail: no secret, no default, bounded."""
    parts = [f"{k}={v!r}" for k, v in msg.items()
             if k != "op" and k not in SECRETS and v not in (None, [], {}, "", False)]
    text = " ".join(parts)
    return text if len(text) <= SUMMARY_MAX else text[:SUMMARY_MAX - 3] + "..."


Audit = Callable[[str, str], None]  # (what was refused, why) -> the master's event log


class Gate:
    """The check every request passes: the op's rule against what the connection is."""

    def __init__(self, cfg: Callable[[], HostConfig], audit: Audit | None = None,
                 changes: Audit | None = None) -> None:
        self.cfg = cfg
        self.audit = audit
        self.changes = changes

    def record(self, service: str, op: str, msg: dict[str, object], conn: Peer) -> None:
        """An audited op was carried out: who asked, from where, and what (secrets left out)."""
        if self.changes is not None:
            self.changes(f"{service} {op}", f"{op} by {describe(conn)} on {service}: "
                                            f"{summary(msg)}")

    def check(self, service: str, op: str, who: Who, client_field: str,
              msg: dict[str, object], conn: Peer) -> None:
        """Return when the caller may; NbuError (46, 131, 135) and an audit entry when not.

        A CLIENT or USER caller of an op bound to a client field (`Op.about`) asks about
        itself only: the field, when the request leaves it empty, is filled in with it."""
        cfg = self.cfg()
        have = caller(cfg, conn)
        named = msg.get(client_field) if client_field else None
        if have & who & (ROOT | SERVER | OTHER):
            return
        if USER in who & have:
            # a user of this host asks about this host's client alone
            if named in (None, "", cfg.client_name):
                if client_field:
                    msg[client_field] = cfg.client_name
                return
        elif CLIENT in who and (named in (None, "") or isinstance(named, str)):
            name = str(named or own_client(cfg, conn) or conn.peer)
            if speaks_for(cfg, conn, name):
                if client_field:
                    msg[client_field] = name
                return
        error = refusal(who, have, f"{service} {op}", conn, cfg.client_name)
        self.refused(service, op, conn, error)
        raise error

    def refused(self, service: str, op: str, conn: Peer, error: NbuError) -> None:
        """Record a refusal in the audit trail: the gate's own, or a handler's that looked at
        the record asked for (another client's job, image or files)."""
        if self.audit is not None:
            uid = f", uid {conn.uid}" if conn.uid is not None else ""
            self.audit(f"{service} {op}",
                       f"refused {op} from {conn.address or '?'} ({conn.peer or '?'}{uid}) "
                       f"to {service}: status {error.status}, {error.message}")


# --- who holds a TCP connection's other end, when it is on this machine ------------------------

_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY = 4, 20
_NLM_F_REQUEST = 1
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid: sport, dport
# (big endian), src[16], dst[16], interface, cookie[2] (tcp_owner packs them)
_UID_AT = 4 + 48 + 12  # inet_diag_msg: family..retrans, id, expires, rqueue, wqueue -> uid
_NO_COOKIE = 0xFFFFFFFF


def tcp_owner(peer: tuple[str, int], ours: tuple[str, int]) -> int | None:
    """The uid owning the socket at `peer` connected to `ours`, when that socket is on this
    machine; None for a peer on another machine (or when the kernel will not say).

    PBX asks this of every TCP connection: a process of this machine that is not root is a
    user, whichever address (a server's, 127.0.0.1) it connected from. One exact netlink
    sock_diag lookup (~20 µs; reading /proc/net/tcp walks every socket: ~2 ms)."""
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    try:
        src = socket.inet_pton(family, peer[0].split("%")[0]).ljust(16, b"\0")
        dst = socket.inet_pton(family, ours[0].split("%")[0]).ljust(16, b"\0")
    except OSError:
        return None
    body = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + \
        struct.pack(">HH", peer[1], ours[1]) + src + dst + \
        struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    request = _NLMSG.pack(_NLMSG.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1,
                          0) + body
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            nl.send(request)
            answer = nl.recv(8192)
    except OSError:
        return None
    if len(answer) < _NLMSG.size + _UID_AT + 4:
        return None
    _length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(answer)
    if kind != _SOCK_DIAG_BY_FAMILY:
        return None  # NLMSG_ERROR: no such socket here - the peer is another machine
    (uid,) = struct.unpack_from("=I", answer, _NLMSG.size + _UID_AT)
    return int(uid)
