"""Start windows and calendar run days (nbcli.sched.windows, nbcli.sched.rundays), in local
time: windows past midnight and over several days, excluded dates, DST days, week-of-month
rules. The time zone is set per test (Europe/Paris unless a test needs another) and restored.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nbcli import timefmt
from nbcli.catalog.policy_model import Schedule, Weekday, Window
from nbcli.sched import next_window, window_at
from nbcli.sched.rundays import is_run_day, last_run_day
from nbcli.sched.windows import day_of, days_later

HOUR = 3600
D = datetime.date


@contextmanager
def local_tz(name: str) -> Iterator[None]:
    """Run with TZ=name, then put the process's time zone back as it was."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture(autouse=True)
def paris() -> Iterator[None]:
    with local_tz("Europe/Paris"):
        yield


def at(text: str) -> int:
    """A local time, `mm/dd/yyyy hh:mm:ss`."""
    return timefmt.parse(text)


def daily(start: int, duration: int, excluded: tuple[datetime.date, ...] = ()) -> Schedule:
    return Schedule("s", windows=[Window(start, duration) for _ in range(7)],
                    excluded_dates=list(excluded))


def opens(s: Schedule, t: int) -> int:
    """When the next window of `s` opens (at or after t)."""
    found = next_window(s, t)
    assert found is not None
    return found[0]


def window(s: Schedule, t: int) -> tuple[int, int]:
    found = window_at(s, t)
    assert found is not None
    return found


def one_day(day: int, start: int, duration: int) -> Schedule:
    windows = [Window() for _ in range(7)]
    windows[day] = Window(start, duration)
    return Schedule("s", windows=windows)


# --- windows -----------------------------------------------------------------------------

def test_window_past_midnight_belongs_to_the_day_it_opens() -> None:
    s = one_day(1, 22 * HOUR, 8 * HOUR)  # Monday 22:00 -> Tuesday 06:00
    monday_open, tuesday_close = at("03/04/2024 22:00:00"), at("03/05/2024 06:00:00")
    assert window_at(s, at("03/05/2024 03:00:00")) == (monday_open, tuesday_close)
    assert window_at(s, at("03/05/2024 05:59:59")) == (monday_open, tuesday_close)
    assert window_at(s, tuesday_close) is None  # the close is not part of the window
    assert window_at(s, at("03/04/2024 21:59:59")) is None
    assert day_of(s, at("03/05/2024 01:00:00")) == D(2024, 3, 4)
    assert day_of(s, at("03/05/2024 12:00:00")) == D(2024, 3, 5)


def test_next_window_is_the_first_opening_at_or_after() -> None:
    s = one_day(1, 22 * HOUR, 8 * HOUR)
    monday = (at("03/04/2024 22:00:00"), at("03/05/2024 06:00:00"))
    assert next_window(s, at("03/04/2024 22:00:00")) == monday
    assert next_window(s, at("02/28/2024 10:00:00")) == monday
    # Inside Monday's window the next one is a week later.
    assert next_window(s, at("03/05/2024 01:00:00")) == (at("03/11/2024 22:00:00"),
                                                         at("03/12/2024 06:00:00"))


def test_window_over_several_days() -> None:
    s = one_day(6, 0, 2 * 86400)  # all of Saturday and Sunday
    assert window_at(s, at("03/10/2024 23:59:59")) == (at("03/09/2024 00:00:00"),
                                                       at("03/11/2024 00:00:00"))
    assert window_at(s, at("03/11/2024 00:00:00")) is None
    assert opens(s, at("03/10/2024 12:00:00")) == at("03/16/2024 00:00:00")


def test_weekday_numbers_start_on_sunday() -> None:
    s = one_day(0, 9 * HOUR, HOUR)
    assert window_at(s, at("03/03/2024 09:30:00")) is not None  # a Sunday
    assert window_at(s, at("03/04/2024 09:30:00")) is None  # Monday


def test_no_window_means_never() -> None:
    s = Schedule("s")
    assert window_at(s, at("03/04/2024 12:00:00")) is None
    assert next_window(s, at("03/04/2024 12:00:00")) is None


def test_no_window_opens_on_an_excluded_date() -> None:
    s = daily(18 * HOUR, 12 * HOUR, excluded=(D(2024, 3, 5),))
    assert window_at(s, at("03/05/2024 19:00:00")) is None
    # The window of the day before still runs into the excluded day.
    assert window_at(s, at("03/05/2024 05:00:00")) == (at("03/04/2024 18:00:00"),
                                                       at("03/05/2024 06:00:00"))
    assert opens(s, at("03/05/2024 07:00:00")) == at("03/06/2024 18:00:00")


