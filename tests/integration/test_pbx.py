"""Three hosts on loopback: requests cross PBX (in TLS once enrolled); bad input gets an error;
bpcd checks SERVER."""

from __future__ import annotations

import random
import socket
import struct

import psutil
import pytest

from nbcli.net import tls
from nbcli.net.certpaths import CertPaths
from nbcli.wire import frames
from tests.conftest import Host


@pytest.fixture(scope="module")
def plain_hosts(three_hosts_not_enrolled: dict[str, Host]) -> dict[str, Host]:
    """Hosts not enrolled: the client and media server take plain TCP, so that raw frames
    reach PBX and the daemons (the master takes them from its own address only)."""
    return three_hosts_not_enrolled



def tcp_listeners(host: Host) -> list[tuple[str, int]]:
    pids = {p.proc.pid for p in host.processes()}
    return [c.laddr for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.pid in pids]


def test_one_tcp_listening_socket_per_host(three_hosts: dict[str, Host]) -> None:
    for name, host in three_hosts.items():
        address, port = host.cfg.address_of(name)
        assert [tuple(a) for a in tcp_listeners(host)] == [(address, port)], name


def test_master_reaches_a_service_on_the_client_through_its_pbx(three_hosts) -> None:
    master, client = three_hosts["master"], three_hosts["client"]
    out = master.run("bpgetconfig", "-M", "client", "CLIENT_NAME").stdout
    assert out == "CLIENT_NAME = client\n"
    caddr, cport = client.cfg.address_of("client")
    probe = master.run("bptestbpcd", "-host", "client", "-verbose").stdout.splitlines()
    assert probe[0] == "1 1 1"
    # from the master's own address to the client's one PBX port
    assert probe[1].startswith("127.0.0.1:") and probe[1].endswith(f"-> {caddr}:{cport} PBX")
    assert "PEER_NAME = client" in probe


def raw(host: Host, source: str = "127.0.0.1", as_host: Host | None = None) -> socket.socket:
    """A TCP connection to host's PBX from `source`; in TLS with as_host's certificate."""
    s = socket.create_connection(host.cfg.address_of(host.name), timeout=10,
                                 source_address=(source, 0))
    if as_host is None:
        return s
    return tls.wrap_client(s, CertPaths(as_host.root), host.name)


def read_reply(s: socket.socket) -> dict:
    header = recv_exact(s, 4)
    return frames.decode_body(recv_exact(s, frames.frame_length(header)))


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed before a reply arrived"
        buf += chunk
    return buf


def assert_closed(s: socket.socket) -> None:
    """The peer closed: EOF, or a reset when it closed with our garbage still unread."""
    try:
        assert s.recv(1) == b""
    except ConnectionResetError:
        pass
    s.close()


def good_request(host: Host, service: str) -> None:
    with raw(host) as s:
        s.sendall(frames.encode(frames.hello(service, "master")))
        assert read_reply(s)["status"] == 0
        s.sendall(frames.encode({"op": "ping"}))
        assert read_reply(s)["status"] == 0


BAD_INPUTS = {
    "garbage": b"GET / HTTP/1.0\r\n\r\n",
    "not json": struct.pack("!I", 8) + b"garbage!",
    "json array": struct.pack("!I", 7) + b"[1,2,3]",
    "2 GiB length prefix": struct.pack("!I", 2 << 30),
    # once a RecursionError in the JSON decoder: pbx_exchange died, a daemon lost the thread
    "5,000 [": struct.pack("!I", 5000) + b"[" * 5000,
    "deep object": frames.HEADER.pack(5 * 3000 + 1) + b'{"a":' * 3000 + b"1",
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS) + ["truncated frame", "unknown service"])
def test_pbx_answers_bad_first_frames_and_keeps_serving(plain_hosts, kind: str) -> None:
    client = plain_hosts["client"]
    before = {p.proc.pid for p in client.processes(spares=False)}
    with raw(client) as s:
        if kind == "truncated frame":
            s.sendall(frames.encode(frames.hello("bpcd", "x"))[:10])
            s.shutdown(socket.SHUT_WR)
        elif kind == "unknown service":
            s.sendall(frames.encode(frames.hello("no_such_service", "x")))
        else:
            s.sendall(BAD_INPUTS[kind])
        reply = read_reply(s)
        if kind == "truncated frame":
            assert reply["status"] == 233  # premature eof encountered
        else:
            assert reply["status"] in (25, 232), reply
            if kind == "unknown service":
                assert reply["status"] == 25 and "no_such_service" in reply["msg"]
            assert_closed(s)
    good_request(client, "bpcd")
    # nothing died or restarted
    assert {p.proc.pid for p in client.processes(spares=False)} == before


@pytest.mark.parametrize("kind", list(BAD_INPUTS) + ["truncated frame", "unknown op"])
def test_daemon_answers_bad_frames_and_keeps_serving(plain_hosts, kind: str) -> None:
    master = plain_hosts["master"]
    before = {p.proc.pid for p in master.processes(spares=False)}
    with raw(master) as s:
        s.sendall(frames.encode(frames.hello("bpjobd", "x")))
        assert read_reply(s)["status"] == 0  # bpjobd itself is talking now
        if kind == "truncated frame":
            s.sendall(struct.pack("!I", 100) + b"{\"op\":")
            s.shutdown(socket.SHUT_WR)
            assert read_reply(s)["status"] == 233
            assert_closed(s)
        elif kind == "unknown op":
            s.sendall(frames.encode({"op": "format_disk"}))
            reply = read_reply(s)
            assert reply["status"] == 143 and "format_disk" in reply["msg"]
            s.sendall(frames.encode({"op": "ping"}))  # the same connection still works
            assert read_reply(s)["status"] == 0
        else:
            s.sendall(BAD_INPUTS[kind])
            assert read_reply(s)["status"] == 232
            assert_closed(s)
    good_request(master, "bpjobd")
    assert {p.proc.pid for p in master.processes(spares=False)} == before


