"""What is due: nbpem's decision, as a pure function of the policies, the catalog and the time.

nbpem's loop calls `due_now` every few seconds and starts a job for each entry; nbpemreq's
`-due` and `-predict` (through nbcli.sched.ops and nbcli.sched.predict) show the same
decisions, so what the administrator is told is what nbpem does. The rules (NetBackup's, as
docs/protocol.md "Scheduling" states them):

- Only active policies, from their effective date; only their listed clients; only the
  automatic schedule types FULL, CINC and INCR.
- Frequency-based: due `frequency` seconds after the last successful backup of the schedule
  or of a schedule that covers it (same policy and client, a level at least as complete -
  full > cumulative > differential - and a frequency at least as long; a calendar schedule
  counts as daily); a whole number of days means the same time of day that many days later.
  Never backed up: due from the effective date.
- Calendar-based: due in the window that opens on a run day until a backup of the schedule
  itself counts for that day; with "retries after run day" (calendar 2) a missed run day stays
  due, in any later window, until one succeeds.
- A due schedule waits for one of its windows; several due for one policy and client: the one
  with the longest frequency, then the most complete level, then the highest retention level.
- `tries` failed tries of a due schedule within the last `period_hours` hold it back until
  fewer than `tries` are that recent (with exactly `tries`: until the oldest ages out).

Pure code: no disk, no clock, no network. Must not import nbcli.net or the daemons.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from nbcli import kinds
from nbcli.catalog.policy_model import Policy, Schedule
from nbcli.sched.rundays import is_run_day, last_run_day
from nbcli.sched.windows import (
    Opening,
    day_of,
    days_later,
    local_date,
    opening_at,
    opening_on,
    wall,
)

# Schedule type -> how complete a backup it takes (lower covers more): FULL, CINC, INCR.
LEVELS: dict[int, int] = {0: 0, 4: 1, 1: 2}
# How far back a "retries after run day" schedule looks for a missed run day.
RETRY_LOOKBACK_DAYS = 400

Key = tuple[str, str, str]  # (policy, client, schedule label)
History = dict[Key, list[int]]  # backup times of successful images (status 0 or 1)
Attempts = Mapping[Key, Sequence[float]]  # times of failed tries


@dataclass(frozen=True)
class Due:
    policy: str
    client: str
    schedule: str  # label
    sched_type: int  # kinds.SCHED_TYPES
    due_time: int  # when it became (or becomes) due, epoch seconds
    window_open: int  # start of the backup window it may start in
    window_close: int  # end of that window: a job not started by then ends with 196
    priority: int  # the policy's priority

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_automatic(s: Schedule) -> bool:
    """FULL, INCR and CINC run by schedule; UBAK and UARC only when a user starts them."""
    return s.sched_type in LEVELS


def nominal_frequency(s: Schedule) -> int:
    """A frequency to compare schedules by; NetBackup takes a calendar schedule as daily."""
    return kinds.DAY if s.is_calendar else s.frequency


def covers(other: Schedule, s: Schedule) -> bool:
    """Whether a backup by `other` counts as `s`'s last backup (a full satisfies the
    incrementals, a weekly full the daily one, never the other way round)."""
    return (is_automatic(other) and LEVELS[other.sched_type] <= LEVELS[s.sched_type]
            and nominal_frequency(other) >= nominal_frequency(s))


def last_backup(policy: Policy, s: Schedule, client: str, history: History) -> int | None:
    """The newest successful backup of `s` or of a schedule that covers it."""
    times = [t for o in policy.schedules if covers(o, s)
             for t in history.get((policy.name, client, o.label), ())]
    return max(times, default=None)


def frequency_due_time(policy: Policy, s: Schedule, client: str,
                       history: History) -> int | None:
    """When the frequency-based `s` falls due (None: never, its frequency is not positive)."""
    if s.frequency <= 0:
        return None
    last = last_backup(policy, s, client, history)
    if last is None:
        return policy.effective_date
    # A whole number of days means the same time of day (NetBackup keeps such schedules at
    # their hour), so a daily backup does not move by an hour at each DST change.
    whole_days, rest = divmod(s.frequency, kinds.DAY)
    due = days_later(last, whole_days) if not rest else last + s.frequency
    return max(due, policy.effective_date)


def _entry(policy: Policy, s: Schedule, client: str, due: int, o: Opening) -> Due:
    return Due(policy.name, client, s.label, s.sched_type, due, o.open, o.close,
               policy.priority)


def _run_day_start(s: Schedule, day: datetime.date) -> int:
    """When a run day begins to count: its window's opening, or midnight without one."""
    o = opening_on(s, day)
    return o.open if o else wall(day, 0)


