"""nbcli.net.kept: a daemon's connections to its host's services, kept between requests, on
real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config, jobreport
from nbcli.config import HostConfig
from nbcli.net import client, kept
from nbcli.net.conn import Connection
from nbcli.status import DATABASE_ERROR, NbuError
from nbcli.wire import frames


@pytest.fixture
def cfg(tmp_path: Path) -> HostConfig:
    return config.init_root(tmp_path / "root", name="here", servers=["here"])


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as a daemon that keeps connections, with nothing kept yet."""
    idle: dict[tuple[str, str, str], list[Connection]] = {}
    monkeypatch.setattr(kept, "_enabled", False)
    monkeypatch.setattr(kept, "_idle", idle)
    kept.enable()
    yield
    for conns in idle.values():
        for conn in conns:
            conn.close()


def pair() -> tuple[Connection, socket.socket]:
    ours, theirs = socket.socketpair()
    return Connection(ours, "svc"), theirs


def test_a_kept_connection_is_the_next_requests(cfg: HostConfig, daemon: None) -> None:
    conn, theirs = pair()
    kept.give(cfg, "here", "nbrb", conn)
    assert kept.take(cfg, "here", "nbrb") is conn
    assert kept.take(cfg, "here", "nbrb") is None  # one request at a time uses it
    assert kept.take(cfg, "here", "nbemm") is None  # kept per service
    conn.close()
    theirs.close()


def test_one_the_service_closed_is_dropped(cfg: HostConfig, daemon: None) -> None:
    conn, theirs = pair()
    kept.give(cfg, "here", "nbrb", conn)
    theirs.close()  # nbrb restarted: end of file waits on it
    assert kept.take(cfg, "here", "nbrb") is None
    assert conn.sock.fileno() < 0  # closed, not left open


def test_one_with_bytes_waiting_is_dropped(cfg: HostConfig, daemon: None) -> None:
    conn, theirs = pair()
    kept.give(cfg, "here", "bpjobd", conn)
    theirs.sendall(b"a reply that came late")  # after a timeout: never the next answer
    assert kept.take(cfg, "here", "bpjobd") is None
    theirs.close()


def test_no_more_than_keep_per_service(cfg: HostConfig, daemon: None) -> None:
    pairs = [pair() for _ in range(kept.KEEP + 1)]
    for conn, _ in pairs:
        kept.give(cfg, "here", "nbemm", conn)
    assert pairs[-1][0].sock.fileno() < 0  # the one over KEEP is closed
    assert all(conn.sock.fileno() >= 0 for conn, _ in pairs[:-1])
    for _, theirs in pairs:
        theirs.close()


def test_other_hosts_and_other_processes_keep_nothing(cfg: HostConfig,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kept, "_idle", {})
    conn, theirs = pair()
    monkeypatch.setattr(kept, "_enabled", False)  # a command, an agent: not a daemon
    kept.give(cfg, "here", "nbrb", conn)
    assert conn.sock.fileno() < 0 and kept.take(cfg, "here", "nbrb") is None
    kept.enable()
    conn, theirs2 = pair()
    kept.give(cfg, "elsewhere", "bpcd", conn)  # another host's: TLS, its own restarts
    assert conn.sock.fileno() < 0 and kept.take(cfg, "elsewhere", "bpcd") is None
    theirs.close()
    theirs2.close()


def bpjobd_answering(status: int) -> tuple[Connection, Connection, threading.Thread]:
    """Our end of a socketpair, and its other end, which answers one request with
    `status` and stays open (as bpjobd between requests)."""
    ours, theirs = socket.socketpair()
    peer = Connection(theirs, "reporter")

    def answer() -> None:
        peer.recv()
        peer.send(frames.reply() if status == 0 else frames.error(NbuError(status, "full")))

    t = threading.Thread(target=answer)
    t.start()
    return Connection(ours, "bpjobd"), peer, t


@pytest.mark.parametrize("status, kept_after", [(0, True), (DATABASE_ERROR, False)])
def test_a_job_reporter_gives_back_only_a_connection_whose_last_request_was_answered(
        cfg: HostConfig, daemon: None, monkeypatch: pytest.MonkeyPatch, status: int,
        kept_after: bool) -> None:
    conn, peer, t = bpjobd_answering(status)
    monkeypatch.setattr(client, "master", lambda cfg, service: conn)
    report = jobreport.JobReporter(cfg, "nbjm")
    try:
        report.record(5, {"percent": 50})
    except NbuError as e:
        assert e.status == status
    t.join()
    report.close()
    again = kept.take(cfg, cfg.master, "bpjobd")
    try:
        if kept_after:
            assert again is conn
        else:  # an error it answered: closed all the same, as any request that failed
            assert again is None and conn.sock.fileno() < 0
    finally:
        conn.close()
        peer.close()
