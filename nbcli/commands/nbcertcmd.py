"""nbcertcmd: trust the master's CA, get, renew, list and revoke host-ID certificates, create
authorization tokens, fetch the CRL - NetBackup's forms, served by the master's nbwmc.

Tokens are secrets: `-file F` (the first line of F) or `-envtoken VAR` keep them out of `ps`
and of shell history; `-token T` is accepted as NetBackup's scripts write it but shows T to
every user of the host, and `-token` alone asks for it on the terminal. No token is ever
logged. The host side of each action is nbcli.net.enrol; the files are under the host root
(nbcli.net.pki.CertPaths).
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.config import HostConfig
from nbcli.net import client, enrol, pki
from nbcli.render import echo_json, echo_lines
from nbcli.status import (
    FILE_READ_FAILED,
    HANDSHAKE_FAILED,
    INVALID_PARAMETER,
    TERMINATED_BY_ADMIN,
    NbuError,
)

SYNOPSIS = """nbcertcmd -getCACertificate [-file hash_file_name] [-force]
          [-server master_server_name]
nbcertcmd -getCertificate [-token [token] | -envtoken environment_variable |
          -file authorization_token_file] [-force] [-server master_server_name] [-json]
nbcertcmd -createToken -name token_name [-reissue -host host_name] [-maxUses number]
          [-validFor numDnumHnumM] [-json]
nbcertcmd -listCertDetails [-json]
nbcertcmd -listCACertDetails [-json]
nbcertcmd -displayCACertDetail [-server master_server_name] [-json]
nbcertcmd -renewCertificate [-server master_server_name]
nbcertcmd -revokeCertificate -host host_name | -hostId host_id [-reason text]
nbcertcmd -getCRL [-server master_server_name]
nbcertcmd -listAllDomainCertificates [-json]"""

ACTIONS = ("getCACertificate", "getCertificate", "createToken", "listCertDetails",
           "listCACertDetails", "displayCACertDetail", "renewCertificate", "revokeCertificate",
           "getCRL", "listAllDomainCertificates")
DONE = "Operation completed successfully."


def when(epoch: float) -> str:
    """Certificate dates as NetBackup (and openssl) print them: `Dec  4 18:27:53 2027 GMT`."""
    return time.strftime("%b %d %H:%M:%S %Y GMT", time.gmtime(epoch))


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def labelled(pairs: list[tuple[str, Any]]) -> list[str]:
    """`Label : value` lines with the colons aligned, as nbcertcmd's listings are."""
    width = max(len(label) for label, _ in pairs)
    return [f"{label.rjust(width)} : {value}" for label, value in pairs]


def cert_lines(cfg: HostConfig, d: dict[str, Any]) -> list[str]:
    return labelled([("Master Server", cfg.master), ("Host ID", d["hostId"]),
                     ("Host Names", ", ".join(d["hostNames"])), ("Issued By", d["issuedBy"]),
                     ("Serial Number", d["serialNumber"]), ("Expiry Date", when(d["expiryDate"])),
                     ("SHA1 Fingerprint", d["sha1Fingerprint"]),
                     ("SHA-256 Fingerprint", d["sha256Fingerprint"]),
                     ("Key Strength", d["keyStrength"]),
                     ("Subject Key Identifier", d["subjectKeyIdentifier"]),
                     ("Authority Key Identifier", d["authorityKeyIdentifier"])])


def ca_lines(d: dict[str, Any]) -> list[str]:
    return labelled([("Subject Name", d["subject"]), ("Start Date", when(d["startDate"])),
                     ("Expiry Date", when(d["expiryDate"])),
                     ("SHA-1 Fingerprint", d["sha1Fingerprint"]),
                     ("SHA-256 Fingerprint", d["sha256Fingerprint"]),
                     ("Key Strength", d["keyStrength"])])


def as_json(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "startDate": iso(d["startDate"]), "expiryDate": iso(d["expiryDate"])}


# --- the actions --------------------------------------------------------------------------

