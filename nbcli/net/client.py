"""Reaching a service on a host: connect to that host's PBX and name the service.

    client                         PBX (host's one TCP port)        service
      | connect ------------------->|                                  |
      | hello{service} ------------>| reads exactly that frame         |
      |                             | hands the socket over ---------->| (SCM_RIGHTS)
      |<------------------------------------------ reply{status: 0} --|
      | requests <=============================================> replies

PBX is off the data path once it has handed the socket over. When PBX cannot (unknown service,
bad hello), it answers the hello itself with an error and closes the socket.

A local service (this host) is reached through PBX's Unix socket; another host through its TCP
port, from this host's own address when bp.toml fixes one, so that the peer can tell who asks.
A host that holds a host certificate (nbcertcmd -getCertificate) speaks TLS to the other host's
PBX, which checks the certificate and relays to the service (nbcli/net/relay.py): the hello,
the requests and the backup data all travel encrypted, and the other host's certificate must
name the host this one meant to reach (8509 otherwise). A host that is not enrolled can reach
nbwmc alone, for its certificate.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from typing import Any

from nbcli.config import HostConfig
from nbcli.net import kept, tls
from nbcli.net import sealed as sealing
from nbcli.net.certpaths import CertPaths
from nbcli.net.conn import Connection
from nbcli.status import (
    CANNOT_CONNECT,
    CONNECTION_TIMED_OUT,
    HANDSHAKE_FAILED,
    SYSTEM_CALL_FAILED,
    NbuError,
)
from nbcli.unixaddr import Reach
from nbcli.wire import frames

CONNECT_TIMEOUT = 10.0
# Requests that wait on a job or a resource hold the connection for long; callers that need a
# bound pass their own timeout to Connection.recv/call.
HELLO_TIMEOUT = 30.0
OUTBOUND = "pbx_outbound"  # pbx_exchange's outbound relay for processes that are not root


def connect(cfg: HostConfig, host: str, service: str, timeout: float = CONNECT_TIMEOUT,
            privileged: bool = False, secret: str | None = None,
            enrolling: bool = False, encrypt: bool = True,
            direct: bool = False, required: bool = False) -> Connection:
    """A connection to `service` on `host`, hello answered (NbuError otherwise).

    `privileged` (root only) connects from a source port below 1024, so that the other host
    can trust what this one says about its users (bpcd forwarding a user's request).
    `secret` goes in the hello: a job's data service (bptm child) takes the image only from
    the agent its job launched, which got the secret through its control channel.
    `enrolling` (nbwmc's enrolment and CRL requests) checks the other host's certificate but
    presents none, so that a host with no certificate, or a revoked one, can get a new one
    over TLS; before the host trusts the CA at all it is plain TCP (what it fetches then is
    checked against the CA's fingerprint).
    `encrypt=False` (a job's image stream when data-in-transit encryption is off for it,
    nbcli.net.dte) is plain TCP even between enrolled hosts: the other host's PBX takes it
    for a job's data service alone, which takes only the peer that knows the job's secret.
    `direct` (a job's image stream with encryption on, `secret` given): the stream is sealed
    with the data service itself (nbcli.net.sealed: AES-256-GCM frames keyed from the job's
    secret, which crossed hosts only inside TLS) - plain TCP to the other host's PBX, a hello
    with our salt and no secret, the service's salt, our proof - so the image is encrypted and
    decrypted once, in frames as large as its blocks, and no relay copies it on the way; a
    process that is not root needs no host key for it. A host with no certificate cannot
    seal (below): its stream goes in the clear, or - `required` (nbcli.net.dte.required: the
    modes forbid the clear) - nothing is connected and the job fails with 26."""
    peer = f"{service}@{host}"
    certs = CertPaths(cfg.root)
    remote, enrolled = not cfg.is_local(host), certs.host_cert.exists()
    # Sealed only by an enrolled host: its PBX takes bpcd from other hosts in TLS alone, so the
    # job's secret reached this agent encrypted. Without a certificate it came in plain TCP, and
    # a stream sealed with it would be encrypted in name only (the job's DTE mode On).
    sealed = remote and direct and encrypt and enrolled and secret is not None
    if remote and direct and encrypt and required and not sealed:
        raise NbuError(HANDSHAKE_FAILED, f"data-in-transit encryption is required for the image "
                                         f"stream to {host}, but this host holds no host "
                                         f"certificate to encrypt it with (nbcertcmd "
                                         f"-getCertificate): nothing was sent")
    outbound = remote and encrypt and not enrolling and os.geteuid() != 0 and enrolled \
        and not sealed
    try:
        if not remote or outbound:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            with Reach(cfg.paths.pbx_socket) as address:
                sock.connect(address)
            if outbound:  # this host's key is root's: PBX makes the TLS connection for us
                _through_pbx(sock, cfg, host)
        else:
            addr = cfg.address_of(host)
            sock = _tcp(addr, cfg.own_address(), timeout, privileged)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not sealed and encrypt and \
                    (certs.trust_store if enrolling else certs.host_cert).exists():
                try:
                    sock = tls.wrap_client(sock, certs, host, enrolling)
                except NbuError:
                    sock.close()
                    raise
    except (FileNotFoundError, ConnectionRefusedError) as e:
        raise NbuError(CANNOT_CONNECT, f"cannot connect to {peer}: PBX is not running there") from e
    except TimeoutError as e:
        raise NbuError(CONNECTION_TIMED_OUT, f"connecting to {peer}") from e
    except OSError as e:
        raise NbuError(CANNOT_CONNECT, f"cannot connect to {peer}: {e}") from e
    sock.settimeout(None)
    conn = Connection(sock, peer)
    conn.encrypted = outbound or sealed or isinstance(sock, ssl.SSLSocket)
    salt = sealing.new_salt()
    try:
        conn.send(frames.hello(service, cfg.client_name, **(
            {"sealed": salt} if sealed else {"secret": secret} if secret else {})))
        frames.raise_for_status(conn.recv(HELLO_TIMEOUT))
        if sealed:
            sealing.seal_agent(conn, secret or "", salt, HELLO_TIMEOUT)
    except EOFError as e:
        conn.close()
        raise NbuError(HANDSHAKE_FAILED, f"{peer} closed the connection during the hello") from e
    except NbuError:
        conn.close()
        raise
    return conn


def _through_pbx(sock: socket.socket, cfg: HostConfig, host: str) -> None:
    """Ask the local PBX to connect to `host` for us (in TLS, with this host's certificate);
    once it answers, the socket is a line to `host`'s PBX. NbuError as PBX says why not."""
    conn = Connection(sock, f"pbx_exchange@{cfg.client_name}")
    try:
        conn.send(frames.hello(OUTBOUND, cfg.client_name, target=host))
        frames.raise_for_status(conn.recv(HELLO_TIMEOUT))
    except EOFError as e:
        sock.close()
        raise NbuError(HANDSHAKE_FAILED, f"PBX closed the connection to {host}") from e
    except NbuError:
        sock.close()
        raise


def _tcp(addr: tuple[str, int], own: str | None, timeout: float,
         privileged: bool) -> socket.socket:
    if not privileged:
        return socket.create_connection(addr, timeout=timeout,
                                        source_address=(own, 0) if own else None)
    for port in range(1023, 599, -1):  # as rresvport(3) does
        sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
        try:
            sock.bind((own or "", port))
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                continue
            raise NbuError(SYSTEM_CALL_FAILED,
                           f"cannot bind a privileged port: {e.strerror}") from e
        sock.settimeout(timeout)
        try:
            sock.connect(addr)
            return sock
        except OSError:
            sock.close()
            raise
    raise NbuError(SYSTEM_CALL_FAILED, "no privileged port is free")


def call(cfg: HostConfig, host: str, service: str, op: str, /, *,
         recv_timeout: float | None = None, **fields: Any) -> dict[str, Any]:
    """One request, one reply; the connection closed, or kept for the next request in a
    daemon (nbcli.net.kept). Request fields may be named anything (host, service,
    timeout...): the parameters before them are positional-only."""
    conn = kept.take(cfg, host, service) or connect(cfg, host, service)
    try:
        reply = conn.request(op, recv_timeout=recv_timeout, **fields)
    except BaseException:
        conn.close()
        raise
    kept.give(cfg, host, service, conn)
    return reply


def master(cfg: HostConfig, service: str, timeout: float = CONNECT_TIMEOUT) -> Connection:
    """A connection to `service` on this host's master server (the first SERVER entry)."""
    return connect(cfg, cfg.master, service, timeout)


def master_call(cfg: HostConfig, service: str, op: str, /, *,
                recv_timeout: float | None = None, **fields: Any) -> dict[str, Any]:
    """One request to a master daemon (bpjobd, bpdbm, nbemm, bprd, ...)."""
    return call(cfg, cfg.master, service, op, recv_timeout=recv_timeout, **fields)
