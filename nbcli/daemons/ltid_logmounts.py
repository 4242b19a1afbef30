"""`ltid -logmounts [minutes]`: mount requests logged through syslogd, as NetBackup's ltid does.

The option's minutes (3 when none are given) are how long a mount request may wait before it
is logged; a request satisfied sooner is not; 0 logs each one as it comes. The `ltid` command
hands the minutes to the daemons it starts in the environment (ENV): a plain `netbackup
start` starts ltid without them, as NetBackup's bp.start_all does.

Each logged request is a syslog notice (facility daemon, ident ltid, with the pid) and a
Warning line of ltid's own log (logs/ltid), since a host may run no syslogd:

    mount request 12 pending 3 minute(s): media A00001 (A00001L6) in drive DRV0 for job 7, write

Place: ltid's (nbcli/daemons/ltid.py); `due` is pure, `MountLog` writes.
"""

from __future__ import annotations

import logging
import os
import syslog
from collections.abc import Mapping
from typing import Any

ENV = "NBCLI_LTID_LOGMOUNTS"
DEFAULT_MINUTES = 3
CHECK_EVERY = 5.0  # seconds between looks at the pending requests (minutes > 0)


def minutes_from_env(environ: Mapping[str, str] = os.environ) -> int | None:
    """The -logmounts minutes ltid was started with; None when it was not (or they are not a
    count: the command checked them, so someone else set the variable)."""
    value = environ.get(ENV, "")
    return int(value) if value.isdigit() else None


def due(pending: Mapping[int, Mapping[str, Any]], logged: set[int], minutes: int,
        now: float) -> list[int]:
    """The requests to log now: pending at least `minutes` and not logged yet."""
    return sorted(r for r, p in pending.items()
                  if r not in logged and now - float(p.get("time", now)) >= minutes * 60)


def line(request: Mapping[str, Any], minutes: int) -> str:
    mode = "write" if request.get("mode") == "w" else "read"
    what = "new" if minutes == 0 else f"pending {minutes} minute(s)"
    return (f"mount request {request.get('reqid')} {what}: media {request.get('media_id')} "
            f"({request.get('barcode')}) in drive {request.get('drive')} for job "
            f"{request.get('jobid')}, {mode}")


class MountLog:
    """The logging of one ltid started with -logmounts `minutes`."""

    def __init__(self, minutes: int, log: logging.Logger) -> None:
        self.minutes = minutes
        self.log = log
        self.logged: set[int] = set()
        syslog.openlog("ltid", syslog.LOG_PID, syslog.LOG_DAEMON)

    def write(self, request: Mapping[str, Any]) -> None:
        text = line(request, self.minutes)
        syslog.syslog(syslog.LOG_NOTICE, text)
        self.log.warning("%s", text)

    def check(self, pending: Mapping[int, Mapping[str, Any]], now: float) -> None:
        """Log the requests pending `minutes` now; forget those no longer pending."""
        for reqid in due(pending, self.logged, self.minutes, now):
            self.logged.add(reqid)
            self.write(pending[reqid])
        self.logged &= set(pending)
