"""Secure communication between hosts, as an attacker on the network would meet it.

Three enrolled hosts on loopback (master 127.0.0.1, media 127.0.0.2, client 127.0.0.3). A
real packet capture (an AF_PACKET socket on lo) watches a backup and a restore cross the hosts:
the file's bytes must never appear on the wire, while the same capture does see them on a
plain connection (so the capture works). A host that is not enrolled, a certificate shown from
another address, and a revoked host are refused by PBX before any daemon sees a request.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.media import dataservice
from nbcli.net import client, sealed, tls
from nbcli.net.certpaths import CertPaths
from nbcli.net.service import Registration
from nbcli.status import CERT_NAME_MISMATCH, HANDSHAKE_FAILED, NbuError
from nbcli.wire import frames
from tests.conftest import Host, running_three, wait_for
from tests.flowkit import add_policy, add_stu, last_jobid, marked_data, rename_file
from tests.integration.test_data_service import serve_in_thread
from tests.integration.test_pbx import read_reply

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a packet capture needs root")

ETH_P_ALL = 0x0003
HOSTS = {"127.0.0.1", "127.0.0.2", "127.0.0.3"}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    yield from running_three(tmp_path_factory.mktemp("secure"))


SO_ATTACH_FILTER, SO_RCVBUFFORCE = 26, 33
_BPF = struct.Struct("HBBI")  # struct sock_filter: code, jt, jf, k


def _port_filter(port: int) -> bytes:
    """A classic BPF program (as `tcpdump -dd 'ip and tcp port P'` on lo gives it): IPv4, TCP,
    not a fragment, source or destination port `port`; as the struct sock_fprog to attach."""
    program = [
        (0x28, 0, 0, 12),        # ldh [12]: the Ethernet type
        (0x15, 0, 9, 0x0800),    # IPv4, else drop
        (0x30, 0, 0, 23),        # ldb [23]: the IP protocol
        (0x15, 0, 7, 6),         # TCP, else drop
        (0x28, 0, 0, 20),        # ldh [20]: flags and fragment offset
        (0x45, 5, 0, 0x1FFF),    # a fragment: drop
        (0xB1, 0, 0, 14),        # x = the IP header's length
        (0x48, 0, 0, 14),        # ldh [x + 14]: the source port
        (0x15, 3, 0, port),      # ours: keep
        (0x48, 0, 0, 16),        # ldh [x + 16]: the destination port
        (0x15, 1, 0, port),      # ours: keep
        (0x06, 0, 0, 0),         # drop
        (0x06, 0, 0, 1 << 18),   # keep (up to 256 KiB of it)
    ]
    code = ctypes.create_string_buffer(b"".join(_BPF.pack(*i) for i in program))
    _FILTERS.append(code)  # the kernel copies the program, but only when it is attached
    return struct.pack("HL", len(program), ctypes.addressof(code))


_FILTERS: list[ctypes.Array[ctypes.c_char]] = []


class Capture:
    """TCP payloads seen on lo to or from `port`, by (source, destination) address, while it
    runs. Every connection between hosts goes to a PBX port, and each module's hosts have one
    of their own: so a capture sees its own module's traffic, not that of a test another
    worker runs on the same addresses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        # The kernel keeps only this port's packets, in a buffer large enough for a burst: a
        # capture that shared lo's whole traffic (another worker's 2 GiB backup) with a
        # Python reader dropped packets under load, and a test missed the bytes it checks.
        self._filter = _port_filter(port)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, self._filter)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.payloads: dict[tuple[str, str], bytearray] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Capture:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sock.close()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                packet = self.sock.recv(1 << 17)
            except TimeoutError:
                continue
            ip = packet[14:]  # lo's frames carry an all-zero Ethernet header
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
                continue
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total]
            data = tcp[(tcp[12] >> 4) * 4:]
            if data and self.port in struct.unpack("!HH", tcp[:4]):
                key = (socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]))
                self.payloads.setdefault(key, bytearray()).extend(data)

    def between(self, a: str, b: str) -> bytes:
        return bytes(self.payloads.get((a, b), b"") + self.payloads.get((b, a), b""))

    def everything(self) -> bytes:
        return b"".join(bytes(v) for v in self.payloads.values())


