"""Fixtures: every test runs with a scrubbed environment and its own host roots.

Hosts are real: their daemons are real processes listening on real sockets under tmp_path,
and commands run as real processes (`Host.run`). Ports come from the OS (free on all three
loopback addresses), so tests never collide with each other or with a running NetBackup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nbcli import config, multihost, procs, programs
from nbcli.config import HostConfig

# A shell without job control starts a background command (`.ci/run &`, nohup) with SIGINT
# ignored, and every process the tests start would inherit that. The launcher keeps an ignored
# SIGINT ignored, as `nohup` asks, so the tests that pass a Ctrl-C on would wait for nothing:
# the suite runs as from a terminal, wherever it is started.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("NB_", "NBCLI_")):
            monkeypatch.delenv(key)
    # The default root lives in the user data folder: point it into the test's own folder.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NBCLI_TESTING", "1")


@dataclass
class Host:
    spec: multihost.HostSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def root(self) -> Path:
        return self.spec.root

    @property
    def cfg(self) -> HostConfig:
        return config.load(self.root)

    def env(self, **extra: str) -> dict[str, str]:
        return dict(os.environ, NB_ROOT=str(self.root), NBCLI_TESTING="1", **extra)

    def run(self, *argv: str, input: str | None = None, check: bool = True,
            timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        """Run an nbcli command as a real process on this host."""
        r = subprocess.run(programs.argv_for(argv[0]) + list(argv[1:]), env=self.env(**env),
                           input=input, text=True, errors="surrogateescape",
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {r.returncode}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def processes(self, spares: bool = True) -> list[procs.NbProcess]:
        """The host's nbcli processes; `spares=False` leaves out agents waiting for a job."""
        return [p for p in procs.find(self.root) if spares or not p.spare]

    def log(self, program: str) -> str:
        """All of `program`'s debug log on this host, oldest file first: a run that crosses
        midnight writes two files (log.MMDDYY)."""
        files = sorted((self.cfg.paths.logs / program).glob("log.*"),
                       key=lambda f: f.stat().st_mtime)
        return "".join(f.read_text(errors="replace") for f in files)

    def start(self, *only: str) -> None:
        """`netbackup start` (`--only` those named). One that fails leaves the daemons it
        started running, as NetBackup's bp.start_all does; a test's setup that fails runs no
        teardown, so they are stopped here, or they outlive the test run."""
        try:
            self.run("netbackup", "start", *(("--only", ",".join(only)) if only else ()))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.run("netbackup", "stop", check=False)


def wait_for(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll `cond` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _make(base: Path, layout: list[tuple[str, str, list[str]]]) -> list[Host]:
    return [Host(s) for s in multihost.create(base, layout=layout)]


@pytest.fixture
def aio_root(tmp_path: Path) -> Host:
    """An all-in-one host (master, media, client), created but not started."""
    (host,) = _make(tmp_path / "hosts", [("aio", "127.0.0.1", ["master", "media", "client"])])
    return host


@pytest.fixture
def aio(aio_root: Host) -> Iterator[Host]:
    """A running all-in-one host; stopped (and checked to be gone) after the test."""
    aio_root.start()
    yield aio_root
    aio_root.stop()
    assert aio_root.processes() == []


@pytest.fixture
def daemons(aio_root: Host) -> Iterator[Callable[..., Host]]:
    """Start only some daemons of an all-in-one host: `daemons("bpjobd")` (PBX and nbcmdd
    come too).

    For tests of one daemon that must not depend on the others.
    """

    def start(*names: str) -> Host:
        # nbcmdd too: without it every command the test runs starts its own interpreter
        aio_root.start(*names, "nbcmdd")
        return aio_root

    yield start
    aio_root.stop()
    assert aio_root.processes() == []


def start_enrolled(hosts: list[Host]) -> None:
    """Start hosts and enrol them with the master's CA, as `nb-hosts up` does: once the master
    holds its certificate, other hosts reach it (and each other) only in TLS."""
    for h in hosts:
        h.start()
    multihost.enrol([h.spec for h in hosts])


def running_three(base: Path, enrolled: bool = True) -> Iterator[dict[str, Host]]:
    """master (127.0.0.1), media (127.0.0.2), client (127.0.0.3), running, enrolled unless
    told otherwise; stopped and checked to be gone afterwards."""
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    hosts = {h.name: h for h in _make(base, multihost.LAYOUT)}
    try:
        if enrolled:
            start_enrolled(list(hosts.values()))
        else:
            for h in hosts.values():
                h.start()
        yield hosts
    finally:
        for h in hosts.values():
            h.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)
        leftovers = [p for h in hosts.values() for p in h.processes()]
        assert leftovers == [], leftovers


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    """Three enrolled hosts (running_three), shared by a module."""
    yield from running_three(tmp_path_factory.mktemp("three"))


@pytest.fixture(scope="module")
def three_hosts_not_enrolled(tmp_path_factory: pytest.TempPathFactory
                             ) -> Iterator[dict[str, Host]]:
    """Three hosts of which only the master holds a certificate (nbwmc issues its own): the
    others reach each other in plain TCP, and the master only for enrolment."""
    yield from running_three(tmp_path_factory.mktemp("three"), enrolled=False)
