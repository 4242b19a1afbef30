"""Several hosts on one machine: a master, a media server and a client, each its own root.

    python -m nbcli.multihost up   DIR [--port N]    create (if needed) and start the hosts
    python -m nbcli.multihost down DIR               stop them
    python -m nbcli.multihost env  DIR HOST          print `export NB_ROOT=...` for HOST

Each host listens on its own loopback address (master 127.0.0.1, media 127.0.0.2, client
127.0.0.3) on the same PBX port, so every connection between them crosses TCP as between real
machines, and each host can tell by the peer address who is asking. bin/nb-hosts wraps this;
the test suite's fixtures use the same functions.

`up` also enrols the hosts, as an administrator would: the master's nbwmc has made the CA and
the master's own certificate; each other host checks the CA's fingerprint (read from the
master's root, the out-of-band channel) with `nbcertcmd -getCACertificate -file`, then gets
its certificate with a one-use token passed in the environment (`-envtoken`), never on a
command line.

Place: the tools floor (docs/architecture.md): nothing in nbcli imports it; bin/nb-hosts and the
tests do. It imports nbcli.config and nbcli.programs, and runs nbcertcmd as a process.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nbcli import config, programs

LAYOUT = [("master", "127.0.0.1", ["master"]),
          ("media", "127.0.0.2", ["media"]),
          ("client", "127.0.0.3", ["client"])]


@dataclass
class HostSpec:
    name: str
    address: str
    roles: list[str]
    root: Path


# Ports handed out below the kernel's ephemeral range: a port the kernel picked (bind to 0)
# is free when asked, but until pbx_exchange binds it any outgoing connection on this machine
# may take it as its local port, and pbx_exchange then fails with EADDRINUSE (seen in CI).
FIRST_PORT = 10000


def ephemeral_floor() -> int:
    """The first port the kernel hands out to outgoing connections (Linux's default when it
    cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(addresses: list[str]) -> int:
    """A port free on every one of `addresses` (so all hosts can share it), outside the
    kernel's ephemeral range, chosen at random so that parallel test workers rarely try the
    same one."""
    top = max(ephemeral_floor(), FIRST_PORT + 1000)
    for port in random.sample(range(FIRST_PORT, top), min(200, top - FIRST_PORT)):
        ok = True
        for addr in addresses:
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pbx_exchange
                s.bind((addr, port))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return port
    raise RuntimeError("no free port")


def create(base: Path, port: int | None = None, layout: list[tuple[str, str, list[str]]]
           | None = None) -> list[HostSpec]:
    """Create the roots under `base` (kept if they exist) and return their specs."""
    layout = layout or LAYOUT
    specs = [HostSpec(n, a, r, base / n) for n, a, r in layout]
    present = [config.Paths(s.root).bp_toml.exists() for s in specs]
    if all(present):
        return specs
    if any(present):
        raise RuntimeError(f"{base} holds only some of the hosts; remove it or pick another "
                           f"folder")
    port = port or free_port([s.address for s in specs])
    hosts = {s.name: f"{s.address}:{port}" for s in specs}
    masters = [s.name for s in specs if "master" in s.roles]
    medias = [s.name for s in specs if "media" in s.roles and s.name not in masters]
    for s in specs:
        config.init_root(s.root, name=s.name, roles=s.roles, servers=masters + medias,
                         address=s.address, port=port, hosts=hosts, media_servers=medias)
    return specs


def run(spec: HostSpec, *argv: str, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an nbcli program as a real process on host `spec`."""
    env = dict(os.environ, NB_ROOT=str(spec.root), **(env or {}))
    return subprocess.run(programs.argv_for(argv[0]) + list(argv[1:]), env=env, text=True,
                          capture_output=True, check=check)


def up(specs: list[HostSpec]) -> None:
    for s in specs:
        r = run(s, "netbackup", "start", check=False)
        if r.returncode:
            raise RuntimeError(f"{s.name}: netbackup start failed:\n{r.stdout}{r.stderr}")


def enrol(specs: list[HostSpec]) -> None:
    """Give every host not enrolled yet the CA certificate and a host certificate."""
    from nbcli.net import pki  # here: only `up` needs cryptography

    masters = [s for s in specs if "master" in s.roles]
    if not masters:
        return
    master = masters[0]
    ca = pki.load_cert(pki.CertPaths(master.root).ca_cert)
    for s in specs:
        if s is master or pki.CertPaths(s.root).host_cert.exists():
            continue
        hash_file = s.root / "var" / "run" / "ca.sha256"
        hash_file.write_text(pki.fingerprint(ca) + "\n")
        steps = [run(s, "nbcertcmd", "-getCACertificate", "-file", str(hash_file), check=False)]
        hash_file.unlink()
        name = f"nb-hosts-{s.name}-{os.urandom(3).hex()}"
        steps.append(run(master, "nbcertcmd", "-createToken", "-name", name, check=False))
        if not any(r.returncode for r in steps):
            token = steps[-1].stdout.split()[1]
            steps.append(run(s, "nbcertcmd", "-getCertificate", "-envtoken", "NB_HOSTS_TOKEN",
                             env={"NB_HOSTS_TOKEN": token}, check=False))
        failed = [r for r in steps if r.returncode]
        if failed:
            raise RuntimeError(f"{s.name}: enrolment failed:\n{failed[0].stderr}")


def down(specs: list[HostSpec]) -> None:
    for s in specs:
        if s.root.exists():
            run(s, "netbackup", "stop", check=False)


def main() -> None:
    p = argparse.ArgumentParser(prog="nb-hosts", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["up", "down", "env"])
    p.add_argument("dir", type=Path)
    p.add_argument("host", nargs="?")
    p.add_argument("--port", type=int)
    a = p.parse_args()
    base = a.dir.resolve()
    if a.action != "up" and not (base / LAYOUT[0][0]).exists():
        sys.exit(f"nb-hosts: no hosts in {base} (create them with: nb-hosts up {a.dir})")
    if a.action == "env" and not a.host:
        sys.exit("nb-hosts: env needs a host: " + " ".join(n for n, _, _ in LAYOUT))
    try:
        specs = create(base, a.port)
    except RuntimeError as e:
        sys.exit(f"nb-hosts: {e}")
    if a.action == "up":
        try:
            up(specs)
            enrol(specs)
        except RuntimeError as e:
            sys.exit(f"nb-hosts: {e}")
        for s in specs:
            print(f"{s.name:7s} {s.address}  NB_ROOT={s.root}")
    elif a.action == "down":
        down(specs)
    else:
        match = [s for s in specs if s.name == a.host]
        if not match:
            sys.exit(f"nb-hosts: no host {a.host!r} (have: {', '.join(s.name for s in specs)})")
        print(f"export NB_ROOT={match[0].root}")


if __name__ == "__main__":
    main()
