"""A job's data service on the media server (`bptm.<jobid>` through PBX): who may connect.

bptm registers the service for its job. Two kinds of peer reach it: nbjm, with the media
information of a backup (seed step 9), and the job's agent - bpbkar with the image, or
tar-restore to take it - which is the only one that knows the job's secret: bptm makes it,
hands it to bpbrm on its control channel, and bpbrm to the agent on the agent's. Anyone else
who connects (a local user through PBX's socket, another host, and - when data-in-transit
encryption is off for the job - a plain TCP peer) is refused and closed, and the service goes
on waiting for the right one: a stranger can neither feed an image nor read one, nor make the
job fail by connecting first.

Place: media floor; imports net and status.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable

from nbcli.config import HostConfig
from nbcli.net import trust
from nbcli.net.service import Accepted, Registration


def new_secret() -> str:
    return secrets.token_hex(16)


def accept_agent(reg: Registration, secret: str, timeout: float,
                 log: logging.Logger) -> Accepted | None:
    """The first connection whose hello says the job's secret, within `timeout` seconds;
    others are closed (and logged)."""

    def knows(accepted: Accepted) -> bool:
        given = accepted.hello.get("secret")
        return isinstance(given, str) and hmac.compare_digest(given.encode(), secret.encode())

    return _first(reg, timeout, log, knows, "it does not know the job's secret")


def accept_server(reg: Registration, cfg: HostConfig, timeout: float,
                  log: logging.Logger) -> Accepted | None:
    """The first connection from root here or a server of this host (nbjm on the master);
    others are closed (and logged)."""

    def server(accepted: Accepted) -> bool:
        return bool(trust.caller(cfg, accepted.conn) & (trust.ROOT | trust.SERVER))

    return _first(reg, timeout, log, server, "not a server of this host")


def _first(reg: Registration, timeout: float, log: logging.Logger,
           wanted: Callable[[Accepted], bool], why: str) -> Accepted | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        accepted = reg.accept(timeout=left)
        if accepted is None:
            return None
        if wanted(accepted):
            return accepted
        log.warning("refused a connection to %s from %s: %s", reg.service,
                    trust.describe(accepted.conn), why)
        accepted.conn.close()
    return None
