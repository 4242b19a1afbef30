"""How bptm tells the ways its child ended (nbcli.media.bptm_ctx), on real forked processes:
killed by a signal is 82 (as bptm killed), an exit with an error 24 (its send failed: the
client's own status says why), and the parent looks without reaping, which it does later."""

from __future__ import annotations

import os
import signal

from nbcli.media.bptm_ctx import child_status, exit_code_of, reap
from nbcli.status import MEDIA_MANAGER_KILLED, SOCKET_WRITE_FAILED


def forked(code: int | None) -> int:
    """A child that exits `code`, or (None) waits to be killed."""
    pid = os.fork()
    if pid == 0:
        if code is None:
            signal.pause()
        os._exit(code or 0)
    return pid


def test_an_exit_and_a_kill_told_apart_without_reaping() -> None:
    failed = forked(3)
    assert exit_code_of(failed) == 3 and child_status(3) == SOCKET_WRITE_FAILED
    assert reap(failed) == 3  # still the caller's to reap
    killed = forked(None)
    os.kill(killed, signal.SIGKILL)
    assert exit_code_of(killed) == -signal.SIGKILL
    assert child_status(exit_code_of(killed)) == MEDIA_MANAGER_KILLED
    assert reap(killed) == -signal.SIGKILL
    assert child_status(reap(forked(0))) == 0


def test_a_child_still_running_is_not_waited_for_long() -> None:
    running = forked(None)
    try:
        assert exit_code_of(running, wait=0.1) == 1
    finally:
        assert reap(running, kill=True) == -signal.SIGKILL
