"""Where a host keeps its certificates: the paths alone, so that a process which only makes
TLS connections (nbcli.net.tls) need not import the `cryptography` package (~70 ms).

    var/webtruststore/cacert.pem             the domain's CA certificate (every host)
    var/vxss/credentials/certificate.pem     this host's host-ID certificate
    var/vxss/credentials/keystore/<ski>.pem  its private key (0600; folder 0700)
    var/vxss/crl/crl.pem                     the CA's latest CRL
    var/vxss/at/ca/cakey.pem, cacert.pem     the CA (master only; key 0600, folder 0700)
    netbackup/db/vxss/nbwmc.json             nbwmc's state (master only; 0600)

Imports nothing from nbcli.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertPaths:
    """Where a host keeps its trust store, credentials and CRL (and the master its CA)."""

    root: Path

    @property
    def trust_store(self) -> Path:
        return self.root / "var" / "webtruststore" / "cacert.pem"

    @property
    def credentials(self) -> Path:
        return self.root / "var" / "vxss" / "credentials"

    @property
    def host_cert(self) -> Path:
        return self.credentials / "certificate.pem"

    @property
    def keystore(self) -> Path:
        return self.credentials / "keystore"

    @property
    def crl(self) -> Path:
        return self.root / "var" / "vxss" / "crl" / "crl.pem"

    @property
    def ca_dir(self) -> Path:
        return self.root / "var" / "vxss" / "at" / "ca"

    @property
    def ca_key(self) -> Path:
        return self.ca_dir / "cakey.pem"

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / "cacert.pem"

    @property
    def wmc_db(self) -> Path:
        """nbwmc's state (issued certificates, tokens, revocations): master only."""
        return self.root / "netbackup" / "db" / "vxss"
