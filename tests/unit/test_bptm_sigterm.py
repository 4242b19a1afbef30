"""bptm's SIGTERM (netbackup stop of its media server): Aborted once, never raised into a
clean-up already under way (there it shuts the control channel instead, which the job takes
as bpbrm gone), and a second SIGTERM changes nothing."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from nbcli.media.bptm import stop_on_sigterm
from nbcli.media.bptm_ctx import Aborted


@pytest.fixture
def control() -> Iterator[tuple[socket.socket, socket.socket]]:
    old = signal.getsignal(signal.SIGTERM)
    ours, bpbrm = socket.socketpair()
    try:
        stop_on_sigterm(ours)
        yield ours, bpbrm
    finally:
        signal.signal(signal.SIGTERM, old)
        ours.close()
        bpbrm.close()


def test_sigterm_aborts_the_job_once(control: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = control
    with pytest.raises(Aborted, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises first
    os.kill(os.getpid(), signal.SIGTERM)  # a second one: nothing
    ours.sendall(b"x")  # and the control channel is untouched


def test_sigterm_during_a_cleanup_lets_it_finish(
        control: tuple[socket.socket, socket.socket]) -> None:
    ours, bpbrm = control
    cleaned = False
    try:
        raise Aborted("bpbrm went away")
    except Aborted:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the fragments are being removed
        cleaned = True
    assert cleaned
    bpbrm.settimeout(5)
    assert bpbrm.recv(1) == b""  # the channel is shut: the job sees bpbrm gone
    with pytest.raises(OSError):
        ours.sendall(b"x")
