"""PBX's TLS relay (nbcli/net/relay.py) over real TLS 1.3 between two test hosts: bytes arrive
whole and in order both ways, a half-close crosses as a half-close, a slow reader holds the
writer back instead of growing the relay's buffers, and a peer gone mid-stream ends it."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.net import relay, tls
from tests.unit.test_tls import Domain


@pytest.fixture
def relayed(tmp_path: Path) -> Iterator[tuple[socket.socket, socket.socket, threading.Thread]]:
    """(the remote client's TLS socket, the service's end, the relay thread)."""
    domain = Domain(tmp_path)
    server, client = domain.host("media"), domain.host("client")
    a, b = socket.socketpair()  # the TCP connection between the hosts
    accepted: list[socket.socket] = []
    t = threading.Thread(target=lambda: accepted.append(tls.wrap_server_optional(a, server)))
    t.start()
    remote = tls.wrap_client(b, client, "media")
    t.join(10)
    here, service = socket.socketpair()
    moved: list[int] = []
    r = threading.Thread(target=lambda: moved.append(relay.relay(accepted[0], here)),
                         daemon=True)
    r.start()
    yield remote, service, r
    for s in (remote, service, here, accepted[0]):
        s.close()


def test_bytes_cross_whole_both_ways_and_a_half_close_is_a_half_close(relayed) -> None:
    remote, service, r = relayed
    data = os.urandom(5 << 20)
    sent = threading.Thread(target=lambda: (remote.sendall(data),
                                            socket.socket.shutdown(remote, socket.SHUT_WR)))
    sent.start()
    got = bytearray()
    while chunk := service.recv(1 << 16):  # ends: the client's end of stream came through
        got += chunk
    sent.join(10)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # the other direction still works after the half-close
    answer = os.urandom(300_000)
    service.sendall(answer)
    service.close()
    back = bytearray()
    while chunk := remote.recv(1 << 16):
        back += chunk
    assert bytes(back) == answer
    r.join(10)
    assert not r.is_alive()


def test_a_slow_reader_holds_the_writer_back(relayed) -> None:
    """Nobody reads the service's end: the relay stops reading TLS at its buffer bound, the
    kernel buffers fill, and the remote writer blocks instead of the relay's memory growing."""
    remote, service, _ = relayed
    remote.settimeout(2)
    sent = 0
    chunk = bytes(1 << 16)
    with pytest.raises(TimeoutError):
        while sent < 256 << 20:
            remote.sendall(chunk)
            sent += len(chunk)
    assert sent < relay.BUFFER + (32 << 20)  # the bound plus the sockets' own buffers


def test_a_peer_gone_mid_stream_ends_the_relay(relayed) -> None:
    remote, service, r = relayed
    remote.sendall(b"x" * 1000)
    remote.close()
    got = b""
    service.settimeout(10)
    while chunk := service.recv(1 << 16):
        got += chunk
    assert got == b"x" * 1000
    service.close()
    r.join(10)
    assert not r.is_alive()
