"""Certificates across the three-host fixture: nbcertcmd as real processes against the
master's real nbwmc - trusting the CA only after confirmation, token enrolment and its limits,
listings, revocation reaching the CRL (and cutting the host off in a real TLS handshake),
renewal on the test clock, and no token in any log or database."""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path

import pytest

from nbcli import clock, config, procs
from nbcli.net import enrol, pki, tls
from nbcli.net.pki import CertPaths
from nbcli.status import HANDSHAKE_FAILED, NbuError
from tests.conftest import Host

Hosts = dict[str, Host]

@pytest.fixture(scope="module")
def three_hosts(three_hosts_not_enrolled: dict[str, Host]) -> dict[str, Host]:
    """These tests need hosts that are not enrolled (enrolment, plain TCP to PBX)."""
    return three_hosts_not_enrolled



def certs(host: Host) -> CertPaths:
    return CertPaths(host.root)


def token(master: Host, name: str, *more: str) -> str:
    out = master.run("nbcertcmd", "-createToken", "-name", name, *more).stdout
    word, value, *rest = out.split()
    assert word == "Token" and rest == ["created", "successfully."], out
    return value


def trust(host: Host) -> None:
    host.run("nbcertcmd", "-getCACertificate", "-force")


def enrol_with_file(host: Host, tmp_path: Path, value: str) -> None:
    path = tmp_path / f"{host.name}.token"
    path.write_text(value + "\n")
    path.chmod(0o600)
    r = host.run("nbcertcmd", "-getCertificate", "-file", str(path))
    assert r.stdout == "Host certificate received successfully from server master.\n"


def test_master_enrolled_itself_at_start(three_hosts: Hosts) -> None:
    master = three_hosts["master"]
    out = master.run("nbcertcmd", "-listCertDetails").stdout.splitlines()
    fields = dict(line.strip().split(" : ", 1) for line in out if " : " in line)
    assert fields["Master Server"] == "master" and fields["Host Names"] == "master"
    assert fields["Issued By"] == "/CN=broker/OU=root@master/O=vx"
    assert fields["Key Strength"] == "256"
    assert out[-1] == "Operation completed successfully."
    assert pki.stat_mode(certs(master).ca_key) == 0o600


def test_ca_certificate_is_stored_only_when_confirmed(three_hosts: Hosts,
                                                      tmp_path: Path) -> None:
    master, client = three_hosts["master"], three_hosts["client"]
    ca = json.loads(master.run("nbcertcmd", "-listCACertDetails", "-json").stdout)
    shown = client.run("nbcertcmd", "-displayCACertDetail").stdout.splitlines()
    assert f"SHA-256 Fingerprint : {ca['sha256Fingerprint']}" in [x.strip() for x in shown]
    assert not certs(client).trust_store.exists()
    r = client.run("nbcertcmd", "-getCRL", "-listCertDetails", check=False)
    assert r.returncode == 20 and "USAGE: nbcertcmd" in r.stderr
    for answer in ("n\n", ""):
        r = client.run("nbcertcmd", "-getCACertificate", input=answer, check=False)
        assert r.returncode == 150, r.stderr
        assert f"The SHA-256 fingerprint of root certificate is {ca['sha256Fingerprint']}." \
            in r.stdout.splitlines()
        assert "EXIT STATUS 150" in r.stderr
        assert not certs(client).trust_store.exists()
    wrong = tmp_path / "wrong.hash"
    wrong.write_text("AB:" * 31 + "AB\n")
    r = client.run("nbcertcmd", "-getCACertificate", "-file", str(wrong), check=False)
    assert r.returncode == 26 and not certs(client).trust_store.exists()
    # Without a trusted CA there is nothing to enrol against.
    r = client.run("nbcertcmd", "-getCertificate", "-token", "ABCDEFGHIJKLMNOP", check=False)
    assert r.returncode == 26 and "getCACertificate" in r.stderr
    right = tmp_path / "right.hash"
    right.write_text(ca["sha256Fingerprint"] + "\n")
    r = client.run("nbcertcmd", "-getCACertificate", "-file", str(right))
    assert r.stdout.splitlines()[-1] == "CA certificate stored successfully from server master."
    assert pki.fingerprint(pki.load_cert(certs(client).trust_store)) == ca["sha256Fingerprint"]


def test_wrong_token_is_refused_with_nothing_written(three_hosts: Hosts,
                                                     tmp_path: Path) -> None:
    client = three_hosts["client"]
    bad = tmp_path / "bad.token"
    bad.write_text("QWERTYUIOPASDFGH\n")
    r = client.run("nbcertcmd", "-getCertificate", "-file", str(bad), check=False)
    assert r.returncode == 135, r.stderr
    assert "the authorization token is not valid" in r.stderr
    assert not certs(client).credentials.exists() and not certs(client).crl.exists()


