"""NetBackup's raw policy records (`bppllist -l`, `bpplinfo -l`, `bpplsched -l`, ...).

One line per record, a tag then space-separated fields, `*NULL*` for an empty value
(reference/netbackup-cli.md §1.7, TECH42917). Scripts read these by position - the active flag
is `awk '/^INFO/ {print $12}'`, 0 = active - so every field keeps its place even where nbcli
has nothing to put in it. The labelled forms live in nbcli/commands/policyfmt.py.
"""

from __future__ import annotations

import datetime
import time

from nbcli.model.policy import MAX_COPIES, Client, Policy, Schedule
from nbcli.render import raw_field

UNLIMITED = 2147483647  # how the raw INFO record spells "max jobs per policy: unlimited"
NULL = "*NULL*"
PROTOCOL = 810000


def _line(tag: str, *values: object) -> str:
    return " ".join([tag, *(raw_field(v) for v in values)])


def _flag(value: bool) -> int:
    return 1 if value else 0


def _per_copy(values: list[object], pad: object) -> list[object]:
    return (values + [pad] * MAX_COPIES)[:MAX_COPIES]


def info_line(p: Policy) -> str:
    """INFO: the policy's attributes, in NetBackup's field order (39 fields)."""
    fields: list[object] = [
        p.policy_type, _flag(p.follow_nfs), _flag(p.compress), p.priority, NULL,
        _flag(p.encrypt), 0, p.max_jobs or UNLIMITED, _flag(p.cross_mount_points), 0,
        0 if p.active else 1, p.collect_tir, _flag(p.block_incremental), 0, 0,
        _flag(p.multiple_streams), 0, 0, p.effective_date, 0, 0, _flag(p.checkpoint),
        p.checkpoint_interval, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, p.generation, 0, 0]
    return _line("INFO", *fields)


def attribute_lines(p: Policy) -> list[str]:
    """The policy-level records, INFO to APPLICATIONDEFINED (what `bpplinfo -l` prints)."""
    return [
        info_line(p),
        "KEY " + (p.keyword or NULL),
        _line("BCMD", NULL),
        _line("RCMD", NULL),
        _line("RES", *_per_copy([p.residence], NULL)),
        _line("POOL", *_per_copy([p.volume_pool], NULL)),
        _line("FOE", *_per_copy([], 0)),
        _line("SHAREGROUP", p.server_group),
        _line("DATACLASSIFICATION", p.data_classification),
        _line("APPLICATIONDEFINED", NULL),
    ]


def client_line(c: Client) -> str:
    return _line("CLIENT", c.name, c.hardware, c.os, c.priority, 0, 0, 0, "?")


def include_line(path: str) -> str:
    # The path is the rest of the line, spaces and all: `cut -d' ' -f2-` gives it back.
    return "INCLUDE " + path


def _epoch(d: datetime.date) -> int:
    return int(time.mktime((d.year, d.month, d.day, 0, 0, 0, 0, 0, -1)))


def _calendar_lines(s: Schedule) -> list[str]:
    out = []
    if s.excluded_dates:
        out.append(_line("SCHEDCALEDATES", *(_epoch(d) for d in s.excluded_dates)))
    if not s.is_calendar:
        return out
    if s.included_dates:
        out.append(_line("SCHEDCALDATES", *(_epoch(d) for d in s.included_dates)))
    out.append(_line("SCHEDCALENDAR", 1 if s.calendar == 2 else 0))
    if s.weekdays:
        # "every week" is the five weeks of the month, as NetBackup stores a full column.
        pairs = [f"{w.day},{week}" for w in s.weekdays
                 for week in ([w.week] if w.week else range(1, 6))]
        out.append("SCHEDCALDAYOFWEEK " + ";".join(pairs))
    if s.days_of_month or s.last_day_of_month:
        days: list[object] = [*s.days_of_month, *(["l"] if s.last_day_of_month else [])]
        out.append(_line("SCHEDCALDAYOFMONTH", *days))
    return out


def schedule_lines(s: Schedule) -> list[str]:
    """SCHED and the records that follow it (calendar rules, windows, per-copy values)."""
    first = s.copies[0]
    out = [_line("SCHED", s.label, s.sched_type, s.max_mpx, s.frequency, first.retention,
                 0, 0, 0, NULL, 0, s.calendar, len(s.copies), _flag(first.fail_on_error),
                 _flag(s.synthetic), 0, 0, NULL, 0)]
    out += _calendar_lines(s)
    out.append(_line("SCHEDWIN", *(v for w in s.windows for v in (w.start, w.duration))))
    copies = s.copies
    out.append(_line("SCHEDRES", *_per_copy([c.residence for c in copies], NULL)))
    out.append(_line("SCHEDPOOL", *_per_copy([c.pool for c in copies], NULL)))
    out.append(_line("SCHEDRL", *_per_copy([c.retention for c in copies], first.retention)))
    out.append(_line("SCHEDFOE", *_per_copy([_flag(c.fail_on_error) for c in copies], 0)))
    out.append(_line("SCHEDSG", *_per_copy([c.share_group for c in copies], NULL)))
    return out


def policy_lines(p: Policy) -> list[str]:
    """The whole policy as `bppllist <policy> -l` prints it, starting with CLASS."""
    out = [_line("CLASS", p.name, NULL, 0, PROTOCOL, 0, NULL), "NAMES"]
    out += attribute_lines(p)
    out += [client_line(c) for c in p.clients]
    out += [include_line(i) for i in p.includes]
    for s in p.schedules:
        out += schedule_lines(s)
    return out
