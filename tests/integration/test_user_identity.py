"""User backups act as the user who asked, and only bpcd can say who that is."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nbcli.net import tls
from nbcli.net.certpaths import CertPaths
from nbcli.net.service import Registration
from nbcli.wire import frames
from tests.conftest import Host
from tests.integration.test_client_agents import frames_until_ack, frames_until_done, launch

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp folders are root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="nbcli-ident-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_bpbkar_reads_as_the_requesting_user(daemons: Callable[..., Host],
                                             shared_dir: Path) -> None:
    cfg = daemons("bpcd").cfg
    (shared_dir / "public.txt").write_text("anyone may read this")
    (shared_dir / "secret.txt").write_text("root only")
    os.chmod(shared_dir / "secret.txt", 0o600)
    with Registration(cfg.paths, "bptm.77", cfg.client_name) as reg, \
            launch(cfg, "bpbkar") as ctl:
        ctl.request("backup", jobid=77, client=cfg.client_name, paths=[str(shared_dir)],
                    since=None, run_as={"uid": NOBODY, "gid": NOBODY, "user": "nobody"})
        ctl.send({"op": "send", "host": cfg.client_name, "service": "bptm.77"})
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        early = frames_until_ack(ctl)
        data = b""
        with accepted.conn:
            while chunk := accepted.conn.sock.recv(1 << 16):
                data += chunk
        got = early + frames_until_done(ctl)
    done = got[-1]
    names = [e[0] for f in got if f.get("op") == "files" for e in f["entries"]]
    assert str(shared_dir / "public.txt") in names
    assert str(shared_dir / "secret.txt") not in names  # nobody may not read it
    assert done["status"] == 1  # a file was skipped: partially successful
    assert b"anyone may read this" in data and b"root only" not in data
    warnings = " ".join(f["msg"] for f in got if f.get("op") == "log")
    assert "secret.txt" in warnings


def test_bprd_believes_a_user_only_from_a_privileged_peer(three_hosts) -> None:
    master = three_hosts["master"]
    addr = master.cfg.address_of("master")
    # an ordinary process on the client host (unprivileged port) claiming to be root
    raw = socket.create_connection(addr, source_address=("127.0.0.3", 0))
    with tls.wrap_client(raw, CertPaths(three_hosts["client"].root), "master") as s:
        s.sendall(frames.encode(frames.hello("bprd", "client")))
        assert frames.decode_body(_frame(s))["status"] == 0
        s.sendall(frames.encode({"op": "user_backup", "client": "client", "paths": ["/etc"],
                                 "uid": 0, "gid": 0, "user": "root"}))
        reply = frames.decode_body(_frame(s))
    assert reply["status"] == 135


def test_bpcd_takes_user_requests_from_local_users_only(three_hosts) -> None:
    client_host = three_hosts["client"]
    addr = client_host.cfg.address_of("client")
    raw = socket.create_connection(addr, source_address=("127.0.0.1", 0))
    with tls.wrap_client(raw, CertPaths(three_hosts["master"].root), "client") as s:
        s.sendall(frames.encode(frames.hello("bpcd", "master")))
        assert frames.decode_body(_frame(s))["status"] == 0
        s.sendall(frames.encode({"op": "user_request", "paths": ["/etc"]}))
        assert frames.decode_body(_frame(s))["status"] == 135


def _frame(s: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            assert chunk
            buf += chunk
        return buf

    return exact(frames.frame_length(exact(4)))
