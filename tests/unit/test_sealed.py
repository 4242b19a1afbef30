"""The sealed image stream (nbcli.net.sealed) on real TCP sockets: bytes through unchanged both
ways, nothing readable on the wire, and every way to change, cut, replay or forge the stream
refused."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from nbcli.net import sealed
from nbcli.net.conn import Connection
from nbcli.net.sealed import FRAME_MAX, Broken, SealedSocket, Sealing

SECRET = "ab" * 32


OPEN: list[socket.socket] = []  # sockets the test made; closed after it


@pytest.fixture(autouse=True)
def closing() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        a = socket.create_connection(srv.getsockname())
        b, _ = srv.accept()
    OPEN.extend((a, b))
    yield a, b


def handshake(a: socket.socket, b: socket.socket, agent_secret: str = SECRET,
              service_secret: str = SECRET) -> tuple[Connection, Connection, bool]:
    """The agent's and the service's sides, each in its own thread as in two processes."""
    agent, service = Connection(a, "service"), Connection(b, "agent")
    salt = sealed.new_salt()
    took: list[bool] = []
    t = threading.Thread(target=lambda: took.append(
        sealed.seal_service(service, service_secret, salt, 5)))
    t.start()
    sealed.seal_agent(agent, agent_secret, salt, 5)
    t.join(10)
    OPEN.extend((agent.sock, service.sock))
    return agent, service, took[0]


def receive_all(sock: socket.socket, chunk: int) -> bytes:
    out = bytearray()
    buf = bytearray(chunk)
    while n := sock.recv_into(buf):
        out += buf[:n]
    return bytes(out)


@pytest.mark.parametrize("size,chunk", [(0, 4096), (1, 1), (FRAME_MAX, FRAME_MAX),
                                        (FRAME_MAX + 1, 7000), (3 * FRAME_MAX + 12345, 1 << 16),
                                        (2 * FRAME_MAX, 4 * FRAME_MAX)])
def test_bytes_cross_unchanged_both_ways(pair: tuple[socket.socket, socket.socket],
                                         size: int, chunk: int) -> None:
    agent, service, took = handshake(*pair)
    assert took and isinstance(agent.sock, SealedSocket) and isinstance(service.sock, SealedSocket)
    data = os.urandom(size)
    for sender, receiver in ((agent.sock, service.sock), (service.sock, agent.sock)):
        t = threading.Thread(target=lambda s=sender: (s.sendall(data),
                                                      s.shutdown(socket.SHUT_WR)))
        t.start()
        assert receive_all(receiver, chunk) == data
        t.join(10)
        assert receiver.recv_into(bytearray(10)) == 0  # and the end stays the end


def test_nothing_of_the_stream_is_readable_on_the_wire() -> None:
    """A relay in the middle sees every byte: neither the data nor the secret is among them."""
    a, wire_in = socket.socketpair()
    wire_out, b = socket.socketpair()
    seen = bytearray()

    def relay(src: socket.socket, dst: socket.socket) -> None:
        while data := src.recv(1 << 16):
            seen.extend(data)
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)

    threads = [threading.Thread(target=relay, args=(wire_in, wire_out)),
               threading.Thread(target=relay, args=(wire_out, wire_in))]
    for t in threads:
        t.start()
    agent, service, took = handshake(a, b)
    assert took
    marker = b"the payroll of 2026 " * 5000
    agent.sock.sendall(marker)
    agent.sock.shutdown(socket.SHUT_WR)
    assert receive_all(service.sock, 1 << 16) == marker
    service.sock.shutdown(socket.SHUT_WR)
    for t in threads:
        t.join(10)
    assert len(seen) > len(marker)
    assert b"payroll" not in seen and SECRET.encode() not in seen
    OPEN.extend((a, b, wire_in, wire_out))


def test_an_agent_that_does_not_know_the_secret_is_refused(
        pair: tuple[socket.socket, socket.socket]) -> None:
    _, _, took = handshake(*pair, agent_secret="cd" * 32)
    assert took is False


def test_a_proof_from_another_connection_is_refused(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """A captured proof replayed: the service's fresh salt makes another key."""
    agent_salt = sealed.new_salt()
    old_key = sealed.connection_key(SECRET, agent_salt, sealed.new_salt())
    a, b = pair
    service = Connection(b, "agent")
    took: list[bool] = []
    t = threading.Thread(target=lambda: took.append(
        sealed.seal_service(service, SECRET, agent_salt, 5)))
    t.start()
    Connection(a, "service").recv(5)  # the service's salt, ignored by the replayer
    replayer = SealedSocket(a, Sealing(old_key, sealed.TO_SERVICE, sealed.TO_AGENT))
    OPEN.append(replayer)
    replayer.send_proof()
    t.join(10)
    OPEN.append(service.sock)
    assert took == [False]


