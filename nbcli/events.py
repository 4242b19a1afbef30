"""Telling the master's error log (nbevtmgr) what this process saw, and what the entries say.

The process that sees an event reports it: bpjobd a job's end and each failed try (it holds the
try's status lines), a daemon its own start and its faults. Sending never holds the reporter
up: entries go on a queue that one thread of this process drains to nbevtmgr on the master; an
entry that cannot be delivered (nbevtmgr not running, master unreachable) is dropped and the
reporter goes on, as NetBackup's daemons go on when the event manager is down (in a process's
first START_GRACE seconds it is tried again: a host's daemons start together). At exit the
queue gets a short while to drain.

The builders (`job_entries`, `daemon_entry`) are pure: the entry fields of nbevtmgr's `log`
op (docs/protocol.md "Error log"), with type and severity names of nbcli.catalog.errorlog's
tables spelled as numbers here, since this module may not import the catalog.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import threading
import time
from typing import Any

from nbcli import clock, kinds
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import NbuError, message

# errorlog.TYPES / SEVERITIES (the catalog's tables; the numbers are NetBackup's bits)
GENERAL, BACKUP, ARCHIVE, RETRIEVE, BACKSTAT, MEDIA = 2, 4, 8, 16, 64, 128
INFO, WARNING, ERROR, CRITICAL = 4, 8, 16, 32
SERVICE = "nbevtmgr"
CONNECT_TIMEOUT = 3.0
DRAIN_AT_EXIT = 3.0
# `netbackup start` starts nbevtmgr beside the other daemons, so their "started" entries may
# come before it serves: for this long after a process's first entry, delivery is retried.
START_GRACE = 10.0
# Statuses that are the media's or a device's doing: their entries are media events.
MEDIA_STATUSES = frozenset({*range(80, 100), 129, 2040, 2045})
MEDIA_PROGRAMS = frozenset({"bptm", "ltid"})
STATUS_LINE = re.compile(r" - (?P<sev>Error|Warning) (?P<who>.+?) \(pid=\d+\) (?P<msg>.*)$")

Entry = dict[str, Any]


def entry(kind: int, severity: int, who: str, text: str, *, server: str, jobid: int = 0,
          group: int = 0, client_name: str = "", when: float | None = None) -> Entry:
    return {"time": int(when if when is not None else clock.now()), "type": kind,
            "severity": severity, "server": server, "jobid": jobid, "group": group,
            "client": client_name, "who": who, "message": text}


def _job_type(job: dict[str, Any]) -> int:
    return {kinds.JOB_BACKUP: BACKUP, kinds.JOB_ARCHIVE: ARCHIVE,
            kinds.JOB_RESTORE: RETRIEVE}.get(job["jobtype"], GENERAL)


def try_entries(job: dict[str, Any], tr: dict[str, Any], master: str) -> list[Entry]:
    """What a failed try leaves in the error log: its Error and Warning lines, each as the
    process that wrote it, then NetBackup's one-line verdict."""
    status = tr.get("trystatus")
    if status in (None, 0, 1):
        return []
    base = {"server": tr.get("tryserver") or job.get("server") or master,
            "jobid": job["jobid"], "group": job.get("parentjob") or job["jobid"],
            "client_name": job.get("client", ""), "when": tr.get("tryended") or None}
    out = []
    for line in tr.get("trystatuslines", []):
        m = STATUS_LINE.search(line)
        if m:
            who = m["who"].split()[0]
            kind = MEDIA if who in MEDIA_PROGRAMS or status in MEDIA_STATUSES \
                else _job_type(job)
            out.append(entry(kind, ERROR if m["sev"] == "Error" else WARNING, who, m["msg"],
                             **base))
    word = kinds.JOB_TYPES.get(job["jobtype"], "job").lower()
    kind = MEDIA if status in MEDIA_STATUSES else _job_type(job)
    out.append(entry(kind, ERROR, "nbjm" if kind != RETRIEVE else "bprd",
                     f"{word} of client {job.get('client', '')} exited with status {status} "
                     f"({message(status)})", **base))
    return out


