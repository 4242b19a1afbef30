"""Daemons' real op tables, served in the test's process: `client.connect` is pointed at a
socketpair whose other end `serve_connection` answers with the table, so a request goes
through the real framing, the gate and the op's declared fields (schema.validate) before its
handler - an undeclared or mistyped field is 143 here as it is in the daemon. PBX's hello is
the one part left out. A handler may be the daemon's own or a scripted answer (`script`); the
requests are recorded as they came over the wire (before the defaults of absent fields)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest

from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Handler, Ops, serve_connection
from nbcli.net.trust import Gate
from nbcli.status import CANNOT_CONNECT, NbuError
from nbcli.wire.frames import Message


class _Recording(Connection):
    """The daemon's end: every request as it arrived, before validation."""

    def __init__(self, sock: socket.socket, service: str, served: Served) -> None:
        super().__init__(sock, "test", "local")
        self.uid = 0  # root on this host, as PBX would tell the daemon
        self.service, self.served = service, served

    def recv(self, timeout: float | None = None) -> Message:
        msg = super().recv(timeout)
        self.served.requests.append((self.service, str(msg.get("op"))))
        self.served.sent[self.service].append(dict(msg))
        return msg


class Served:
    """The services this test answers; the requests sent to them, in order: `requests` (service,
    op) across them all, `sent[service]` each one's messages (with their "op")."""

    def __init__(self, cfg: HostConfig, services: dict[str, Ops]) -> None:
        self.cfg = cfg
        self.services = services
        self.requests: list[tuple[str, str]] = []
        self.sent: dict[str, list[Message]] = {name: [] for name in services}
        self.threads: list[threading.Thread] = []
        self.log = logging.getLogger("servekit")

    def connect(self, cfg: Any, host: str, service: str, *args: Any,
                **kwargs: Any) -> Connection:
        ops = self.services.get(service)
        if ops is None:
            raise NbuError(CANNOT_CONNECT, f"service {service!r} is not registered with PBX")
        ours, theirs = socket.socketpair()
        t = threading.Thread(target=serve_connection,
                             args=(_Recording(theirs, service, self), ops, self.log,
                                   Gate(lambda: self.cfg), service),
                             daemon=True)
        t.start()
        self.threads.append(t)
        return Connection(ours, f"{service}@{host}")

    def ops(self, service: str) -> list[str]:
        return [op for s, op in self.requests if s == service]

    def asked(self, service: str, op: str) -> list[Message]:
        """The fields of each `op` request to `service`."""
        return [{k: v for k, v in m.items() if k != "op"} for m in self.sent[service]
                if m.get("op") == op]

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=10)
            assert not t.is_alive(), "a served connection was left open"


def serve(monkeypatch: pytest.MonkeyPatch, cfg: HostConfig, services: dict[str, Ops]) -> Served:
    """`client.connect` (and so client.call) reaches `services` for the rest of the test."""
    served = Served(cfg, services)
    monkeypatch.setattr(client, "connect", served.connect)
    return served


def script(ops: Ops, names: Iterable[str], *results: Message | NbuError) -> Ops:
    """The ops `names` of a daemon's table, their fields and rules kept, answering `results` in
    turn - one sequence across them - rather than running their handlers (an NbuError is
    the error reply)."""
    it = iter(results)

    def handler(msg: Message, conn: Connection) -> Message:
        r = next(it)
        if isinstance(r, NbuError):
            raise r
        return r
    return {name: replace(ops[name], handler=handler) for name in names}


def handled(ops: Ops, **handlers: Handler) -> Ops:
    """The ops named of a daemon's table, their fields and rules kept, run by `handlers`."""
    return {name: replace(ops[name], handler=h) for name, h in handlers.items()}
