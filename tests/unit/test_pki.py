"""The CA, host certificates, CRLs, tokens and renewal proofs of nbcli.net.pki, with the files
they leave under a host root (modes, atomic order)."""

from __future__ import annotations

import base64
import stat
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from nbcli.net import pki
from nbcli.net.pki import CertPaths
from nbcli.status import CLIENT_NOT_VALIDATED_FOR_OP, INVALID_PARAMETER, NbuError

NOW = 1_800_000_000.0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    paths = CertPaths(tmp_path)
    key, cert = pki.ensure_ca(paths, "master", NOW)
    assert mode(paths.ca_key) == 0o600 and mode(paths.ca_dir) == 0o700
    assert pki.dn_text(cert.subject) == "/CN=broker/OU=root@master/O=vx"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    again_key, again = pki.ensure_ca(paths, "master", NOW + 10)
    assert again == cert and pki.key_pem(again_key) == pki.key_pem(key)


def test_ca_key_without_its_certificate_is_replaced(tmp_path: Path) -> None:
    paths = CertPaths(tmp_path)
    _, first = pki.ensure_ca(paths, "master", NOW)
    paths.ca_key.unlink()
    pki.ensure_ca(paths, "master", NOW)  # a crash between writing the key and the certificate
    key, cert = pki.ensure_ca(paths, "master", NOW)
    assert cert != first and key.public_key() == cert.public_key()


def test_host_certificate_names_the_host_id_and_names(tmp_path: Path) -> None:
    ca_key, ca = pki.ensure_ca(CertPaths(tmp_path), "master", NOW)
    key = pki.new_key()
    csr = pki.make_csr(key, ["Client", "client.example.com", "client"])
    assert pki.csr_names(pki.parse_csr(pki.csr_pem(csr))) == ["client", "client.example.com"]
    host_id = str(uuid.uuid4())
    cert = pki.issue(ca_key, ca, csr.public_key(), host_id, pki.csr_names(csr), NOW)
    assert pki.identity(cert) == (host_id, ["client", "client.example.com"])
    assert cert.subject.rfc4514_string() == f"CN={host_id}"
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == [f"nbcli:hostid:{host_id}"]
    assert pki.not_after(cert) == NOW + 365 * 86400
    assert pki.issued_by(cert, ca)
    assert not pki.issued_by(cert, pki.create_ca("master", NOW)[1])
    d = pki.details(cert)
    assert d["hostId"] == host_id and d["keyStrength"] == 256
    assert d["issuedBy"] == "/CN=broker/OU=root@master/O=vx"
    assert d["sha256Fingerprint"] == cert.fingerprint(hashes.SHA256()).hex(":").upper()


@pytest.mark.parametrize("names", [[], ["bad name"], ["127.0.0.1"], ["-lead"], ["a" * 64]])
def test_names_that_are_not_host_names_are_refused(names: list[str]) -> None:
    with pytest.raises(NbuError) as e:
        pki.check_names(names)
    assert e.value.status == INVALID_PARAMETER


def test_renewal_is_due_from_180_days_before_expiry(tmp_path: Path) -> None:
    ca_key, ca = pki.ensure_ca(CertPaths(tmp_path), "master", NOW)
    cert = pki.issue(ca_key, ca, pki.new_key().public_key(), str(uuid.uuid4()), ["h"], NOW)
    end = pki.not_after(cert)
    assert not pki.renewal_due(cert, end - 181 * 86400)
    assert pki.renewal_due(cert, end - 180 * 86400)
    assert pki.renewal_due(cert, end + 1)


