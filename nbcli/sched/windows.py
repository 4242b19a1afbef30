"""Start windows in local time: when a schedule may start a job (part of nbpem's scheduler).

A schedule has one window per weekday (0 = Sunday): it opens `start` seconds after that day's
local midnight and stays open `duration` seconds, possibly past midnight and into the
following days. Times are computed on the wall clock (`time.mktime` with isdst=-1), so a
window that opens at 18:00 opens at 18:00 on a DST day too, and a window of 24 hours from
midnight ends at the next midnight: on the 23- and 25-hour days of a DST change the windows
of consecutive days neither overlap nor leave a gap. A window belongs to the day it opens on;
no window opens on an excluded date, nor on an excluded weekday or day of the month
(bpplschedrep -xweekday, -xdayomonth).

Pure code: no disk, no clock (callers pass the time). Imports only nbcli's tables and the
policy model.
"""

from __future__ import annotations

import calendar
import datetime
import time
from dataclasses import dataclass

from nbcli import kinds
from nbcli.catalog.policy_model import Schedule, Weekday

# parse_window allows a duration of up to a week, so a window open at t may have opened on
# any of the 7 days before t's own day.
LOOKBACK_DAYS = 8
DAY = kinds.DAY


@dataclass(frozen=True)
class Opening:
    """One concrete window: the local `day` it opens on, and its [open, close) epochs."""

    day: datetime.date
    open: int
    close: int


def local_date(t: float) -> datetime.date:
    """The local calendar day of epoch `t`."""
    tm = time.localtime(t)
    return datetime.date(tm.tm_year, tm.tm_mon, tm.tm_mday)


def wall(day: datetime.date, seconds: int) -> int:
    """The epoch of the wall-clock time `seconds` after `day`'s midnight (may be days later)."""
    # mktime would take seconds past the day's end as elapsed time, not as wall-clock time:
    # move the date first, then give it an in-range time of day.
    days, rest = divmod(seconds, DAY)
    d = day + datetime.timedelta(days=days)
    return int(time.mktime((d.year, d.month, d.day, rest // 3600, rest % 3600 // 60,
                            rest % 60, 0, 0, -1)))


def days_later(t: int, days: int) -> int:
    """The same wall-clock time `days` days after `t` (23 or 25 hours a day across DST)."""
    tm = time.localtime(t)
    return wall(local_date(t), tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec + days * DAY)


def weekday(day: datetime.date) -> int:
    """NetBackup's day number: 0 = Sunday .. 6 = Saturday."""
    return (day.weekday() + 1) % 7


LAST_WEEK = 5


def days_in_month(day: datetime.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def matches_weekday(w: Weekday, day: datetime.date) -> bool:
    """Whether `day` is weekday `w`: weeks 1-4 the first to fourth such day of the month,
    5 the last one, 0 every week."""
    if w.day != weekday(day):
        return False
    if w.week == 0:
        return True
    if w.week == LAST_WEEK:
        return day.day + 7 > days_in_month(day)
    return (day.day - 1) // 7 + 1 == w.week


def is_excluded(schedule: Schedule, day: datetime.date) -> bool:
    """An exclude date, or a day of the excluded weekdays or days of the month."""
    return (day in schedule.excluded_dates or day.day in schedule.excluded_days_of_month
            or (schedule.excluded_last_day and day.day == days_in_month(day))
            or any(matches_weekday(w, day) for w in schedule.excluded_weekdays))


def has_windows(schedule: Schedule) -> bool:
    """False for a schedule that never starts automatically (every duration 0)."""
    return any(w.duration > 0 for w in schedule.windows)


def opening_on(schedule: Schedule, day: datetime.date) -> Opening | None:
    """The window that opens on `day`, if that weekday has one and `day` is not excluded."""
    w = schedule.windows[weekday(day)]
    if w.duration <= 0 or is_excluded(schedule, day):
        return None
    return Opening(day, wall(day, w.start), wall(day, w.start + w.duration))


def opening_at(schedule: Schedule, t: float) -> Opening | None:
    """The window open at `t` (open <= t < close); of two (only a DST fold can make them
    overlap) the one that closes last."""
    longest = max(w.duration for w in schedule.windows)
    if longest <= 0:
        return None
    today = local_date(t)
    found: Opening | None = None
    # Only days whose window can still be open at t (a day more for DST and the start).
    for back in range(min(LOOKBACK_DAYS, longest // DAY + 2)):
        o = opening_on(schedule, today - datetime.timedelta(days=back))
        if o and o.open <= t < o.close and (found is None or o.close > found.close):
            found = o
    return found


def opening_after(schedule: Schedule, t: float) -> Opening | None:
    """The first window that opens at or after `t` (None when the schedule has none)."""
    if not has_windows(schedule):
        return None
    day = local_date(t)
    # Excluded dates can hide windows for a while: look up to a year ahead, then give up.
    for ahead in range(LOOKBACK_DAYS + 366):
        o = opening_on(schedule, day + datetime.timedelta(days=ahead))
        if o and o.open >= t:
            return o
    return None


def window_at(schedule: Schedule, t: float) -> tuple[int, int] | None:
    """(open, close) of the window open at `t`, or None."""
    o = opening_at(schedule, t)
    return (o.open, o.close) if o else None


def next_window(schedule: Schedule, t: float) -> tuple[int, int] | None:
    """(open, close) of the first window opening at or after `t`, or None."""
    o = opening_after(schedule, t)
    return (o.open, o.close) if o else None


def day_of(schedule: Schedule, t: float) -> datetime.date:
    """The day a backup taken at `t` counts for: the day its window opened on (a backup at
    01:00 in a window that opened at 22:00 belongs to the day before), else `t`'s own day."""
    o = opening_at(schedule, t)
    return o.day if o else local_date(t)
