"""Schedule values and edits: what bpplsched -add and bpplschedrep accept, and how they fail."""

from __future__ import annotations

import datetime

import pytest

from nbcli.model import schedules
from nbcli.model.policy import Copy, Schedule, Weekday, Window
from nbcli.model.schedules import ScheduleChanges, apply, changes_from, new_schedule
from nbcli.status import NbuError


def status_of(call) -> int:
    with pytest.raises(NbuError) as e:
        call()
    return e.value.status


def test_value_parsers() -> None:
    assert schedules.parse_date("12/25/2030") == datetime.date(2030, 12, 25)
    assert schedules.parse_weekday("mon", "2") == Weekday(1, 2)
    assert schedules.parse_weekday("SATURDAY", "every") == Weekday(6, 0)
    assert schedules.parse_day_of_month("L") == "l"
    assert schedules.parse_day_of_month("31") == 31
    assert schedules.parse_window("64800", "43200") == Window(64800, 43200)
    assert schedules.parse_levels("1, 8,100") == [1, 8, 100]


@pytest.mark.parametrize("call,status", [
    (lambda: schedules.parse_date("02/30/2030"), 109),
    (lambda: schedules.parse_date("2030-01-01"), 109),
    (lambda: schedules.parse_weekday("Funday", "1"), 20),
    (lambda: schedules.parse_weekday("Mo", "1"), 20),
    (lambda: schedules.parse_weekday("Monday", "6"), 20),
    (lambda: schedules.parse_day_of_month("32"), 20),
    (lambda: schedules.parse_day_of_month("x"), 20),
    (lambda: schedules.parse_window("86401", "10"), 20),
    (lambda: schedules.parse_window("-1", "10"), 20),
    (lambda: schedules.parse_window("0", "604801"), 20),
    (lambda: schedules.parse_window("0", "ten"), 20),
    (lambda: schedules.parse_levels("1,101"), 20),
    (lambda: changes_from({"st": "WEEKLY"}), 20),
    (lambda: changes_from({"freq": "-5"}), 20),
    (lambda: changes_from({"cal": "3"}), 20),
    (lambda: changes_from({"mpxmax": "33"}), 20),
    (lambda: changes_from({"residence": "stu1,bad/stu"}), 20),
    (lambda: changes_from({"fail_on_error": "0,2"}), 20),
    (lambda: changes_from({"excl": ("13/01/2030",)}), 109),
])
def test_bad_values(call, status: int) -> None:
    assert status_of(call) == status


def test_windows_may_touch_but_not_overlap() -> None:
    schedules.check_windows([Window(0, 86400)] * 7)  # back to back: fine
    schedules.check_windows([Window(64800, 43200)] * 7)  # 18:00 to 06:00 every night
    overlap = [Window(64800, 43200), Window(0, 3600)] + [Window()] * 5
    assert status_of(lambda: schedules.check_windows(overlap)) == 231
    wraps = [Window(0, 3600)] + [Window()] * 5 + [Window(82800, 7200)]  # Saturday into Sunday
    assert status_of(lambda: schedules.check_windows(wraps)) == 231


def test_new_schedule_defaults() -> None:
    s = new_schedule("full", ScheduleChanges())
    assert (s.sched_type, s.frequency, s.retention, len(s.copies)) == (0, 604800, 1, 1)
    assert all(w.duration == 0 for w in s.windows) and not s.is_calendar
    user = new_schedule("u", changes_from({"st": "UBAK"}))
    assert user.is_user and user.frequency == 0
    assert status_of(lambda: new_schedule("bad label", ScheduleChanges())) == 20


def test_copies_follow_number_copies() -> None:
    s = Schedule("s")
    apply(s, changes_from({"number_copies": "3", "rl": "2,5", "residence": "a,*NULL*,c",
                           "fail_on_error": "1,0,1", "pool": "p1", "sg": "g1,g2"}))
    assert [c.retention for c in s.copies] == [2, 5, 2]
    assert [c.residence for c in s.copies] == ["a", "", "c"]
    assert [c.fail_on_error for c in s.copies] == [True, False, True]
    assert [c.pool for c in s.copies] == ["p1", "", ""]
    apply(s, changes_from({"number_copies": "1"}))
    assert s.copies == [Copy(2, "a", "p1", True, "g1")]
    assert status_of(lambda: apply(s, changes_from({"rl": "1,2"}))) == 20
    assert status_of(lambda: apply(s, changes_from({"number_copies": "11"}))) == 20


def test_calendar_rules_add_delete_clear() -> None:
    s = Schedule("c", calendar=1)
    apply(s, changes_from({"incl": ("01/02/2030", "01/01/2030"), "weekday": (("Mon", "1"),),
                           "dayomonth": ("15", "l", "1"), "excl": ("02/01/2030",)}))
    assert s.included_dates == [datetime.date(2030, 1, 1), datetime.date(2030, 1, 2)]
    assert s.days_of_month == [1, 15] and s.last_day_of_month
    apply(s, changes_from({"delincl": ("01/01/2030",), "deldayomonth": ("l",),
                           "delweekday": (("monday", "1"),), "weekday": (("Fri", "0"),)}))
    assert s.included_dates == [datetime.date(2030, 1, 2)] and not s.last_day_of_month
    assert s.weekdays == [Weekday(5, 0)]
    apply(s, changes_from({"ci": True, "ce": True, "cw": True, "cd": True}))
    assert (s.included_dates, s.excluded_dates, s.weekdays, s.days_of_month) == ([], [], [], [])


def test_calendar_rules_need_a_calendar_schedule() -> None:
    s = Schedule("f")
    assert status_of(lambda: apply(s, changes_from({"incl": ("01/01/2030",)}))) == 20
    apply(s, changes_from({"excl": ("01/01/2030",)}))  # exclusions suit any schedule
    apply(s, changes_from({"cal": "2", "weekday": (("Sunday", "5"),)}))
    assert s.calendar == 2 and s.weekdays == [Weekday(0, 5)]


def test_windows_per_day_and_every_day() -> None:
    s = Schedule("w")
    apply(s, changes_from({"window": ("3600", "7200"), "day6": ("0", "0")}))
    assert s.windows == [Window(3600, 7200)] * 6 + [Window(0, 0)]
    apply(s, changes_from({"day0": ("0", "1800")}))
    assert s.windows[0] == Window(0, 1800) and s.windows[1] == Window(3600, 7200)
