"""What nbpem would start between two times (nbcli.sched.predict.predict), with fake times:
a weekly full and a daily incremental over two weeks, history before the start, calendar
schedules, excluded dates, effective date, inactive policies, DST - and that every predicted
job is one due_now itself would start at that moment.
"""

from __future__ import annotations

import time

from nbcli.catalog.policy_model import Policy, Weekday
from nbcli.sched import Due, History, due_now
from nbcli.sched.predict import predict
from tests.unit.test_sched_due import (
    DAY,
    HOUR,
    NIGHT,
    WEEK,
    WEEKLY_FULL_DAILY_INCR,
    D,
    at,
    policy,
    sched,
    windows,
)
from tests.unit.test_sched_windows import (
    local_tz,
    paris,  # noqa: F401 (autouse: local time is Paris)
)

with local_tz("Europe/Paris"):
    START = at("03/04/2024 12:00:00")  # a Monday, before the 18:00 window


def days(jobs: list[Due], start: int = START) -> list[tuple[int, str]]:
    """(day number from the start's day, schedule label) of each job."""
    base = time.localtime(start).tm_yday
    return [(time.localtime(d.due_time).tm_yday - base, d.schedule) for d in jobs]


def test_weekly_full_and_daily_incremental_over_two_weeks() -> None:
    jobs = predict([policy(*WEEKLY_FULL_DAILY_INCR)], {}, START, START + 14 * DAY)
    assert days(jobs) == [(n, "full" if n % 7 == 0 else "incr") for n in range(14)]
    assert all(time.strftime("%H:%M:%S", time.localtime(d.due_time)) == "18:00:00"
               for d in jobs)
    assert jobs[0] == Due("pol", "c1", "full", 0, at("03/04/2024 18:00:00"),
                          at("03/04/2024 18:00:00"), at("03/05/2024 06:00:00"), 0)


def test_history_before_the_start_sets_the_first_due_times() -> None:
    history: History = {("pol", "c1", "full"): [at("03/01/2024 18:00:00")],
                        ("pol", "c1", "incr"): [at("03/03/2024 18:00:00")]}
    jobs = predict([policy(*WEEKLY_FULL_DAILY_INCR)], history, START, START + 7 * DAY)
    assert days(jobs) == [(0, "incr"), (1, "incr"), (2, "incr"), (3, "incr"),
                          (4, "full"), (5, "incr"), (6, "incr")]
    assert len(history[("pol", "c1", "incr")]) == 1  # the caller's history is untouched


def test_start_inside_a_window_that_opened_the_day_before() -> None:
    start = at("03/05/2024 01:00:00")
    jobs = predict([policy(sched("full", "FULL", WEEK))], {}, start, start + DAY)
    assert [(d.due_time, d.window_open) for d in jobs] == [(start, at("03/04/2024 18:00:00"))]


def test_calendar_last_day_of_month_with_a_daily_incremental() -> None:
    p = policy(sched("monthly", "FULL", cal=1, last_day_of_month=True),
               sched("incr", "INCR", DAY))
    start = at("03/25/2024 12:00:00")
    jobs = predict([p], {("pol", "c1", "incr"): [at("03/24/2024 18:00:00")]},
                   start, at("04/02/2024 12:00:00"))
    # On the 31st the calendar full runs, and covers that day's incremental.
    assert days(jobs, start) == [(0, "incr"), (1, "incr"), (2, "incr"), (3, "incr"),
                                 (4, "incr"), (5, "incr"), (6, "monthly"), (7, "incr")]


def test_calendar_retries_after_run_day_catch_up_at_the_start() -> None:
    p = policy(sched("cal", "FULL", cal=2, weekdays=[Weekday(5, 0)]))  # Fridays
    jobs = predict([p], {}, START, START + 7 * DAY)
    assert [time.strftime("%m/%d %H:%M", time.localtime(d.due_time)) for d in jobs] == \
        ["03/04 18:00", "03/08 18:00"]
    assert jobs[0].window_open == at("03/04/2024 18:00:00")


