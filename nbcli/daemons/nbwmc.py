"""nbwmc: the master's certificate authority (in NetBackup the web management service issues
the host-ID certificates).

Serves the `nbwmc` ops over PBX:

    ca_certificate      anyone           the CA certificate (the host admin checks its fingerprint)
    crl                 anyone           a freshly signed CRL
    certificate_sign    anyone, with     a CSR plus an authorization token (enrolment), or plus
                        proof            the current valid certificate and a signature over the
                                         CSR by its key (renewal, no token)
    token_create        local root       a token: name, uses, validity; optionally bound to one
                                         host for a reissue (`-reissue -host H`)
    certificate_revoke  local root       every certificate of a host, by name or host id
    host_list           local root       host ids, names and certificates

"Local root" is a peer on PBX's Unix socket whose uid (SO_PEERCRED, passed on by PBX) is 0;
anyone else, and every TCP peer, gets 46.

State: db/vxss/nbwmc.json (pki.CertPaths.wmc_db), one JSON document rewritten atomically after
each change, mode 0600: hosts (host id -> names), certificates by serial, revocations, and
tokens by the SHA-256 of the token - never the token itself. A kill at any line leaves the old
document or the new one; a certificate is recorded (and a token use spent) before it is sent,
so a lost reply costs at most one use of the token. Token values are never logged.

A host name belongs to one host id. A token enrols a name nobody holds yet (a new host id), or
a name whose host has no valid certificate left; taking over a host that still holds a valid
certificate needs a reissue token bound to that host, as in NetBackup.

On start nbwmc creates the CA if there is none (var/vxss/at/ca) and enrols the master itself:
its trust store, host certificate and CRL, as NetBackup's installation does on the primary;
hourly it writes the master a fresh CRL and renews the master's certificate when due.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from cryptography import x509

from nbcli import atomic, clock
from nbcli.config import HostConfig
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net import enrol, pki
from nbcli.net.conn import Connection
from nbcli.net.pki import CertPaths
from nbcli.net.service import Ops, audited, op
from nbcli.net.trust import ANYONE, ROOT
from nbcli.status import (
    CLIENT_NOT_VALIDATED_FOR_OP,
    DATABASE_ERROR,
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    NO_ENTITY,
    SERVER_NOT_ALLOWED,
    NbuError,
)
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

STATE = "nbwmc.json"
PEM_MAX = 16 * 1024
NAME_MAX = 253
MAX_USES = 99999
DAY = 86400


def _empty() -> dict[str, Any]:
    return {"hosts": {}, "certs": {}, "revoked": {}, "tokens": {}}


class Nbwmc(Daemon):
    """the certificate authority: host-ID certificates, tokens, the CRL"""

    name = "nbwmc"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.certs = CertPaths(cfg.root)
        self.lock = threading.Lock()
        self.state = _empty()
        self.ca: tuple[pki.Key, x509.Certificate] | None = None

    def services(self) -> dict[str, Ops]:
        pem = req(str, max_len=PEM_MAX)
        return {"nbwmc": audited({
            "ping": op(self.ping, ANYONE),
            "ca_certificate": op(self.ca_certificate, ANYONE),
            "crl": op(self.crl, ANYONE),
            "certificate_sign": op(self.certificate_sign, ANYONE, csr=pem,
                                   token=opt(str, max_len=64),
                                   current=opt(str, max_len=PEM_MAX),
                                   proof=opt(str, max_len=512)),
            "token_create": op(self.token_create, ROOT, name=req(str, max_len=64),
                               max_uses=opt(int, 1, lo=1, hi=MAX_USES),
                               valid_for=opt(int, DAY, lo=60, hi=365 * DAY),
                               host=opt(str, max_len=NAME_MAX)),
            "certificate_revoke": op(self.certificate_revoke, ROOT, host=opt(str, max_len=NAME_MAX),
                                     host_id=opt(str, max_len=64),
                                     reason=opt(str, max_len=256)),
            "host_list": op(self.host_list, ROOT),
        }, "certificate_sign", "token_create", "certificate_revoke")}

    # --- start: the CA, its state, the master's own enrolment --------------------------------

    def on_start(self) -> None:
        now = clock.now()
        self.ca = pki.ensure_ca(self.certs, self.cfg.client_name, now)
        self.state = self._load()
        self._enrol_self(now)

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        """Hourly: a fresh CRL for the master's own TLS (a CRL is valid 7 days) and the
        master's renewal when due."""
        return [(enrol.MAINTAIN_EVERY, lambda: self._enrol_self(clock.now()))]

    def _load(self) -> dict[str, Any]:
        path = self.certs.wmc_db / STATE
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return _empty()
        except (OSError, ValueError) as e:
            raise NbuError(DATABASE_ERROR, f"{path}: {e}") from e
        return {**_empty(), **state}

    def _save(self) -> None:
        atomic.makedirs(self.certs.wmc_db)
        atomic.write_text(self.certs.wmc_db / STATE, json.dumps(self.state, indent=1), mode=0o600)

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """One change of the state, under the lock: kept in memory only once it is on disk
        (a refused request or a failed write leaves both as they were)."""
        with self.lock:
            before = json.loads(json.dumps(self.state))
            try:
                yield
                self._save()
            except BaseException:
                self.state = before
                raise

    def _enrol_self(self, now: float) -> None:
        """The master trusts its own CA and holds a valid certificate of it."""
        ca_key, ca_cert = self._ca()
        if pki.trusted_ca(self.certs) != ca_cert:  # rewritten, every TLS context is rebuilt
            pki.save_trust(self.certs, ca_cert)
        with self._change():
            held = pki.host_credentials(self.certs) if self.certs.host_cert.exists() else None
            if held is None or not self._valid(held[1], now) or pki.renewal_due(held[1], now):
                key = pki.new_key()
                names = enrol.host_names(self.cfg)
                host_id = self._owner(names[0]) or str(uuid.uuid4())
                cert = self._issue(key.public_key(), host_id, names, now)
                pki.save_credentials(self.certs, key, cert)
                self.log.info("issued the master's own certificate (host id %s, serial %x)",
                              host_id, cert.serial_number)
            self._publish_crl(now)

    # --- helpers -----------------------------------------------------------------------------

    def _ca(self) -> tuple[pki.Key, x509.Certificate]:
        if self.ca is None:
            raise NbuError(DATABASE_ERROR, "the certificate authority is not loaded")
        return self.ca

    def _owner(self, name: str) -> str | None:
        for host_id, host in self.state["hosts"].items():
            if name in host["names"]:
                return str(host_id)
        return None

    def _valid(self, cert: x509.Certificate, now: float) -> bool:
        """Issued by this CA, recorded, in its validity period and not revoked."""
        serial = f"{cert.serial_number:x}"
        return (pki.issued_by(cert, self._ca()[1]) and serial in self.state["certs"]
                and serial not in self.state["revoked"]
                and cert.not_valid_before_utc.timestamp() <= now < pki.not_after(cert))

    def _host_has_valid_cert(self, host_id: str, now: float) -> bool:
        return any(c["host_id"] == host_id and s not in self.state["revoked"]
                   and c["not_after"] > now for s, c in self.state["certs"].items())

    def _issue(self, public_key: Any, host_id: str, names: list[str],
               now: float) -> x509.Certificate:
        """Sign and record (the host's names, the certificate) - inside `_change`."""
        for name in names:
            owner = self._owner(name)
            if owner is not None and owner != host_id:
                raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                               f"host name {name} belongs to host id {owner}")
        ca_key, ca_cert = self._ca()
        cert = pki.issue(ca_key, ca_cert, public_key, host_id, names, now)
        self.state["hosts"][host_id] = {"names": names}
        self.state["certs"][f"{cert.serial_number:x}"] = {
            "host_id": host_id, "names": names, "issued": now,
            "not_after": pki.not_after(cert)}
        return cert

    def _publish_crl(self, now: float) -> str:
        ca_key, ca_cert = self._ca()
        revoked = {int(s, 16): when for s, when in self.state["revoked"].items()}
        crl = pki.make_crl(ca_key, ca_cert, revoked, now)
        pki.save_crl(self.certs, crl)
        return pki.crl_pem(crl)

    def _require_local_root(self, conn: Connection, what: str) -> None:
        if conn.address != "local" or conn.uid != 0:
            self.log.warning("%s refused to %s (uid %s)", what, conn.address, conn.uid)
            raise NbuError(SERVER_NOT_ALLOWED, f"{what} is allowed to root on the master only")

    # --- ops ---------------------------------------------------------------------------------

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def ca_certificate(self, msg: Message, conn: Connection) -> Message:
        return {"certificate": pki.cert_pem(self._ca()[1]), "server": self.cfg.client_name}

    def crl(self, msg: Message, conn: Connection) -> Message:
        with self.lock:
            return {"crl": self._publish_crl(clock.now())}

    def certificate_sign(self, msg: Message, conn: Connection) -> Message:
        csr = pki.parse_csr(msg["csr"])
        names = pki.csr_names(csr)
        now = clock.now()
        with self._change():
            if msg["current"] is not None:
                host_id = self._renewal(msg, now)
                how = "renewed"
            elif msg["token"] is not None:
                host_id = self._spend_token(msg["token"], names, now)
                how = "enrolled"
            else:
                raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                               "a certificate request needs an authorization token")
            cert = self._issue(csr.public_key(), host_id, names, now)
        self.log.info("%s host %s (%s) from %s: serial %x", how, host_id, ", ".join(names),
                      conn.address, cert.serial_number)
        return {"certificate": pki.cert_pem(cert), "host_id": host_id}

    def _renewal(self, msg: Message, now: float) -> str:
        current = pki.parse_cert(msg["current"])
        if not self._valid(current, now):
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, "the current certificate is not valid "
                           "(expired, revoked or not ours): enrol again with a reissue token")
        pki.check_renewal(current, msg["csr"], msg["proof"] or "")
        return pki.identity(current)[0]

    def _spend_token(self, token: str, names: list[str], now: float) -> str:
        """The host id a valid token enrols `names` under; one use of it is spent."""
        digest = pki.token_hash(token)
        entry = self.state["tokens"].get(digest)
        if entry is None or entry["uses_left"] < 1 or entry["expires"] <= now:
            why = ("is not valid" if entry is None else "has been used up"
                   if entry["uses_left"] < 1 else "has expired")
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, f"the authorization token {why}")
        owner = self._owner(names[0])
        bound = entry.get("host_id")
        if bound is not None and owner != bound:
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           f"the reissue token {entry['name']} is for another host")
        if bound is None and owner is not None and self._host_has_valid_cert(owner, now):
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           f"{names[0]} already has a valid certificate: a reissue token "
                           f"(nbcertcmd -createToken -reissue -host {names[0]}) is needed")
        entry["uses_left"] -= 1
        self.log.info("token %s used for %s (%d uses left)", entry["name"], names[0],
                      entry["uses_left"])
        return owner or str(uuid.uuid4())

    def token_create(self, msg: Message, conn: Connection) -> Message:
        self._require_local_root(conn, "creating a token")
        name, now = msg["name"].strip(), clock.now()
        if not name:
            raise NbuError(INVALID_PARAMETER, "a token needs a name")
        token = pki.new_token()
        with self._change():
            host_id = None
            if msg["host"] is not None:
                host_id = self._owner(msg["host"])
                if host_id is None:
                    raise NbuError(NO_ENTITY, f"no host {msg['host']} has had a certificate")
            tokens = self.state["tokens"]
            for digest, entry in list(tokens.items()):
                if entry["name"] == name:
                    if entry["uses_left"] > 0 and entry["expires"] > now:
                        raise NbuError(ENTITY_EXISTS, f"a token named {name} already exists")
                    del tokens[digest]  # spent or expired: the name is free again
            tokens[pki.token_hash(token)] = {
                "name": name, "uses_left": msg["max_uses"], "expires": now + msg["valid_for"],
                "created": now, "host_id": host_id}
        self.log.info("token %s created (%d uses, valid %d s%s)", name, msg["max_uses"],
                      msg["valid_for"], f", reissue for {host_id}" if host_id else "")
        return {"token": token, "expires": now + msg["valid_for"]}

    def certificate_revoke(self, msg: Message, conn: Connection) -> Message:
        self._require_local_root(conn, "revoking a certificate")
        host, host_id = msg["host"], msg["host_id"]
        if (host is None) == (host_id is None):
            raise NbuError(INVALID_PARAMETER, "name the host by -host or by -hostId, not both")
        now = clock.now()
        with self._change():
            host_id = host_id if host is None else self._owner(host)
            if host_id is None or host_id not in self.state["hosts"]:
                raise NbuError(NO_ENTITY, f"no certificate was issued to {host or msg['host_id']}")
            serials = [s for s, c in self.state["certs"].items()
                       if c["host_id"] == host_id and s not in self.state["revoked"]]
            for s in serials:
                self.state["revoked"][s] = now
        with self.lock:
            self._publish_crl(now)
        self.log.info("revoked the certificates of host id %s (%s): %s; reason: %s", host_id,
                      ", ".join(self.state["hosts"][host_id]["names"]), ", ".join(serials),
                      msg["reason"] or "unspecified")
        return {"host_id": host_id, "revoked": serials}

    def host_list(self, msg: Message, conn: Connection) -> Message:
        self._require_local_root(conn, "listing hosts")
        now = clock.now()
        with self.lock:
            out = []
            for host_id, host in sorted(self.state["hosts"].items(),
                                        key=lambda kv: kv[1]["names"]):
                certs = [{"serial": s, "not_after": c["not_after"],
                          "state": "revoked" if s in self.state["revoked"]
                          else "expired" if c["not_after"] <= now else "valid"}
                         for s, c in self.state["certs"].items() if c["host_id"] == host_id]
                out.append({"host_id": host_id, "names": host["names"], "certs": certs})
        return {"hosts": out}


main = daemon_main(Nbwmc)
