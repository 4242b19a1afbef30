"""The labelled forms of a schedule: the blocks `bppllist -U/-L` and `bpplsched -U/-L` print.

Parsers of NetBackup's output key on these words: `Frequency:.+\\((\\d+) sec`, the
`Retention Level: <n> (<period>)` lines (one per copy), `Calendar sched: Enabled`, the
`Included Dates-----------` / `Excluded Dates----------` rules, and `Daily Windows:` as the
schedule's last section, one line per open window (-U) or the Day/Open/Close table (-L).
Pure text from a Schedule; the raw SCHED records are in policy_raw.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping

from nbcli import kinds
from nbcli.model.policy import DAYS, Schedule
from nbcli.model.retention import period_text

_PERIODS = {0: "1 week", 1: "2 weeks", 2: "3 weeks", 3: "1 month", 4: "2 months",
            5: "3 months", 6: "6 months", 7: "9 months", 8: "1 year",
            25: "expires immediately"}
_UNITS = ((kinds.DAY, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
Line = Callable[[str, object], str]  # (label, value) -> a line of the calling form
# The master's configured retention periods (bpretlevel): level -> seconds, None = infinity.
Periods = Mapping[int, int | None]
NO_EXCLUDES = ["No specific exclude dates entered", "No exclude days of week entered"]


def retention_text(level: int, periods: Periods | None = None) -> str:
    """`1 (2 weeks)`: the level and its period - the one configured on the master (bpretlevel)
    when `periods` has it, else NetBackup's default (levels 9-24 and 26-100 never expire)."""
    if periods is not None and level in periods:
        return f"{level} ({period_text(periods[level])})"
    return f"{level} ({_PERIODS.get(level, 'infinity')})"


def _unit(seconds: int) -> tuple[int, str]:
    for size, name in _UNITS:
        if seconds and seconds % size == 0:
            return seconds // size, name
    return 0, "second"


def frequency_u(seconds: int) -> str:
    n, unit = _unit(seconds)
    return f"every {n} {unit}{'' if n == 1 else 's'} ({seconds} seconds)"


def frequency_l(seconds: int) -> str:
    n, unit = _unit(seconds)
    return f"{n} {unit}(s) ({seconds} seconds)"


def type_word(sched_type: int) -> str:
    word = kinds.SCHED_WORDS.get(sched_type, str(sched_type))
    return word if word.endswith(("Backup", "Archive")) else word + " Backup"


def _date(d: datetime.date) -> str:
    return d.strftime("%m/%d/%Y")


def _recurring(s: Schedule) -> list[str]:
    out = [f"{DAYS[w.day]}, {'Every Week' if w.week == 0 else f'Week {w.week}'}"
           for w in s.weekdays]
    out += [f"Day {n} of the month" for n in s.days_of_month]
    return out + (["Last day of the month"] if s.last_day_of_month else [])


def _recurring_exclusions(s: Schedule) -> list[str]:
    """bpplschedrep -xweekday / -xdayomonth, in the words of the included days' entries."""
    out = [f"{DAYS[w.day]}, {'Every Week' if w.week == 0 else f'Week {w.week}'}"
           for w in s.excluded_weekdays]
    out += [f"Day {n} of the month" for n in s.excluded_days_of_month]
    return out + (["Last day of the month"] if s.excluded_last_day else [])


def _hms(seconds: int, hour_digits: int = 2) -> str:
    return f"{seconds // 3600:0{hour_digits}d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# Indents of: the Calendar sched / Frequency line, the retry line, the Included/Excluded rules,
# their entries - where NetBackup puts them in each form (parsers match on them).
_INDENTS = {"U": (4, 6, 6, 8), "L": (2, 4, 3, 4)}


