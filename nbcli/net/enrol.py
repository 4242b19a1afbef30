"""A host's side of the certificate authority: trust the CA, enrol, renew, fetch the CRL.

nbcertcmd runs these on an administrator's word; a daemon every host runs calls `maintain`
periodically (see `periodic`), so that certificates renew themselves from 180 days before
expiry and every host holds a fresh CRL. Both talk to the master's nbwmc over PBX.

Nothing fetched over the (not yet encrypted) connection is taken on trust: the CA certificate
is stored only after its fingerprint is confirmed; a certificate or CRL is stored only when the
trusted CA's signature on it checks out, so a false master can deny service but cannot plant
a certificate or a CRL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from cryptography import x509

from nbcli import clock
from nbcli.config import HostConfig
from nbcli.net import client, pki
from nbcli.net.pki import CertPaths
from nbcli.status import (
    CLIENT_NOT_VALIDATED_FOR_OP,
    ENTITY_EXISTS,
    HANDSHAKE_FAILED,
    NbuError,
)

SERVICE = "nbwmc"
MAINTAIN_EVERY = 3600.0  # seconds: NetBackup's CRL refresh at its default security level


def paths(cfg: HostConfig) -> CertPaths:
    return CertPaths(cfg.root)


def host_names(cfg: HostConfig) -> list[str]:
    """The names this host's certificate carries: CLIENT_NAME, then every [hosts] name that
    bp.toml maps to this host's own address (its aliases)."""
    names = [cfg.client_name]
    own = cfg.hosts.get(cfg.client_name)
    if own:
        names += [n for n, addr in cfg.hosts.items() if addr == own and n != cfg.client_name]
    return pki.check_names(names)


def _call(cfg: HostConfig, server: str, op: str, **fields: Any) -> dict[str, Any]:
    """A request to nbwmc, in TLS once the CA is trusted (the master's certificate checked,
    none presented: a revoked or expired host must still be able to enrol again)."""
    with client.connect(cfg, server, SERVICE, enrolling=True) as conn:
        return conn.request(op, **fields)


def fetch_ca(cfg: HostConfig, server: str) -> x509.Certificate:
    """The CA certificate `server` offers - not trusted yet."""
    return pki.parse_cert(_call(cfg, server, "ca_certificate")["certificate"])


def trust_ca(cfg: HostConfig, ca_cert: x509.Certificate) -> None:
    pki.save_trust(paths(cfg), ca_cert)


def _trusted(cfg: HostConfig) -> x509.Certificate:
    ca = pki.trusted_ca(paths(cfg))
    if ca is None:
        raise NbuError(HANDSHAKE_FAILED, "the CA certificate is not in this host's trust store; "
                                         "run nbcertcmd -getCACertificate first")
    return ca


def _signed_cert(reply: dict[str, Any], ca: x509.Certificate) -> x509.Certificate:
    cert = pki.parse_cert(reply["certificate"])
    if not pki.issued_by(cert, ca):
        raise NbuError(HANDSHAKE_FAILED, "the certificate received is not signed by the "
                                         "trusted CA; nothing was stored")
    return cert


def get_certificate(cfg: HostConfig, server: str, token: str, force: bool = False) -> \
        x509.Certificate:
    """Enrol with an authorization token: a new key, a CSR, the signed certificate, the CRL."""
    ca = _trusted(cfg)
    p = paths(cfg)
    held = pki.host_credentials(p)
    if held is not None and not force and pki.issued_by(held[1], ca) \
            and clock.now() < pki.not_after(held[1]):
        raise NbuError(ENTITY_EXISTS, "this host already has a certificate; use -force to "
                                      "request another")
    key = pki.new_key()
    csr = pki.csr_pem(pki.make_csr(key, host_names(cfg)))
    cert = _signed_cert(_call(cfg, server, "certificate_sign", csr=csr, token=token), ca)
    get_crl(cfg, server)  # first: once the certificate is there, TLS needs the CRL too
    pki.save_credentials(p, key, cert)
    return cert


def renew(cfg: HostConfig, server: str) -> x509.Certificate:
    """A successor for the current certificate, proved by its key (no token)."""
    ca = _trusted(cfg)
    p = paths(cfg)
    held = pki.host_credentials(p)
    if held is None:
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, "this host has no certificate to renew; "
                                                    "run nbcertcmd -getCertificate")
    old_key, old_cert = held
    key = pki.new_key()
    csr = pki.csr_pem(pki.make_csr(key, host_names(cfg)))
    cert = _signed_cert(_call(cfg, server, "certificate_sign", csr=csr,
                              current=pki.cert_pem(old_cert),
                              proof=pki.sign_renewal(old_key, csr)), ca)
    pki.save_credentials(p, key, cert)
    return cert


def renew_if_due(cfg: HostConfig, now: float, server: str | None = None) -> \
        x509.Certificate | None:
    """Renew when the certificate expires within 180 days; the new one, or None."""
    held = pki.host_credentials(paths(cfg))
    if held is None or not pki.renewal_due(held[1], now):
        return None
    return renew(cfg, server or cfg.master)


def get_crl(cfg: HostConfig, server: str) -> x509.CertificateRevocationList:
    ca = _trusted(cfg)
    crl = pki.parse_crl(_call(cfg, server, "crl")["crl"])
    if not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]  # our CA: EC
        raise NbuError(HANDSHAKE_FAILED, "the CRL received is not signed by the trusted CA; "
                                         "nothing was stored")
    pki.save_crl(paths(cfg), crl)
    return crl


def maintain(cfg: HostConfig, log: logging.Logger | None = None) -> None:
    """One round of the periodic task: fetch the CRL, renew the certificate when due.
    A host that has not enrolled yet has nothing to maintain."""
    if pki.trusted_ca(paths(cfg)) is None or not paths(cfg).host_cert.exists():
        return
    get_crl(cfg, cfg.master)
    cert = renew_if_due(cfg, clock.now())
    if cert is not None and log is not None:
        log.info("renewed this host's certificate: serial %x, expires %s", cert.serial_number,
                 cert.not_valid_after_utc.isoformat())


def periodic(cfg_of: Callable[[], HostConfig], log: logging.Logger) -> \
        list[tuple[float, Callable[[], None]]]:
    """The (interval, task) pair a daemon adds to its `periodic()`: one line in bpcd,

        return [*super().periodic(), *enrol.periodic(lambda: self.cfg, self.log)]
    """

    def certificates() -> None:
        try:
            maintain(cfg_of(), log)
        except NbuError as e:
            log.warning("certificate maintenance failed: %s", e)

    interval = float(os.environ.get("NBCLI_CERT_INTERVAL", MAINTAIN_EVERY))
    return [(interval, certificates)]
