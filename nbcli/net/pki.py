"""The domain's certificates: the master's CA, host keys, CSRs, host-ID certificates, the CRL,
authorization tokens, and where a host keeps them under its root.

Pure cryptography (the `cryptography` package) plus the files; nothing here talks to the
network (nbcli.net.enrol does, nbcli.daemons.nbwmc serves). Imports only status, atomic,
clock and config from nbcli.

Keys are ECDSA P-256: a TLS 1.3 handshake signs once per side and verifies a chain of two, and
P-256 signs ~20x faster than RSA-2048 (a key is made in microseconds, not ~50 ms), which keeps
a full mutual handshake near a millisecond (job start must stay under 200 ms).

Files under the host root, laid out as NetBackup's /usr/openv/var (nbcli.net.certpaths):

    var/webtruststore/cacert.pem        the domain's CA certificate (every host, once trusted)
    var/vxss/credentials/certificate.pem   this host's host-ID certificate
    var/vxss/credentials/keystore/<ski>.pem  its private key (0600), named by the certificate's
                                         Subject Key Identifier, so that a new key is written
                                         before the certificate that names it and a crash
                                         between the two leaves the old pair usable
    var/vxss/crl/crl.pem                the CA's latest CRL
    var/vxss/at/ca/cakey.pem, cacert.pem   the CA itself (master only; the key 0600)

Every write is atomic (nbcli.atomic). A certificate names its host by the host ID (a UUID, as
NetBackup's): subject CN = host id, SAN = the host's names as dNSName plus the URI
`nbcli:hostid:<uuid>`. Certificates last a year; renewal starts 180 days before expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nbcli import atomic
from nbcli.net.certpaths import CertPaths as CertPaths  # re-exported: pki.CertPaths
from nbcli.status import CLIENT_NOT_VALIDATED_FOR_OP, FILE_READ_FAILED, INVALID_PARAMETER, NbuError

CERT_DAYS = 365
RENEW_BEFORE_DAYS = 180
CA_DAYS = 20 * 365
CRL_DAYS = 7  # hosts fetch it hourly; a week's nextUpdate survives a master that is down a while
SKEW = dt.timedelta(hours=1)  # notBefore is backdated: hosts' clocks differ a little
HOSTID_URI = "nbcli:hostid:"
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOKEN_LENGTH = 16  # as NetBackup's: 16 upper-case letters (~75 bits)
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")

Key = ec.EllipticCurvePrivateKey


# --- time -----------------------------------------------------------------------------------

def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def not_after(cert: x509.Certificate) -> float:
    return cert.not_valid_after_utc.timestamp()


def renewal_due(cert: x509.Certificate, now: float) -> bool:
    return not_after(cert) - now <= RENEW_BEFORE_DAYS * 86400


# --- keys, names, encodings -----------------------------------------------------------------

def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key(path: Path) -> Key:
    key = serialization.load_pem_private_key(_read(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise NbuError(FILE_READ_FAILED, f"{path}: not an EC private key")
    return key


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def parse_cert(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as e:
        raise NbuError(INVALID_PARAMETER, f"not a PEM certificate: {e}") from e


def load_cert(path: Path) -> x509.Certificate:
    return parse_cert(_read(path))


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as e:
        raise NbuError(INVALID_PARAMETER, f"not a PEM certificate request: {e}") from e
    if not csr.is_signature_valid:
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, "the certificate request's signature is bad")
    if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
        raise NbuError(INVALID_PARAMETER, "the certificate request's key is not ECDSA")
    return csr


def parse_crl(pem: str | bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as e:
        raise NbuError(INVALID_PARAMETER, f"not a PEM CRL: {e}") from e


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise NbuError(FILE_READ_FAILED, f"{path} does not exist") from e
    except OSError as e:
        raise NbuError(FILE_READ_FAILED, f"{path}: {e.strerror}") from e


def check_names(names: list[str]) -> list[str]:
    """Host names a certificate may carry: DNS labels, no duplicates, at least one."""
    out = list(dict.fromkeys(n.lower() for n in names))
    if not out:
        raise NbuError(INVALID_PARAMETER, "a certificate needs at least one host name")
    for name in out:
        if len(name) > 253 or not _NAME.match(name) or _is_ip(name):
            raise NbuError(INVALID_PARAMETER, f"{name!r} is not a host name")
    return out


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def fingerprint(cert: x509.Certificate, algorithm: str = "sha256") -> str:
    """`AB:CD:...`, as NetBackup shows fingerprints (SHA-1 or SHA-256 of the DER)."""
    algo = hashes.SHA1() if algorithm == "sha1" else hashes.SHA256()  # noqa: S303 - display
    return cert.fingerprint(algo).hex(":").upper()


def key_path(paths: CertPaths, cert: x509.Certificate) -> Path:
    """Where the key of `cert` is kept: keystore/<Subject Key Identifier>.pem."""
    return paths.keystore / f"{ski(cert)}.pem"


def ski(cert: x509.Certificate) -> str:
    """The certificate's Subject Key Identifier in hex (names its key file)."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()