def test_renewal_proof_binds_the_new_request_to_the_current_key(tmp_path: Path) -> None:
    ca_key, ca = pki.ensure_ca(CertPaths(tmp_path), "master", NOW)
    current_key = pki.new_key()
    current = pki.issue(ca_key, ca, current_key.public_key(), str(uuid.uuid4()), ["h"], NOW)
    csr = pki.csr_pem(pki.make_csr(pki.new_key(), ["h"]))
    pki.check_renewal(current, csr, pki.sign_renewal(current_key, csr))
    other_csr = pki.csr_pem(pki.make_csr(pki.new_key(), ["h"]))
    for proof, request in ((pki.sign_renewal(pki.new_key(), csr), csr),  # someone else's key
                           (pki.sign_renewal(current_key, csr), other_csr),  # another request
                           ("zz", csr)):
        with pytest.raises(NbuError) as e:
            pki.check_renewal(current, request, proof)
        assert e.value.status == CLIENT_NOT_VALIDATED_FOR_OP


def test_crl_lists_revoked_serials_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    ca_key, ca = pki.ensure_ca(CertPaths(tmp_path), "master", NOW)
    crl = pki.parse_crl(pki.crl_pem(pki.make_crl(ca_key, ca, {5: NOW, 3: NOW}, NOW)))
    assert pki.crl_serials(crl) == [3, 5]
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert not crl.is_signature_valid(pki.create_ca("x", NOW)[1].public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None
    assert crl.next_update_utc.timestamp() == NOW + pki.CRL_DAYS * 86400


def test_tokens_are_16_letters_and_stored_as_hashes() -> None:
    tokens = {pki.new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) == 16 and token.isalpha() and token.isupper()
    digest = pki.token_hash(token)
    assert token not in digest and len(digest) == 64
    assert pki.token_hash(token + "\n") == digest != pki.token_hash(token.lower())


@pytest.mark.parametrize("text,seconds", [("1D", 86400), ("2H30M", 9000), ("1d1h1m", 90060),
                                          ("365D", 365 * 86400)])
def test_valid_for(text: str, seconds: int) -> None:
    assert pki.parse_valid_for(text) == seconds


@pytest.mark.parametrize("text", ["", "0M", "366D", "1W", "D", "-1D"])
def test_valid_for_refused(text: str) -> None:
    with pytest.raises(NbuError) as e:
        pki.parse_valid_for(text)
    assert e.value.status == INVALID_PARAMETER


def test_credentials_key_first_then_certificate(tmp_path: Path) -> None:
    paths = CertPaths(tmp_path)
    ca_key, ca = pki.ensure_ca(paths, "master", NOW)
    assert pki.host_credentials(paths) is None
    k1 = pki.new_key()
    c1 = pki.issue(ca_key, ca, k1.public_key(), str(uuid.uuid4()), ["h"], NOW)
    pki.save_credentials(paths, k1, c1)
    assert mode(pki.key_path(paths, c1)) == 0o600 and mode(paths.keystore) == 0o700
    # A crash after the new key was written but before its certificate: the old pair holds.
    k2 = pki.new_key()
    c2 = pki.issue(ca_key, ca, k2.public_key(), str(uuid.uuid4()), ["h"], NOW)
    pki.key_path(paths, c2).write_bytes(pki.key_pem(k2))
    key, cert = pki.host_credentials(paths) or (None, None)
    assert cert == c1 and key is not None and key.public_key() == k1.public_key()
    pki.save_credentials(paths, k2, c2)
    assert [p.name for p in paths.keystore.iterdir()] == [pki.key_path(paths, c2).name]
    assert (pki.host_credentials(paths) or (None, None))[1] == c2


def test_tampered_request_is_refused() -> None:
    csr = pki.make_csr(pki.new_key(), ["hostaaaa"])
    der = csr.public_bytes(serialization.Encoding.DER).replace(b"hostaaaa", b"hostbbbb")
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(der).decode() \
        + "-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(NbuError) as e:
        pki.parse_csr(pem)
    assert e.value.status == CLIENT_NOT_VALIDATED_FOR_OP
    with pytest.raises(NbuError) as e:
        pki.parse_csr("not a request")
    assert e.value.status == INVALID_PARAMETER
