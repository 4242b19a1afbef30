"""The README's main command, as a user runs it: the demo on the embedded default root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nbcli import multihost, procs


def test_demo_backs_up_restores_and_shows_the_jobs(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "nbcli" / "openv"  # the default root under that data folder
    port = multihost.free_port(["127.0.0.1"])  # the default 1556 may be taken on this machine
    subprocess.run([sys.executable, "-m", "nbcli", "netbackup", "init", "--port", str(port)],
                   env=env, check=True, capture_output=True)
    try:
        r = subprocess.run([sys.executable, "-m", "nbcli.demo"], env=env, text=True,
                           capture_output=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "identical to" in r.stdout
        table = r.stdout.split("$ bpdbjobs\n")[1].splitlines()
        assert table[0].split()[:3] == ["JobID", "Type", "State"]
        assert [line.split()[1:4] for line in table[1:3]] == [["Restore", "Done", "0"],
                                                               ["Backup", "Done", "0"]]
    finally:
        subprocess.run([sys.executable, "-m", "nbcli", "netbackup", "stop"],
                       env=dict(env, NB_ROOT=str(root)), capture_output=True)
    assert procs.find(root) == []
