"""NetBackup's date forms: parsing `mm/dd/yyyy [hh:mm:ss]` arguments and printing times.

Commands take dates as NetBackup does (`-s 01/01/2008`, `-d "01/30/00 00:00:00"`, 2-digit years
accepted) and print them as `MM/DD/YYYY HH:MM:SS` in local time. Raw forms print epochs.
"""

from __future__ import annotations

import time

from nbcli.status import INVALID_DATE, NbuError


def parse(text: str, end_of_day: bool = False) -> int:
    """`mm/dd/yyyy [hh:mm[:ss]]` (local time) -> epoch seconds; status 109 if invalid.

    Without a time, the start of the day - or its last second when `end_of_day` (for -e).
    An all-digit argument is taken as an epoch already.
    """
    t = " ".join(text.split())
    if t.isdigit() and len(t) >= 9:
        return int(t)
    date, _, clock_part = t.partition(" ")
    parts = date.split("/")
    try:
        if len(parts) != 3:
            raise ValueError
        month, day, year = (int(p) for p in parts)
        if year < 100:
            year += 2000 if year < 70 else 1900
        if clock_part:
            hms = [int(p) for p in clock_part.split(":")]
            if not 2 <= len(hms) <= 3:
                raise ValueError
            hour, minute, second = (hms + [0])[:3]
        elif end_of_day:
            hour, minute, second = 23, 59, 59
        else:
            hour = minute = second = 0
        st = (year, month, day, hour, minute, second, 0, 0, -1)
        epoch = int(time.mktime(st))
        check = time.localtime(epoch)
        if (check.tm_mon, check.tm_mday) != (month, day) or not (0 <= hour < 24) \
                or not (0 <= minute < 60) or not (0 <= second < 60):
            raise ValueError
        return epoch
    except (ValueError, OverflowError) as e:
        raise NbuError(INVALID_DATE, f"invalid date {text!r} (use mm/dd/yyyy [hh:mm:ss])") from e


def fmt(epoch: float | int | None, seconds: bool = True) -> str:
    """`MM/DD/YYYY HH:MM:SS` local time (`HH:MM` without seconds); empty for 0/None."""
    if not epoch:
        return ""
    return time.strftime("%m/%d/%Y %H:%M:%S" if seconds else "%m/%d/%Y %H:%M",
                         time.localtime(epoch))


def fmt_date(epoch: float | int) -> str:
    return time.strftime("%m/%d/%Y", time.localtime(epoch))


def fmt_elapsed(seconds: float | int) -> str:
    """NetBackup's elapsed form, `HHH:MM:SS`."""
    s = max(0, int(seconds))
    return f"{s // 3600:03d}:{s % 3600 // 60:02d}:{s % 60:02d}"
