"""What nbpem starts at a given moment (nbcli.sched.due_now), with a fake `now`: frequencies
and what covers what, windows, calendar run days, the choice between several due schedules,
effective date, inactive policies, excluded dates and tries per period.

Times are local (Europe/Paris, set per test); March 2024 starts on a Friday, the 4th is a
Monday. The builders here are shared with test_sched_predict.py.
"""

from __future__ import annotations

import datetime

import pytest

from nbcli import kinds
from nbcli.catalog.policy_model import Client, Copy, Policy, Schedule, Weekday, Window
from nbcli.sched import Due, History, due_now
from tests.unit.test_sched_windows import (
    at,
    paris,  # noqa: F401 (autouse: local time is Paris)
)

HOUR, DAY, WEEK = 3600, kinds.DAY, kinds.WEEK
NIGHT = (18 * HOUR, 12 * HOUR)  # 18:00 to 06:00 every day
D = datetime.date


def windows(start: int, duration: int, days: tuple[int, ...] = tuple(range(7))) -> list[Window]:
    return [Window(start, duration) if d in days else Window() for d in range(7)]


def sched(label: str, st: str = "FULL", freq: int = WEEK, window: tuple[int, int] = NIGHT,
          cal: int = 0, retention: int = 1, **rules: object) -> Schedule:
    """A schedule open every day in `window`; calendar rules as Schedule's fields."""
    s = Schedule(label, sched_type=kinds.SCHED_CODES[st], frequency=freq, calendar=cal,
                 windows=windows(*window), copies=[Copy(retention=retention)])
    for key, value in rules.items():
        setattr(s, key, value)
    return s


def policy(*schedules: Schedule, name: str = "pol", clients: tuple[str, ...] = ("c1",),
           active: bool = True, effective: str = "01/01/2024", priority: int = 0) -> Policy:
    return Policy(name, active=active, effective_date=at(effective), priority=priority,
                  clients=[Client(c, "Linux", "RedHat") for c in clients],
                  schedules=list(schedules))


def labels(jobs: list[Due]) -> list[tuple[str, str, str]]:
    return [(d.policy, d.client, d.schedule) for d in jobs]


def only(jobs: list[Due]) -> Due:
    assert len(jobs) == 1, jobs
    return jobs[0]


WEEKLY_FULL_DAILY_INCR = (sched("full", "FULL", WEEK), sched("incr", "INCR", DAY))


# --- frequency-based ---------------------------------------------------------------------

def test_never_backed_up_is_due_at_once_in_its_window() -> None:
    p = policy(*WEEKLY_FULL_DAILY_INCR)
    assert due_now([p], {}, at("03/04/2024 12:00:00")) == []  # window closed
    d = only(due_now([p], {}, at("03/04/2024 19:00:00")))
    assert d == Due("pol", "c1", "full", 0, at("01/01/2024 00:00:00"),
                    at("03/04/2024 18:00:00"), at("03/05/2024 06:00:00"), 0)


def test_due_when_the_last_backup_is_frequency_old() -> None:
    p = policy(sched("full", "FULL", WEEK))
    history: History = {("pol", "c1", "full"): [at("02/26/2024 20:00:00")]}
    assert due_now([p], history, at("03/04/2024 19:59:59")) == []
    d = only(due_now([p], history, at("03/04/2024 20:00:00")))
    assert d.due_time == at("03/04/2024 20:00:00")


def test_a_full_satisfies_the_incremental_but_not_the_reverse() -> None:
    p = policy(*WEEKLY_FULL_DAILY_INCR)
    full_done: History = {("pol", "c1", "full"): [at("03/04/2024 18:00:00")]}
    assert due_now([p], full_done, at("03/04/2024 23:00:00")) == []
    assert only(due_now([p], full_done, at("03/05/2024 18:00:00"))).schedule == "incr"
    incr_done: History = {("pol", "c1", "incr"): [at("03/04/2024 18:00:00")]}
    assert only(due_now([p], incr_done, at("03/04/2024 23:00:00"))).schedule == "full"


def test_a_shorter_frequency_does_not_satisfy_a_longer_one() -> None:
    p = policy(sched("weekly", "FULL", WEEK), sched("daily", "FULL", DAY))
    history: History = {("pol", "c1", "daily"): [at("03/04/2024 18:00:00")]}
    assert only(due_now([p], history, at("03/04/2024 19:00:00"))).schedule == "weekly"


def test_cumulative_covers_differential_only() -> None:
    p = policy(sched("full", "FULL", WEEK), sched("cinc", "CINC", DAY),
               sched("incr", "INCR", DAY))
    history: History = {("pol", "c1", "full"): [at("03/01/2024 18:00:00")],
                        ("pol", "c1", "cinc"): [at("03/04/2024 18:00:00")]}
    assert due_now([p], history, at("03/04/2024 19:00:00")) == []
    history = {("pol", "c1", "full"): [at("03/01/2024 18:00:00")],
               ("pol", "c1", "incr"): [at("03/04/2024 18:00:00")]}
    assert only(due_now([p], history, at("03/04/2024 19:00:00"))).schedule == "cinc"


