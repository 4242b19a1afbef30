"""Schedule values as NetBackup's commands take them, checked, and the edits built from them.

bpplsched -add and bpplschedrep share these: both turn their options into a `ScheduleChanges`
and `apply` it to a Schedule, so the two accept the same values and fail the same way
(status 20 for a bad value, 109 for a bad date, 231 for windows that overlap). Pure code: no
disk, no clock.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nbcli import kinds, timefmt
from nbcli.model.policy import DAYS, MAX_COPIES, Copy, Schedule, Weekday, Window, check_name
from nbcli.status import INVALID_PARAMETER, WINDOWS_OVERLAP, NbuError

WEEK_SECONDS = 7 * kinds.DAY
MAX_RETENTION_LEVEL = 100
LAST_DAY = "l"

T = TypeVar("T", datetime.date, Weekday, int)


def parse_int(text: str, what: str, low: int, high: int) -> int:
    """An integer in [low, high]; status 20 otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise NbuError(INVALID_PARAMETER, f"{what} must be a number, not {text!r}") from None
    if not low <= value <= high:
        raise NbuError(INVALID_PARAMETER, f"{what} must be between {low} and {high}, not {value}")
    return value


def split_list(text: str) -> list[str]:
    """NetBackup's per-copy lists: `1,3,5`."""
    return [part.strip() for part in text.split(",")]


MAX_EPOCH = 2147483647


def parse_date(text: str, unix: bool = False) -> datetime.date:
    """`mm/dd/yyyy` -> a date; status 109 when it is not a real date. With `unix` (-ut), the
    text is seconds since 1970 and the date the local day it falls in (status 20 otherwise)."""
    if unix:
        seconds = parse_int(text, "UNIX time", 0, MAX_EPOCH)
        t = time.localtime(seconds)
    else:
        t = time.localtime(timefmt.parse(text))
    return datetime.date(t.tm_year, t.tm_mon, t.tm_mday)


def parse_day(text: str) -> int:
    """A day name (`Monday`, `mon`, any case) -> 0 (Sunday) .. 6."""
    word = text.strip().lower()
    for n, day in enumerate(DAYS):
        if len(word) >= 3 and day.lower().startswith(word):
            return n
    raise NbuError(INVALID_PARAMETER, f"invalid day name {text!r} (Sunday .. Saturday)")


def parse_weekday(day: str, week: str) -> Weekday:
    """`-weekday Monday 2`: week 1-5 of the month, or 0 / `every` for every week."""
    w = "0" if week.strip().lower() == "every" else week
    return Weekday(parse_day(day), parse_int(w, "week of the month", 0, 5))


def parse_day_of_month(text: str) -> int | str:
    """1-31, or `l` for the last day of the month."""
    if text.strip().lower() == LAST_DAY:
        return LAST_DAY
    return parse_int(text, "day of the month", 1, 31)


def parse_window(start: str, duration: str) -> Window:
    """A start window: start 0-86400 seconds after midnight, duration up to a week."""
    return Window(parse_int(start, "window start", 0, kinds.DAY),
                  parse_int(duration, "window duration", 0, WEEK_SECONDS))


def check_windows(windows: list[Window]) -> None:
    """Status 231 when one day's window runs into another day's window."""
    spans = sorted((d * kinds.DAY + w.start, w.duration) for d, w in enumerate(windows)
                   if w.duration > 0)
    for i, (start, duration) in enumerate(spans):
        # The next window in the week, wrapping from Saturday round to Sunday.
        nxt = spans[(i + 1) % len(spans)][0] + (WEEK_SECONDS if i + 1 == len(spans) else 0)
        if start + duration > nxt:
            raise NbuError(WINDOWS_OVERLAP,
                           f"the {DAYS[start // kinds.DAY]} window overlaps the next one")