def test_bpcd_refuses_hosts_not_in_server_list(three_hosts) -> None:
    media, client = three_hosts["media"], three_hosts["client"]
    before = {p.proc.pid for p in media.processes()}
    # the client host asks the media server's bpcd to launch a program
    with raw(media, source="127.0.0.3", as_host=client) as s:
        s.sendall(frames.encode(frames.hello("bpcd", "client")))
        assert read_reply(s)["status"] == 0
        s.sendall(frames.encode({"op": "launch", "program": "bpbkar", "args": []}))
        reply = read_reply(s)
    assert reply["status"] == 46
    assert {p.proc.pid for p in media.processes()} == before  # nothing was launched
    log = media.log("bpcd")
    assert "refused launch from 127.0.0.3" in log

    # the same through the commands: status 46 and NetBackup's message
    r = client.run("bpgetconfig", "-M", "media", check=False)
    assert r.returncode == 46 and "EXIT STATUS 46: server not allowed access" in r.stderr
    r = client.run("bpsetconfig", "-h", "media", input="VERBOSE = 5\n", check=False)
    assert r.returncode == 46
    assert media.cfg.verbose == 0
    # while the master, which is in the media server's SERVER list, may
    assert "CLIENT_NAME = media" in three_hosts["master"].run("bpgetconfig", "-M", "media").stdout


def test_bpcd_launches_only_known_programs(plain_hosts) -> None:
    with raw(plain_hosts["media"], source="127.0.0.1") as s:
        s.sendall(frames.encode(frames.hello("bpcd", "master")))
        assert read_reply(s)["status"] == 0
        s.sendall(frames.encode({"op": "launch", "program": "/bin/sh", "args": ["-c", "id"]}))
        reply = read_reply(s)
    assert reply["status"] == 29


def fuzz_frames(seed: int, count: int) -> list[bytes]:
    """Frames of JSON-ish bytes: brackets, quotes, escapes, numbers, UTF-8 and garbage."""
    rng = random.Random(seed)
    alphabet = [b"[", b"]", b"{", b"}", b'"', b"\\", b":", b",", b"1", b"-", b"e", b"true",
                b"null", b"NaN", b"\\u", b"\\ud800", b"\xff", b"\xc3\xa9", b"op", b" "]
    out = []
    for _ in range(count):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
        if rng.random() < 0.3:
            body = b'{"op":"ping","x":' + body
        out.append(frames.HEADER.pack(len(body)) + body)
    return out


def send_and_forget(s: socket.socket, data: bytes) -> None:
    """Send, then read whatever comes until the peer answers, closes or stays quiet."""
    s.settimeout(2)
    try:
        s.sendall(data)
        s.recv(65536)
    except OSError:
        pass


def test_pbx_and_a_daemon_survive_any_bytes(plain_hosts) -> None:
    master, client = plain_hosts["master"], plain_hosts["client"]
    before = {h.name: {p.proc.pid for p in h.processes(spares=False)} for h in (master, client)}
    for data in fuzz_frames(1, 150):
        with raw(client) as s:  # as the first frame, to PBX itself
            send_and_forget(s, data)
    with raw(master) as s:  # and to a daemon, on one connection for as long as it lasts
        s.sendall(frames.encode(frames.hello("bpjobd", "x")))
        assert read_reply(s)["status"] == 0
        for data in fuzz_frames(2, 150):
            send_and_forget(s, data)
    for data in fuzz_frames(3, 50):
        with raw(master) as s:
            s.sendall(frames.encode(frames.hello("bpjobd", "x")))
            assert read_reply(s)["status"] == 0
            send_and_forget(s, data)
    good_request(client, "bpcd")
    good_request(master, "bpjobd")
    assert {h.name: {p.proc.pid for p in h.processes(spares=False)}
            for h in (master, client)} == before
    # nothing needed the last-resort guard either: each mistake got its own answer
    for host, daemon in ((client, "pbx_exchange"), (master, "pbx_exchange"), (master, "bpjobd")):
        for log in (host.cfg.paths.logs / daemon).glob("log.*"):
            assert "Traceback" not in log.read_text(errors="replace"), log


def test_exclude_lists_of_another_host_through_its_bpcd(three_hosts, tmp_path) -> None:
    # bpgetconfig -e/-i FILE [-c policy [-s schedule]] client; bpsetconfig -e FILE -h client
    master, client = three_hosts["master"], three_hosts["client"]
    (tmp_path / "list").write_text("/scratch\n*.o\n")
    master.run("bpsetconfig", "-e", str(tmp_path / "list"), "-h", "client", "-c", "p1")
    assert (client.root / "netbackup" / "exclude_list.p1").read_text() == "/scratch\n*.o\n"
    master.run("bpgetconfig", "-e", str(tmp_path / "got"), "-c", "p1", "client")
    assert (tmp_path / "got").read_text() == "/scratch\n*.o\n"
    master.run("bpgetconfig", "-i", str(tmp_path / "none"), "client")
    assert not (tmp_path / "none").exists()
    # the client may not ask the media server for its lists (not in its SERVER list)
    r = client.run("bpgetconfig", "-e", str(tmp_path / "x"), "media", check=False)
    assert r.returncode == 46 and not (tmp_path / "x").exists()