@pytest.mark.parametrize("schedules, chosen", [
    ((sched("daily", "FULL", DAY), sched("weekly", "FULL", WEEK)), "weekly"),
    ((sched("incr", "INCR", WEEK), sched("full", "FULL", WEEK)), "full"),
    ((sched("incr", "INCR", DAY), sched("cinc", "CINC", DAY)), "cinc"),
    ((sched("a", "FULL", WEEK, retention=1), sched("b", "FULL", WEEK, retention=3)), "b"),
])
def test_one_job_per_client_the_longest_frequency_first(schedules: tuple[Schedule, ...],
                                                         chosen: str) -> None:
    d = only(due_now([policy(*schedules)], {}, at("03/04/2024 19:00:00")))
    assert d.schedule == chosen


def test_a_due_schedule_waits_for_its_own_window() -> None:
    full = sched("full", "FULL", WEEK, window=(22 * HOUR, 2 * HOUR))
    incr = sched("incr", "INCR", DAY)
    p = policy(full, incr)
    assert only(due_now([p], {}, at("03/04/2024 19:00:00"))).schedule == "incr"
    assert only(due_now([p], {}, at("03/04/2024 22:30:00"))).schedule == "full"


def test_user_schedules_and_windowless_schedules_never_run() -> None:
    p = policy(sched("user", "UBAK", 0), sched("nowin", "FULL", DAY, window=(0, 0)))
    assert due_now([p], {}, at("03/04/2024 19:00:00")) == []


def test_frequency_zero_is_never_due() -> None:
    assert due_now([policy(sched("f", "FULL", 0))], {}, at("03/04/2024 19:00:00")) == []


def test_inactive_policy_and_effective_date() -> None:
    now = at("03/04/2024 19:00:00")
    assert due_now([policy(*WEEKLY_FULL_DAILY_INCR, active=False)], {}, now) == []
    later = policy(*WEEKLY_FULL_DAILY_INCR, effective="03/04/2024 20:00:00")
    assert due_now([later], {}, now) == []
    assert only(due_now([later], {}, at("03/04/2024 20:00:00"))).due_time == \
        at("03/04/2024 20:00:00")


def test_only_listed_clients_each_its_own_job_priority_first() -> None:
    low = policy(sched("full"), name="low", clients=("c1", "c2"))
    high = policy(sched("full"), name="high", clients=("c3",), priority=5)
    history: History = {("low", "c2", "full"): [at("03/03/2024 18:00:00")]}
    jobs = due_now([low, high], history, at("03/04/2024 19:00:00"))
    assert labels(jobs) == [("high", "c3", "full"), ("low", "c1", "full")]
    assert [d.priority for d in jobs] == [5, 0]


def test_excluded_date_is_never_a_run_day() -> None:
    p = policy(sched("incr", "INCR", DAY, excluded_dates=[D(2024, 3, 5)]))
    history: History = {("pol", "c1", "incr"): [at("03/04/2024 18:00:00")]}
    assert due_now([p], history, at("03/05/2024 19:00:00")) == []
    assert only(due_now([p], history, at("03/06/2024 18:00:00"))).due_time == \
        at("03/05/2024 18:00:00")


# --- tries per period --------------------------------------------------------------------

def test_two_failed_tries_hold_a_schedule_back_for_the_period() -> None:
    p = policy(sched("full", "FULL", WEEK, window=(0, DAY)))
    key = ("pol", "c1", "full")
    fails = {key: [at("03/04/2024 08:00:00"), at("03/04/2024 09:00:00")]}
    assert due_now([p], {}, at("03/04/2024 08:30:00"), {key: fails[key][:1]}) != []
    assert due_now([p], {}, at("03/04/2024 19:59:59"), fails) == []
    assert due_now([p], {}, at("03/04/2024 20:00:01"), fails) != []  # 08:00 is 12 h old
    assert due_now([p], {}, at("03/04/2024 10:00:00"), fails, tries=3) != []
    assert due_now([p], {}, at("03/04/2024 16:00:00"), fails, period_hours=6) != []


def test_failures_before_the_schedule_fell_due_do_not_count() -> None:
    p = policy(sched("incr", "INCR", DAY, window=(0, DAY)))
    key = ("pol", "c1", "incr")
    history: History = {key: [at("03/04/2024 10:00:00")]}
    fails = {key: [at("03/05/2024 08:00:00"), at("03/05/2024 09:00:00")]}  # before 10:00
    assert only(due_now([p], history, at("03/05/2024 11:00:00"), fails)).schedule == "incr"


def test_a_held_back_full_lets_the_incremental_run() -> None:
    p = policy(sched("full", "FULL", WEEK, window=(0, DAY)),
               sched("incr", "INCR", DAY, window=(0, DAY)))
    fails = {("pol", "c1", "full"): [at("03/04/2024 08:00:00"), at("03/04/2024 09:00:00")]}
    assert only(due_now([p], {}, at("03/04/2024 10:00:00"), fails)).schedule == "incr"


