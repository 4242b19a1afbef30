"""Real TLS 1.3 handshakes over socket pairs between hosts of test domains: mutual success, and
refusal with NetBackup's statuses for no certificate, another CA's certificate, an expired or
revoked one, and a certificate of another host than expected. Also measures a full mutual
handshake."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli.net import pki, tls
from nbcli.net.pki import CertPaths
from nbcli.status import CERT_NAME_MISMATCH, HANDSHAKE_FAILED, NbuError


class Domain:
    """A master's CA and the hosts it enrolled, each a root folder with its files."""

    def __init__(self, base: Path, master: str = "master") -> None:
        self.base = base
        self.ca_key, self.ca_cert = pki.ensure_ca(CertPaths(base / master), master, time.time())
        self.revoked: dict[int, float] = {}

    def host(self, name: str, *, now: float | None = None, days: int = pki.CERT_DAYS,
             names: list[str] | None = None) -> CertPaths:
        paths = CertPaths(self.base / name)
        key = pki.new_key()
        cert = pki.issue(self.ca_key, self.ca_cert, key.public_key(), str(uuid.uuid4()),
                         names or [name], time.time() if now is None else now, days)
        pki.save_trust(paths, self.ca_cert)
        pki.save_credentials(paths, key, cert)
        self.publish_crl(paths)
        return paths

    def revoke(self, paths: CertPaths, *others: CertPaths) -> None:
        self.revoked[pki.load_cert(paths.host_cert).serial_number] = time.time()
        for p in (paths, *others):
            self.publish_crl(p)

    def publish_crl(self, paths: CertPaths) -> None:
        pki.save_crl(paths, pki.make_crl(self.ca_key, self.ca_cert, self.revoked, time.time()))


def handshake(server: CertPaths, client: CertPaths | ssl.SSLContext,
              expected: str) -> tuple[Any, Any]:
    """Run both sides; return (server outcome, client outcome): an SSLSocket or the exception.

    In TLS 1.3 the client finishes its handshake before the server has checked the client's
    certificate, so the client also reads one byte: a refusal reaches it there."""
    a, b = socket.socketpair()
    _opened.extend((a, b))
    out: dict[str, Any] = {}

    def serve() -> None:
        try:
            s = tls.wrap_server_optional(a, server)
            _opened.append(s)
            s.sendall(b"!")
            out["server"] = s
        except Exception as e:  # noqa: BLE001 - the outcome is what the test checks
            out["server"] = e
            a.close()

    t = threading.Thread(target=serve)
    t.start()
    try:
        if isinstance(client, ssl.SSLContext):
            c = client.wrap_socket(b, server_hostname=expected)
        else:
            c = tls.wrap_client(b, client, expected)
        _opened.append(c)
        if c.recv(1) != b"!":
            raise ConnectionResetError("no greeting")
        out["client"] = c
    except Exception as e:  # noqa: BLE001
        out["client"] = e
    t.join(10)
    return out["server"], out["client"]


_opened: list[socket.socket] = []


@pytest.fixture
def domain(tmp_path: Path) -> Iterator[Domain]:
    tls.forget_contexts()
    yield Domain(tmp_path / "domain")
    for s in _opened:
        s.close()
    _opened.clear()


def test_mutual_handshake_names_both_peers(domain: Domain) -> None:
    master, client = domain.host("master"), domain.host("client")
    server_side, client_side = handshake(master, client, "master")
    assert isinstance(server_side, ssl.SSLSocket), server_side
    assert isinstance(client_side, ssl.SSLSocket), client_side
    assert server_side.version() == client_side.version() == "TLSv1.3"
    client_id, client_names = tls.peer_identity(server_side)
    assert client_names == ["client"]
    assert client_id == pki.identity(pki.load_cert(client.host_cert))[0]
    assert tls.require_name(server_side, "client") == client_id
    with pytest.raises(NbuError) as e:
        tls.require_name(server_side, "media")
    assert e.value.status == CERT_NAME_MISMATCH
    assert tls.peer_identity(client_side)[1] == ["master"]


def test_client_without_certificate_has_no_identity(domain: Domain) -> None:
    """The server side takes a client that presents no certificate (a host not enrolled yet:
    enrolment) and names nobody; PBX then serves it nothing else (test_secure_comm's
    test_a_host_that_is_not_enrolled_is_refused)."""
    master = domain.host("master")
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.minimum_version = ssl.TLSVersion.TLSv1_3
    bare.load_verify_locations(cafile=str(master.trust_store))
    server_side, _ = handshake(master, bare, "master")
    assert isinstance(server_side, ssl.SSLSocket), server_side
    assert tls.peer_identity_or_none(server_side) == ("", [])


def test_another_domains_host_is_refused_both_ways(domain: Domain, tmp_path: Path) -> None:
    master = domain.host("master")
    stranger = Domain(tmp_path / "other").host("client")
    pki.save_trust(stranger, domain.ca_cert)  # it trusts us (our CA is public); we do not
    domain.publish_crl(stranger)
    server_side, _ = handshake(master, stranger, "master")
    assert isinstance(server_side, NbuError) and server_side.status == HANDSHAKE_FAILED
    assert "unable to get local issuer certificate" in server_side.detail
    _, client_side = handshake(Domain(tmp_path / "third").host("client"), domain.host("client"),
                               "client")
    assert isinstance(client_side, NbuError) and client_side.status == HANDSHAKE_FAILED