def test_backup_and_restore_cross_the_wire_encrypted(hosts: dict[str, Host],
                                                     tmp_path: Path) -> None:
    master = hosts["master"]
    marker = marked_data(tmp_path, "secret.txt", 8192)
    data = tmp_path / "data"
    add_stu(master, "disk1", tmp_path / "stu")
    add_policy(master, "secret", "disk1", ["client"], [str(data)])
    back = tmp_path / "restored"
    with Capture(media_port(hosts)) as cap:
        assert master.run("bpbackup", "-i", "-p", "secret", "-s", "full", "-w").returncode == 0
        ren = rename_file(tmp_path / "ren", [(data, back)])
        r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data))
        assert r.returncode == 0, r.stderr
        # the control: the same bytes on a plain connection are seen by this capture
        with socket.create_connection(("127.0.0.2", media_port(hosts)),
                                      source_address=("127.0.0.9", 0)) as s:
            s.sendall(frames.encode(frames.hello("bpcd", marker.decode())))
            wait_for(lambda: marker in cap.between("127.0.0.9", "127.0.0.2"), 10,
                     "the plain connection in the capture")
    assert (back / "secret.txt").read_bytes() == marker * 8192
    client_media = cap.between("127.0.0.3", "127.0.0.2")
    assert len(client_media) > 2 * 256 * 1024  # the image went both ways between them
    for a, b in (("127.0.0.3", "127.0.0.2"), ("127.0.0.1", "127.0.0.2"),
                 ("127.0.0.1", "127.0.0.3")):
        wire = cap.between(a, b)
        assert marker not in wire, f"plaintext between {a} and {b}"
        assert b"secret.txt" not in wire, f"a file name between {a} and {b}"
    # the job's control connections open with TLS handshake records (type 22, version 3.x);
    # the image stream is sealed with the bptm child itself (nbcli.net.sealed): its plain
    # hello carries a salt and never the job's secret, and PBX relays none of it
    assert client_media.count(b"\x16\x03") >= 1
    assert b'"sealed"' in client_media and b'"secret"' not in client_media


def media_port(hosts: dict[str, Host]) -> int:
    return hosts["media"].cfg.address_of("media")[1]


def test_a_host_that_is_not_enrolled_is_refused(hosts: dict[str, Host]) -> None:
    """Plain TCP from the client's own address, as a host without a certificate: PBX answers
    26 and closes; bpcd never sees it. Only nbwmc (enrolment) takes such a host."""
    media = hosts["media"]
    with socket.create_connection(("127.0.0.2", media_port(hosts)),
                                  source_address=("127.0.0.3", 0), timeout=10) as s:
        s.sendall(frames.encode(frames.hello("bpcd", "client")))
        reply = read_reply(s)
    assert reply["status"] == HANDSHAKE_FAILED and "only secure" in reply["msg"]
    with socket.create_connection(("127.0.0.1", master_port(hosts)),
                                  source_address=("127.0.0.3", 0), timeout=10) as s:
        s.sendall(frames.encode(frames.hello("nbwmc", "client")))
        assert read_reply(s)["status"] == 0  # enrolment stays open
        s.sendall(frames.encode({"op": "ping"}))
        assert read_reply(s)["status"] == 0
    log = media.log("pbx_exchange")
    assert "accepts only secure (TLS) connections" in log


def master_port(hosts: dict[str, Host]) -> int:
    return hosts["master"].cfg.address_of("master")[1]


def test_a_certificate_shown_from_another_address_is_refused(hosts: dict[str, Host]) -> None:
    """The client's own certificate and key, used from 127.0.0.9: 8509, nothing handed on."""
    client_certs = CertPaths(hosts["client"].root)
    raw = socket.create_connection(("127.0.0.2", media_port(hosts)),
                                   source_address=("127.0.0.9", 0), timeout=10)
    with tls.wrap_client(raw, client_certs, "media") as s:
        s.sendall(frames.encode(frames.hello("bpcd", "client")))
        reply = read_reply(s)
    assert reply["status"] == CERT_NAME_MISMATCH and "127.0.0.9" in reply["msg"]