# --- calendar-based ----------------------------------------------------------------------

MONDAYS = [Weekday(1, 0)]


def test_calendar_due_in_the_window_of_a_run_day_until_it_succeeds() -> None:
    p = policy(sched("cal", "FULL", cal=1, weekdays=MONDAYS))
    d = only(due_now([p], {}, at("03/04/2024 19:00:00")))
    assert (d.due_time, d.window_close) == (at("03/04/2024 18:00:00"),
                                            at("03/05/2024 06:00:00"))
    assert due_now([p], {}, at("03/05/2024 19:00:00")) == []  # Tuesday: not a run day
    done: History = {("pol", "c1", "cal"): [at("03/04/2024 18:00:00")]}
    assert due_now([p], done, at("03/05/2024 01:00:00")) == []
    assert due_now([p], done, at("03/11/2024 18:00:00")) != []  # next Monday


def test_calendar_backup_earlier_on_the_run_day_counts() -> None:
    p = policy(sched("cal", "FULL", cal=1, weekdays=MONDAYS))
    manual: History = {("pol", "c1", "cal"): [at("03/04/2024 10:00:00")]}
    assert due_now([p], manual, at("03/04/2024 19:00:00")) == []


def test_calendar_is_satisfied_only_by_its_own_backups() -> None:
    p = policy(sched("full", "FULL", WEEK), sched("cal", "INCR", cal=1, weekdays=MONDAYS))
    full_done: History = {("pol", "c1", "full"): [at("03/04/2024 18:00:00")]}
    assert only(due_now([p], full_done, at("03/04/2024 19:00:00"))).schedule == "cal"


def test_calendar_window_past_midnight_and_consecutive_run_days() -> None:
    p = policy(sched("cal", "FULL", cal=1, window=(22 * HOUR, 8 * HOUR),
                     weekdays=[Weekday(1, 0), Weekday(2, 0)]))
    # 01:00 on Tuesday is still Monday's window: Monday's job.
    assert only(due_now([p], {}, at("03/05/2024 01:00:00"))).due_time == \
        at("03/04/2024 22:00:00")
    done: History = {("pol", "c1", "cal"): [at("03/05/2024 01:00:00")]}
    assert due_now([p], done, at("03/05/2024 02:00:00")) == []
    assert only(due_now([p], done, at("03/05/2024 22:00:00"))).due_time == \
        at("03/05/2024 22:00:00")  # Tuesday's own run


def test_calendar_missed_run_day_retries_only_with_calendar_2() -> None:
    strict = policy(sched("cal", "FULL", cal=1, weekdays=MONDAYS))
    retry = policy(sched("cal", "FULL", cal=2, weekdays=MONDAYS))
    tuesday = at("03/05/2024 19:00:00")
    assert due_now([strict], {}, tuesday) == []
    d = only(due_now([retry], {}, tuesday))
    assert (d.due_time, d.window_open) == (at("03/04/2024 18:00:00"),
                                           at("03/05/2024 18:00:00"))
    done: History = {("pol", "c1", "cal"): [at("03/05/2024 18:30:00")]}
    assert due_now([retry], done, at("03/06/2024 19:00:00")) == []


def test_calendar_2_before_the_run_days_window_opens_retries_the_previous_one() -> None:
    s = sched("cal", "FULL", cal=2, weekdays=MONDAYS)
    s.windows[0] = Window(18 * HOUR, 20 * HOUR)  # Sunday 18:00 to Monday 14:00
    p = policy(s)
    monday_noon = at("03/04/2024 12:00:00")  # in Sunday's window; Monday's opens at 18:00
    assert only(due_now([p], {}, monday_noon)).due_time == at("02/26/2024 18:00:00")
    done: History = {("pol", "c1", "cal"): [at("02/26/2024 19:00:00")]}
    assert due_now([p], done, monday_noon) == []
    assert only(due_now([p], done, at("03/04/2024 18:00:00"))).due_time == \
        at("03/04/2024 18:00:00")


def test_calendar_run_day_without_a_window_waits_with_retries() -> None:
    s = sched("cal", "FULL", cal=2, days_of_month=[3])  # the 3rd, a Sunday
    s.windows = windows(*NIGHT, days=(1, 2, 3, 4, 5))  # weekday windows only
    p = policy(s)
    d = only(due_now([p], {}, at("03/04/2024 19:00:00")))
    assert d.due_time == at("03/03/2024 00:00:00")


def test_calendar_effective_date_in_the_window() -> None:
    p = policy(sched("cal", "FULL", cal=1, weekdays=MONDAYS),
               effective="03/04/2024 20:00:00")
    assert due_now([p], {}, at("03/04/2024 19:00:00")) == []
    assert only(due_now([p], {}, at("03/04/2024 21:00:00"))).due_time == \
        at("03/04/2024 20:00:00")