def test_expired_certificate_is_refused(domain: Domain) -> None:
    master = domain.host("master")
    old = domain.host("client", now=time.time() - 400 * 86400)
    server_side, _ = handshake(master, old, "master")
    assert isinstance(server_side, NbuError) and server_side.status == HANDSHAKE_FAILED
    assert "expired" in server_side.detail
    expired_server = domain.host("media", now=time.time() - 400 * 86400)
    _, client_side = handshake(expired_server, domain.host("client"), "media")
    assert isinstance(client_side, NbuError) and "expired" in client_side.detail


def test_revoked_certificate_is_refused_once_the_crl_names_it(domain: Domain) -> None:
    master, client = domain.host("master"), domain.host("client")
    assert isinstance(handshake(master, client, "master")[0], ssl.SSLSocket)
    domain.revoke(client, master)
    server_side, _ = handshake(master, client, "master")
    assert isinstance(server_side, NbuError) and server_side.status == HANDSHAKE_FAILED
    assert "revoked" in server_side.detail
    # ... and a revoked server is refused by its clients.
    domain.revoke(master, client)
    _, client_side = handshake(master, domain.host("media"), "master")
    assert isinstance(client_side, NbuError) and "revoked" in client_side.detail


def test_certificate_of_another_host_than_expected(domain: Domain) -> None:
    media, client = domain.host("media"), domain.host("client")
    _, client_side = handshake(media, client, "master")
    assert isinstance(client_side, NbuError) and client_side.status == CERT_NAME_MISMATCH


def test_host_without_files_gets_a_clear_status(tmp_path: Path) -> None:
    with pytest.raises(NbuError) as e:
        tls.client_context(CertPaths(tmp_path / "nothing"))
    assert e.value.status == HANDSHAKE_FAILED and "getCACertificate" in e.value.detail


def test_context_is_rebuilt_when_the_crl_changes(domain: Domain) -> None:
    master = domain.host("master")
    first = tls.pbx_server_context(master)
    assert tls.pbx_server_context(master) is first
    time.sleep(0.01)  # a distinct mtime_ns on any filesystem this runs on
    domain.publish_crl(master)
    assert tls.pbx_server_context(master) is not first


def test_handshake_cost(domain: Domain, capsys: pytest.CaptureFixture[str]) -> None:
    """A full mutual handshake (contexts cached) - reported, and bounded well under job start."""
    master, client = domain.host("master"), domain.host("client")
    handshake(master, client, "master")
    n = 50
    start = time.perf_counter()
    for _ in range(n):
        s, c = handshake(master, client, "master")
        assert isinstance(s, ssl.SSLSocket) and isinstance(c, ssl.SSLSocket)
        s.close()
        c.close()
    per = (time.perf_counter() - start) / n * 1000
    with capsys.disabled():
        print(f"\nfull mutual TLS 1.3 handshake (ECDSA P-256): {per:.2f} ms")
    assert per < 50


def test_enrolment_context_checks_the_master_and_presents_nothing(domain: Domain,
                                                                   tmp_path: Path) -> None:
    master = domain.host("master")
    newcomer = CertPaths(tmp_path / "newcomer")
    pki.save_trust(newcomer, domain.ca_cert)
    a, b = socket.socketpair()
    _opened.extend((a, b))
    out: list[Any] = []

    def serve() -> None:
        s = tls.enrolment_server_context(master).wrap_socket(a, server_side=True)
        _opened.append(s)
        out.append(s.getpeercert())
        s.sendall(b"!")

    t = threading.Thread(target=serve)
    t.start()
    c = tls.enrolment_context(newcomer).wrap_socket(b, server_hostname="master")
    _opened.append(c)
    assert c.recv(1) == b"!"
    t.join(10)
    assert out == [None]  # no client certificate, and none needed
    assert tls.peer_identity(c)[1] == ["master"]
    # A false master (another CA) is refused before any token is sent.
    impostor = Domain(tmp_path / "evil").host("master")
    _, client_side = handshake(impostor, tls.enrolment_context(newcomer), "master")
    assert isinstance(client_side, ssl.SSLCertVerificationError)


def test_tls_does_not_import_cryptography() -> None:
    """Every process that connects imports tls; `cryptography` would cost each ~70 ms."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "import sys, nbcli.net.tls; "
                        "print(any(m.startswith('cryptography') for m in sys.modules))"],
                       capture_output=True, text=True, check=True)
    assert r.stdout == "False\n"


def test_a_stray_new_key_from_a_crash_does_not_break_the_context(domain: Domain) -> None:
    master, client = domain.host("master"), domain.host("client")
    stray = pki.new_key()  # written before its certificate, which never came
    (client.keystore / "0000.pem").write_bytes(pki.key_pem(stray))
    server_side, client_side = handshake(master, client, "master")
    assert isinstance(server_side, ssl.SSLSocket) and isinstance(client_side, ssl.SSLSocket)
