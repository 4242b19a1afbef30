"""A daemon's connections are bounded: an idle one is closed after IDLE_TIMEOUT, and one peer
address holds at most MAX_PER_PEER at once (the next is refused with 25 and closed)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from nbcli import config
from nbcli.config import Paths
from nbcli.net import service
from nbcli.net.conn import Connection
from nbcli.net.service import Accepted, Ops, ServiceHost, op, serve_connection
from nbcli.net.trust import ANYONE, Gate

OPS: Ops = {"ping": op(lambda m, c: {"pong": True}, ANYONE)}
LOG = logging.getLogger("test_serve_limits")


def gate(tmp_path: Path) -> Gate:
    """Who may call is not what these tests are about: ping is open to anyone."""
    cfg = config.init_root(tmp_path / "netbackup", name="aio")
    return Gate(lambda: cfg)


def test_a_connection_with_no_request_is_closed(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(service, "IDLE_TIMEOUT", 0.3)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve_connection,
                              args=(Connection(theirs), OPS, LOG, gate(tmp_path)))
    started = time.monotonic()
    server.start()
    conn = Connection(ours, "daemon")
    server.join(timeout=10)
    assert not server.is_alive() and time.monotonic() - started < 5
    with pytest.raises(EOFError):
        conn.recv(timeout=5)  # the daemon closed its side
    conn.close()


def test_a_clients_line_may_idle_after_its_first_request(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """bptm's line to nbjm idles for a whole restore before restore_done: it stays open."""
    monkeypatch.setattr(service, "IDLE_TIMEOUT", 0.2)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve_connection,
                              args=(Connection(theirs), OPS, LOG, gate(tmp_path)))
    server.start()
    conn = Connection(ours, "daemon")
    assert conn.request("ping")["pong"] is True
    time.sleep(0.6)
    assert server.is_alive() and conn.request("ping")["pong"] is True
    conn.close()
    server.join(timeout=10)
    assert not server.is_alive()


def test_one_peer_holds_at_most_max_per_peer(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(service, "MAX_PER_PEER", 3)
    host = ServiceHost(Paths(tmp_path), "h", {"svc": OPS}, LOG, gate(tmp_path))
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        accepted = [Accepted(Connection(theirs, "x", "10.0.0.9"), {}, "10.0.0.9")
                    for _, theirs in pairs[:5]]
        assert [host._admit(a) for a in accepted[:4]] == [True, True, True, False]
        refused = Connection(pairs[3][0])
        assert refused.recv(timeout=5)["status"] == 25
        with pytest.raises(EOFError):
            refused.recv(timeout=5)
        other = Accepted(Connection(pairs[5][1], "y", "10.0.0.8"), {}, "10.0.0.8")
        assert host._admit(other)  # another address is not held up
        # a connection that ends gives its place back
        pairs[0][0].close()
        host._serve(accepted[0], OPS, "svc")
        assert host._admit(accepted[4])
    finally:
        for a, b in pairs:
            a.close()
            b.close()
