"""netbackup stop's wait for the processes it stopped: an exited process that nobody reaped yet
(a detached daemon's parent is init, which may take seconds) has ended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

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


class Unkillable:
    """Another user's process: the kernel refuses every signal to it (EPERM). A stand-in:
    as root, the tests can signal any process they could start."""

    pid = 4242

    def terminate(self) -> None:
        raise psutil.AccessDenied(self.pid)

    def kill(self) -> None:
        raise psutil.AccessDenied(self.pid)

    def status(self) -> str:
        return psutil.STATUS_SLEEPING


def test_a_process_that_will_not_die_is_a_survivor_and_one_that_dies_is_not() -> None:
    # stopltid and netbackup stop exit 1, naming it, rather than 0 with it still running
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dies = procs.NbProcess("avrd", psutil.Process(child.pid))
        stays = procs.NbProcess("ltid", Unkillable())  # type: ignore[arg-type]
        said: list[str] = []
        assert procs.terminate([stays, dies], said.append, deadline=0.2) == 1
        assert said == ["Stopping ltid (pid 4242)...", f"Stopping avrd (pid {child.pid})..."]
        assert procs.survivors([stays, dies]) == [stays]
    finally:
        child.kill()
        child.wait()


def test_a_stop_that_ends_while_another_looks_is_still_a_stop(tmp_path: Path) -> None:
    """Two `netbackup stop` at once: the one that finishes first is ending while the other
    lists what is left. Its command line, read again then, is gone; the one `find` read
    still says it is a stop, and the other does not report it as a process it could not
    stop (CI saw that: exit 1)."""
    from nbcli.commands.netbackup import not_stops

    script = tmp_path / "netbackup"  # a process that looks like `netbackup stop` to find
    script.write_text("import sys, time\nsys.stdin.read()\n")
    root = tmp_path / "root"
    root.mkdir()
    child = subprocess.Popen([sys.executable, str(script), "stop", "--root", str(root)],
                             stdin=subprocess.PIPE)
    try:
        found = wait_for(lambda: [p for p in procs.find(root) if p.proc.pid == child.pid],
                         what="the stop-like process, found")
        assert found[0].program == "netbackup"
        assert child.stdin is not None
        child.stdin.close()  # it ends now, as the first stop does
        child.wait()
        with pytest.raises(psutil.Error):
            found[0].proc.cmdline()  # what the other stop read before: nothing
        assert not_stops(found) == []
    finally:
        child.kill()
        child.wait()
