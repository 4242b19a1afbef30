"""Idle connections cannot take a daemon: one peer holds at most MAX_PER_PEER connections to
bpjobd after their hello (the next is refused with 25); the daemon answers the others and
everyone again once they close; one that makes no request is closed after IDLE_TIMEOUT
(unit-tested in tests/unit/test_serve_limits.py, 300 s here)."""

from __future__ import annotations

from collections.abc import Callable

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
        assert e.value.status in (25, 40)
        assert held[0].request("ping")["service"] == "bpjobd"  # the held ones are served
    finally:
        for c in held:
            c.close()
    assert client.call(cfg, cfg.client_name, "bpjobd", "ping")["service"] == "bpjobd"
    log = (host.root / "netbackup" / "logs" / "bpjobd").glob("log.*")
    assert not any("Traceback" in p.read_text() for p in log)
