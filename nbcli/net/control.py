"""The control channel of a program bpcd launched (bpbrm, bptm, bpbkar, tar-restore).

bpcd starts an agent inetd-style: the connection from the server that asked is the agent's
stdin and stdout, and NBCLI_CONTROL=1 is in its environment. `control_connection` takes that
socket over and points stdin/stdout at /dev/null, so that a stray print can never corrupt the
framed channel. Run by hand (no NBCLI_CONTROL), an agent has no control channel.

A spare (NBCLI_SPARE=1, nbcli.net.spare) was started before anyone asked: its stdin is a
socketpair to its owner, and `control_connection` first waits there for the connection to
serve, passed as a file descriptor; end of file instead means the owner is gone, and the spare
exits without a word.
"""

from __future__ import annotations

import atexit
import gc
import os
import socket
import sys
from typing import NoReturn

from nbcli.net.conn import Connection

CONTROL_ENV = "NBCLI_CONTROL"
SPARE_ENV = "NBCLI_SPARE"


def launched_by_bpcd() -> bool:
    return os.environ.get(CONTROL_ENV) == "1"


def is_spare() -> bool:
    return os.environ.get(SPARE_ENV) == "1"


def control_connection(peer: str = "server") -> Connection:
    """The framed connection to whoever had bpcd launch this program."""
    fd = _handed_over() if is_spare() else os.dup(0)
    sock = socket.socket(fileno=fd)  # family and type are read from the fd
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return Connection(sock, peer)


def _handed_over() -> int:
    """A spare's wait for its connection; exits when the owner goes away instead."""
    owner = socket.socket(fileno=os.dup(0))
    # Everything imported so far lives as long as the process: out of the collector's sight,
    # the job's collections walk only what the job itself makes.
    gc.freeze()
    try:
        _, fds, _, _ = socket.recv_fds(owner, 1, 1)
    except OSError:
        fds = []
    owner.close()
    if not fds:
        os._exit(0)
    # From here this is an agent like any other: what it starts is not a spare.
    os.environ.pop(SPARE_ENV, None)
    return fds[0]


def exit_now(status: int) -> NoReturn:
    """An agent's end once its job is answered: what atexit holds runs (the event queue's
    drain, logging's flush), then the process ends without tearing the interpreter down.
    The teardown (every module freed, a full collection) costs ~15-20 ms of CPU that nobody
    waits for, but on a two-core host it runs beside the job's other processes as they
    finish the job."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