def test_calendar_run_day_starting_at_midnight_inside_a_window() -> None:
    s = sched("cal", "FULL", cal=2, weekdays=[Weekday(0, 0)])  # Sundays, no Sunday window
    s.windows = windows(*NIGHT, days=(6,))  # Saturday 18:00 to Sunday 06:00
    p = policy(s)
    # Last Sunday's run was taken at 01:00, in Saturday's window: it counts for Sunday.
    history: History = {("pol", "c1", "cal"): [at("02/25/2024 01:00:00")]}
    start = at("03/02/2024 12:00:00")  # Saturday
    jobs = predict([p], history, start, start + 2 * DAY)
    assert [d.due_time for d in jobs] == [at("03/03/2024 00:00:00")]
    assert [d.schedule for d in due_now([p], history, jobs[0].due_time)] == ["cal"]
    assert due_now([p], history, jobs[0].due_time - 1) == []


def test_excluded_date_skips_that_days_run() -> None:
    p = policy(sched("incr", "INCR", DAY, excluded_dates=[D(2024, 3, 6)]))
    jobs = predict([p], {}, START, START + 4 * DAY)
    assert [n for n, _ in days(jobs)] == [0, 1, 3]


def test_effective_date_inactive_policies_and_predict_all() -> None:
    later = policy(*WEEKLY_FULL_DAILY_INCR, effective="03/06/2024 12:00:00")
    assert [n for n, _ in days(predict([later], {}, START, START + 4 * DAY))] == [2, 3]
    off = policy(*WEEKLY_FULL_DAILY_INCR, active=False)
    assert predict([off], {}, START, START + 4 * DAY) == []
    assert len(predict([off], {}, START, START + 4 * DAY, include_inactive=True)) == 4


def test_jobs_of_several_policies_and_clients_in_time_order() -> None:
    morning = policy(sched("full", window=(8 * HOUR, HOUR)), name="morning", clients=("b", "a"))
    low = policy(sched("full"), name="low")
    high = policy(sched("full"), name="high", priority=9)
    jobs = predict([low, morning, high], {}, START, START + DAY)
    assert [(d.policy, d.client) for d in jobs] == [("high", "c1"), ("low", "c1"),
                                                    ("morning", "a"), ("morning", "b")]
    assert jobs[2].due_time == at("03/05/2024 08:00:00")  # its window is over on day 0


def test_end_before_start_and_no_windows_predict_nothing() -> None:
    assert predict([policy(*WEEKLY_FULL_DAILY_INCR)], {}, START, START - 1) == []
    assert predict([policy(sched("f", window=(0, 0)))], {}, START, START + WEEK) == []


def test_daily_incremental_keeps_its_hour_across_dst() -> None:
    start = at("03/28/2024 12:00:00")  # Paris moves to summer time on the 31st
    jobs = predict([policy(sched("incr", "INCR", DAY))], {}, start, start + 6 * DAY)
    assert {time.strftime("%H:%M", time.localtime(d.due_time)) for d in jobs} == {"18:00"}
    assert len(jobs) == 6


def test_every_predicted_job_is_what_due_now_starts_then() -> None:
    policies: list[Policy] = [
        policy(*WEEKLY_FULL_DAILY_INCR, name="freq", clients=("c1", "c2")),
        policy(sched("cal", "FULL", cal=2, weekdays=[Weekday(3, 0)]),
               sched("cinc", "CINC", 2 * DAY, window=(20 * HOUR, 4 * HOUR)), name="mixed"),
    ]
    history: History = {}
    jobs = predict(policies, history, START, START + 21 * DAY)
    assert len(jobs) > 21
    for d in jobs:
        started = {(j.policy, j.client): j.schedule for j in due_now(policies, history,
                                                                       d.due_time)}
        assert started.get((d.policy, d.client)) == d.schedule, d
        history.setdefault((d.policy, d.client, d.schedule), []).append(d.due_time)
