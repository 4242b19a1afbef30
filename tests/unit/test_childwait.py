"""childwait.wait: a child's end, seen as Popen.wait sees it, with a deadline."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from nbcli import childwait

# A child that runs until its stdin is closed, then exits with the code it was given.
UNTIL_EOF = "import sys; sys.stdin.read(); sys.exit(int(sys.argv[1]))"


def _child(code: int = 0) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", UNTIL_EOF, str(code)],
                            stdin=subprocess.PIPE)


def test_it_waits_for_the_end_and_says_how_it_ended() -> None:
    proc = _child(7)
    with pytest.raises(subprocess.TimeoutExpired):
        childwait.wait(proc, 0.05)  # still reading its stdin
    assert proc.returncode is None
    assert proc.stdin is not None
    proc.stdin.close()
    assert childwait.wait(proc, 30) == 7
    assert proc.returncode == 7  # reaped: Popen knows it too


def test_a_killed_child_is_minus_its_signal() -> None:
    proc = _child()
    proc.send_signal(signal.SIGKILL)
    assert childwait.wait(proc, 30) == -signal.SIGKILL
    assert proc.stdin is not None
    proc.stdin.close()


def test_a_child_reaped_already_gives_its_code_again() -> None:
    proc = _child(3)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait() == 3  # reaped before: no pid to open, the code is Popen's
    assert childwait.wait(proc, 30) == 3
