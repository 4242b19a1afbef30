"""ltid's watch over avrd and the robot daemons (nbcli.daemons.ltid_children): a daemon that
is gone is started again; one that keeps crashing at its start waits a pause that doubles;
one that served and was killed is started again at once. Real child processes stand for the
daemons (one that exits at once, one that runs); the clock is a fake, so that the pauses
are exact."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from nbcli import config
from nbcli.daemons import ltid_children
from nbcli.daemons.ltid_children import PAUSE_MIN, Children


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, crash: bool) -> None:
        self.now = 0.0
        self.crash = crash
        self.starts: list[tuple[float, psutil.Popen]] = []
        self.serving: dict[str, psutil.Process] = {
            "tldcd": psutil.Process(), "tldd": psutil.Process()}  # running all along
        monkeypatch.setattr(ltid_children.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(ltid_children.procs, "start_daemon", self.start)
        monkeypatch.setattr(ltid_children.procs, "find", lambda root: [])
        monkeypatch.setattr(ltid_children, "read_pidfile",
                            lambda paths, name: self.serving.get(name))
        self.stop = threading.Event()
        cfg = config.init_root(tmp_path / "root")
        self.children = Children(cfg, logging.getLogger("test"), self.stop)

    def start(self, cfg: config.HostConfig, name: str) -> psutil.Popen:
        assert name == "avrd"
        code = "raise SystemExit(1)" if self.crash else "import time; time.sleep(60)"
        proc = psutil.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
        self.starts.append((self.now, proc))
        return proc

    def at(self, now: float) -> list[str]:
        self.now = now
        return self.children.check()

    def close(self) -> None:
        for _, proc in self.starts:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_a_daemon_crashing_at_its_start_waits_a_pause_that_doubles(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    w = World(monkeypatch, tmp_path, crash=True)
    try:
        assert w.at(0.0) == ["avrd"]
        for expected_next in (PAUSE_MIN, 3 * PAUSE_MIN, 7 * PAUSE_MIN):
            w.starts[-1][1].wait(30)  # it died without writing its pid file
            assert w.at(expected_next - 0.01) == []
            assert w.at(expected_next) == ["avrd"]
        assert [t for t, _ in w.starts] == [0.0, 1.0, 3.0, 7.0]
    finally:
        w.close()


def test_a_daemon_that_served_and_was_killed_is_started_again_at_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    w = World(monkeypatch, tmp_path, crash=False)
    try:
        for round_ in range(3):
            now = 0.1 * round_
            assert w.at(now) == ["avrd"]
            proc = w.starts[-1][1]
            w.serving["avrd"] = psutil.Process(proc.pid)  # it wrote its pid file
            assert w.at(now + 0.01) == []  # ours, serving: left alone
            del w.serving["avrd"]
            proc.kill()
            proc.wait()
        assert len(w.starts) == 3  # each within a tenth of a second of the last
        w.stop.set()
        assert w.at(1.0) == []  # ltid stops: nothing is started any more
    finally:
        w.close()


def test_a_daemon_that_runs_is_never_started_twice(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    w = World(monkeypatch, tmp_path, crash=False)
    w.serving["avrd"] = psutil.Process()
    try:
        assert [w.at(t) for t in (0.0, 5.0, 100.0)] == [[], [], []]
        assert w.starts == []
    finally:
        w.close()
