"""TLS between the hosts of one domain: ssl contexts from a host's certificates, and who the
peer is.

Both sides use TLS 1.3 only, trusting only the domain's CA
(var/webtruststore/cacert.pem) and checking the peer's certificate against the CA's CRL
(VERIFY_CRL_CHECK_LEAF with var/vxss/crl/crl.pem loaded): a revoked host is cut off as soon as
the CRL that names it reaches this host. The client checks the server's names against the
host name it meant to reach (ssl's hostname check on the SAN dNSNames); the server learns the
client's host id and names from `peer_identity` and checks them with `require_name`. The
client always presents its certificate; the server side (PBX, nbwmc) verifies one presented and
allows none - a host not enrolled yet may reach enrolment alone, and PBX refuses it anything
else (`peer_identity_or_none`).

A failed handshake is NetBackup's status 26 (client/server handshaking failed) with a detail
that says why (no certificate, unknown CA, expired, revoked); a certificate for another host
than expected is 8509. Contexts are cached per host and rebuilt when a file under them changes
(a renewal, a fresh CRL), so a connection pays for the handshake only.

Imports certpaths and status only - not pki, whose `cryptography` import costs every process
~70 ms: the key is found by trying the keystore's keys, the peer's identity read from the
certificate ssl has already parsed. Never imports the connection modules (they import this).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbcli.net.certpaths import CertPaths
from nbcli.status import CERT_NAME_MISMATCH, HANDSHAKE_FAILED, NbuError

_cache: dict[tuple[str, str], tuple[tuple[float, ...], ssl.SSLContext]] = {}
_lock = threading.Lock()


def _files(paths: CertPaths) -> tuple[Path, Path, Path]:
    """trust store, CRL, certificate - each must exist (status 26 says which is missing)."""
    missing = [(p, what) for p, what in ((paths.trust_store, "the CA certificate "
                                          "(nbcertcmd -getCACertificate)"),
                                         (paths.crl, "the CRL (nbcertcmd -getCRL)"),
                                         (paths.host_cert, "a host certificate "
                                          "(nbcertcmd -getCertificate)"))
               if not p.exists()]
    if missing:
        raise NbuError(HANDSHAKE_FAILED, f"this host has no {missing[0][1]}: {missing[0][0]}")
    return paths.trust_store, paths.crl, paths.host_cert


def _load_credentials(ctx: ssl.SSLContext, paths: CertPaths) -> None:
    """The certificate and the keystore key that matches it: the only one, except just after
    a crash between a new key and its certificate (nbcli.net.pki.save_credentials)."""
    keys = sorted(paths.keystore.glob("*.pem"), key=_mtime, reverse=True)
    last: Exception | None = None
    for key in keys:
        try:
            ctx.load_cert_chain(str(paths.host_cert), str(key))
            return
        except (OSError, ssl.SSLError) as e:
            last = e
    raise NbuError(HANDSHAKE_FAILED, f"no key in {paths.keystore} matches this host's "
                                     f"certificate{f': {last}' if last else ''}")


def _base(server: bool, trust: Path, crl: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The server checks the client's names itself (require_name): it may not know them yet.
    ctx.check_hostname = not server
    ctx.load_verify_locations(cafile=str(trust))
    ctx.load_verify_locations(cafile=str(crl))
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF | ssl.VERIFY_X509_STRICT
    _half_close(ctx)
    return ctx


def _half_close(ctx: ssl.SSLContext) -> None:
    """A TCP end of stream reads as the end of the data, and the connection stays writable
    the other way: a sender shuts down writing (bpbkar after the last block) and then reads
    the answer, as on plain TCP; without it OpenSSL 3 fails the connection at that EOF."""
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF


def _client(paths: CertPaths) -> ssl.SSLContext:
    trust, crl, _ = _files(paths)
    ctx = _base(False, trust, crl)
    _load_credentials(ctx, paths)
    return ctx


def _cached(paths: CertPaths, kind: str, build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """The context of `kind` for `paths`, built again when a file under it changed."""
    key = (str(paths.root), kind)
    stamp = tuple(_mtime(p) for p in (paths.trust_store, paths.crl, paths.host_cert))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    ctx = build()
    with _lock:
        _cache[key] = (stamp, ctx)
    return ctx


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return -1.0


def client_context(paths: CertPaths) -> ssl.SSLContext:
    """The context a host opens TLS connections with (cached; rebuilt when files change)."""
    return _cached(paths, "client", lambda: _client(paths))


def enrolment_context(paths: CertPaths) -> ssl.SSLContext:
    """For a host that trusts the CA but has no certificate yet (or a revoked or expired one):
    it checks the master's certificate and presents none, so that its token travels
    encrypted. Needs the trust store only; the CRL when there is one."""
    if not paths.trust_store.exists():
        raise NbuError(HANDSHAKE_FAILED, f"this host has no CA certificate "
                                         f"(nbcertcmd -getCACertificate): {paths.trust_store}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    _half_close(ctx)
    ctx.load_verify_locations(cafile=str(paths.trust_store))
    if paths.crl.exists():
        ctx.load_verify_locations(cafile=str(paths.crl))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def enrolment_server_context(paths: CertPaths) -> ssl.SSLContext:
    """nbwmc's side of `enrolment_context`: a client certificate is verified when one is
    presented (a renewal) and not required (an enrolment, which a token authorizes)."""
    trust, crl, _ = _files(paths)
    ctx = _base(True, trust, crl)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    _load_credentials(ctx, paths)
    # One handshake per connection and connections are long-lived: no session tickets to
    # protect (a stolen ticket key would let a recording be decrypted).
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    return ctx


def pbx_server_context(paths: CertPaths) -> ssl.SSLContext:
    """enrolment_server_context, cached as the others: PBX's, for every TLS connection."""
    return _cached(paths, "pbx", lambda: enrolment_server_context(paths))


