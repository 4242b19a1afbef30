"""A daemon's SIGTERM lands while its main thread holds the stop event's lock, as Event.wait
does for a moment each time it wakes: the daemon must still stop (it once waited for itself
forever there, and a test fixture found an nbproxy that SIGTERM never ended)."""

from __future__ import annotations

import subprocess
import sys

from nbcli.config import load
from tests.conftest import Host

# Run in a process of its own: the handlers and the wakeup fd are process-wide.
SCRIPT = """
import os, signal, sys
from nbcli.config import load
from nbcli.daemons.base import Daemon

daemon = Daemon(load(sys.argv[1]))
signals = daemon.catch_signals()
with daemon.stop._cond:  # the lock Event.wait holds as it wakes up
    os.kill(os.getpid(), signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGTERM)
daemon.wait_for_stop(signals)
print("stopped", daemon.stop.is_set())
"""


def test_sigterm_stops_a_daemon_whose_main_thread_holds_the_stop_lock(aio_root: Host) -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(aio_root.root)], capture_output=True,
                       text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "stopped True\n"), r.stderr
    # SIGHUP, caught beside it, read bp.toml again on the main thread
    logs = load(str(aio_root.root)).paths.logs / "daemon"
    assert any("bp.toml again" in p.read_text() for p in logs.iterdir())
