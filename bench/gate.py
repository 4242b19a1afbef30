"""The cost of the authorization check (nbcli.net.trust.Gate.check) per request, in µs.

    python -m bench.gate

Measured in process, as serve_connection calls it, for each kind of caller; and PBX's
once-per-TCP-connection lookup of a local peer's owner (/proc/net/tcp).
"""

from __future__ import annotations

import dataclasses
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbcli import config
from nbcli.net.trust import ADMIN, LISTERS, USER, Gate, tcp_owner

N = 20000


@dataclass
class Peer:
    peer: str
    address: str
    uid: int | None = None
    port: int | None = None
    cert_names: list[str] = dataclasses.field(default_factory=list)  # a TLS peer's names


def per_call(call: Callable[[], object], n: int = N) -> float:
    t = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    root = Path(tempfile.mkdtemp()) / "netbackup"
    cfg = config.init_root(root, name="master", media_servers=["media"],
                           hosts={"media": "127.0.0.2:1556", "client": "127.0.0.3:1556"})
    gate = Gate(lambda: cfg)
    cases = {
        "local root, admin op": (ADMIN, "", Peer("master", "local", 0)),
        "media server over TCP, admin op": (ADMIN, "", Peer("media", "127.0.0.2")),
        "client over TCP, its own list": (LISTERS, "client", Peer("client", "127.0.0.3")),
        "local user, user op": (USER, "", Peer("master", "local", 1000)),
    }
    for name, (who, field, peer) in cases.items():
        us = per_call(lambda w=who, f=field, p=peer: gate.check("svc", "op", w, f, {}, p))
        print(f"{name:40s} {us:6.2f} µs per request")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            s, addr = listener.accept()
            with s:
                ours = s.getsockname()
                us = per_call(lambda: tcp_owner(addr, ours), 2000)
    print(f"{'PBX: owner of a local TCP peer':40s} {us:6.2f} µs per connection")


if __name__ == "__main__":
    main()