# --- the CA ---------------------------------------------------------------------------------

def ca_name(master: str) -> x509.Name:
    """NetBackup's CA subject: /CN=broker/OU=root@<master>/O=vx."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"root@{master}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vx")])


def create_ca(master: str, now: float) -> tuple[Key, x509.Certificate]:
    key = new_key()
    name = ca_name(master)
    pub = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(utc(now) - SKEW).not_valid_after(utc(now + CA_DAYS * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def ensure_ca(paths: CertPaths, master: str, now: float) -> tuple[Key, x509.Certificate]:
    """The master's CA, created on first use. The key is written before the certificate, so a
    certificate on disk always has its key; a key alone (a crash between) is replaced."""
    if paths.ca_cert.exists() and paths.ca_key.exists():
        key, cert = load_key(paths.ca_key), load_cert(paths.ca_cert)
        if _same_key(key, cert):
            return key, cert
    key, cert = create_ca(master, now)
    _private_dir(paths.ca_dir)
    atomic.write_bytes(paths.ca_key, key_pem(key), mode=0o600)
    atomic.write_text(paths.ca_cert, cert_pem(cert))
    return key, cert


def _private_dir(path: Path) -> None:
    """A folder of private keys: only its owner may even list it."""
    atomic.makedirs(path)
    path.chmod(0o700)


def _same_key(key: Key, cert: x509.Certificate) -> bool:
    return bool(key.public_key() == cert.public_key())


def make_csr(key: Key, names: list[str]) -> x509.CertificateSigningRequest:
    """A host's request: its names (the CA chooses the host id and the subject)."""
    names = check_names(names)
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(key, hashes.SHA256()))


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def csr_names(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as e:
        raise NbuError(INVALID_PARAMETER, "the certificate request names no host") from e
    return check_names(san.get_values_for_type(x509.DNSName))


def issue(ca_key: Key, ca_cert: x509.Certificate, public_key: Any, host_id: str,
          names: list[str], now: float, days: int = CERT_DAYS) -> x509.Certificate:
    """A host-ID certificate for `public_key`: CN = host id, SAN = names + the host-id URI."""
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in check_names(names)]
    san.append(x509.UniformResourceIdentifier(HOSTID_URI + str(uuid.UUID(host_id))))
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_id)]))
            .issuer_name(ca_cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(utc(now) - SKEW).not_valid_after(utc(now + days * 86400))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()),  # type: ignore[arg-type]  # our CA's key is EC
                critical=False)
            .sign(ca_key, hashes.SHA256()))


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """`cert` carries a valid signature of `ca_cert`'s key (dates are not checked here)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def make_crl(ca_key: Key, ca_cert: x509.Certificate, revoked: dict[int, float],
             now: float) -> x509.CertificateRevocationList:
    """A CRL listing `revoked` (serial -> revocation time), valid CRL_DAYS."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(utc(now) - SKEW).next_update(utc(now + CRL_DAYS * 86400))
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_cert.public_key()),  # type: ignore[arg-type]  # our CA's key is EC
                   critical=False)
               .add_extension(x509.CRLNumber(int(now)), critical=False))
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(utc(when)).build())
    return builder.sign(ca_key, hashes.SHA256())


def crl_pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def crl_serials(crl: x509.CertificateRevocationList) -> list[int]:
    return sorted(r.serial_number for r in crl)


# --- proof of possession for renewal --------------------------------------------------------

RENEW_CONTEXT = b"nbcli renew v1\0"


def sign_renewal(key: Key, new_csr_pem: str) -> str:
    """The current key's signature over the new request: only the holder of the valid
    certificate's key can ask for its successor."""
    return key.sign(RENEW_CONTEXT + new_csr_pem.encode(), ec.ECDSA(hashes.SHA256())).hex()