def job_entries(job: dict[str, Any], master: str, *, closed: bool) -> list[Entry]:
    """A try has just failed (closed=False: the newest try but one) or the job has just
    closed (its last try, and - for backups and archives - the backup status line bperror
    -backstat reports)."""
    tries = job.get("tries") or []
    if not closed:
        return try_entries(job, tries[-2], master) if len(tries) >= 2 else []
    out = try_entries(job, tries[-1], master) if tries else []
    status = job.get("status")
    if job["jobtype"] in (kinds.JOB_BACKUP, kinds.JOB_ARCHIVE) and status is not None:
        out.append(entry(
            BACKSTAT, INFO if status in (0, 1) else ERROR, "nbjm",
            f"CLIENT {job.get('client') or '*NULL*'}  POLICY {job.get('policy') or '*NULL*'}  "
            f"SCHED {job.get('schedule') or '*NULL*'}  EXIT STATUS {status} ({message(status)})",
            server=job.get("server") or master, jobid=job["jobid"],
            group=job.get("parentjob") or job["jobid"], client_name=job.get("client", ""),
            when=job.get("ended") or None))
    elif status not in (None, 0) and not tries:
        out.append(entry(_job_type(job), ERROR, "nbjm",
                         f"job {job['jobid']} ended with status {status} ({message(status)})",
                         server=master, jobid=job["jobid"], client_name=job.get("client", "")))
    return out


def daemon_entry(cfg: HostConfig, name: str, text: str, severity: int = INFO) -> Entry:
    return entry(GENERAL, severity, name, text, server=cfg.client_name)


# --- delivery ---------------------------------------------------------------------------------

class _Sender:
    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[HostConfig, Entry] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.pid = 0
        self.started = 0.0
        self.exiting = False  # at exit, one try each: a stop never waits for nbevtmgr
        self.queued = 0  # entries put, and entries delivered or dropped, by this process
        self.handled = 0
        self.progress = threading.Condition()

    def put(self, cfg: HostConfig, e: Entry) -> None:
        with self.lock:
            if self.thread is None or self.pid != os.getpid():  # a forked child starts its own
                self.queue = queue.Queue()
                self.pid = os.getpid()
                self.started = time.monotonic()
                self.queued = self.handled = 0
                self.progress = threading.Condition()
                self.thread = threading.Thread(target=self._run, name="events", daemon=True)
                self.thread.start()
                atexit.register(self.drain)
            self.queued += 1
            self.queue.put((cfg, e))

    def flush(self, timeout: float) -> bool:
        """Wait until every entry put so far is delivered or dropped, for at most `timeout`."""
        with self.lock:
            if self.pid != os.getpid():
                return True
            target, progress = self.queued, self.progress
        with progress:
            return progress.wait_for(lambda: self.handled >= target, timeout)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is not None:
                    while not deliver(*item) and not self.exiting and \
                            time.monotonic() < self.started + START_GRACE:
                        time.sleep(0.2)
            finally:
                with self.progress:
                    self.handled += 1
                    self.progress.notify_all()

    def drain(self) -> None:
        self.exiting = True
        self.flush(DRAIN_AT_EXIT)


_sender = _Sender()


def deliver(cfg: HostConfig, e: Entry) -> bool:
    """Send one entry now; False (and nothing else) when it cannot be delivered."""
    try:
        with client.connect(cfg, cfg.master, SERVICE, timeout=CONNECT_TIMEOUT) as conn:
            conn.request("log", recv_timeout=CONNECT_TIMEOUT, **e)
        return True
    except (NbuError, OSError, EOFError):
        return False


def send(cfg: HostConfig, *entries: Entry) -> None:
    """Queue entries for the master's error log; returns at once. A client alone (no master
    or media role) sends none: it is no server of the master, whose nbevtmgr refuses it (46)
    and records the refusal, so every audited op of a client's bpcd put an "attack" in
    bperror. What a client's daemons see stays in their own logs, as NetBackup's do."""
    if not {"master", "media"} & set(cfg.roles):
        return
    for e in entries:
        _sender.put(cfg, e)


def flush(timeout: float) -> bool:
    """Wait (at most `timeout`) until what this process has sent so far is in nbevtmgr's log
    or dropped: bpjobd does so before it tells a waiter its job is done, so that `bpbackup -w`
    followed by `bperror -backstat` finds the job."""
    return _sender.flush(timeout)


def job_event(cfg: HostConfig, job: dict[str, Any], *, closed: bool) -> None:
    """bpjobd's hook: a try failed (closed=False) or the job closed."""
    send(cfg, *job_entries(job, cfg.client_name, closed=closed))


def daemon_event(cfg: HostConfig, name: str, text: str, severity: int = INFO) -> None:
    send(cfg, daemon_entry(cfg, name, text, severity))