def test_bad_salts_are_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    _, b = pair
    for salt in ("not hex", "abcd"):
        conn = Connection(b, "agent")
        assert sealed.seal_service(conn, SECRET, salt, 1) is False
        assert conn.sock is b  # refused before anything was sent or sealed


def raw_frames(key: bytes, payloads: list[tuple[bytes, int]]) -> list[bytes]:
    """Frames as the agent would send them, for a test to change on the way."""
    s = Sealing(key, sealed.TO_SERVICE, sealed.TO_AGENT)
    out = memoryview(bytearray(FRAME_MAX + sealed.TAG))
    frames = []
    for payload, flags in payloads:
        header, used = s.seal_into(payload, out, flags)
        frames.append(header + bytes(out[:used]))
    return frames


def service_side(sock: socket.socket, key: bytes) -> SealedSocket:
    s = SealedSocket(sock, Sealing(key, sealed.TO_AGENT, sealed.TO_SERVICE))
    OPEN.append(s)
    return s


def flipped(frame: bytes, at: int) -> bytes:
    return frame[:at] + bytes([frame[at] ^ 1]) + frame[at + 1:]


@pytest.mark.parametrize("change", ["flip a data byte", "flip a tag byte", "flip the length",
                                    "drop a frame", "repeat a frame", "swap two frames",
                                    "cut before the last frame", "cut inside a frame",
                                    "turn the stream back", "drop the last flag"])
def test_a_changed_stream_is_refused(pair: tuple[socket.socket, socket.socket],
                                     change: str) -> None:
    a, b = pair
    key = os.urandom(32)
    f = raw_frames(key, [(b"first block", 0), (b"second block", 0), (b"", sealed.LAST)])
    wire = {
        "flip a data byte": [flipped(f[0], 8), f[1], f[2]],
        "flip a tag byte": [flipped(f[0], len(f[0]) - 1), f[1], f[2]],
        "flip the length": [flipped(f[0], 3), f[1], f[2]],
        "drop a frame": [f[0], f[2]],
        "repeat a frame": [f[0], f[0], f[1], f[2]],
        "swap two frames": [f[1], f[0], f[2]],
        "cut before the last frame": [f[0], f[1]],
        "cut inside a frame": [f[0], f[1][:9]],
        "turn the stream back": [raw_frames(key, [(b"x", 0)])[0]],
        "drop the last flag": [f[0], f[1], raw_frames(key, [(b"", 0)])[0]],
    }[change]
    if change == "turn the stream back":  # sealed for the other direction
        s = Sealing(key, sealed.TO_AGENT, sealed.TO_SERVICE)
        out = memoryview(bytearray(64))
        header, used = s.seal_into(b"x", out)
        wire = [header + bytes(out[:used])]
    a.sendall(b"".join(wire))
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(Broken):
        receive_all(service_side(b, key), 1 << 16)


def test_empty_and_large_last_frames_are_not_ends_or_losses(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """An empty frame that is not the last reads as nothing, not as the end; a last frame
    larger than the reader's buffer is handed over whole, in pieces."""
    a, b = pair
    key = os.urandom(32)
    a.sendall(b"".join(raw_frames(key, [(b"", 0), (b"x" * 5000, 0), (b"y" * 3000, sealed.LAST)])))
    a.shutdown(socket.SHUT_WR)
    assert receive_all(service_side(b, key), 1000) == b"x" * 5000 + b"y" * 3000


def test_a_direction_that_carried_nothing_ends_plainly(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """tar-restore hangs up after a restore without having sent a frame: a plain end."""
    a, b = pair
    a.shutdown(socket.SHUT_WR)
    assert service_side(b, os.urandom(32)).recv(100) == b""


def test_other_ways_to_move_bytes_are_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    _, b = pair
    s = service_side(b, os.urandom(32))
    for call in (lambda: s.sendmsg([b"x"]), lambda: s.recvmsg(10), lambda: s.sendto(b"x", None),
                 lambda: s.recvfrom(10), lambda: s.sendall(b"x", socket.MSG_DONTWAIT),
                 lambda: s.recv_into(bytearray(4), 0, socket.MSG_PEEK)):
        with pytest.raises((OSError, ValueError)):
            call()
