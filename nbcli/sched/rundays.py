"""Run days of calendar-based schedules (part of nbpem's scheduler; pure date arithmetic).

A day is a run day when it is one of the schedule's included dates, falls on one of its
days of the month (or is the last day, `-dayomonth l`), or matches one of its recurring
weekdays. Week numbers are NetBackup's rows of the weekday matrix: weeks 1-4 are the first to
fourth occurrence of that weekday in the month, week 5 is the "Last" row (the last
occurrence, whether the month has four or five), week 0 is every week. An excluded date is
never a run day, whatever else says so.
"""

from __future__ import annotations

import calendar
import datetime

from nbcli.catalog.policy_model import Schedule, Weekday
from nbcli.sched.windows import weekday

LAST_WEEK = 5


def _days_in_month(day: datetime.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _matches(w: Weekday, day: datetime.date) -> bool:
    if w.day != weekday(day):
        return False
    if w.week == 0:
        return True
    if w.week == LAST_WEEK:
        return day.day + 7 > _days_in_month(day)
    return (day.day - 1) // 7 + 1 == w.week


def is_run_day(schedule: Schedule, day: datetime.date) -> bool:
    """Whether `day` is a run day of the calendar-based `schedule`."""
    if day in schedule.excluded_dates:
        return False
    if day in schedule.included_dates or day.day in schedule.days_of_month:
        return True
    if schedule.last_day_of_month and day.day == _days_in_month(day):
        return True
    return any(_matches(w, day) for w in schedule.weekdays)


def last_run_day(schedule: Schedule, until: datetime.date,
                 floor: datetime.date) -> datetime.date | None:
    """The latest run day in [floor, until], or None."""
    day = until
    while day >= floor:
        if is_run_day(schedule, day):
            return day
        day -= datetime.timedelta(days=1)
    return None
