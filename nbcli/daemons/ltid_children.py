"""The Media Manager daemons ltid starts, and starts again when they die: avrd and the robot
daemons (tldd, tldcd) of this host.

NetBackup's ltid starts avrd and the robotic daemons, and they stop with it (stopltid). Here
`netbackup start` starts them first, in their order, so at ltid's start this finds them
running; ltid alone (`ltid` typed by an administrator, `netbackup start --only ltid`) starts
them itself. While ltid runs, one that died (killed, crashed) is started again within
WATCH_EVERY seconds: without it, every mount failed (25: avrd or tldd cannot be reached)
until an administrator ran `netbackup start`; a mount in flight waits for it (mm_again). A
daemon that dies before it has written its pid file (crashing at its start) is started again
after a pause that doubles up to PAUSE_MAX, so a broken one does not spin; one that served,
then died, was killed, and is started again at once.
`netbackup stop` and `stopltid` stop ltid before the others, so that none is started again
while they stop.

Place: a part of ltid (nbcli/daemons/ltid.py); imports config, pidfile, procs, programs.
"""

from __future__ import annotations

import logging
import threading
import time

import psutil

from nbcli import procs, programs
from nbcli.config import HostConfig
from nbcli.pidfile import read_pidfile

WATCH_EVERY = 1.0
PAUSE_MIN = 1.0  # after a start that died at once, the next waits this long, then doubles
PAUSE_MAX = 60.0


def children_of(cfg: HostConfig) -> list[str]:
    """The daemons ltid keeps running on this host, in their start order."""
    return [n for n in programs.daemons_for(cfg.roles) if n in programs.LTID_STARTS]


class Children:
    """ltid's watch over avrd and the robot daemons (`check`, every WATCH_EVERY seconds)."""

    def __init__(self, cfg: HostConfig, log: logging.Logger, stop: threading.Event) -> None:
        self.cfg = cfg
        self.log = log
        self.stop = stop
        self.started: dict[str, psutil.Popen] = {}  # the processes this ltid started
        self.pause: dict[str, float] = {}
        self.not_before: dict[str, float] = {}
        self.served: set[str] = set()  # those of ours that wrote their pid file
        self.lock = threading.Lock()

    def check(self) -> list[str]:
        """Start each daemon that is not running; the names started."""
        started = []
        with self.lock:
            for name in children_of(self.cfg):
                if self.stop.is_set():
                    break
                if self._start_if_gone(name):
                    started.append(name)
        return started

    def _start_if_gone(self, name: str) -> bool:
        now = time.monotonic()
        mine = self.started.get(name)
        if mine is not None:
            if mine.poll() is None:  # ours, alive (maybe not serving yet: no pid file)
                running = read_pidfile(self.cfg.paths, name)
                if running is not None and running.pid == mine.pid:
                    self.served.add(name)
                return False
            del self.started[name]  # reaped: it exited
            if name in self.served:  # it served, then died: killed, not crashing
                self.pause.pop(name, None)
                self.not_before.pop(name, None)
            self.served.discard(name)
        if read_pidfile(self.cfg.paths, name) is not None or self._starting(name):
            return False
        if now < self.not_before.get(name, 0.0):
            return False
        try:
            proc = procs.start_daemon(self.cfg, name)
        except OSError as e:
            self.log.error("cannot start %s: %s", name, e)
            return False
        pause = self.pause.get(name)
        self.pause[name] = PAUSE_MIN if pause is None else min(pause * 2, PAUSE_MAX)
        self.not_before[name] = now + self.pause[name]
        self.started[name] = proc
        self.log.warning("%s was not running: started it (pid %d)", name, proc.pid)
        return True

    def _starting(self, name: str) -> bool:
        """A process of `name` runs at this root without its pid file yet: one that `netbackup
        start` started beside ltid, still starting."""
        return any(p.program == name for p in procs.find(self.cfg.root))
