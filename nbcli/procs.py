"""A host's nbcli processes: finding them (bpps, `netbackup stop`), starting a daemon
detached (`netbackup start`; ltid, for the Media Manager daemons it keeps running) and
stopping some (`netbackup stop`, `stopltid`).

A process belongs to a host when it runs an nbcli program and its NB_ROOT (every daemon and
agent is started with it) or its --root argument names that host's root.

A spare (nbcli.net.spare) is an agent started ahead of need and waiting for a connection: it
was started with NBCLI_SPARE=1 under SCHED_IDLE, and its owner puts it back to normal
scheduling just before handing it a job. So "spare" is read from the process itself, with no
window in which a waiting spare looks busy or a busy agent looks spare.

Place: the runtime floor (docs/architecture.md): imports nbcli.programs, nbcli.launcher,
nbcli.config and nbcli.net.control only; bpps, `netbackup`, `stopltid` and ltid use it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from nbcli import launcher, programs
from nbcli.config import HostConfig
from nbcli.net.control import SPARE_ENV

STOP_DEADLINE = 20.0  # seconds a process has to end on SIGTERM before it is killed


@dataclass
class NbProcess:
    program: str
    proc: psutil.Process
    spare: bool = False
    # as `find` read it: a process that is ending reads an empty one from then on
    cmdline: tuple[str, ...] = ()


def program_of(cmdline: list[str]) -> str | None:
    """Which nbcli program a command line runs (console script or `python -m nbcli X`)."""
    for i, word in enumerate(cmdline[:3]):
        base = os.path.basename(word)
        if base in programs.ALL:
            return base
        if word == "nbcli" and i > 0 and cmdline[i - 1] == "-m" and i + 1 < len(cmdline):
            nxt = cmdline[i + 1]
            return nxt if nxt in programs.ALL else None
    return None


def _root_of(cmdline: list[str], environ: dict[str, str]) -> str | None:
    for i, word in enumerate(cmdline):
        if word in ("--root", "-root") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if word.startswith("--root="):
            return word.split("=", 1)[1]
    return environ.get("NB_ROOT")


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except psutil.Error:
        return {}


def _is_spare(proc: psutil.Process, environ: dict[str, str]) -> bool:
    if environ.get(SPARE_ENV) != "1":
        return False
    try:
        return os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    except OSError:
        return False


def find(root: Path) -> list[NbProcess]:
    """The live nbcli processes of the host at `root`, this process (and the launcher it runs
    a command for, when nbcmdd forked it) excluded."""
    want = os.path.realpath(root)
    me = {os.getpid(), launcher.launcher_pid}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.pid in me or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = proc.info["cmdline"] or []
            program = program_of(cmdline)
            if program is None:
                continue
            environ = _environ(proc)
            root_of = _root_of(cmdline, environ)
            if root_of and os.path.realpath(root_of) == want:
                found.append(NbProcess(program, proc, _is_spare(proc, environ),
                                       tuple(cmdline)))
        except psutil.Error:
            continue
    return found


def set_title(words: list[str]) -> None:
    """Show this process as `words` in ps and bpps (its /proc/<pid>/cmdline), as
    setproctitle does: a forked child (bpbrm child) is told from its parent this way.

    The title is written over the process's own argument area, through /proc/self/mem, cut to
    that area's size; the environment (NB_ROOT, which `find` reads) is left as it is. A NUL
    ends the title and the rest is blank, so the kernel shows the title alone. Does nothing
    where /proc cannot be written."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5) 48, 49)
        size = end - start
        if size < 2:
            return
        title = " ".join(words).encode()[:size - 2] + b"\0"
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(title + b" " * (size - len(title)))
    except (OSError, ValueError, IndexError):
        pass


def start_daemon(cfg: HostConfig, name: str) -> psutil.Popen:
    """Start daemon `name` of this host, detached from the caller's session and terminal,
    its stderr appended to logs/<name>/stderr.log."""
    log_dir = cfg.paths.logs / name
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NB_ROOT=str(cfg.root))
    argv = programs.argv_for(name) + list(programs.SERVE_ARGS.get(name, ()))
    with open(log_dir / "stderr.log", "ab") as err:
        return psutil.Popen(argv + ["--root", str(cfg.root)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err, env=env,
                            start_new_session=True, close_fds=True)


def terminate(victims: list[NbProcess], say: Callable[[str], None],
              deadline: float = STOP_DEADLINE) -> int:
    """SIGTERM, wait `deadline`, SIGKILL what is left; how many were killed. `say` hears a
    line per process ("Stopping ltid (pid 42)...")."""
    for p in victims:
        say(f"Stopping {p.program} (pid {p.proc.pid})...")
        try:
            p.proc.terminate()
        except psutil.Error:
            pass
    alive = wait_gone([p.proc for p in victims], deadline)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    wait_gone(alive, min(5.0, deadline))
    return len(alive)


def survivors(victims: list[NbProcess]) -> list[NbProcess]:
    """Those of `victims` still running after `terminate`: the kernel refused the signals
    (another user's processes, EPERM) or they could not die."""
    return [p for p in victims if _running(p.proc)]


def wait_gone(victims: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has ended; those still running after `timeout`.

    A process that has exited but is not reaped yet (a zombie) has ended: the daemons are
    detached, so their parent is init, which may take seconds to reap them, and waiting for
    that made each phase of a stop last as long."""
    deadline = time.monotonic() + timeout
    alive = victims
    while True:
        alive = [p for p in alive if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