def test_token_enrols_the_client(three_hosts: Hosts, tmp_path: Path) -> None:
    master, client = three_hosts["master"], three_hosts["client"]
    enrol_with_file(client, tmp_path, token(master, "client-1"))
    mine = json.loads(client.run("nbcertcmd", "-listCertDetails", "-json").stdout)
    assert mine["hostNames"] == ["client"] and mine["subject"] == f"/CN={mine['hostId']}"
    assert mine["issuedBy"] == "/CN=broker/OU=root@master/O=vx"
    held = pki.host_credentials(certs(client))
    assert held is not None and pki.stat_mode(pki.key_path(certs(client), held[1])) == 0o600
    assert certs(client).crl.exists()
    listing = master.run("nbcertcmd", "-listAllDomainCertificates").stdout.splitlines()
    row = [line.split() for line in listing if line.startswith("client ")]
    assert row and row[0][1] == mine["hostId"] and row[0][2] == mine["serialNumber"]
    assert row[0][-1] == "valid"
    # A second request without -force keeps the certificate.
    r = client.run("nbcertcmd", "-getCertificate", "-token", "ABCDEFGHIJKLMNOP", check=False)
    assert r.returncode == 226
    # -token alone reads the token from standard input (a prompt on a terminal).
    r = client.run("nbcertcmd", "-getCertificate", "-force", "-token",
                   input=token(master, "client-stdin", "-reissue", "-host", "client") + "\n")
    assert r.stdout == "Host certificate received successfully from server master.\n"


def test_max_uses_is_enforced(three_hosts: Hosts, tmp_path: Path) -> None:
    master, media = three_hosts["master"], three_hosts["media"]
    trust(media)
    once = token(master, "once", "-maxUses", "1")
    enrol_with_file(media, tmp_path, once)
    before = certs(media).host_cert.read_bytes()
    r = media.run("nbcertcmd", "-getCertificate", "-force", "-envtoken", "TOK",
                  TOK=once, check=False)
    assert r.returncode == 135 and "used up" in r.stderr
    assert certs(media).host_cert.read_bytes() == before


def test_only_local_root_on_the_master_creates_tokens(three_hosts: Hosts) -> None:
    r = three_hosts["client"].run("nbcertcmd", "-createToken", "-name", "x", check=False)
    assert r.returncode == 46
    r = three_hosts["client"].run("nbcertcmd", "-revokeCertificate", "-host", "media",
                                  check=False)
    assert r.returncode == 46
    r = three_hosts["master"].run("nbcertcmd", "-createToken", "-name", "bad",
                                  "-validFor", "2W", check=False)
    assert r.returncode == 20


def test_taking_over_an_enrolled_name_needs_a_reissue_token(three_hosts: Hosts,
                                                           tmp_path: Path) -> None:
    master, media = three_hosts["master"], three_hosts["media"]
    host_id = json.loads(media.run("nbcertcmd", "-listCertDetails", "-json").stdout)["hostId"]
    plain = token(master, "plain")
    r = media.run("nbcertcmd", "-getCertificate", "-force", "-envtoken", "TOK", TOK=plain,
                  check=False)
    assert r.returncode == 135 and "reissue" in r.stderr
    state = json.loads((certs(master).wmc_db / "nbwmc.json").read_text())
    (plain_entry,) = [t for t in state["tokens"].values() if t["name"] == "plain"]
    assert plain_entry["uses_left"] == 1  # a refused request spends nothing
    reissue = token(master, "reissue-media", "-reissue", "-host", "media")
    r = media.run("nbcertcmd", "-getCertificate", "-force", "-envtoken", "TOK", TOK=reissue)
    again = json.loads(media.run("nbcertcmd", "-listCertDetails", "-json").stdout)
    assert again["hostId"] == host_id


def test_renewal_on_the_test_clock(three_hosts: Hosts) -> None:
    media = three_hosts["media"]
    cfg = config.load(media.root)
    held = pki.host_credentials(certs(media))
    assert held is not None
    old = held[1]
    end = pki.not_after(old)
    clock.use_root(media.root)
    try:
        clock.set_test_clock(media.root, fixed=end - 181 * 86400)
        assert enrol.renew_if_due(cfg, clock.now()) is None
        clock.set_test_clock(media.root, fixed=end - 179 * 86400)
        # The periodic task a daemon runs: CRL refresh, then renewal because it is due.
        (interval, task), = enrol.periodic(lambda: cfg, logging.getLogger("test"))
        assert interval == enrol.MAINTAIN_EVERY
        task()
    finally:
        clock.set_test_clock(media.root, offset=0)
        clock.forget()
    new = pki.load_cert(certs(media).host_cert)
    assert new.serial_number != old.serial_number
    assert pki.identity(new) == pki.identity(old)
    assert pki.not_after(new) >= end
    r = media.run("nbcertcmd", "-renewCertificate")
    assert r.stdout == "Host certificate renewed successfully from server master.\n"
    assert pki.load_cert(certs(media).host_cert).serial_number != new.serial_number