def forget_contexts() -> None:
    """Drop cached contexts (tests; a process that forks for another host)."""
    with _lock:
        _cache.clear()


# --- handshakes -----------------------------------------------------------------------------

def wrap_client(sock: socket.socket, paths: CertPaths, expected_host: str,
                enrolling: bool = False) -> ssl.SSLSocket:
    """Handshake as the client with the host that must be `expected_host`; `enrolling`
    presents no certificate (enrolment_context: this host has none, or one being replaced)."""
    ctx = enrolment_context(paths) if enrolling else client_context(paths)
    try:
        return ctx.wrap_socket(sock, server_hostname=expected_host)
    except ssl.SSLCertVerificationError as e:
        raise _refusal(e, f"{expected_host}'s certificate") from e
    except (ssl.SSLError, OSError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"TLS handshake with {expected_host} failed: "
                                         f"{_reason(e)}") from e


def wrap_server_optional(sock: socket.socket, paths: CertPaths) -> ssl.SSLSocket:
    """Handshake as PBX does: a certificate presented is verified (CA, CRL, dates) and one not
    presented is allowed - the caller then serves enrolment alone (peer_identity_or_none)."""
    try:
        return pbx_server_context(paths).wrap_socket(sock, server_side=True)
    except ssl.SSLCertVerificationError as e:
        raise _refusal(e, "the peer's certificate") from e
    except (ssl.SSLError, OSError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"TLS handshake failed: {_reason(e)}") from e


def _refusal(e: ssl.SSLCertVerificationError, whose: str) -> NbuError:
    message = e.verify_message or _reason(e)
    if "hostname mismatch" in message.lower() or "ip address mismatch" in message.lower():
        return NbuError(CERT_NAME_MISMATCH, f"{whose} does not name the host: {message}")
    return NbuError(HANDSHAKE_FAILED, f"{whose} was refused: {message}")


def _reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) and e.reason:
        return e.reason.lower().replace("_", " ")
    return str(e) or type(e).__name__


# --- who the peer is ------------------------------------------------------------------------

HOSTID_URI = "nbcli:hostid:"  # as nbcli.net.pki writes it


def peer_identity(sslsock: ssl.SSLSocket) -> tuple[str, list[str]]:
    """(host id, names) of the verified peer certificate."""
    cert: dict[str, Any] | None = sslsock.getpeercert()
    if not cert:
        raise NbuError(HANDSHAKE_FAILED, "the peer presented no certificate")
    host_id = ""
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                host_id = str(value)
    names = []
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            names.append(str(value))
        elif kind == "URI" and str(value).startswith(HOSTID_URI):
            host_id = str(value)[len(HOSTID_URI):]
    return host_id, names


def peer_identity_or_none(sslsock: ssl.SSLSocket) -> tuple[str, list[str]]:
    """(host id, names) of the peer's verified certificate; ("", []) when it presented none."""
    if not sslsock.getpeercert():
        return "", []
    return peer_identity(sslsock)


def require_name(sslsock: ssl.SSLSocket, name: str) -> str:
    """The peer's host id, when its certificate names `name` (8509 otherwise)."""
    host_id, names = peer_identity(sslsock)
    if name.lower() not in names:
        raise NbuError(CERT_NAME_MISMATCH, f"the peer's certificate names {', '.join(names)}, "
                                           f"not {name}")
    return host_id