def test_a_server_that_is_not_who_it_says_is_refused(hosts: dict[str, Host]) -> None:
    """The client meant to reach the master but the media server answered: its certificate
    does not name the master (8509), and nothing was sent."""
    raw = socket.create_connection(("127.0.0.2", media_port(hosts)), timeout=10)
    with pytest.raises(NbuError) as e:
        tls.wrap_client(raw, CertPaths(hosts["client"].root), "master")
    raw.close()
    assert e.value.status == CERT_NAME_MISMATCH


def set_dte(host: Host, key: str, mode: str) -> None:
    """Set a DTE mode in the host's bp.toml; its daemons read it again (SIGHUP), agents read
    it at each job's start."""
    host.run("bpsetconfig", input=f"{key} = {mode}\n")
    for p in host.processes(spares=False):
        if p.program in ("nbjm", "bprd"):
            os.kill(p.proc.pid, signal.SIGHUP)


def test_dte_off_sends_the_image_in_the_clear_to_its_job_alone(hosts: dict[str, Host],
                                                               tmp_path: Path) -> None:
    """Global PREFERRED_OFF, client AUTOMATIC: the image crosses in the clear (the capture
    sees it) while the control connections stay TLS; the job's details say so. A stranger
    that reaches the job's data service in plain TCP without the secret is turned away
    (unit: tests/integration/test_data_service.py)."""
    master = hosts["master"]
    set_dte(master, "DTE_GLOBAL_MODE", "PREFERRED_OFF")
    try:
        marker = marked_data(tmp_path, "open.txt")
        data = tmp_path / "data"
        add_stu(master, "disk2", tmp_path / "stu")
        add_policy(master, "open", "disk2", ["client"], [str(data)])
        with Capture(media_port(hosts)) as cap:
            assert master.run("bpbackup", "-i", "-p", "open", "-s", "full",
                              "-w").returncode == 0
        assert marker in cap.between("127.0.0.3", "127.0.0.2")  # the image, in the clear
        for a, b in (("127.0.0.1", "127.0.0.2"), ("127.0.0.1", "127.0.0.3")):
            assert marker not in cap.between(a, b)
        details = master.run("bpdbjobs", "-jobid", str(last_jobid(master)),
                             "-all_columns").stdout
        assert "data-in-transit encryption off" in details
    finally:
        set_dte(master, "DTE_GLOBAL_MODE", "PREFERRED_ON")


def test_dte_enforced_fails_a_client_that_turned_it_off(hosts: dict[str, Host],
                                                       tmp_path: Path) -> None:
    master, client = hosts["master"], hosts["client"]
    set_dte(master, "DTE_GLOBAL_MODE", "ENFORCED")
    set_dte(client, "DTE_CLIENT_MODE", "OFF")
    try:
        data = tmp_path / "data"
        data.mkdir()
        (data / "f").write_text("x")
        add_stu(master, "disk3", tmp_path / "stu")
        add_policy(master, "enforced", "disk3", ["client"], [str(data)])
        r = master.run("bpbackup", "-i", "-p", "enforced", "-s", "full", "-w", check=False)
        assert r.returncode == HANDSHAKE_FAILED, r.stderr
        details = master.run("bpdbjobs", "-jobid", str(last_jobid(master)),
                             "-all_columns").stdout
        assert "ENFORCED" in details
    finally:
        set_dte(client, "DTE_CLIENT_MODE", "AUTOMATIC")
        set_dte(master, "DTE_GLOBAL_MODE", "PREFERRED_ON")


def as_client(hosts: dict[str, Host], target: str) -> dict:
    """The hello of a TLS connection from the client's address with the client's
    certificate to `target`'s PBX (bpcd): PBX's answer, or the handshake's NbuError."""
    addr = hosts[target].cfg.address_of(target)
    raw = socket.create_connection(addr, source_address=("127.0.0.3", 0), timeout=10)
    try:
        with tls.wrap_client(raw, CertPaths(hosts["client"].root), target) as s:
            s.sendall(frames.encode(frames.hello("bpcd", "client")))
            return read_reply(s)
    except (OSError, EOFError) as e:  # the server refused the handshake after it ended
        raise NbuError(HANDSHAKE_FAILED, str(e)) from e
    finally:
        raw.close()


