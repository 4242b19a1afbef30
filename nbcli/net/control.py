"""The control channel of a program bpcd launched (bpbrm, bptm, bpbkar, tar-restore).

bpcd starts an agent inetd-style: the connection from the server that asked is the agent's
stdin and stdout, and NBCLI_CONTROL=1 is in its environment. `control_connection` takes that
socket over and points stdin/stdout at /dev/null, so that a stray print can never corrupt the
framed channel. Run by hand (no NBCLI_CONTROL), an agent has no control channel.
"""

from __future__ import annotations

import os
import socket

from nbcli.net.conn import Connection

CONTROL_ENV = "NBCLI_CONTROL"


def launched_by_bpcd() -> bool:
    return os.environ.get(CONTROL_ENV) == "1"


def control_connection(peer: str = "server") -> Connection:
    """The framed connection to whoever had bpcd launch this program."""
    sock = socket.socket(fileno=os.dup(0))  # family and type are read from the fd
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return Connection(sock, peer)
