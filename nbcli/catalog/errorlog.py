"""NetBackup's error database on the master: db/error/log_<epoch>, one file a day.

What bperror reports: job ends (backup status), failed tries, media and device problems,
daemon starts and faults. NetBackup keeps one file per day, named by the epoch of that day's
first second (local time), each entry one line in the raw form bperror -l prints:

    time version type severity server jobid jobgroup unused client who message...

(reference/netbackup-cli.md §1.11: scripts read $5 server, $6 job id, $9 client, $10 the
process, the message from $11). Type and severity are NetBackup's bit values. nbevtmgr alone
writes here: each entry is one write(2) of one whole line to a file opened O_APPEND, so a line
is never half there and readers never need a lock. Days older than bpconfig's "keep logs days"
(-kl) are removed whole.

Imports only config, atomic and status; never the network or a daemon.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nbcli import atomic

VERSION = 1  # field 2 of every line
PREFIX = "log_"
DAY = 86400

# Field 3: what the entry is about.
TYPES = {"unknown": 1, "general": 2, "backup": 4, "archive": 8, "retrieve": 16,
         "security": 32, "backstat": 64, "media": 128}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
# Field 4: how bad it is.
SEVERITIES = {"unknown": 1, "debug": 2, "info": 4, "warning": 8, "error": 16, "critical": 32}
SEVERITY_NAMES = {v: k for k, v in SEVERITIES.items()}
NULL = "*NULL*"


@dataclass
class Entry:
    time: int
    type: int
    severity: int
    server: str
    jobid: int
    group: int
    client: str
    who: str
    message: str

    def line(self) -> str:
        message = " ".join(self.message.split())  # one line, whatever the reporter sent
        return (f"{self.time} {VERSION} {self.type} {self.severity} {_word(self.server)} "
                f"{self.jobid} {self.group} 0 {_word(self.client)} {_word(self.who)} "
                f"{message}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _word(text: str) -> str:
    return "_".join(text.split()) or NULL


def parse(line: str) -> Entry | None:
    """An entry from one stored line; None for a line that is not one (a torn tail)."""
    words = line.rstrip("\n").split(" ", 10)
    if len(words) < 10:
        return None
    try:
        when, _, kind, severity, server, jobid, group, _, client, who = words[:10]
        return Entry(int(when), int(kind), int(severity), server, int(jobid), int(group),
                     client, who, words[10] if len(words) > 10 else "")
    except ValueError:
        return None


def day_start(epoch: float) -> int:
    """The first second of `epoch`'s local day."""
    t = time.localtime(epoch)
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))


class ErrorLog:
    """The db/error folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        atomic.makedirs(folder)

    def path(self, day: int) -> Path:
        return self.folder / f"{PREFIX}{day}"

    def days(self) -> list[int]:
        """The days that have a file, oldest first."""
        out = []
        for name in os.listdir(self.folder):
            if name.startswith(PREFIX) and name[len(PREFIX):].isdigit():
                out.append(int(name[len(PREFIX):]))
        return sorted(out)

    def append(self, entry: Entry) -> None:
        """Add one entry to its day's file: one write of one whole line."""
        path = self.path(day_start(entry.time))
        data = (entry.line() + "\n").encode("utf-8", "surrogateescape")
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            if written != len(data):  # only a full disk does this; say so, do not tear lines
                raise OSError(f"short write to {path}")
        finally:
            os.close(fd)
        if new:
            atomic.fsync_dir(self.folder)

    def read(self, since: int | None = None, until: int | None = None) -> list[Entry]:
        """Entries with since <= time <= until, oldest first."""
        out: list[Entry] = []
        for day in self.days():
            if since is not None and day + DAY <= since:
                continue
            if until is not None and day > until:
                continue
            try:
                text = self.path(day).read_text("utf-8", "surrogateescape")
            except FileNotFoundError:
                continue  # aged out meanwhile
            for line in text.splitlines():
                e = parse(line)
                if e is None:
                    continue
                if (since is None or e.time >= since) and (until is None or e.time <= until):
                    out.append(e)
        out.sort(key=lambda e: e.time)
        return out

    def age_out(self, keep_days: int, now: float) -> list[int]:
        """Remove the days that ended more than `keep_days` days ago; the days removed."""
        limit = now - keep_days * DAY
        gone = []
        for day in self.days():
            if day + DAY <= limit:
                try:
                    self.path(day).unlink()
                    gone.append(day)
                except FileNotFoundError:
                    pass
        if gone:
            atomic.fsync_dir(self.folder)
        return gone
