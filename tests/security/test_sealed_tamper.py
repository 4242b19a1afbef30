"""A man in the middle of a real job's sealed image stream (three enrolled hosts, real daemons).

The client's agents are pointed at a relay for the media server (its [hosts] entry: agents read
bp.toml per job; the daemons keep the one they started with), and the relay forwards to the
media server's PBX from the client's address. Through a faithful relay a backup ends 0: the
path works. When the relay changes one byte of the image on the way, bptm's child finds a frame
whose tag fails: the job ends 40 with the reason in bptm's log, and no image and no fragment
are left. The stream carries no byte of the file in the clear either way.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config
from tests.conftest import Host, running_three
from tests.flowkit import add_policy, add_stu, last_jobid, marked_data, rename_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="three hosts on loopback need root")

FLIP_AT = 300 * 1024  # well inside the image: past the hello, the salts and the proof
STALL_AFTER = 2 << 20  # a silent client stops reading this far past the flip (whole frames)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    yield from running_three(tmp_path_factory.mktemp("tamper"))


class Relay:
    """TCP from 127.0.0.4 to the media server's PBX, from the client's address; with `flip`,
    one byte of the client-to-media direction at FLIP_AT is changed."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.flip = False  # client to media (a backup's image)
        self.flip_back = False  # media to client (a restore's)
        self.flip_at = FLIP_AT
        # a client gone silent: when it hangs up, the media server's side is kept open and
        # no longer read, as a hung host or a middlebox would leave it
        self.keep_far_open = False
        self.seen = bytearray()
        self.socks: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.4", 0))
        self.address = self.listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.keep_far_open:
                # A fixed receive buffer: the kernel's autotuning (tcp_rmem's maximum is
                # 32 MiB on some hosts) would let an unread connection take a whole image.
                far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 << 10)
            far.bind(("127.0.0.3", 0))
            far.connect(self.target)
            self.socks += (near, far)
            threading.Thread(target=self._pump, args=(near, far, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(far, near, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        moved = 0
        try:
            while data := src.recv(1 << 16):
                if self.keep_far_open and not outbound and moved > self.flip_at + STALL_AFTER:
                    return  # the silent client reads no more (its side stays open)
                if outbound:
                    self.seen += data
                if (self.flip if outbound else self.flip_back) and \
                        moved <= self.flip_at < moved + len(data):
                    at = self.flip_at - moved
                    data = data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]
                moved += len(data)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # one end went: the other sees its connection go, as through a host
            # (kept open and unread on the media server's side when the client goes silent,
            # whichever direction notices first)
            for sock in (src, dst):
                if self.keep_far_open and sock is (dst if outbound else src):
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        for s in self.socks:
            s.close()


def through_relay(media: Host, client: Host) -> Relay:
    """The client's agents reach the media server through a new relay from now on."""
    relay = Relay(media.cfg.address_of("media"))
    cfg = config.load(client.cfg.root)
    cfg.data["hosts"]["media"] = f"{relay.address[0]}:{relay.address[1]}"
    cfg.save()
    return relay


def test_a_changed_byte_in_a_real_jobs_sealed_stream_fails_the_job(
        hosts: dict[str, Host], tmp_path: Path) -> None:
    master, media, client = hosts["master"], hosts["media"], hosts["client"]
    marker = marked_data(tmp_path, "payroll.txt", 65536)  # 2 MiB of one marked file
    stu = tmp_path / "stu"
    add_stu(master, "disk1", stu)
    add_policy(master, "sealed", "disk1", ["client"], [str(tmp_path / "data")])
    relay = through_relay(media, client)
    try:
        r = master.run("bpbackup", "-i", "-p", "sealed", "-s", "full", "-w")
        assert r.returncode == 0, r.stderr  # a faithful relay: the path itself works
        good = master.run("bpimagelist", "-U", "-policy", "sealed").stdout
        assert len(relay.seen) > FLIP_AT + (1 << 20) and marker not in relay.seen
        before = sorted(p.name for p in stu.iterdir())

        relay.flip = True
        r = master.run("bpbackup", "-i", "-p", "sealed", "-s", "full", "-w", check=False)
        assert r.returncode == 40, (r.returncode, r.stderr)
        jobid = last_jobid(master)
        details = master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
        assert ",40," in details
        assert "failed its integrity check" in media.log("bptm")
        # nothing of the refused image is kept: the catalog and the storage unit as before
        assert master.run("bpimagelist", "-U", "-policy", "sealed").stdout == good
        assert sorted(p.name for p in stu.iterdir()) == before
    finally:
        relay.close()


@pytest.mark.parametrize("flip_at,status", [(FLIP_AT, 186), (3 << 19, 183)])
def test_a_changed_byte_in_a_real_restores_sealed_stream_fails_it(
        hosts: dict[str, Host], tmp_path: Path, flip_at: int, status: int) -> None:
    """tar-restore takes nothing from a frame whose tag fails: a change in the first frame
    leaves it no data at all (186), one in a later frame an archive cut short (183)."""
    master, media, client = hosts["master"], hosts["media"], hosts["client"]
    marker = marked_data(tmp_path, "ledger.txt", 65536)
    policy = f"sealed_{flip_at}"
    add_stu(master, policy, tmp_path / "stu")
    add_policy(master, policy, policy, ["client"], [str(tmp_path / "data")])
    relay = through_relay(media, client)
    try:
        master.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w")
        relay.flip_back, relay.flip_at = True, flip_at
        into = tmp_path / "restored"
        ren = rename_file(tmp_path / "ren", [(tmp_path / "data", into)])
        r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w",
                       str(tmp_path / "data"), check=False)
        assert r.returncode == status, (r.returncode, r.stderr)
        assert "failed its integrity check" in client.log("tar-restore")
        # no file with changed bytes, and no temporary file, is left in the destination
        left = [p for p in into.rglob("*") if p.is_file()] if into.exists() else []
        assert all(p.read_bytes() == marker * 65536 for p in left), left
        assert not [p for p in left if p.name.startswith(".nbtr")]
    finally:
        relay.close()


def test_bptm_does_not_hang_on_a_client_that_keeps_its_connection_but_stops_reading(
        hosts: dict[str, Host], tmp_path: Path) -> None:
    """tar-restore fails on a changed frame and exits, but its connection to the media server
    stays open and unread (the relay holds it): bptm's child is stuck sending into it. bpbrm's
    abort must end bptm then, not after the 30 seconds bpbrm gives it before a kill."""
    master, media, client = hosts["master"], hosts["media"], hosts["client"]
    marked_data(tmp_path, "big.bin", 1 << 19)  # 16 MiB: more than the sockets' buffers hold
    add_stu(master, "stall", tmp_path / "stu")
    add_policy(master, "stall", "stall", ["client"], [str(tmp_path / "data")])
    relay = through_relay(media, client)
    try:
        master.run("bpbackup", "-i", "-p", "stall", "-s", "full", "-w")
        relay.flip_back, relay.keep_far_open = True, True
        ren = rename_file(tmp_path / "ren", [(tmp_path / "data", tmp_path / "restored")])
        started = time.monotonic()
        r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w",
                       str(tmp_path / "data"), check=False)
        took = time.monotonic() - started
        assert r.returncode == 186, (r.returncode, r.stderr)
        assert took < 20, f"the restore took {took:.0f} s: bptm waited for bpbrm's kill"
        assert "bpbrm asked to abort" in media.log("bptm")
    finally:
        relay.close()