@dataclass
class ScheduleChanges:
    """What one bpplsched -add / bpplschedrep command line asks for (None = unchanged)."""

    sched_type: int | None = None
    frequency: int | None = None
    calendar: int | None = None
    max_mpx: int | None = None
    synthetic: bool | None = None
    number_copies: int | None = None
    retention: list[int] | None = None
    residence: list[str] | None = None
    pool: list[str] | None = None
    fail_on_error: list[bool] | None = None
    share_group: list[str] | None = None
    clear_included: bool = False  # -ci
    clear_excluded: bool = False  # -ce
    clear_weekdays: bool = False  # -cw
    clear_days: bool = False  # -cd
    include: list[datetime.date] = field(default_factory=list)
    exclude: list[datetime.date] = field(default_factory=list)
    drop_include: list[datetime.date] = field(default_factory=list)
    drop_exclude: list[datetime.date] = field(default_factory=list)
    weekdays: list[Weekday] = field(default_factory=list)
    drop_weekdays: list[Weekday] = field(default_factory=list)
    days: list[int | str] = field(default_factory=list)
    drop_days: list[int | str] = field(default_factory=list)
    exclude_weekdays: list[Weekday] = field(default_factory=list)  # -xweekday
    exclude_days: list[int | str] = field(default_factory=list)  # -xdayomonth
    windows: dict[int, Window] = field(default_factory=dict)  # day -> window

    @property
    def adds_calendar_rules(self) -> bool:
        return bool(self.include or self.weekdays or self.days)


def parse_levels(text: str) -> list[int]:
    return [parse_int(t, "retention level", 0, MAX_RETENTION_LEVEL) for t in split_list(text)]


def parse_flags(text: str, what: str) -> list[bool]:
    return [bool(parse_int(t, what, 0, 1)) for t in split_list(text)]


def apply(s: Schedule, ch: ScheduleChanges) -> None:
    """Apply `ch` to `s` in place; raises (and leaves `s` half-changed) on a bad value."""
    for name in ("sched_type", "frequency", "calendar", "max_mpx", "synthetic"):
        value = getattr(ch, name)
        if value is not None:
            setattr(s, name, value)
    _apply_copies(s, ch)
    _apply_calendar(s, ch)
    for day, window in ch.windows.items():
        s.windows[day] = window
    check_windows(s.windows)
    if ch.adds_calendar_rules and not s.is_calendar:
        raise NbuError(INVALID_PARAMETER,
                       f"schedule {s.label} is frequency-based: include dates, weekdays "
                           "and days of the month need -cal 1 or -cal 2")


def new_schedule(label: str, ch: ScheduleChanges) -> Schedule:
    """A schedule with NetBackup's defaults, then `ch` (bpplsched -add)."""
    s = Schedule(check_name(label, "schedule label"))
    apply(s, ch)
    if s.is_user and ch.frequency is None:
        s.frequency = 0  # user backups and archives are never due by frequency
    return s


def _apply_copies(s: Schedule, ch: ScheduleChanges) -> None:
    n = ch.number_copies if ch.number_copies is not None else len(s.copies)
    per_copy = {"retention": ch.retention, "residence": ch.residence, "pool": ch.pool,
                "fail_on_error": ch.fail_on_error, "share_group": ch.share_group}
    for name, values in per_copy.items():
        if values is not None and len(values) > n:
            raise NbuError(INVALID_PARAMETER, f"{len(values)} values for {name} but {n} copies "
                                              "(set -number_copies first)")
    if not 1 <= n <= MAX_COPIES:
        raise NbuError(INVALID_PARAMETER, f"number of copies must be between 1 and {MAX_COPIES}")
    # Added copies keep the first copy's retention until told otherwise.
    first = ch.retention[0] if ch.retention else s.copies[0].retention
    s.copies = (s.copies + [Copy(retention=first) for _ in range(n)])[:n]
    for name, values in per_copy.items():
        for copy, value in zip(s.copies, values or [], strict=False):
            setattr(copy, name, value)


