"""Starting agents on a connection, from a spare when one is waiting.

An agent (bpbrm, bptm, bpbkar, tar-restore) runs with the connection of whoever asked for it as
its stdin and stdout. Starting Python and importing an agent takes ~60 ms on the machines we
measured, and a job waits for two or three agents one after the other; so whoever starts
agents (bpcd; bprd for its children; bpbrm for its bptm) keeps spares of each program it has
started once - KEEP of them, so that back-to-back jobs find one ready; each costs ~21-24 MiB
RSS, ~12 MiB of it its own (USS). A spare is the same program, started the same way (its own
command line, NB_ROOT in its environment: bpps and `netbackup stop` see it like any agent),
but with NBCLI_SPARE=1 and a Unix socketpair as its stdin. It imports what it needs and waits
there. Starting it is handing it the connection over the socketpair (SCM_RIGHTS); from then on
it runs exactly as if it had been started on that connection. A spare whose owner goes away
reads end of file and exits: it never runs a job nobody asked for. When no spare is waiting
(the first time, or many jobs at once), a new process is started as before.

A spare starts under SCHED_IDLE (util-linux's chrt), so that its imports yield to any job
that starts meanwhile; the owner puts it back to normal scheduling as it hands the connection
over, so a spare that is still importing then is not starved by busy jobs. That switch is also
how bpps tells a waiting spare from a working agent (nbcli.procs); without chrt, or without
the right to leave SCHED_IDLE (no CAP_SYS_NICE, RLIMIT_NICE too low), there are no spares, and every
launch starts a new process.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from nbcli import programs
from nbcli.config import Paths
from nbcli.net.control import CONTROL_ENV, SPARE_ENV


def _may_leave_idle() -> bool:
    """Whether we may take a process of ours back from SCHED_IDLE to SCHED_OTHER: with
    CAP_SYS_NICE (root, unless a container took it away), or when RLIMIT_NICE allows nice 0
    (Linux's rule for leaving SCHED_IDLE). If not, a spare would run its job at idle
    priority, so none is started."""
    if _has_cap_sys_nice():
        return True
    soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
    return soft == resource.RLIM_INFINITY or soft >= 20  # the nice floor is 20 - soft


_CAP_SYS_NICE = 23


def _has_cap_sys_nice() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_NICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


_CHRT = shutil.which("chrt") if _may_leave_idle() else None  # starts spares under SCHED_IDLE
AVAILABLE = _CHRT is not None  # whether this host's launches keep spares
REFILL_POLL = 0.05  # seconds between looks at the launched programs
# Spares a daemon keeps of each program it launches. One is enough for jobs that come apart;
# with two, a job that comes right after another still finds one ready when the first one's
# replacement is not (see Spares).
KEEP = 2
# Seconds without a launch after which spares are topped up while some still wait: longer
# than the launches of one job are apart (a tape restore of one file launches its last agent
# ~20 ms after its first), shorter than a job that streams for seconds.
QUIET = 0.5


def due(short: set[str], running: dict[str, int], waiting: dict[str, int],
        since_launch: float) -> set[str]:
    """Which of the programs with spares to replace (`short`) to top up now, given how many
    processes of each started here still run, how many spares of each wait, and the seconds
    since the last launch (Spares)."""
    if since_launch >= QUIET:
        return set(short)
    return {name for name in short if not running.get(name) and not waiting.get(name)}


class Spare:
    """One waiting program and our end of its socketpair."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock

    def hand_over(self, fd: int) -> bool:
        """Give the spare connection `fd`; False if it is no longer there to take it."""
        try:
            if self.proc.poll() is not None:
                return False
            # Left at idle priority, the job would crawl: a spare we cannot take back to
            # normal scheduling is not used (OSError: dismissed, a new process runs the job).
            os.sched_setscheduler(self.proc.pid, os.SCHED_OTHER, os.sched_param(0))
            return socket.send_fds(self.sock, [b"\0"], [fd]) == 1
        except OSError:
            return False
        finally:
            self.sock.close()

    def dismiss(self) -> None:
        self.sock.close()  # the spare reads end of file and exits


class Spares:
    """The programs an owner starts, and up to `keep` spares per program it has started before.

    A new Python importing an agent takes ~60-70 ms of CPU and page faults; on a 2-core
    machine doing that beside a short job made each of the job's remaining steps 3-5 times
    slower, under SCHED_IDLE too (and with the spare's session niced to 19: what slows the job
    is not its share of the CPUs). So a launch takes the oldest spare (the one most likely done
    importing), and its replacement is started when it costs the least (`due`):

    - when no launch has come for QUIET seconds: between jobs, or in the middle of a long one,
      while its data streams and its processes mostly wait for the drive or the network;
    - at once when none of the program is left waiting, once no process of it started here
      runs any more: a job that comes now would otherwise start a new process.

    So jobs that come apart, or right after a long one, find a ready spare and nothing
    importing beside them (a tape restore of 1 KiB right after a 3 s restore took 2-3 times
    its time at rest when the replacements were started as that restore ended, and as long as
    at rest once they were started while it streamed). Short jobs in a row use up the KEEP
    spares first; then the replacements import beside the next job, which takes one still
    importing (or starts a new process when there is none).
    """

    def __init__(self, root: Path, new_session: bool,
                 fixed_args: dict[str, list[str]] | None = None, keep: int = KEEP) -> None:
        self.root = root
        self.new_session = new_session
        # arguments every process of a program gets, its spares too (bprd's child: -child)
        self.fixed_args = fixed_args or {}
        self.keep = max(keep, 1)
        self._waiting: dict[str, list[Spare]] = {}  # oldest first
        self._running: dict[str, list[subprocess.Popen[bytes]]] = {}
        self._short: set[str] = set()  # programs launched since their last top-up
        self._last_launch = 0.0  # time.monotonic() of the last launch
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refiller: threading.Thread | None = None

    def launch(self, name: str, fd: int, args: list[str] | None = None,
               keep_spare: bool = True) -> subprocess.Popen[bytes]:
        """Run program `name` on connection `fd` (its stdin and stdout); with `keep_spare`,
        have a spare ready for the next time. OSError when it cannot be started. Spares take
        no arguments: with `args`, a new process is started."""
        proc = None if args else self._from_spare(name, fd)
        if proc is None:
            proc = self._popen(name, fd, spare=False, args=args or [])
        if keep_spare and _CHRT is not None:
            with self._lock:
                self._last_launch = time.monotonic()
                self._short.add(name)
                self._running.setdefault(name, []).append(proc)
                if self._refiller is None:
                    self._refiller = threading.Thread(target=self._refill, daemon=True,
                                                      name="spares")
                    self._refiller.start()
        return proc

    def _from_spare(self, name: str, fd: int) -> subprocess.Popen[bytes] | None:
        """The oldest waiting spare of `name` that takes connection `fd`, or None (a spare
        that died meanwhile is passed over)."""
        while True:
            with self._lock:
                queue = self._waiting.get(name)
                spare = queue.pop(0) if queue else None
            if spare is None:
                return None
            if spare.hand_over(fd):
                return spare.proc

    def waiting(self, name: str) -> list[int]:
        """The pids of `name`'s spares waiting now, oldest first (the next launch's first)."""
        with self._lock:
            return [s.proc.pid for s in self._waiting.get(name, [])]

    def _refill(self) -> None:
        """Reap what was launched; top up the spares of programs that are `due`."""
        while not self._stop.wait(REFILL_POLL):
            with self._lock:
                for name, procs in list(self._running.items()):
                    procs[:] = [p for p in procs if p.poll() is None]
                    if not procs:
                        del self._running[name]
                now = due(self._short, {n: len(p) for n, p in self._running.items()},
                          {n: len(q) for n, q in self._waiting.items()},
                          time.monotonic() - self._last_launch)
                self._short -= now
            for name in sorted(now):
                self.prepare(name)

    def prepare(self, name: str) -> None:
        """Have `keep` spares of `name` waiting (best effort: without one, launch starts a
        process). Spares that died since are forgotten first."""
        if _CHRT is None:
            return
        while True:
            with self._lock:
                queue = self._waiting.setdefault(name, [])
                for gone in [s for s in queue if s.proc.poll() is not None]:
                    queue.remove(gone)
                    gone.dismiss()
                if len(queue) >= self.keep:
                    return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                proc = self._popen(name, theirs.fileno(), spare=True)
            except OSError:
                ours.close()
                return
            finally:
                theirs.close()
            new = Spare(proc, ours)
            with self._lock:
                queue = self._waiting.setdefault(name, [])
                extra = len(queue) >= self.keep  # another thread topped it up meanwhile
                if not extra:
                    queue.append(new)
            if extra:
                new.dismiss()  # it exits at end of file; subprocess reaps it later
                return

    def close(self) -> None:
        """Dismiss every spare and reap them."""
        self._stop.set()
        if self._refiller is not None:
            self._refiller.join()
        with self._lock:
            waiting = [s for queue in self._waiting.values() for s in queue]
            self._waiting = {}
        for spare in waiting:
            spare.dismiss()
        for spare in waiting:
            try:
                spare.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                spare.proc.kill()
                spare.proc.wait()

    def _popen(self, name: str, fd: int, spare: bool,
               args: list[str] | None = None) -> subprocess.Popen[bytes]:
        env = dict(os.environ, NB_ROOT=str(self.root), **{CONTROL_ENV: "1"})
        env.pop(SPARE_ENV, None)
        if spare:
            env[SPARE_ENV] = "1"
        log_dir = Paths(self.root).logs / name
        log_dir.mkdir(parents=True, exist_ok=True)
        argv = programs.argv_for(name) + self.fixed_args.get(name, []) + (args or [])
        if spare:
            argv = [str(_CHRT), "--idle", "0", *argv]  # chrt execs the program: same pid, argv
        with open(log_dir / "stderr.log", "ab") as err:
            return subprocess.Popen(argv, stdin=fd,
                                    stdout=subprocess.DEVNULL if spare else fd, stderr=err,
                                    env=env, close_fds=True, start_new_session=self.new_session)
