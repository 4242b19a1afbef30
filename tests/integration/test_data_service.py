"""A job's data service (bptm.<jobid>) takes only its own agent: through a real PBX, a
stranger that connects first - with no secret, a wrong one, or as nobody special - is closed
and the service goes on to take the peer that knows the job's secret (nbcli/media/dataservice).
The media information is taken only from root here or a server of this host."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from nbcli.media import dataservice
from nbcli.net import client
from nbcli.net.service import Accepted, Registration
from nbcli.status import NbuError
from tests.conftest import Host


def serve_in_thread(target: Callable[[], Accepted | None]) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(target()))
    t.start()
    return t, out


def test_only_the_agent_with_the_secret_is_taken(daemons: Callable[..., Host],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    host = daemons("bpjobd")
    cfg = host.cfg
    reg = Registration(cfg.paths, "bptm.77", cfg.client_name)
    secret = dataservice.new_secret()
    log = logging.getLogger("test.dataservice")
    try:
        t, out = serve_in_thread(lambda: dataservice.accept_agent(reg, secret, 20, log))
        strangers = [client.connect(cfg, cfg.client_name, "bptm.77"),
                     client.connect(cfg, cfg.client_name, "bptm.77", secret="0" * 32)]
        agent = client.connect(cfg, cfg.client_name, "bptm.77", secret=secret)
        t.join(20)
        (accepted,) = out
        assert accepted is not None and accepted.hello["secret"] == secret
        for s in strangers:  # closed: nothing to read, nothing taken
            with pytest.raises((EOFError, NbuError)):
                s.recv(5)
            s.close()
        accepted.conn.send({"op": "hello-agent"})
        assert agent.recv(5) == {"op": "hello-agent"}
        agent.close()
        accepted.conn.close()
        assert "does not know the job's secret" in caplog.text
    finally:
        reg.close()


def test_no_agent_in_time_is_none(daemons: Callable[..., Host]) -> None:
    host = daemons("bpjobd")
    reg = Registration(host.cfg.paths, "bptm.78", host.cfg.client_name)
    try:
        assert dataservice.accept_agent(reg, "x" * 32, 0.5, logging.getLogger("t")) is None
    finally:
        reg.close()
