"""A call to a Media Manager daemon that died, asked once more when it is back.

ltid starts avrd, tldd and tldcd again within seconds when one dies (ltid_children). A mount
in flight meanwhile need not fail: its caller waits up to BACK seconds for the daemon to
answer a ping, then asks again, once. Whether that is safe depends on the request: one that
never reached the daemon (CANNOT_CONNECT: not registered with PBX, or refused) may always be
asked again; one cut short (the connection broke) only when asking again changes nothing
(avrd's read of a header; tldd's mount and unmount, which plan their moves from the robot's
inventory once every move in progress has ended, so a move already made, or still being
made by tldcd for the tldd that died, is not made twice).

Place: a part of ltid and tldd; imports net and status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import (
    CANNOT_CONNECT,
    CONNECTION_BROKEN,
    HANDSHAKE_FAILED,
    PREMATURE_EOF,
    SOCKET_READ_FAILED,
    SOCKET_WRITE_FAILED,
    NbuError,
)

BACK = 15.0  # how long a caller waits for a daemon that died to be started again
# not registered with PBX, refused, or gone during the hello: no request was sent
NOT_REACHED = frozenset({CANNOT_CONNECT, HANDSHAKE_FAILED})
# a daemon gone before the request, or while it was served
GONE = NOT_REACHED | {SOCKET_READ_FAILED, SOCKET_WRITE_FAILED, CONNECTION_BROKEN,
                      PREMATURE_EOF}

T = TypeVar("T")


def again(cfg: HostConfig, host: str, service: str, call: Callable[[], T],
          when: frozenset[int] = GONE) -> T:
    """`call()`; when it fails with a status in `when`, wait for `service` on `host` to
    answer (up to BACK seconds) and `call()` once more."""
    try:
        return call()
    except NbuError as e:
        if e.status not in when:
            raise
    wait_back(cfg, host, service)
    return call()


def wait_back(cfg: HostConfig, host: str, service: str, timeout: float = BACK) -> None:
    """Return once `service` answers a ping; its last failure after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.call(cfg, host, service, "ping", recv_timeout=5.0)
            return
        except NbuError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
