"""Daemons' pid files: reading one back as a live process, removing one we still own.

Place: bottom floor (docs/architecture.md). The daemon runtime (nbcli/daemons/base.py) writes
a pid file as "<pid> <create time>" when a daemon starts and removes it when it stops;
`netbackup start|status` reads them to tell which daemons run. So this module sits below both
and imports only nbcli.config (for Paths): never nbcli.daemons or nbcli.commands.
"""

from __future__ import annotations

import psutil

from nbcli.config import Paths


def read_pidfile(paths: Paths, name: str) -> psutil.Process | None:
    """The live process a pid file names, or None (stale files are ignored, not trusted)."""
    try:
        pid_text, _, created = paths.pidfile(name).read_text().partition(" ")
        proc = psutil.Process(int(pid_text))
        if created and abs(proc.create_time() - float(created)) > 1.0:
            return None  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (FileNotFoundError, ValueError, psutil.Error):
        return None


def remove_pidfile(paths: Paths, name: str, pid: int) -> None:
    """Remove `name`'s pid file if it still names `pid` (a successor's file stays)."""
    try:
        if paths.pidfile(name).read_text().split()[0] == str(pid):
            paths.pidfile(name).unlink()
    except (FileNotFoundError, IndexError):
        pass