def _dates(s: Schedule, form: str) -> list[str]:
    """How the schedule is due (frequency or calendar rules), then its exclude dates."""
    head, retry, rule, entry = (" " * n for n in _INDENTS[form])
    long = form == "L"
    out = []
    if s.is_calendar:
        out.append(f"{head}Calendar sched: Enabled")
        if s.calendar == 2:
            out.append(f"{retry}Allowed to retry after run day")
        out.append(f"{rule}Included Dates-----------")
        dates = [f"SPECIFIC DATE {n} - {_date(d)}" if long else _date(d)
                 for n, d in enumerate(s.included_dates)]
        out += [entry + t for t in dates + _recurring(s)]
    elif not s.is_user:
        out.append(f"{head}{'Frequency:':<15} {frequency_l(s.frequency)}" if long else
                   f"{head}{'Frequency:':<20} {frequency_u(s.frequency)}")
    out.append(f"{rule}Excluded Dates----------")
    excluded = [f"EXCLUDE DATE {n} - {_date(d)}" if long else _date(d)
                for n, d in enumerate(s.excluded_dates)] + _recurring_exclusions(s)
    return out + [entry + t for t in excluded or NO_EXCLUDES]


def schedule_u(s: Schedule, periods: Periods | None = None) -> list[str]:
    """The -U block: `  Schedule:` then attributes indented by four, windows last."""
    def line(name: str, value: object) -> str:
        return f"    {name + ':':<20} {value}"

    out = [f"  {'Schedule:':<22} {s.label}", line("Type", type_word(s.sched_type))]
    out += _dates(s, "U") + _copies(s, line, periods)
    out.append(line("Residence is Storage Lifecycle Policy", 0))
    out.append("    Daily Windows:")
    for day, w in enumerate(s.windows):
        if w.duration:
            end = day * kinds.DAY + w.start + w.duration
            out.append(f"          {DAYS[day]:<10} {_hms(w.start)}  -->  "
                       f"{DAYS[end // kinds.DAY % 7]:<10} {_hms(end % kinds.DAY)}")
    return out


def _copies(s: Schedule, line: Line, periods: Periods | None) -> list[str]:
    """MPX to Retention Level, then per-copy lines (one per copy each), in NetBackup's order."""
    out = [line("Maximum MPX", s.max_mpx), line("Synthetic", int(s.synthetic)),
           line("Checksum Change Detection", 0), line("PFI Recovery", 0)]
    out += [line("Retention Level", retention_text(c.retention, periods))
            for c in s.copies]
    out.append(line("Number Copies", len(s.copies)))
    out += [line("Fail on Error", int(c.fail_on_error)) for c in s.copies]
    out += [line("Residence", c.residence or "(specific storage unit not required)")
            for c in s.copies]
    out += [line("Volume Pool", c.pool or "(same as policy volume pool)") for c in s.copies]
    return out + [line("Server Group", c.share_group or "(same as specified for policy)")
                  for c in s.copies]


def schedule_l(s: Schedule, periods: Periods | None = None) -> list[str]:
    """The -L block: `Schedule:` at column 0, attributes indented by two, the window table."""
    def line(name: str, value: object) -> str:
        return f"  {name + ':':<15} {value}"

    out = [f"{'Schedule:':<18} {s.label}",
           line("Type", f"{kinds.SCHED_TYPES.get(s.sched_type, '?')} ({s.sched_type})")]
    out += _dates(s, "L") + _copies(s, line, periods)
    out += [line("u-wind/o/d", "0 0"), line("Incr Type", "DELTA (0)"),
            line("Alt Read Host", "(none defined)"), line("Max Frag Size", "0 MB")]
    out += [line("Residence is Storage Lifecycle Policy", 0), line("Schedule indexing", 0)]
    out += ["  Daily Windows:", "   Day         Open       Close       W-Open     W-Close"]
    for day, w in enumerate(s.windows):
        w_open = day * kinds.DAY + w.start
        out.append(f"   {DAYS[day]:<11} {_hms(w.start, 3)}  {_hms(w.start + w.duration, 3)}   "
                   f"{_hms(w_open, 3)}  {_hms(w_open + w.duration, 3)}")
    return out
