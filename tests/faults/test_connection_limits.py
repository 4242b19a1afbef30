"""Idle connections cannot take a daemon: one peer holds at most MAX_PER_PEER connections to
bpjobd after their hello (the next is refused with 25); the daemon answers the others and
everyone again once they close; one that makes no request is closed after IDLE_TIMEOUT
(unit-tested in tests/unit/test_serve_limits.py, 300 s here)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from nbcli.net import client, service
from nbcli.net.conn import Connection
from nbcli.status import NbuError
from tests.conftest import Host


def test_one_peer_cannot_hold_all_of_bpjobd(daemons: Callable[..., Host]) -> None:
    host = daemons("bpjobd")
    cfg = host.cfg
    held: list[Connection] = []
    try:
        for _ in range(service.MAX_PER_PEER):
            held.append(client.connect(cfg, cfg.client_name, "bpjobd"))
        extra = client.connect(cfg, cfg.client_name, "bpjobd")
        with pytest.raises(NbuError) as e:
            extra.request("ping")
        extra.close()
        assert e.value.status in (24, 25, 40)  # refused: closed after its error
        assert held[0].request("ping")["service"] == "bpjobd"  # the held ones are served
    finally:
        for c in held:
            c.close()
    assert client.call(cfg, cfg.client_name, "bpjobd", "ping")["service"] == "bpjobd"
    log = (host.root / "netbackup" / "logs" / "bpjobd").glob("log.*")
    assert not any("Traceback" in p.read_text() for p in log)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_users_flood_does_not_lock_root_out(daemons: Callable[..., Host]) -> None:
    """Every local process has the same address: the limit counts per uid too, so a user who
    holds MAX_PER_PEER connections is refused the next one while root is still served."""
    host = daemons("bpjobd")
    cfg = host.cfg
    # the test's folders are root's alone; let the user reach PBX's socket as on a real host
    tmp = Path(tempfile.gettempdir())
    for folder in [host.root, *host.root.parents]:
        if folder == tmp or tmp not in folder.parents:
            break
        folder.chmod(folder.stat().st_mode | 0o011)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the flooding user
        code = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            os.setgid(65534)
            os.setuid(65534)
            held = [client.connect(cfg, cfg.client_name, "bpjobd")
                    for _ in range(service.MAX_PER_PEER)]
            held[0].request("ping")
            try:
                extra = client.connect(cfg, cfg.client_name, "bpjobd")
                extra.request("ping")
                refused = b"served"
            except NbuError as e:
                refused = str(e.status).encode()
            os.write(ready_w, refused)
            os.read(done_r, 1)  # hold them until root has been served
            code = 0
        except BaseException as e:
            os.write(ready_w, repr(e).encode()[:200])
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        answer = os.read(ready_r, 256)
        assert answer in (b"24", b"25", b"40"), answer  # refused: closed after its error
        assert client.call(cfg, cfg.client_name, "bpjobd", "ping")["service"] == "bpjobd"
    finally:
        os.write(done_w, b"x")
        os.close(done_w)
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
