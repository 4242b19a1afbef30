"""Connections a daemon keeps, between requests, to the services of its own host it asks.

Each request a daemon made to another daemon of its host was a new connection: PBX's Unix
socket, the hello, PBX handing the socket over, the service's thread starting (0.3-0.5 ms),
some ten of them on the path of every restore (nbjm to nbrb, nbrb to nbemm, the job reports
of bprd, nbjm and nbrb to bpjobd). A daemon (Daemon.run calls `enable`) now keeps the
connection of a request that ended cleanly, up to KEEP per service, and its next request to
that service takes it. One request at a time uses a connection.

A kept connection that the service closed meanwhile (it restarted, or ended the connection)
reads end of file and is dropped before use. A request that fails in any way closes its
connection: a reply that came after a timeout must never answer the next request. Another
host's services are not kept (their connections are TLS, and their daemons restart on their
own). Daemons never fork (nbcli.net.service), so no child inherits a kept connection; the
processes that fork (bptm, bpbrm, nbcmdd) do not enable it.
"""

from __future__ import annotations

import select
import threading

from nbcli.config import HostConfig
from nbcli.net.conn import Connection

KEEP = 4  # idle connections kept per service: a daemon's requests at the same moment

_enabled = False
_lock = threading.Lock()
_idle: dict[tuple[str, str, str], list[Connection]] = {}


def enable() -> None:
    """Keep connections in this process from now on (a daemon's)."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def take(cfg: HostConfig, host: str, service: str) -> Connection | None:
    """A kept connection to `service` on `host` that is still open, or None."""
    if not _enabled or not cfg.is_local(host):
        return None
    key = (str(cfg.root), host, service)
    while True:
        with _lock:
            idle = _idle.get(key)
            conn = idle.pop() if idle else None
        if conn is None:
            return None
        if _quiet(conn):
            return conn
        conn.close()


def give(cfg: HostConfig, host: str, service: str, conn: Connection) -> None:
    """Keep `conn`, whose last request ended cleanly, for the next request (or close it)."""
    if _enabled and cfg.is_local(host):
        with _lock:
            idle = _idle.setdefault((str(cfg.root), host, service), [])
            if len(idle) < KEEP:
                idle.append(conn)
                return
    conn.close()


def _quiet(conn: Connection) -> bool:
    """Nothing to read, no hang-up: between requests a service sends nothing, so anything
    readable is end of file (or garbage) and the connection is not used again."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)  # POLLHUP comes anyway
    return not poller.poll(0)