def test_revoked_host_is_in_the_crl_and_cut_off(three_hosts: Hosts) -> None:
    master, client = three_hosts["master"], three_hosts["client"]
    serial = pki.load_cert(certs(client).host_cert).serial_number
    r = master.run("nbcertcmd", "-revokeCertificate", "-host", "client", "-reason", "test")
    assert r.stdout.startswith("Certificate revoked successfully for host ID ")
    r = client.run("nbcertcmd", "-getCRL")
    assert r.stdout == "CRL received successfully from server master.\n"
    assert serial in pki.crl_serials(pki.parse_crl(certs(client).crl.read_bytes()))
    r = client.run("nbcertcmd", "-renewCertificate", check=False)
    assert r.returncode == 135
    # The master's own CRL names it too: a TLS handshake from the client is refused.
    a, b = socket.socketpair()
    outcome: list[object] = []

    def serve() -> None:
        try:
            outcome.append(tls.wrap_server_optional(a, certs(master)))
        except NbuError as e:
            outcome.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with tls.wrap_client(b, certs(client), "master") as c:
            c.recv(1)
    except (NbuError, OSError):
        pass
    t.join(10)
    a.close()
    b.close()
    assert isinstance(outcome[0], NbuError) and outcome[0].status == HANDSHAKE_FAILED
    assert "revoked" in outcome[0].detail


def test_state_survives_a_killed_nbwmc(three_hosts: Hosts) -> None:
    master, media = three_hosts["master"], three_hosts["media"]
    before = master.run("nbcertcmd", "-listAllDomainCertificates", "-json").stdout
    (wmc,) = [p for p in master.processes() if p.program == "nbwmc"]
    wmc.proc.kill()
    wmc.proc.wait(10)
    master.start()  # starts what is missing: nbwmc alone
    assert master.run("nbcertcmd", "-listAllDomainCertificates", "-json").stdout == before
    r = media.run("nbcertcmd", "-getCertificate", "-force", "-envtoken", "TOK",
                  TOK="ABCDEFGHIJKLMNOP", check=False)
    assert r.returncode == 135
    media.run("nbcertcmd", "-getCRL")


def test_no_token_in_logs_or_databases(three_hosts: Hosts) -> None:
    master = three_hosts["master"]
    secret = token(master, "never-logged")
    found = [p for h in three_hosts.values() for p in h.root.rglob("*")
             if p.is_file() and secret.encode() in p.read_bytes()]
    assert found == []
    state = json.loads((certs(master).wmc_db / "nbwmc.json").read_text())
    assert pki.token_hash(secret) in state["tokens"]
    assert pki.stat_mode(certs(master).wmc_db / "nbwmc.json") == 0o600


@pytest.fixture(autouse=True)
def _fresh_contexts() -> None:
    tls.forget_contexts()


def test_nb_hosts_up_enrols_every_host(tmp_path: Path) -> None:
    """The README's multi-host command: `nb-hosts up` leaves each host with the CA, a
    certificate naming it and the CRL."""
    import os
    import subprocess
    import sys

    base = tmp_path / "hosts"
    env = dict(os.environ, NBCLI_TESTING="1")
    try:
        r = subprocess.run([sys.executable, "-m", "nbcli.multihost", "up", str(base)], env=env,
                           text=True, capture_output=True, timeout=240)
        assert r.returncode == 0, r.stdout + r.stderr
        ca = pki.load_cert(CertPaths(base / "master").ca_cert)
        for name in ("master", "media", "client"):
            p = CertPaths(base / name)
            held = pki.host_credentials(p)
            assert held is not None and pki.identity(held[1])[1] == [name]
            assert pki.issued_by(held[1], ca) and p.crl.exists()
            assert pki.load_cert(p.trust_store) == ca
        again = subprocess.run([sys.executable, "-m", "nbcli.multihost", "up", str(base)],
                               env=env, text=True, capture_output=True, timeout=240)
        assert again.returncode == 0, again.stderr  # enrolled hosts are left as they are
    finally:
        subprocess.run([sys.executable, "-m", "nbcli.multihost", "down", str(base)], env=env,
                       capture_output=True, timeout=240)
    assert [p for name in ("master", "media", "client") for p in procs.find(base / name)] == []