def get_ca_certificate(cfg: HostConfig, server: str, hash_file: str | None,
                       force: bool) -> int:
    ca = enrol.fetch_ca(cfg, server)
    sha1, sha256 = pki.fingerprint(ca, "sha1"), pki.fingerprint(ca, "sha256")
    if hash_file is not None:
        wanted = _read_first_line(hash_file).upper().replace(" ", "")
        if wanted.replace(":", "") not in (sha1.replace(":", ""), sha256.replace(":", "")):
            raise NbuError(HANDSHAKE_FAILED, f"the CA certificate of {server} does not match the "
                                             f"fingerprint in {hash_file}; nothing was stored")
    elif not force:
        click.echo("Authenticity of root certificate cannot be established.")
        click.echo(f"The SHA1 fingerprint of root certificate is {sha1}.")
        click.echo(f"The SHA-256 fingerprint of root certificate is {sha256}.")
        click.echo("Are you sure you want to continue using this certificate ? (y/n):",
                   nl=False)
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if not sys.stdin.isatty():
            click.echo(answer)
        if answer not in ("y", "yes"):
            raise NbuError(TERMINATED_BY_ADMIN, "the CA certificate was not accepted; "
                                                "nothing was stored")
    enrol.trust_ca(cfg, ca)
    click.echo("The validation of root certificate fingerprint is successful.")
    click.echo(f"CA certificate stored successfully from server {server}.")
    return 0


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError as e:
        raise NbuError(FILE_READ_FAILED, f"cannot read {path}: {e.strerror}") from e


def token_from(token: str | None, envtoken: str | None, token_file: str | None) -> str:
    given = [x for x in (token, envtoken, token_file) if x is not None]
    if len(given) != 1:
        raise NbuError(INVALID_PARAMETER, "give the token once: -token, -envtoken or -file")
    if envtoken is not None:
        value = os.environ.get(envtoken, "").strip()
        if not value:
            raise NbuError(INVALID_PARAMETER, f"environment variable {envtoken} holds no token")
        return value
    if token_file is not None:
        value = _read_first_line(token_file)
        if not value:
            raise NbuError(INVALID_PARAMETER, f"{token_file} holds no token")
        return value
    if token:
        return token.strip()
    value = (getpass.getpass("Authorization Token: ") if sys.stdin.isatty()
             else sys.stdin.readline()).strip()
    if not value:
        raise NbuError(INVALID_PARAMETER, "no token was entered")
    return value


def create_token(cfg: HostConfig, name: str | None, max_uses: int, valid_for: str | None,
                 reissue: bool, host: str | None, json_out: bool) -> int:
    if not name:
        raise NbuError(INVALID_PARAMETER, "-createToken needs -name")
    if reissue and not host:
        raise NbuError(INVALID_PARAMETER, "-reissue needs -host")
    fields: dict[str, Any] = {"name": name, "max_uses": max_uses}
    if valid_for is not None:
        fields["valid_for"] = pki.parse_valid_for(valid_for)
    if reissue:
        fields["host"] = host
    reply = client.call(cfg, cfg.master, enrol.SERVICE, "token_create", **fields)
    if json_out:
        echo_json({"tokenName": name, "tokenValue": reply["token"], "maxUses": max_uses,
                   "validUpto": iso(reply["expires"])})
    else:
        click.echo(f"Token {reply['token']} created successfully.")
    return 0


def list_domain(cfg: HostConfig, json_out: bool) -> int:
    hosts = client.call(cfg, cfg.master, enrol.SERVICE, "host_list")["hosts"]
    if json_out:
        echo_json(hosts)
        return 0
    lines = [f"{'Host':<24} {'Host ID':<36} {'Serial Number':<42} {'Expiry Date':<24} State"]
    for h in hosts:
        for c in h["certs"]:
            lines.append(f"{h['names'][0]:<24} {h['host_id']:<36} {'0x' + c['serial']:<42} "
                         f"{when(c['not_after']):<24} {c['state']}")
    echo_lines(lines)
    return 0


# --- the command --------------------------------------------------------------------------

def _actions(f: Any) -> Any:
    for name in reversed(ACTIONS):
        f = click.option(f"-{name}", name, is_flag=True, help=f"-{name} (see SYNOPSIS).")(f)
    return f


@command("nbcertcmd", SYNOPSIS)
@_actions
@click.option("-server", "server", metavar="NAME", help="Master server (default: the first "
              "SERVER entry).")
@click.option("-force", "force", is_flag=True, help="No confirmation; replace a certificate.")
@click.option("-file", "file", metavar="FILE", help="The fingerprint file (-getCACertificate) "
              "or the token file (-getCertificate).")
@click.option("-token", "token", is_flag=False, flag_value="", default=None, metavar="[TOKEN]",
              help="The token; visible in ps - prefer -file or -envtoken. Alone: asked for.")
