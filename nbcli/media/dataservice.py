"""A job's data service on the media server (`bptm.<jobid>` through PBX): who may connect.

bptm registers the service for its job. Two kinds of peer reach it: nbjm, with the media
information of a backup (seed step 9), and the job's agent - bpbkar with the image, or
tar-restore to take it - which is the only one that knows the job's secret: bptm makes it,
hands it to bpbrm on its control channel, and bpbrm to the agent on the agent's. Anyone else
who connects (a local user through PBX's socket, another host, and - when data-in-transit
encryption is off for the job - a plain TCP peer) is refused and closed, and the service goes
on waiting for the right one: a stranger can neither feed an image nor read one, nor make the
job fail by connecting first.

The secret is 32 random bytes. An encrypted stream (data-in-transit encryption on) never
shows it: the agent's hello carries a salt, and the stream is sealed with a key made from the
secret and both ends' salts (nbcli.net.sealed), which the agent proves it holds before the
service takes it. A stream in the clear, or one on this host, says the secret in its hello.

Place: media floor; imports net and status.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable

from nbcli.config import HostConfig
from nbcli.net import sealed, trust
from nbcli.net.service import Accepted, Registration

# Seconds for an agent's proof on a sealed stream: it sends it as soon as it has our salt, and a
# stranger that says a sealed hello and nothing more holds the service no longer than this.
HANDSHAKE_TIMEOUT = 10.0
# Agents' handshakes under way at once. A sealed one waits up to HANDSHAKE_TIMEOUT for a proof:
# one after another, three silent strangers would outlast the agent's own wait for its hello's
# answer (nbcli.net.client.HELLO_TIMEOUT, 30 s), so each runs in a thread of its own and the
# agent is taken while they wait. Bounded, so that a flood costs threads and descriptors no
# more than this.
HANDSHAKES_MAX = 64


def new_secret() -> str:
    return secrets.token_hex(32)


def accept_agent(reg: Registration, secret: str, timeout: float,
                 log: logging.Logger) -> Accepted | None:
    """The first connection that knows the job's secret, within `timeout` seconds; others are
    closed (and logged). A sealed stream's agent proves it with a frame sealed under the
    connection's key (its `conn.sock` is then a nbcli.net.sealed.SealedSocket); any other
    says the secret in its hello (a stream in the clear, or one on this host)."""

    def knows(accepted: Accepted) -> bool:
        salt = accepted.hello.get("sealed")
        if isinstance(salt, str):
            return sealed.seal_service(accepted.conn, secret, salt, HANDSHAKE_TIMEOUT)
        given = accepted.hello.get("secret")
        return isinstance(given, str) and hmac.compare_digest(given.encode(), secret.encode())

    return _first_of_many(reg, timeout, log, knows, "it does not know the job's secret")


def accept_server(reg: Registration, cfg: HostConfig, timeout: float,
                  log: logging.Logger) -> Accepted | None:
    """The first connection from root here or a server of this host (nbjm on the master);
    others are closed (and logged)."""

    def server(accepted: Accepted) -> bool:
        return bool(trust.caller(cfg, accepted.conn) & (trust.ROOT | trust.SERVER))

    return _first(reg, timeout, log, server, "not a server of this host")


def _who(accepted: Accepted) -> str:
    """Who a refused peer is, for the log: its hello's host name is the stranger's own words,
    so a line break or other control character in it is escaped (no forged log lines)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1]
                   for c in trust.describe(accepted.conn))


def _first(reg: Registration, timeout: float, log: logging.Logger,
           wanted: Callable[[Accepted], bool], why: str) -> Accepted | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        accepted = reg.accept(timeout=left)
        if accepted is None:
            # a timeout, or a peer gone before its hello was answered (a local user's connect,
            # hello and close): that one is gone, not the wait - the loop's test ends a timeout
            continue
        if wanted(accepted):
            return accepted
        log.warning("refused a connection to %s from %s: %s", reg.service,
                    _who(accepted), why)
        accepted.conn.close()
    return None


def _first_of_many(reg: Registration, timeout: float, log: logging.Logger,
                   wanted: Callable[[Accepted], bool], why: str) -> Accepted | None:
    """`_first`, each check in a thread (HANDSHAKES_MAX at once): a slow stranger holds its
    own handshake, not the next connection's. Those still under way when it returns are cut
    (their sockets shut down), and their threads close them."""
    deadline = time.monotonic() + timeout
    lock = threading.Lock()
    won: list[Accepted] = []
    over = threading.Event()  # set under the lock: a late success is closed, not taken
    running: dict[threading.Thread, socket.socket] = {}  # each check's dup of its socket
    wake_r, wake_w = socket.socketpair()

    def check(accepted: Accepted) -> None:
        ok = False
        try:
            ok = wanted(accepted)
        except Exception:  # a bug in one check must not take the agent's with it
            log.exception("checking a connection to %s failed", reg.service)
        with lock:
            taken = ok and not won and not over.is_set()
            if taken:
                won.append(accepted)
            probe = running.pop(threading.current_thread(), None)
        if probe is not None:
            probe.close()
        if not taken:
            if not ok:
                log.warning("refused a connection to %s from %s: %s", reg.service,
                            _who(accepted), why)
            accepted.conn.close()
        try:
            wake_w.send(b".")
        except OSError:
            pass  # the wait is over

    sel = selectors.DefaultSelector()
    sel.register(wake_r, selectors.EVENT_READ)
    listening = False
    try:
        while not won and (left := deadline - time.monotonic()) > 0:
            with lock:
                full = len(running) >= HANDSHAKES_MAX
            if full == listening:  # at the bound, take no more until a handshake ends
                if full:
                    sel.unregister(reg.fileno())
                else:
                    sel.register(reg.fileno(), selectors.EVENT_READ)
                listening = not full
            for key, _ in sel.select(left):
                if key.fileobj is wake_r:
                    wake_r.recv(4096)
                    continue
                accepted = reg.accept(timeout=0)
                if accepted is None:
                    continue  # a peer gone before its hello was answered (see _first)
                t = threading.Thread(target=check, args=(accepted,), daemon=True,
                                     name=f"{reg.service} handshake")
                with lock:
                    running[t] = accepted.conn.sock.dup()
                t.start()
        with lock:  # the probes of the checks still under way are ours to cut and close now
            over.set()
            cut = list(running.items())
            running.clear()
        for _, probe in cut:
            try:
                probe.shutdown(socket.SHUT_RDWR)  # its read ends now: the thread closes it
            except OSError:
                pass
            probe.close()
        for t, _ in cut:  # ended before bptm forks its child: a cut read returns at once
            t.join(5.0)
        return won[0] if won else None
    finally:
        sel.close()
        wake_r.close()
        wake_w.close()
