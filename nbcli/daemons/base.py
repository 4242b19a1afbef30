"""The daemon runtime every long-running nbcli process shares.

A daemon runs in the foreground (`netbackup start` detaches it; under systemd or a test fixture
it simply runs), writes its pid file atomically, logs to logs/<name>/, registers its services
with the local PBX and serves them until SIGTERM. A signal only wakes the main thread (a byte
on a socket); it shuts the daemon down in order: services first, then its own state, then the
pid file.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable

import click
import psutil

from nbcli import atomic, clock, events
from nbcli import log as nblog
from nbcli.config import HostConfig, load
from nbcli.net import kept
from nbcli.net.service import Ops, ServiceHost
from nbcli.net.trust import Gate
from nbcli.pidfile import read_pidfile as read_pidfile  # re-exported: tests import it here
from nbcli.pidfile import remove_pidfile as remove_pidfile  # and nbcmdd this one
from nbcli.status import DAEMON_RUNNING, LOGIC_ERROR, NbuError

STARTUP_DEADLINE = 15.0
DATABASES_MODE = 0o700  # netbackup/db (Daemon.close_databases)
AUDIT_BURST = 200  # refusals a minute a daemon records in the master's error log


class Daemon:
    """Base of every daemon: subclasses name themselves and list their services."""

    name = "daemon"

    def __init__(self, cfg: HostConfig) -> None:
        self.cfg = cfg
        self.paths = cfg.paths
        self.log = nblog.setup(self.paths.logs, self.name, cfg.verbose)
        self.stop = threading.Event()
        self.failure: NbuError | None = None
        self._audit_lock = threading.Lock()
        self._audit_window = [time.monotonic(), 0, 0]  # since, entries sent, entries left out
        self.pid_lock = -1  # the lock claim_pidfile holds

    # --- what subclasses fill in ---------------------------------------------------------

    def services(self) -> dict[str, Ops]:
        """Service name -> table of ops; registered with the local PBX."""
        return {}

    def on_start(self) -> None:
        """Open databases, recover state; runs before any service is registered."""

    def on_stop(self) -> None:
        """Close what on_start opened; runs after the services stopped taking requests."""

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        """(interval seconds, task) pairs run on their own thread until stop."""
        return []

    # --- the runtime -------------------------------------------------------------------------

    def serve(self) -> None:
        """Register the services and dispatch their connections until stop."""
        host = ServiceHost(self.paths, self.cfg.client_name, self.services(), self.log,
                           Gate(lambda: self.cfg, self.audit, self.record))
        host.stop = self.stop
        host.register_all(time.monotonic() + STARTUP_DEADLINE)
        host.run()

    def audit(self, what: str, text: str) -> None:
        """A refused request: this daemon's log and the master's error log (bperror -all).

        At most AUDIT_BURST entries a minute reach the error log, so that a flood of refused
        requests cannot fill it; the next entry says how many were left out."""
        self.log.warning("%s", text)
        now = time.monotonic()
        with self._audit_lock:
            if now - self._audit_window[0] >= 60:
                left_out = self._audit_window[2]
                self._audit_window = [now, 0, 0]
                if left_out:
                    text += f" ({left_out} more refusals in the last minute are in the log " \
                            f"of {self.name} only)"
            self._audit_window[1] += 1
            if self._audit_window[1] > AUDIT_BURST:
                self._audit_window[2] += 1
                return
        events.daemon_event(self.cfg, self.name, f"{self.name}: {text}", events.WARNING)

    def record(self, what: str, text: str) -> None:
        """An admin change or a restore elsewhere: this daemon's log and the master's error
        log, who asked, from where and what."""
        self.log.info("%s", text)
        events.daemon_event(self.cfg, self.name, f"{self.name}: {text}", events.INFO)

    def close_databases(self) -> None:
        """netbackup/db is the daemons' alone (mode 0700), whatever made it: the jobs, the
        image catalog (every file name of every client's backups), policies, EMM. Each
        daemon answers a user or a client only what is theirs (bpjobd lists jobs to
        administrators, bpdbm a client's own images), and a file any local user could open
        would answer everything around them. A daemon that may not change the folder (not
        its owner) says so in its log and goes on: it is no more open than it was."""
        try:
            atomic.makedirs(self.paths.db)
            os.chmod(self.paths.db, DATABASES_MODE)
        except OSError as e:
            self.log.warning("cannot make %s mode %o: %s", self.paths.db, DATABASES_MODE,
                             e.strerror)

    def claim_pidfile(self) -> psutil.Process:
        """Write our pid file; status 145 when another process of ours runs already.

        A lock on <name>.lock, held for the daemon's life, makes the check and the write one
        step: without it two copies started at once (two `netbackup start`) both found no
        pid file, both wrote one and both ran - two bpjobd on one jobs database, two nbemm
        on one EMM database, two nbjm taking the same work."""
        atomic.makedirs(self.paths.run)
        lock = os.open(self.paths.run / f"{self.name}.lock",
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            running = read_pidfile(self.paths, self.name)
            raise NbuError(DAEMON_RUNNING, f"{self.name} is already running" +
                           (f" as pid {running.pid}" if running is not None else "")) from None
        self.pid_lock = lock  # closed by the kernel at exit; a forked command closes it
        me = psutil.Process()
        atomic.write_text(self.paths.pidfile(self.name), f"{me.pid} {me.create_time()}\n")
        return me

    def run(self) -> None:
        me = self.claim_pidfile()
        self.close_databases()
        kept.enable()  # the requests it makes to its host's daemons reuse their connections
        signals = self.catch_signals()
        self.log.info("%s starting (pid %d, host %s)", self.name, me.pid, self.cfg.client_name)
        try:
            self.on_start()
            if self.name != "nbevtmgr":  # the error log: nbevtmgr records its own start
                events.daemon_event(self.cfg, self.name, f"{self.name} started (pid {me.pid})")
            for interval, task in self.periodic():
                threading.Thread(target=self._every, args=(interval, task), daemon=True,
                                 name=getattr(task, "__name__", "periodic")).start()
            server = threading.Thread(target=self._serve_guarded, name="serve")
            server.start()
            self.wait_for_stop(signals)
            server.join(timeout=10)
            self.on_stop()
        finally:
            remove_pidfile(self.paths, self.name, me.pid)
            self.log.info("%s stopped", self.name)
        if self.failure is not None:
            raise self.failure

    def catch_signals(self) -> socket.socket:
        """SIGTERM, SIGINT and SIGHUP, as bytes on the socket returned for wait_for_stop.

        The handlers themselves do nothing. Python runs a handler between two bytecodes of
        the main thread, and the main thread may hold a lock just then (Event.wait holds its
        condition's lock while it wakes up), so a handler that takes a lock - Event.set does -
        can wait for itself forever: a daemon that never stops on SIGTERM."""
        wake_r, wake_w = socket.socketpair()
        for end in (wake_r, wake_w):
            end.setblocking(False)
        self._wake_w = wake_w  # held open for as long as the wakeup fd names it
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        return wake_r

    def wait_for_stop(self, signals: socket.socket) -> None:
        """The main thread's loop: act on the signals caught until SIGTERM or SIGINT, or until
        a failure elsewhere sets `stop`."""
        while not self.stop.is_set():
            if not select.select([signals], [], [], 0.5)[0]:
                continue
            try:
                caught = signals.recv(64)
            except BlockingIOError:
                continue
            self.on_signals(caught)

    def on_signals(self, caught: bytes) -> None:
        """The signal numbers read from the wakeup socket: SIGHUP reloads, SIGTERM or SIGINT
        stops."""
        if signal.SIGHUP in caught:
            self.reload()
        if signal.SIGTERM in caught or signal.SIGINT in caught:
            self.stop.set()

    def reload(self) -> None:
        """SIGHUP: read bp.toml again (VERBOSE, SERVER list, ...) without a restart."""
        try:
            self.cfg = load(self.cfg.root)
            self.log.setLevel(10 if self.cfg.verbose >= 1 else 20)
            self.log.info("%s read %s again", self.name, self.paths.bp_toml)
        except NbuError as e:
            self.log.error("cannot reload the configuration: %s", e)

    def _serve_guarded(self) -> None:
        try:
            self.serve()
        except NbuError as e:
            self.log.error("%s cannot serve: %s", self.name, e)
            events.daemon_event(self.cfg, self.name, f"{self.name} cannot serve: {e}",
                                events.CRITICAL)
            self.failure = e
            self.stop.set()
        except Exception as e:
            self.log.exception("%s cannot serve", self.name)
            events.daemon_event(self.cfg, self.name, f"{self.name} failed: {e}", events.CRITICAL)
            self.failure = NbuError(LOGIC_ERROR, f"{self.name} failed; see its log")
            self.stop.set()

    def _every(self, interval: float, task: Callable[[], None]) -> None:
        while not self.stop.wait(interval):
            try:
                task()
            except Exception as e:
                self.log.exception("periodic task %s failed", getattr(task, "__name__", task))
                events.daemon_event(self.cfg, self.name, f"{self.name}: periodic task "
                                    f"{getattr(task, '__name__', task)} failed: {e}", events.ERROR)


def daemon_main(cls: type[Daemon]) -> Callable[[], None]:
    """The console entry point of a daemon class: `<name> [--root DIR]`, in the foreground."""
    from nbcli.cli import NbCommand

    summary = (cls.__doc__ or "").strip().splitlines()[0]

    def command(root: str | None) -> int:
        # A client that hangs up must cost an EPIPE in its own thread, not the daemon's life
        # (NbCommand lets plain commands die of SIGPIPE, as `ls | head` does).
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        cfg = load(root)
        clock.use_root(cfg.root)
        cls(cfg).run()
        return 0

    command.__doc__ = (f"{cls.name}: {summary}.\n\nRuns in the foreground until SIGTERM (SIGHUP "
                       "reads bp.toml again); `netbackup start` starts it detached.\n\n\b\n"
                       "EXIT STATUS\n  0    stopped on SIGTERM\n  20   invalid command "
                       "parameter\n  21   cannot listen on the PBX port (pbx_exchange)\n"
                       "  25   cannot register with pbx_exchange\n"
                       "  110  the host root has no bp.toml\n  145  already running\n"
                       "  256  an internal error (see the daemon's log)")
    cmd = NbCommand(name=cls.name, callback=command, synopsis=f"{cls.name} [--root DIR]",
                    params=[click.Option(["--root", "-root", "root"],
                                         type=click.Path(file_okay=False), default=None,
                                         envvar="NB_ROOT", help="Host root folder.")],
                    help=command.__doc__)

    def main() -> None:
        cmd.main(prog_name=cls.name)

    return main
