"""An agent's fast end (nbcli.net.control.exit_now): its status, its atexit work and its
buffered output survive skipping the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent("""
    import atexit, logging, sys
    from nbcli.net.control import exit_now
    out = sys.argv[1]
    log = logging.getLogger("agent")
    handler = logging.FileHandler(out + ".log")
    handler.flush = lambda: None  # buffered: only logging.shutdown's close writes it out
    log.addHandler(handler)
    log.warning("the job's last line")
    atexit.register(lambda: open(out + ".atexit", "w").write("drained"))
    sys.stdout.write("no newline, still buffered")
    exit_now(int(sys.argv[2]))
    """)


def test_exit_now_keeps_status_atexit_and_output(tmp_path: Path) -> None:
    out = tmp_path / "agent"
    r = subprocess.run([sys.executable, "-c", PROGRAM, str(out), "184"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 184, r.stderr
    assert r.stdout == "no newline, still buffered"
    assert (tmp_path / "agent.atexit").read_text() == "drained"
    assert (tmp_path / "agent.log").read_text() == "the job's last line\n"