def _satisfied(s: Schedule, day: datetime.date, own_last: int | None) -> bool:
    """Whether the schedule's own newest backup counts for run day `day`: taken that day
    (or in the window that opened that day), or after the run day began."""
    if own_last is None:
        return False
    return day_of(s, own_last) >= day or own_last >= _run_day_start(s, day)


def _calendar_check(policy: Policy, s: Schedule, client: str, history: History, t: int,
                    o: Opening) -> Due | None:
    own = history.get((policy.name, client, s.label), ())
    own_last = max(own, default=None)
    first = local_date(policy.effective_date)
    if s.calendar == 1:
        # The window must open on the run day itself.
        if o.day < first or not is_run_day(s, o.day) or _satisfied(s, o.day, own_last):
            return None
        return _entry(policy, s, client, max(o.open, policy.effective_date), o)
    today = local_date(t)
    floor = max(first, today - datetime.timedelta(days=RETRY_LOOKBACK_DAYS))
    day = last_run_day(s, today, floor)
    if day == today and _run_day_start(s, today) > t:
        day = last_run_day(s, today - datetime.timedelta(days=1), floor)
    if day is None or _satisfied(s, day, own_last):
        return None
    return _entry(policy, s, client, max(_run_day_start(s, day), policy.effective_date), o)


def check(policy: Policy, s: Schedule, client: str, history: History, t: int) -> Due | None:
    """`s`'s entry if it is due at `t` and one of its windows is open then (tries aside)."""
    if not is_automatic(s) or t < policy.effective_date:
        return None
    o = opening_at(s, t)
    if o is None:
        return None
    if s.is_calendar:
        return _calendar_check(policy, s, client, history, t, o)
    due = frequency_due_time(policy, s, client, history)
    if due is None or due > t:
        return None
    return _entry(policy, s, client, due, o)


def held_back(failures: Iterable[float], since: int, now: float, tries: int,
              period: int) -> bool:
    """Whether `tries` failed tries of this due period fall within the last `period`."""
    if tries < 1:
        return False
    # `now` keeps its fraction: a try that failed earlier in this very second counts.
    recent = [f for f in failures if f >= since and now - period < f <= now]
    return len(recent) >= tries


def select(policy: Policy, candidates: Sequence[Due]) -> Due | None:
    """The one NetBackup runs of several due for a policy and client: longest frequency,
    then full before cumulative before differential, then highest retention, then label."""
    if not candidates:
        return None

    def rank(d: Due) -> tuple[int, int, int, str]:
        s = policy.find_schedule(d.schedule)
        return (-nominal_frequency(s), LEVELS[s.sched_type], -s.retention, s.label)

    return min(candidates, key=rank)


def pick(policy: Policy, client: str, history: History, t: int, attempts: Attempts,
         tries: int, period: int, now: float | None = None) -> Due | None:
    """The job nbpem starts for this policy and client at `t`, if any."""
    found = []
    for s in policy.schedules:
        d = check(policy, s, client, history, t)
        if d and not held_back(attempts.get((policy.name, client, s.label), ()),
                               d.due_time, t if now is None else now, tries, period):
            found.append(d)
    return select(policy, found)


def due_now(policies: Iterable[Policy], history: History, now: float,
            attempts: Attempts | None = None, tries: int = 2,
            period_hours: int = 12) -> list[Due]:
    """Every job nbpem should start at `now`: at most one per policy and client, whose
    window is open; highest policy priority first, then the longest overdue."""
    out = []
    for policy in policies:
        if not policy.active:
            continue
        for c in policy.clients:
            d = pick(policy, c.name, history, int(now), attempts or {}, tries,
                     period_hours * 3600, now)
            if d:
                out.append(d)
    return sorted(out, key=lambda d: (-d.priority, d.due_time, d.policy, d.client))