@pytest.mark.parametrize("tz, change, after", [
    ("Europe/Paris", "03/31/2024", "04/01/2024"),        # 23-hour day
    ("Europe/Paris", "10/27/2024", "10/28/2024"),        # 25-hour day
    ("America/New_York", "03/10/2024", "03/11/2024"),
    ("America/New_York", "11/03/2024", "11/04/2024"),
])
def test_windows_follow_the_wall_clock_on_dst_days(tz: str, change: str, after: str) -> None:
    with local_tz(tz):
        evening = daily(18 * HOUR, 12 * HOUR)
        open_, close = window(evening, at(f"{change} 20:00:00"))
        assert time.strftime("%H:%M", time.localtime(open_)) == "18:00"
        assert time.strftime("%H:%M", time.localtime(close)) == "06:00"
        whole_day = daily(0, 86400)
        open_, close = window(whole_day, at(f"{change} 12:00:00"))
        assert (open_, close) == (at(f"{change} 00:00:00"), at(f"{after} 00:00:00"))
        assert close - open_ != 86400  # 23 or 25 hours: no gap and no overlap
        assert window_at(whole_day, close) == (close, at(f"{after} 00:00:00") + 86400)
        assert days_later(at(f"{change} 18:00:00"), 1) == at(f"{after} 18:00:00")


# --- calendar run days -------------------------------------------------------------------

def test_included_dates_days_of_month_and_last_day() -> None:
    s = Schedule("s", calendar=1, included_dates=[D(2024, 3, 7)], days_of_month=[1, 15],
                 last_day_of_month=True)
    runs = [d for d in (D(2024, 2, 1) + datetime.timedelta(days=n) for n in range(60))
            if is_run_day(s, d)]
    assert runs == [D(2024, 2, 1), D(2024, 2, 15), D(2024, 2, 29), D(2024, 3, 1),
                    D(2024, 3, 7), D(2024, 3, 15), D(2024, 3, 31)]


def test_excluded_date_wins_over_every_rule() -> None:
    s = Schedule("s", calendar=1, included_dates=[D(2024, 3, 7)], days_of_month=[7],
                 weekdays=[Weekday(4, 0)], excluded_dates=[D(2024, 3, 7)])
    assert not is_run_day(s, D(2024, 3, 7))  # a Thursday, the 7th and included
    assert is_run_day(s, D(2024, 3, 14))


def test_weekday_week_of_month() -> None:
    # March 2024 has five Fridays (1, 8, 15, 22, 29) and four Mondays (4, 11, 18, 25).
    def fridays(week: int) -> list[int]:
        s = Schedule("s", calendar=1, weekdays=[Weekday(5, week)])
        return [d for d in range(1, 32) if is_run_day(s, D(2024, 3, d))]

    assert fridays(1) == [1]
    assert fridays(2) == [8]
    assert fridays(4) == [22]
    assert fridays(5) == [29]  # the "Last" row
    assert fridays(0) == [1, 8, 15, 22, 29]
    last_monday = Schedule("s", calendar=1, weekdays=[Weekday(1, 5)])
    assert [d for d in range(1, 32) if is_run_day(last_monday, D(2024, 3, d))] == [25]


def test_last_run_day_looks_back_to_the_floor() -> None:
    s = Schedule("s", calendar=1, weekdays=[Weekday(1, 0)])  # Mondays
    assert last_run_day(s, D(2024, 3, 7), D(2024, 1, 1)) == D(2024, 3, 4)
    assert last_run_day(s, D(2024, 3, 4), D(2024, 3, 4)) == D(2024, 3, 4)
    assert last_run_day(s, D(2024, 3, 7), D(2024, 3, 5)) is None


def test_excluded_weekdays_and_days_of_month_are_never_run_days() -> None:
    # bpplschedrep -xweekday Friday 5 -xdayomonth 15 l: every Friday and day 1/15/last
    # would run; the last Friday (29), the 15th and the last day (31) are excluded.
    s = Schedule("s", calendar=1, weekdays=[Weekday(5, 0)], days_of_month=[1, 15],
                 last_day_of_month=True, excluded_weekdays=[Weekday(5, 5)],
                 excluded_days_of_month=[15], excluded_last_day=True)
    runs = [d for d in range(1, 32) if is_run_day(s, D(2024, 3, d))]
    assert runs == [1, 8, 22]


def test_no_window_opens_on_an_excluded_weekday_or_day() -> None:
    s = Schedule("s", windows=[Window(18 * HOUR, 2 * HOUR) for _ in range(7)],
                 excluded_weekdays=[Weekday(2, 0)], excluded_days_of_month=[7])
    # Tuesday 03/05/2024 (every Tuesday excluded), Thursday the 7th: the next window after
    # Monday's opens on Wednesday, then Friday.
    assert window_at(s, at("03/05/2024 19:00:00")) is None
    assert opens(s, at("03/04/2024 21:00:00")) == at("03/06/2024 18:00:00")
    assert opens(s, at("03/06/2024 21:00:00")) == at("03/08/2024 18:00:00")
