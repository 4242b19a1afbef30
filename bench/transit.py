"""Data in transit: what TLS and PBX's relay cost a stream between hosts.

Moves SIZE bytes from a sender to a receiver three ways, interleaved run by run in one sitting,
and reports medians in MiB/s:

- plain:  a TCP connection on loopback, sender to receiver (no PBX: the floor);
- tls:    TLS 1.3 (the hosts' certificates) straight between them, no relay (what a backup's
          image did with encryption on before the sealed stream);
- sealed: the sealed stream a job's image takes with encryption on (nbcli/net/sealed.py:
          AES-256-GCM frames of the sender's 1 MiB blocks, both ends' handshake included);
- relay:  (--relay) what a backup's image did between hosts before STARTTLS: the sender
          speaks TLS to "PBX", which relays (nbcli/net/relay.py) over a socketpair to the
          receiver.

The sender is a process of its own (fork), as bpbkar and the bptm child are, and the receiver
recv_into's one buffer as the bptm child does; each run reports the time and the CPU seconds of
both ends (the CPU column is the steadier one on a machine others use).

    .venv/bin/python bench/transit.py [--size MiB] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbcli.net import relay, sealed, tls  # noqa: E402
from nbcli.net.conn import Connection  # noqa: E402
from tests.unit.test_tls import Domain  # noqa: E402

CHUNK = 1 << 20


def drain(sock: socket.socket) -> int:
    """recv_into one buffer until the end, as the bptm child takes an image."""
    buf = memoryview(bytearray(CHUNK))
    n = 0
    while k := sock.recv_into(buf):
        n += k
    return n


def send(sock: socket.socket, size: int) -> None:
    block = bytearray(CHUNK)  # a new block made each time, as bpbkar reads one from files
    for i in range(size // CHUNK):
        block[:8] = i.to_bytes(8, "little")
        sock.sendall(block)
    sock.shutdown(socket.SHUT_WR)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        a = socket.create_connection(srv.getsockname())
        b, _ = srv.accept()
    return a, b


CPU: list[float] = []  # CPU seconds of both ends in the last run (the sender's + this one's)


def timed(size: int, sender: socket.socket, receiver: socket.socket) -> float:
    start = time.perf_counter()
    before = os.times()
    pid = os.fork()
    if pid == 0:
        send(sender, size)
        os._exit(0)
    got = drain(receiver)
    os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    after = os.times()
    CPU[:] = [sum(after[:4]) - sum(before[:4])]
    assert got == size, got
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


def sealed_stream(size: int, _: Domain) -> float:
    a, b = tcp_pair()
    secret, salt = os.urandom(32).hex(), sealed.new_salt()
    agent, service = Connection(a, "service"), Connection(b, "agent")
    t = threading.Thread(target=sealed.seal_service, args=(service, secret, salt, 10))
    t.start()
    sealed.seal_agent(agent, secret, salt, 10)
    t.join()
    try:
        return timed(size, agent.sock, service.sock)
    finally:
        agent.close()
        service.close()


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
    p.add_argument("--relay", action="store_true", help="also through PBX's relay")
    a = p.parse_args()
    size = a.size << 20
    with tempfile.TemporaryDirectory() as tmp:
        domain = Domain(Path(tmp))
        domain.paths = {h: domain.host(h) for h in ("media", "client")}  # type: ignore[attr-defined]
        ways: dict[str, Callable[[int, Domain], float]] = {
            "plain": plain, "tls": direct_tls, "sealed": sealed_stream}
        if a.relay:
            ways["relay"] = relayed
        results: dict[str, list[float]] = {w: [] for w in ways}
        cpu: dict[str, list[float]] = {w: [] for w in ways}
        for run in range(a.runs + 1):  # run 0 warms up and is dropped
            for name, way in ways.items():
                rate = way(size, domain)
                if run:
                    results[name].append(rate)
                    cpu[name].append(CPU[0])
    base = statistics.median(results["plain"])
    print(f"| way | MiB/s (median of {a.runs}, {a.size} MiB each) | vs plain TCP "
          f"| CPU s per GiB (both ends) |")
    print("|---|---|---|---|")
    for name, rates in results.items():
        med = statistics.median(rates)
        per_gib = statistics.median(cpu[name]) / (size / (1 << 30))
        print(f"| {name} | {med:,.0f} | {med / base:.2f}x | {per_gib:.2f} |")


if __name__ == "__main__":
    main()