def test_a_revoked_host_is_cut_off_once_the_crl_names_it(hosts: dict[str, Host]) -> None:
    """Last in the module: it revokes the client. Before, the client's TLS connection to the
    media server's PBX is taken; once the media server has fetched the CRL that names it
    (bpcd does every hour; here nbcertcmd -getCRL), the handshake fails; the master, whose
    CA wrote the CRL, refuses it at once."""
    master, media = hosts["master"], hosts["media"]
    assert as_client(hosts, "media")["status"] == 0
    master.run("nbcertcmd", "-revokeCertificate", "-host", "client", "-reason", "test")
    with pytest.raises(NbuError) as e:
        as_client(hosts, "master")
    assert e.value.status == HANDSHAKE_FAILED
    media.run("nbcertcmd", "-getCRL")
    with pytest.raises(NbuError) as e:
        as_client(hosts, "media")
    assert e.value.status == HANDSHAKE_FAILED
    # The client sees the server's alert before the server's thread writes its log line.
    wait_for(lambda: "revoked" in media.log("pbx_exchange"),
             timeout=10, what="media's PBX to log the revoked certificate")
    # while a host in good standing is still served
    assert master.run("bpgetconfig", "-M", "media", "CLIENT_NAME").stdout == \
        "CLIENT_NAME = media\n"


def test_a_sealed_stream_takes_only_the_agent_that_holds_the_key(
        hosts: dict[str, Host], caplog: pytest.LogCaptureFixture) -> None:
    """A job's data service on the media host, reached from the client host as bpbkar would:
    strangers with a wrong secret, or with garbage for a proof, are closed; the agent with the
    job's secret gets a stream sealed both ways (nbcli.net.sealed)."""
    media, here = hosts["media"].cfg, hosts["client"].cfg
    reg = Registration(media.paths, "bptm.990", media.client_name)
    secret = dataservice.new_secret()
    try:
        t, out = serve_in_thread(lambda: dataservice.accept_agent(
            reg, secret, 30, logging.getLogger("test.sealed")))
        wrong = client.connect(here, "media", "bptm.990", secret="ab" * 32, direct=True)
        assert wrong.encrypted and isinstance(wrong.sock, sealed.SealedSocket)
        with socket.create_connection(("127.0.0.2", media_port(hosts)),
                                      source_address=("127.0.0.3", 0), timeout=10) as raw:
            raw.sendall(frames.encode(frames.hello("bptm.990", "client",
                                                   sealed=sealed.new_salt())))
            assert read_reply(raw)["status"] == 0
            assert read_reply(raw)["op"] == "sealed"
            raw.sendall(b"\0\0\0\x26\0" + os.urandom(0x26 + 16))  # a proof that is not one
            agent = client.connect(here, "media", "bptm.990", secret=secret, direct=True)
            t.join(30)
            (accepted,) = out
            assert accepted is not None and "secret" not in accepted.hello
            assert closed_by_peer(raw)  # the garbage proof's connection
        assert closed_by_peer(wrong.sock)  # the wrong key's: nothing was ever sent to it
        wrong.close()
        served = accepted.conn.sock
        assert isinstance(served, sealed.SealedSocket)
        agent.sock.sendall(b"image " * 100_000)
        agent.sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := served.recv(1 << 20):
            got += chunk
        assert bytes(got) == b"image " * 100_000
        served.sendall(b"restore " * 1000)
        served.shutdown(socket.SHUT_WR)
        assert agent.sock.recv(1 << 20) == b"restore " * 1000
        agent.close()
        accepted.conn.close()
        assert caplog.text.count("does not know the job's secret") == 2
    finally:
        reg.close()


def closed_by_peer(sock: socket.socket) -> bool:
    """The other end closed: an end of stream, or a reset if our last bytes went unread."""
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
