"""multihost.free_port: a PBX port for test and demo hosts that no outgoing connection can
take before pbx_exchange binds it (outside the kernel's ephemeral range), and free on every
address of the hosts."""

from __future__ import annotations

import socket

import pytest

from nbcli import multihost


def test_the_port_is_below_the_ephemeral_range_and_bindable() -> None:
    for _ in range(20):
        port = multihost.free_port(["127.0.0.1", "127.0.0.2"])
        assert multihost.FIRST_PORT <= port < multihost.ephemeral_floor()
        with socket.socket() as s:
            s.bind(("127.0.0.2", port))


def test_a_port_in_use_on_one_address_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        # two candidate ports: the one listening on 127.0.0.2, and the next
        monkeypatch.setattr(multihost, "FIRST_PORT", busy)
        monkeypatch.setattr(multihost, "ephemeral_floor", lambda: busy - 998)
        monkeypatch.setattr(multihost.random, "sample", lambda r, k: [busy, busy + 1])
        assert multihost.free_port(["127.0.0.1", "127.0.0.2"]) == busy + 1
