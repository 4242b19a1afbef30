"""serve_connection over a socketpair: validation before the handler, bugs answered, bad
frames end that one connection."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op, serve_connection
from nbcli.net.trust import ADMIN, ANYONE, Gate
from nbcli.wire import frames
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req


def crash(msg: Message, conn: Connection) -> Message:
    raise ValueError("boom")


def unsendable(msg: Message, conn: Connection) -> Message:
    return {"ids": {1, 2}}  # a set: JSON cannot carry it


def echo(msg: Message, conn: Connection) -> Message:
    return {"n": msg["n"], "label": msg["label"]}


OPS: Ops = {"crash": op(crash, ANYONE), "unsendable": op(unsendable, ANYONE),
            "echo": op(echo, ANYONE, n=req(int, lo=1, hi=9), label=opt(str, "none")),
            "ping": op(lambda m, c: {"pong": True}, ANYONE),
            "admin": op(echo, ADMIN, n=req(int))}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Connection]:
    ours, theirs = socket.socketpair()
    log = logging.getLogger("test_serve")
    cfg = config.init_root(tmp_path / "netbackup", name="aio")
    # a peer PBX knows nothing of: neither local nor from a server's address
    gate = Gate(lambda: cfg)
    server = threading.Thread(target=serve_connection,
                              args=(Connection(theirs, "x", "192.0.2.1"), OPS, log, gate, "t"))
    server.start()
    conn = Connection(ours, "daemon")
    yield conn
    conn.close()
    server.join(timeout=10)
    assert not server.is_alive()


def ask(conn: Connection, msg: Message) -> Message:
    conn.send(msg)
    return conn.recv(timeout=10)


def test_fields_are_checked_before_the_handler(client: Connection) -> None:
    assert ask(client, {"op": "echo", "n": 3}) == {"status": 0, "n": 3, "label": "none"}
    assert ask(client, {"op": "echo", "n": "3"})["status"] == 143
    assert ask(client, {"op": "echo", "n": 3, "extra": 1})["status"] == 143
    assert ask(client, {"op": "echo", "n": 10})["status"] == 20
    assert ask(client, {"op": "nope"})["status"] == 143


def test_a_handler_bug_is_logged_once_and_answered(client: Connection,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "test_serve"):
        reply = ask(client, {"op": "crash"})
        assert reply["status"] == 256 and "ValueError: boom" in reply["msg"]
        assert ask(client, {"op": "unsendable"})["status"] == 256
        assert ask(client, {"op": "ping"}) == {"status": 0, "pong": True}
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_a_frame_nested_too_deep_ends_that_connection_only(client: Connection) -> None:
    client.sock.sendall(frames.HEADER.pack(5000) + b"[" * 5000)
    reply = client.recv(timeout=10)
    assert reply["status"] == 232 and "nests deeper" in reply["msg"]
    with pytest.raises(EOFError):
        client.recv(timeout=10)


def test_the_gate_comes_before_the_fields(client: Connection) -> None:
    """A caller the op does not admit gets 46 whatever it sent: its fields are not looked at."""
    reply = ask(client, {"op": "admin", "n": "not even an int", "extra": 1})
    assert reply["status"] == 46 and "192.0.2.1" in reply["msg"]
    assert ask(client, {"op": "ping"}) == {"status": 0, "pong": True}
