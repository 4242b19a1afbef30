"""Attacks on a job's data service and its sealed image stream (nbcli.net.sealed,
nbcli.media.dataservice), as a stranger on the network or a local user would try them: none may
hold the service past its handshake timeout, make it raise, or make the real job fail.

Real sockets throughout; the tests that go through PBX start one all-in-one host's PBX."""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from nbcli.media import dataservice
from nbcli.net import client, sealed
from nbcli.net.conn import Connection
from nbcli.net.service import Accepted, Registration
from nbcli.status import HANDSHAKE_FAILED, NbuError
from nbcli.wire import frames
from tests.conftest import Host, running_three

SECRET = "ab" * 32
LOG = logging.getLogger("test.sealed_attacks")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A real TCP connection on loopback: (the stranger's end, the service's end)."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        a = socket.create_connection(srv.getsockname())
        b, _ = srv.accept()
    yield a, b
    a.close()
    b.close()


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(target()), daemon=True)
    t.start()
    return t, out


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a stranger that hangs up hard."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --- the handshake alone ------------------------------------------------------------------------

def test_a_stranger_that_resets_after_its_hello_is_refused_not_raised(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """The service's salt cannot be sent (the stranger reset the connection): a refusal, not an
    error that would end the accept loop and with it the job (bptm child's 40)."""
    a, b = pair
    reset(a)
    time.sleep(0.1)  # the RST reaches b
    assert sealed.seal_service(Connection(b, "stranger"), SECRET, sealed.new_salt(), 1) is False


def test_a_stranger_trickling_a_proof_is_cut_off_at_the_timeout(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """A header that announces a proof, then one byte every 0.3 s: the handshake timeout is
    the whole proof's, not each read's (that would be 60 reads of 1 s: a minute, not 1 s)."""
    a, b = pair
    conn = Connection(b, "stranger")
    t, out = in_thread(lambda: sealed.seal_service(conn, SECRET, sealed.new_salt(), 1.0))
    start = time.monotonic()
    a.sendall(sealed.HEADER.pack(len(sealed.PROOF), 0))
    for _ in range(len(sealed.PROOF) + sealed.TAG):
        if not t.is_alive():
            break
        a.sendall(b"x")
        time.sleep(0.3)
    t.join(30)
    conn.close()
    assert out == [False]
    assert time.monotonic() - start < 3


def test_a_strangers_proof_costs_the_service_no_frame_buffer(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """Proofs are checked many at once: a stranger's garbage proof must not make the service
    allocate a 1 MiB frame buffer for it."""
    a, b = pair
    conn = Connection(b, "stranger")
    a.sendall(sealed.HEADER.pack(len(sealed.PROOF), 0) + os.urandom(len(sealed.PROOF)
                                                                 + sealed.TAG))
    assert sealed.seal_service(conn, SECRET, sealed.new_salt(), 5) is False
    assert isinstance(conn.sock, sealed.SealedSocket)
    assert conn.sock._in_buf is None and conn.sock._plain_buf is None
    conn.close()


def test_a_service_that_answers_a_sealed_hello_otherwise_gets_nothing_in_the_clear(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """A man in the middle answering the agent's sealed hello as a clear service would: the
    agent refuses (26) and has sent nothing after its hello - no downgrade."""
    agent_end, mitm = pair
    Connection(mitm, "agent").send({"op": "clear"})
    conn = Connection(agent_end, "bptm.1@media")
    with pytest.raises(NbuError) as e:
        sealed.seal_agent(conn, SECRET, sealed.new_salt(), 5)
    assert e.value.status == HANDSHAKE_FAILED
    mitm.setblocking(False)
    with pytest.raises(BlockingIOError):
        mitm.recv(100)


def sealed_pair(pair: tuple[socket.socket, socket.socket]
                ) -> tuple[socket.socket, sealed.SealedSocket, bytes]:
    """The agent's raw end, the service's sealed end, and their key."""
    agent_end, service_end = pair
    key = os.urandom(32)
    return agent_end, sealed.SealedSocket(
        service_end, sealed.Sealing(key, sealed.TO_AGENT, sealed.TO_SERVICE)), key


def agent_frame(s: sealed.Sealing, payload: bytes, flags: int = 0) -> bytes:
    out = memoryview(bytearray(len(payload) + sealed.TAG))
    header, used = s.seal_into(payload, out, flags)
    return header + bytes(out[:used])


@pytest.mark.parametrize("header", [sealed.HEADER.pack(0xFFFFFFFF, 0),
                                    sealed.HEADER.pack(sealed.FRAME_MAX + 1, 0),
                                    sealed.HEADER.pack(10, 0x80)])
def test_an_agent_with_the_key_cannot_announce_a_frame_we_do_not_send(
        pair: tuple[socket.socket, socket.socket], header: bytes) -> None:
    """Huge lengths and unknown flags fail before anything is allocated or read (bptm child
    ends with 40), whoever sends them."""
    agent_end, served, _ = sealed_pair(pair)
    agent_end.sendall(header)
    with pytest.raises(sealed.Broken):
        served.recv(1 << 16)
    served.close()


def test_frames_after_the_last_are_never_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """An agent sending on after its LAST frame: the stream has ended, and stays ended."""
    agent_end, served, key = sealed_pair(pair)
    s = sealed.Sealing(key, sealed.TO_SERVICE, sealed.TO_AGENT)
    agent_end.sendall(agent_frame(s, b"image") + agent_frame(s, b"", sealed.LAST)
                      + agent_frame(s, b"more after the end"))
    assert served.recv(100) == b"image"
    assert served.recv(100) == b"" and served.recv(100) == b""
    served.close()


# --- the data service through PBX -----------------------------------------------------------------

@pytest.fixture
def pbx(daemons: Callable[..., Host]) -> Host:
    return daemons("bpjobd")


def stranger_hello(host: Host, service: str, name: str = "stranger",
                   **fields: object) -> socket.socket:
    """A plain TCP connection to PBX's port that says a hello for `service`, as host `name`."""
    cfg = host.cfg
    sock = socket.create_connection(("127.0.0.1", cfg.pbx_port), timeout=10)
    sock.sendall(frames.encode(frames.hello(service, name, **fields)))
    return sock


def handed_over(reg: Registration) -> bool:
    """PBX has handed a connection to `reg` (it waits in the registration socket)."""
    import select
    return bool(select.select([reg.fileno()], [], [], 0)[0])


def test_a_stranger_that_hangs_up_before_it_is_taken_does_not_end_the_wait(
        pbx: Host) -> None:
    """A local user says a hello for the job's service and closes at once: when the service
    comes to it, its answer cannot be sent - that connection is gone, not the agent's, and the
    service must go on waiting (it returned None, and bptm failed the job with 54)."""
    cfg = pbx.cfg
    reg = Registration(cfg.paths, "bptm.881", cfg.client_name)
    secret = dataservice.new_secret()
    try:
        local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        local.connect(str(cfg.paths.pbx_socket))
        local.sendall(frames.encode(frames.hello("bptm.881", "stranger", secret="0" * 64)))
        local.close()
        deadline = time.monotonic() + 10
        while not handed_over(reg) and time.monotonic() < deadline:
            time.sleep(0.05)
        t, out = in_thread(lambda: dataservice.accept_agent(reg, secret, 20, LOG))
        agent = client.connect(cfg, cfg.client_name, "bptm.881", secret=secret)
        t.join(20)
        (accepted,) = out
        assert isinstance(accepted, Accepted) and accepted.hello["secret"] == secret
        accepted.conn.close()
        agent.close()
    finally:
        reg.close()


def test_a_strangers_host_name_cannot_forge_a_log_line(
        pbx: Host, caplog: pytest.LogCaptureFixture) -> None:
    """The refusal names the stranger by its hello's host: its own words, line breaks and all
    - they must not start a line of bptm's log that looks like bptm's own."""
    cfg = pbx.cfg
    reg = Registration(cfg.paths, "bptm.884", cfg.client_name)
    forged = "00:00:00.000 [1] <2> bptm child: the agent is in"
    try:
        t, out = in_thread(lambda: dataservice.accept_agent(reg, SECRET, 3, LOG))
        with stranger_hello(pbx, "bptm.884", f"evil\n{forged}", secret="0" * 64):
            t.join(10)
    finally:
        reg.close()
    assert out == [None]
    (refused,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert forged in refused and "\n" not in refused


def test_silent_sealed_strangers_do_not_hold_the_agent_back(
        pbx: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strangers that say a sealed hello and then nothing each hold their handshake for
    HANDSHAKE_TIMEOUT. One after another, three of them outlast the agent's own wait for its
    hello's answer (HELLO_TIMEOUT, 30 s) and thirty the job's (ACCEPT_TIMEOUT): the agent must
    be taken while they wait, not after them."""
    monkeypatch.setattr(dataservice, "HANDSHAKE_TIMEOUT", 3.0)
    cfg = pbx.cfg
    reg = Registration(cfg.paths, "bptm.882", cfg.client_name)
    secret = dataservice.new_secret()
    strangers: list[socket.socket] = []
    try:
        t, out = in_thread(lambda: dataservice.accept_agent(reg, secret, 30, LOG))
        strangers = [stranger_hello(pbx, "bptm.882", sealed=sealed.new_salt())
                     for _ in range(3)]
        time.sleep(0.3)  # they are handed over first
        start = time.monotonic()
        agent = client.connect(cfg, cfg.client_name, "bptm.882", secret=secret)
        t.join(30)
        took = time.monotonic() - start
        (accepted,) = out
        assert isinstance(accepted, Accepted) and accepted.hello["secret"] == secret
        assert took < 2.5, f"the agent waited {took:.1f} s behind silent strangers"
        accepted.conn.close()
        agent.close()
    finally:
        for s in strangers:
            s.close()
        reg.close()


# --- hosts not enrolled ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    """master, media and client not enrolled: their control connections are plain TCP."""
    yield from running_three(tmp_path_factory.mktemp("plain"), enrolled=False)


def test_a_host_not_enrolled_does_not_seal_with_a_secret_that_crossed_in_the_clear(
        plain_hosts: dict[str, Host]) -> None:
    """Between hosts with no certificate, bpbrm hands the agent the job's secret over plain
    TCP (bpcd): a stream sealed with it is readable by whoever saw that, and must not count as
    encrypted (the job's DTE mode On). The agent goes in the clear, as before the sealed
    stream, and says so."""
    media, here = plain_hosts["media"].cfg, plain_hosts["client"].cfg
    reg = Registration(media.paths, "bptm.883", media.client_name)
    secret = dataservice.new_secret()
    try:
        t, out = in_thread(lambda: dataservice.accept_agent(reg, secret, 20, LOG))
        agent = client.connect(here, "media", "bptm.883", secret=secret, direct=True)
        t.join(20)
        (accepted,) = out
        assert isinstance(accepted, Accepted)
        assert agent.encrypted is False and not isinstance(agent.sock, sealed.SealedSocket)
        accepted.conn.close()
        agent.close()
    finally:
        reg.close()


def test_a_host_that_cannot_encrypt_sends_nothing_where_encryption_is_required(
        plain_hosts: dict[str, Host]) -> None:
    """ENFORCED (or an image backed up encrypted, or a client set ON) on a host with no
    certificate: the agent must not fall back to the clear. connect refuses with 26 before it
    connects, and the data service never sees a connection."""
    media, here = plain_hosts["media"].cfg, plain_hosts["client"].cfg
    reg = Registration(media.paths, "bptm.884", media.client_name)
    try:
        with pytest.raises(NbuError) as e:
            client.connect(here, "media", "bptm.884", secret=dataservice.new_secret(),
                           direct=True, required=True)
        assert e.value.status == HANDSHAKE_FAILED and "nothing was sent" in e.value.detail
        assert reg.accept(timeout=1.0) is None  # nothing reached the service
    finally:
        reg.close()
