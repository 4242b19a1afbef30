"""TLS between the hosts of one domain: ssl contexts from a host's certificates, and who the
peer is.

Both sides use TLS 1.3 only, mutual (CERT_REQUIRED both ways), trusting only the domain's CA
(var/webtruststore/cacert.pem) and checking the peer's certificate against the CA's CRL
(VERIFY_CRL_CHECK_LEAF with var/vxss/crl/crl.pem loaded): a revoked host is cut off as soon as
the CRL that names it reaches this host. The client checks the server's names against the
host name it meant to reach (ssl's hostname check on the SAN dNSNames); the server learns the
client's host id and names from `peer_identity` and checks them with `require_name`.

A failed handshake is NetBackup's status 26 (client/server handshaking failed) with a detail
that says why (no certificate, unknown CA, expired, revoked); a certificate for another host
than expected is 8509. Contexts are cached per host and rebuilt when a file under them changes
(a renewal, a fresh CRL), so a connection pays for the handshake only.

Imports pki, config and status; never the connection modules (they import this one).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509

from nbcli.net import pki
from nbcli.net.pki import CertPaths
from nbcli.status import CERT_NAME_MISMATCH, HANDSHAKE_FAILED, NbuError

_cache: dict[tuple[str, bool], tuple[tuple[float, ...], ssl.SSLContext]] = {}
_lock = threading.Lock()


def _files(paths: CertPaths) -> tuple[Path, Path, Path, Path]:
    """trust store, CRL, certificate, key - each must exist (status 26 says which is missing)."""
    missing = [(p, what) for p, what in ((paths.trust_store, "the CA certificate "
                                          "(nbcertcmd -getCACertificate)"),
                                         (paths.crl, "the CRL (nbcertcmd -getCRL)"),
                                         (paths.host_cert, "a host certificate "
                                          "(nbcertcmd -getCertificate)"))
               if not p.exists()]
    if missing:
        raise NbuError(HANDSHAKE_FAILED, f"this host has no {missing[0][1]}: {missing[0][0]}")
    cert = pki.load_cert(paths.host_cert)
    return paths.trust_store, paths.crl, paths.host_cert, paths.host_key(cert)


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
    return ctx


def _context(paths: CertPaths, server: bool) -> ssl.SSLContext:
    trust, crl, cert, key = _files(paths)
    ctx = _base(server, trust, crl)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"cannot load this host's certificate and key: {e}") from e
    if server:
        # One handshake per connection and connections are long-lived: no session tickets
        # to protect (a stolen ticket key would let a recording be decrypted).
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    return ctx


def _cached(paths: CertPaths, server: bool) -> ssl.SSLContext:
    key = (str(paths.root), server)
    stamp = tuple(_mtime(p) for p in (paths.trust_store, paths.crl, paths.host_cert))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    ctx = _context(paths, server)
    with _lock:
        _cache[key] = (stamp, ctx)
    return ctx


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return -1.0


def server_context(paths: CertPaths) -> ssl.SSLContext:
    """The context a host accepts TLS connections with (cached; rebuilt when files change)."""
    return _cached(paths, server=True)


def client_context(paths: CertPaths) -> ssl.SSLContext:
    """The context a host opens TLS connections with (cached; rebuilt when files change)."""
    return _cached(paths, server=False)


def enrolment_context(paths: CertPaths) -> ssl.SSLContext:
    """For a host that trusts the CA but has no certificate yet (or a revoked or expired one):
    it checks the master's certificate and presents none, so that its token travels
    encrypted. Needs the trust store only; the CRL when there is one."""
    if not paths.trust_store.exists():
        raise NbuError(HANDSHAKE_FAILED, f"this host has no CA certificate "
                                         f"(nbcertcmd -getCACertificate): {paths.trust_store}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=str(paths.trust_store))
    if paths.crl.exists():
        ctx.load_verify_locations(cafile=str(paths.crl))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def enrolment_server_context(paths: CertPaths) -> ssl.SSLContext:
    """nbwmc's side of `enrolment_context`: a client certificate is verified when one is
    presented (a renewal) and not required (an enrolment, which a token authorizes)."""
    trust, crl, cert, key = _files(paths)
    ctx = _base(True, trust, crl)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_cert_chain(str(cert), str(key))
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    return ctx


def forget_contexts() -> None:
    """Drop cached contexts (tests; a process that forks for another host)."""
    with _lock:
        _cache.clear()


# --- handshakes -----------------------------------------------------------------------------

def wrap_client(sock: socket.socket, paths: CertPaths, expected_host: str) -> ssl.SSLSocket:
    """Handshake as the client with the host that must be `expected_host`."""
    try:
        return client_context(paths).wrap_socket(sock, server_hostname=expected_host)
    except ssl.SSLCertVerificationError as e:
        raise _refusal(e, f"{expected_host}'s certificate") from e
    except (ssl.SSLError, OSError) as e:
        raise NbuError(HANDSHAKE_FAILED, f"TLS handshake with {expected_host} failed: "
                                         f"{_reason(e)}") from e


def wrap_server(sock: socket.socket, paths: CertPaths) -> ssl.SSLSocket:
    """Handshake as the server; the client's certificate is verified (see require_name)."""
    try:
        return server_context(paths).wrap_socket(sock, server_side=True)
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

def peer_identity(sslsock: ssl.SSLSocket) -> tuple[str, list[str]]:
    """(host id, names) of the verified peer certificate."""
    der = sslsock.getpeercert(binary_form=True)
    if not der:
        raise NbuError(HANDSHAKE_FAILED, "the peer presented no certificate")
    return pki.identity(x509.load_der_x509_certificate(der))


def require_name(sslsock: ssl.SSLSocket, name: str) -> str:
    """The peer's host id, when its certificate names `name` (8509 otherwise)."""
    host_id, names = peer_identity(sslsock)
    if name.lower() not in names:
        raise NbuError(CERT_NAME_MISMATCH, f"the peer's certificate names {', '.join(names)}, "
                                           f"not {name}")
    return host_id
