"""netbackup stop's wait for the processes it stopped: an exited process that nobody reaped yet
(a detached daemon's parent is init, which may take seconds) has ended."""

from __future__ import annotations

import subprocess
import sys

import psutil

from nbcli import procs
from tests.conftest import wait_for


def test_an_unreaped_process_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    proc = psutil.Process(child.pid)
    try:
        # Not reaped: it stays a zombie until child.wait() below.
        wait_for(lambda: proc.status() == psutil.STATUS_ZOMBIE, what="the child to exit")
        assert psutil.pid_exists(child.pid)
        assert procs.wait_gone([proc], timeout=0) == []
    finally:
        child.wait()


def test_a_running_process_is_still_there_after_the_timeout() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = psutil.Process(child.pid)
        assert procs.wait_gone([proc], timeout=0) == [proc]
    finally:
        child.kill()
        child.wait()