@click.option("-envtoken", "envtoken", metavar="VAR", help="Read the token from $VAR.")
@click.option("-name", "name", metavar="NAME", help="Token name (-createToken).")
@click.option("-maxUses", "max_uses", type=click.IntRange(1, 99999), default=1,
              help="Certificates a token may get (default 1).")
@click.option("-validFor", "valid_for", metavar="xDyHzM", help="Token validity (default 1D).")
@click.option("-reissue", "reissue", is_flag=True, help="A token bound to -host, for a host "
              "whose certificate is lost, expired or revoked.")
@click.option("-host", "host", metavar="NAME", help="Host name (-reissue, -revokeCertificate).")
@click.option("-hostId", "host_id", metavar="ID", help="Host ID (-revokeCertificate).")
@click.option("-reason", "reason", metavar="TEXT", help="Why (-revokeCertificate; logged).")
@click.option("-json", "json_out", is_flag=True, help="JSON output.")
@root_option
def cli(root: str | None, server: str | None, force: bool, file: str | None,
        token: str | None, envtoken: str | None, name: str | None, max_uses: int,
        valid_for: str | None, reissue: bool, host: str | None, host_id: str | None,
        reason: str | None, json_out: bool, **actions: bool) -> int:
    """Request and manage host ID-based certificates and authorization tokens.

    \b
    EXIT STATUS
      0    done
      20   invalid option, token, name or -validFor
      26   no CA certificate in the trust store, a certificate not signed by it,
           or a fingerprint that does not match -file
      46   token, revocation and listing requests: root on the master only
      135  the token is not valid, used up or expired; the certificate cannot be renewed
      150  the CA certificate was not accepted at the prompt
      226  this host already has a certificate (-force), or the token name exists
      227  no such host (-revokeCertificate, -reissue)
    """
    chosen = [a for a in ACTIONS if actions[a]]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of -" + ", -".join(ACTIONS))
    action = chosen[0]
    cfg = load_cfg(root)
    master = server or cfg.master
    p = enrol.paths(cfg)
    if action == "getCACertificate":
        return get_ca_certificate(cfg, master, file, force)
    if action == "getCertificate":
        cert = enrol.get_certificate(cfg, master, token_from(token, envtoken, file), force)
        if json_out:
            echo_json(as_json(pki.details(cert)))
        else:
            click.echo(f"Host certificate received successfully from server {master}.")
        return 0
    if action == "createToken":
        return create_token(cfg, name, max_uses, valid_for, reissue, host, json_out)
    if action == "listCertDetails":
        held = pki.host_credentials(p)
        if held is None:
            raise NbuError(FILE_READ_FAILED, "this host has no certificate "
                                             "(nbcertcmd -getCertificate)")
        d = pki.details(held[1])
        if json_out:
            echo_json(as_json(d))
        else:
            echo_lines([*cert_lines(cfg, d), "", DONE])
        return 0
    if action == "listCACertDetails":
        ca = pki.trusted_ca(p)
        if ca is None:
            raise NbuError(FILE_READ_FAILED, "the trust store holds no CA certificate "
                                             "(nbcertcmd -getCACertificate)")
        d = pki.details(ca)
        if json_out:
            echo_json(as_json(d))
        else:
            echo_lines([*ca_lines(d), "", DONE])
        return 0
    if action == "displayCACertDetail":  # the master's CA, fetched and shown, not stored
        d = pki.details(enrol.fetch_ca(cfg, master))
        if json_out:
            echo_json(as_json(d))
        else:
            echo_lines([*ca_lines(d), "", DONE])
        return 0
    if action == "renewCertificate":
        enrol.renew(cfg, master)
        click.echo(f"Host certificate renewed successfully from server {master}.")
        return 0
    if action == "revokeCertificate":
        given = (("host", host), ("host_id", host_id), ("reason", reason))
        fields: dict[str, Any] = {k: v for k, v in given if v is not None}
        reply = client.call(cfg, cfg.master, enrol.SERVICE, "certificate_revoke", **fields)
        click.echo(f"Certificate revoked successfully for host ID {reply['host_id']} "
                   f"({len(reply['revoked'])} certificate(s)).")
        return 0
    if action == "getCRL":
        enrol.get_crl(cfg, master)
        click.echo(f"CRL received successfully from server {master}.")
        return 0
    return list_domain(cfg, json_out)


main = entry(cli)