def _apply_calendar(s: Schedule, ch: ScheduleChanges) -> None:
    if ch.clear_included:
        s.included_dates = []
    if ch.clear_excluded:  # -ce: every exclusion, the recurring ones too
        s.excluded_dates, s.excluded_weekdays = [], []
        s.excluded_days_of_month, s.excluded_last_day = [], False
    if ch.clear_weekdays:
        s.weekdays = []
    if ch.clear_days:
        s.days_of_month, s.last_day_of_month = [], False
    s.included_dates = _edit(s.included_dates, ch.include, ch.drop_include)
    s.excluded_dates = _edit(s.excluded_dates, ch.exclude, ch.drop_exclude)
    s.weekdays = _edit(s.weekdays, ch.weekdays, ch.drop_weekdays)
    numbers = _edit(s.days_of_month, [d for d in ch.days if isinstance(d, int)],
                    [d for d in ch.drop_days if isinstance(d, int)])
    s.days_of_month = numbers
    if LAST_DAY in ch.days:
        s.last_day_of_month = True
    s.excluded_weekdays = _edit(s.excluded_weekdays, ch.exclude_weekdays, [])
    s.excluded_days_of_month = _edit(
        s.excluded_days_of_month, [d for d in ch.exclude_days if isinstance(d, int)], [])
    if LAST_DAY in ch.exclude_days:
        s.excluded_last_day = True
    if LAST_DAY in ch.drop_days:
        s.last_day_of_month = False


def _edit(current: list[T], add: list[T], drop: list[T]) -> list[T]:
    """`current` plus `add` minus `drop`, without duplicates, sorted."""
    return sorted((set(current) | set(add)) - set(drop))


MAX_MPX = 32
MAX_FREQUENCY = 10 * 366 * kinds.DAY


def _names(text: str, what: str) -> list[str]:
    """A per-copy list of storage units, pools or groups; `*NULL*` = the policy's own."""
    return ["" if t in ("", "*NULL*") else check_name(t, what) for t in split_list(text)]


def changes_from(opts: Mapping[str, Any]) -> ScheduleChanges:
    """Checked ScheduleChanges from option values as typed (keys: the option names)."""
    def given(key: str) -> str | None:
        value = opts.get(key)
        return None if value is None else str(value)

    ch = ScheduleChanges()
    if (st := given("st")) is not None:
        ch.sched_type = kinds.sched_code(st)
    numbers = {"freq": ("frequency", 0, MAX_FREQUENCY), "mpxmax": ("max_mpx", 1, MAX_MPX),
               "number_copies": ("number_copies", 1, MAX_COPIES), "cal": ("calendar", 0, 2)}
    for key, (attr, low, high) in numbers.items():
        if (text := given(key)) is not None:
            setattr(ch, attr, parse_int(text, key, low, high))
    if (text := given("synthetic")) is not None:
        ch.synthetic = bool(parse_int(text, "synthetic", 0, 1))
    if (text := given("rl")) is not None:
        ch.retention = parse_levels(text)
    if (text := given("fail_on_error")) is not None:
        ch.fail_on_error = parse_flags(text, "fail_on_error")
    for key, attr, what in (("residence", "residence", "storage unit"),
                            ("pool", "pool", "volume pool"), ("sg", "share_group", "group")):
        if (text := given(key)) is not None:
            setattr(ch, attr, _names(text, what))
    _calendar_changes(ch, opts)
    return ch


def _calendar_changes(ch: ScheduleChanges, opts: Mapping[str, Any]) -> None:
    for key, attr in (("incl", "include"), ("excl", "exclude"), ("delincl", "drop_include"),
                      ("delexcl", "drop_exclude")):
        setattr(ch, attr, [parse_date(d, bool(opts.get("ut"))) for d in opts.get(key) or ()])
    ch.weekdays = [parse_weekday(d, w) for d, w in opts.get("weekday") or ()]
    ch.drop_weekdays = [parse_weekday(d, w) for d, w in opts.get("delweekday") or ()]
    ch.days = [parse_day_of_month(d) for d in opts.get("dayomonth") or ()]
    ch.drop_days = [parse_day_of_month(d) for d in opts.get("deldayomonth") or ()]
    ch.exclude_weekdays = [parse_weekday(d, w) for d, w in opts.get("xweekday") or ()]
    ch.exclude_days = [parse_day_of_month(d) for d in opts.get("xdayomonth") or ()]
    for key in ("ci", "ce", "cw", "cd"):
        setattr(ch, _CLEARS[key], bool(opts.get(key)))
    if opts.get("window"):
        every_day = parse_window(*opts["window"])
        ch.windows = {d: every_day for d in range(len(DAYS))}
    for d in range(len(DAYS)):
        if opts.get(f"day{d}"):
            ch.windows[d] = parse_window(*opts[f"day{d}"])


_CLEARS = {"ci": "clear_included", "ce": "clear_excluded", "cw": "clear_weekdays",
           "cd": "clear_days"}