def check_renewal(cert: x509.Certificate, new_csr_pem: str, proof_hex: str) -> None:
    pub = cert.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, "the current certificate's key is not ECDSA")
    try:
        pub.verify(bytes.fromhex(proof_hex), RENEW_CONTEXT + new_csr_pem.encode(),
                   ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature) as e:
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                       "the renewal request is not signed by the current certificate's key") from e


# --- tokens ---------------------------------------------------------------------------------

def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_hash(token: str) -> str:
    """What nbwmc stores of a token: never the token itself."""
    return hashlib.sha256(b"nbcli token\0" + token.strip().encode()).hexdigest()


def parse_valid_for(text: str) -> int:
    """NetBackup's -validFor `xDyHzM` (any of the three parts) in seconds; 1 minute..365 days."""
    m = re.fullmatch(r"(?:(\d+)D)?(?:(\d+)H)?(?:(\d+)M)?", text.strip().upper())
    if not text.strip() or not m:
        raise NbuError(INVALID_PARAMETER, f"-validFor {text!r}: expected numDnumHnumM, e.g. 1D12H")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    seconds = days * 86400 + hours * 3600 + minutes * 60
    if not 60 <= seconds <= 365 * 86400:
        raise NbuError(INVALID_PARAMETER, f"-validFor {text!r}: must be 1 minute to 365 days")
    return seconds


# --- a certificate's identity and details ---------------------------------------------------

def identity(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(host id, host names) a host-ID certificate names."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    host_id = str(cns[0].value) if cns else ""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = list(san.get_values_for_type(x509.DNSName))
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(HOSTID_URI):
                host_id = uri[len(HOSTID_URI):]
    except x509.ExtensionNotFound:
        names = []
    return host_id, names


def dn_text(name: x509.Name) -> str:
    """`/CN=broker/OU=root@master/O=vx`, the form NetBackup prints Issued By in."""
    short = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
             NameOID.ORGANIZATION_NAME: "O"}
    return "".join(f"/{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def details(cert: x509.Certificate) -> dict[str, Any]:
    """Everything -listCertDetails and -listCACertDetails show, by field."""
    host_id, names = identity(cert)
    try:
        aki_ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        aki = (aki_ext.key_identifier or b"").hex(":").upper()
    except x509.ExtensionNotFound:
        aki = ""
    pub = cert.public_key()
    return {"hostId": host_id, "hostNames": names, "subject": dn_text(cert.subject),
            "issuedBy": dn_text(cert.issuer), "serialNumber": f"0x{cert.serial_number:x}",
            "startDate": cert.not_valid_before_utc.timestamp(),
            "expiryDate": not_after(cert),
            "sha1Fingerprint": fingerprint(cert, "sha1"),
            "sha256Fingerprint": fingerprint(cert, "sha256"),
            "keyStrength": getattr(pub, "key_size", 0),
            "subjectKeyIdentifier": bytes.fromhex(ski(cert)).hex(":").upper(),
            "authorityKeyIdentifier": aki}


# --- a host's own files ---------------------------------------------------------------------

def save_trust(paths: CertPaths, ca_cert: x509.Certificate) -> None:
    atomic.makedirs(paths.trust_store.parent)
    atomic.write_text(paths.trust_store, cert_pem(ca_cert))


def trusted_ca(paths: CertPaths) -> x509.Certificate | None:
    return load_cert(paths.trust_store) if paths.trust_store.exists() else None


def save_credentials(paths: CertPaths, key: Key, cert: x509.Certificate) -> None:
    """Key first (0600, named by the certificate's SKI), then the certificate that names it,
    then the keys no certificate names any more."""
    _private_dir(paths.keystore)
    keep = key_path(paths, cert)
    atomic.write_bytes(keep, key_pem(key), mode=0o600)
    atomic.write_text(paths.host_cert, cert_pem(cert))
    for old in paths.keystore.glob("*.pem"):
        if old != keep:
            old.unlink(missing_ok=True)


def host_credentials(paths: CertPaths) -> tuple[Key, x509.Certificate] | None:
    """This host's key and certificate, or None before enrolment."""
    if not paths.host_cert.exists():
        return None
    cert = load_cert(paths.host_cert)
    return load_key(key_path(paths, cert)), cert


def save_crl(paths: CertPaths, crl: x509.CertificateRevocationList) -> None:
    atomic.makedirs(paths.crl.parent)
    atomic.write_text(paths.crl, crl_pem(crl))


def stat_mode(path: Path) -> int:
    """A file's permission bits (keys must be 0600)."""
    return path.stat().st_mode & 0o7777
