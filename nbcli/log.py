"""Debug logs: netbackup/logs/<process>/log.MMDDYY, one file per day, as NetBackup's legacy logs.

Each line is `HH:MM:SS.mmm [pid] <level> [jobid=N] message`. The level shown follows NetBackup's
numbers (<2> info, <4> debug, <8> warning, <16> error); VERBOSE in bp.toml sets how much is
written: 0 writes info and above, 1 and more add debug lines. A job's lines carry its id, so
`grep jobid=42 logs/*/log.*` follows one job across processes.

Place: the bottom floor (docs/architecture.md): imports only nbcli.clock.
"""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from pathlib import Path

from nbcli import clock

_NB_LEVEL = {logging.DEBUG: 4, logging.INFO: 2, logging.WARNING: 8, logging.ERROR: 16,
             logging.CRITICAL: 32}

# Job context of the current thread, so lines logged deep inside a job carry its id.
_context = threading.local()


def set_job(jobid: int | None) -> None:
    _context.jobid = jobid


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        t = clock.now()
        stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"
        jobid = getattr(record, "jobid", None) or getattr(_context, "jobid", None)
        job = f" [jobid={jobid}]" if jobid else ""
        text = f"{stamp} [{record.process}] <{_NB_LEVEL.get(record.levelno, 2)}>{job} " \
               f"{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class DailyFileHandler(logging.Handler):
    """Appends to logs/<process>/log.MMDDYY, switching files when the day changes."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self._day = ""
        self._fd = -1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            day = time.strftime("%m%d%y", time.localtime(clock.now()))
            with self.lock or threading.Lock():
                if day != self._day:
                    if self._fd >= 0:
                        os.close(self._fd)
                    self.folder.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.folder / f"log.{day}",
                                       os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    self._day = day
                # O_APPEND writes of one line are atomic enough for several processes.
                os.write(self._fd, line)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


def setup(logs: Path, process: str, verbose: int = 0) -> logging.Logger:
    """The logger of `process`, writing to its folder under `logs`."""
    logger = logging.getLogger(f"nbcli.{process}")
    logger.setLevel(logging.DEBUG if verbose >= 1 else logging.INFO)
    logger.propagate = False
    if not any(isinstance(h, DailyFileHandler) for h in logger.handlers):
        handler = DailyFileHandler(logs / process)
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    return logger


class JobLog(logging.LoggerAdapter):  # type: ignore[type-arg]  # generic only in stubs
    """A logger whose lines carry one job's id."""

    def __init__(self, logger: logging.Logger, jobid: int) -> None:
        super().__init__(logger, {"jobid": jobid})

    def process(self, msg, kwargs):  # type: ignore[no-untyped-def]  # the stubs' own signature
        kwargs.setdefault("extra", {}).update(self.extra)
        return msg, kwargs


def log_peak(log: logging.Logger, who: str) -> None:
    """One line at a process's end with its peak resident memory (Linux reports KiB):
    bench/ reads it, and so can an administrator sizing a host."""
    log.info("%s peak RSS %d KiB", who, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
