"""The one place nbcli reads the wall clock.

Schedules, job times, backup ids and expirations all come from `now()`. Tests (and only tests:
it needs NBCLI_TESTING=1 in the environment, which the test fixtures set) can move a whole
host's clock by writing `<root>/var/run/testclock`:

    fixed <epoch>     time stands still at <epoch> until the file changes
    offset <seconds>  real time shifted by <seconds>

so that weeks of schedules run in seconds. Timeouts and deadlines use time.monotonic(), never
this clock: moving the test clock must not make a daemon give up on a peer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# The clock file of this process's host, set once at start-up by `use_root`. A process belongs
# to exactly one host, so this is process-wide by nature, not shared mutable state.
_clock_file: Path | None = None


def use_root(root: str | os.PathLike[str]) -> None:
    """Read the test clock of the host at `root` (only when NBCLI_TESTING=1)."""
    global _clock_file
    if os.environ.get("NBCLI_TESTING") == "1":
        _clock_file = Path(root) / "var" / "run" / "testclock"


def forget() -> None:
    """Back to the real clock: a process nbcmdd forked, before its command picks its host."""
    global _clock_file
    _clock_file = None


def now() -> float:
    """Seconds since the epoch, as this host sees them."""
    real = time.time()
    if _clock_file is None:
        return real
    try:
        kind, value = _clock_file.read_text().split()
    except (FileNotFoundError, ValueError):
        return real
    return float(value) if kind == "fixed" else real + float(value)


def set_test_clock(root: str | os.PathLike[str], *, fixed: float | None = None,
                   offset: float | None = None) -> None:
    """Move the clock of the host at `root` (tests only)."""
    from nbcli import atomic

    path = Path(root) / "var" / "run" / "testclock"
    text = f"fixed {fixed!r}" if fixed is not None else f"offset {offset or 0.0!r}"
    atomic.write_text(path, text + "\n")
