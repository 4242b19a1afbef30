"""Waiting, with a deadline, for a child process to end: seen the moment it ends.

`subprocess.Popen.wait(timeout)` polls waitpid between sleeps that grow from 0.5 ms to 50 ms,
so a child that ends 1 ms into the wait is seen up to ~3 ms later. That wait is on every
restore from tape's path (bprd waits for its bprd child before it records the job's end), and
a restore of one file takes ~60 ms. A pidfd (Linux 5.3) becomes readable as the process ends;
where there is none, Popen's own wait does it.
"""

from __future__ import annotations

import os
import select
import subprocess


def wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """How `proc` ended (its exit code, -N if signal N killed it), as `proc.wait(timeout)`:
    subprocess.TimeoutExpired if it still runs after `timeout` seconds."""
    if proc.poll() is None:
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # no pidfd here, or another thread reaped it just now
            return proc.wait(timeout)
        try:
            # Until it is reaped its pid is not reused, so the pidfd is this process - unless
            # another thread (Spares' refiller polls what it launched) reaped it before we
            # opened it: then poll() has its code, and the pidfd is not looked at.
            if proc.poll() is None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if not poller.poll(timeout * 1000):
                    raise subprocess.TimeoutExpired(proc.args, timeout)
        finally:
            os.close(pidfd)
    return proc.wait()
