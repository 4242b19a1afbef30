"""Run days of calendar-based schedules (part of nbpem's scheduler; pure date arithmetic).

A day is a run day when it is one of the schedule's included dates, falls on one of its
days of the month (or is the last day, `-dayomonth l`), or matches one of its recurring
weekdays. Week numbers are NetBackup's rows of the weekday matrix: weeks 1-4 are the first to
fourth occurrence of that weekday in the month, week 5 is the "Last" row (the last
occurrence, whether the month has four or five), week 0 is every week. An excluded date,
weekday or day of the month is never a run day, whatever else says so.
"""

from __future__ import annotations

import datetime

from nbcli.catalog.policy_model import Schedule
from nbcli.sched.windows import days_in_month, is_excluded, matches_weekday


def is_run_day(schedule: Schedule, day: datetime.date) -> bool:
    """Whether `day` is a run day of the calendar-based `schedule`."""
    if is_excluded(schedule, day):
        return False
    if day in schedule.included_dates or day.day in schedule.days_of_month:
        return True
    if schedule.last_day_of_month and day.day == days_in_month(day):
        return True
    return any(matches_weekday(w, day) for w in schedule.weekdays)


def last_run_day(schedule: Schedule, until: datetime.date,
                 floor: datetime.date) -> datetime.date | None:
    """The latest run day in [floor, until], or None."""
    day = until
    while day >= floor:
        if is_run_day(schedule, day):
            return day
        day -= datetime.timedelta(days=1)
    return None
