"""Data in transit: what TLS and PBX's relay cost a stream between hosts.

Moves SIZE bytes from a sender to a receiver three ways, interleaved run by run in one sitting,
and reports medians in MiB/s:

- plain:  a TCP connection on loopback, sender to receiver (no PBX: the floor);
- tls:    TLS 1.3 (the hosts' certificates) straight between them, no relay;
- relay:  what a backup's image does between hosts: the sender speaks TLS to "PBX", which
          relays (nbcli/net/relay.py) over a socketpair to the receiver.

    .venv/bin/python bench/transit.py [--size MiB] [--runs N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbcli.net import relay, tls  # noqa: E402
from tests.unit.test_tls import Domain  # noqa: E402

CHUNK = 1 << 20


def drain(sock: socket.socket) -> int:
    n = 0
    while data := sock.recv(CHUNK):
        n += len(data)
    return n


def send(sock: socket.socket, size: int) -> None:
    block = bytes(CHUNK)
    for _ in range(size // CHUNK):
        sock.sendall(block)
    socket.socket.shutdown(sock, socket.SHUT_WR)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        a = socket.create_connection(srv.getsockname())
        b, _ = srv.accept()
    return a, b


def timed(size: int, sender: socket.socket, receiver: socket.socket) -> float:
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(drain(receiver)))
    start = time.perf_counter()
    t.start()
    send(sender, size)
    t.join()
    elapsed = time.perf_counter() - start
    assert got == [size], got
    return size / elapsed / (1 << 20)


def plain(size: int, _: Domain) -> float:
    a, b = tcp_pair()
    try:
        return timed(size, a, b)
    finally:
        a.close()
        b.close()


def _tls_pair(domain: Domain) -> tuple[socket.socket, socket.socket]:
    a, b = tcp_pair()
    server = []
    t = threading.Thread(target=lambda: server.append(
        tls.wrap_server_optional(b, domain.paths["media"])))
    t.start()
    client = tls.wrap_client(a, domain.paths["client"], "media")
    t.join()
    return client, server[0]


def direct_tls(size: int, domain: Domain) -> float:
    client, server = _tls_pair(domain)
    try:
        return timed(size, client, server)
    finally:
        client.close()
        server.close()


def relayed(size: int, domain: Domain) -> float:
    client, server = _tls_pair(domain)
    here, service = socket.socketpair()
    r = threading.Thread(target=relay.relay, args=(server, here), daemon=True)
    r.start()
    try:
        return timed(size, client, service)
    finally:
        client.close()
        service.close()
        r.join(10)
        here.close()
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2048, help="MiB per run [2048]")
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    size = a.size << 20
    with tempfile.TemporaryDirectory() as tmp:
        domain = Domain(Path(tmp))
        domain.paths = {h: domain.host(h) for h in ("media", "client")}  # type: ignore[attr-defined]
        ways: dict[str, Callable[[int, Domain], float]] = {
            "plain": plain, "tls": direct_tls, "relay": relayed}
        results: dict[str, list[float]] = {w: [] for w in ways}
        for run in range(a.runs + 1):  # run 0 warms up and is dropped
            for name, way in ways.items():
                rate = way(size, domain)
                if run:
                    results[name].append(rate)
    base = statistics.median(results["plain"])
    print(f"| way | MiB/s (median of {a.runs}, {a.size} MiB each) | vs plain TCP |")
    print("|---|---|---|")
    for name, rates in results.items():
        med = statistics.median(rates)
        print(f"| {name} | {med:,.0f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
