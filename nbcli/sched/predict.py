"""What nbpem would start between two times: `nbpemreq -predict` (pure; part of nbcli.sched).

For each policy and client, time walks forward from `start`: to the first moment one of its
schedules is due with a window open, where `due.pick` chooses the job exactly as nbpem's loop
would; that job is assumed to start and succeed at that moment (so a daily incremental shows
once a day, and a full satisfies the incrementals it covers), and the walk goes on from there
until `end`. An entry's due_time is that moment: when nbpem would start the job.

Must not import nbcli.net or the daemons.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import replace

from nbcli.catalog.policy_model import Policy, Schedule
from nbcli.sched.due import Due, History, check, frequency_due_time, is_automatic, pick
from nbcli.sched.windows import Opening, local_date, opening_after, opening_at, wall

# A guard, not a limit anyone should meet: a walk stops after this many jobs.
MAX_JOBS_PER_CLIENT = 100_000


def _next_frequency_start(policy: Policy, s: Schedule, client: str, history: History,
                          t: int) -> int | None:
    due = frequency_due_time(policy, s, client, history)
    if due is None:
        return None
    at = max(due, t)
    o = opening_at(s, at) or opening_after(s, at)
    return max(at, o.open) if o else None


def _moments(o: Opening, t: int) -> Iterator[int]:
    """When a calendar schedule can fall due inside window `o`, from `t` on: as the window
    opens (or at t), and at each midnight in it (a run day without a window of its own
    begins then, under a window that opened the day before)."""
    at = max(o.open, t)
    yield at
    day = local_date(at) + datetime.timedelta(days=1)
    while (midnight := wall(day, 0)) < o.close:
        yield midnight
        day += datetime.timedelta(days=1)


def _next_calendar_start(policy: Policy, s: Schedule, client: str, history: History,
                         t: int, end: int) -> int | None:
    o = opening_at(s, t) or opening_after(s, t)
    while o and o.open <= end:
        for at in _moments(o, t):
            if at <= end and check(policy, s, client, history, at):
                return at
        o = opening_after(s, o.open + 1)
    return None


def next_start(policy: Policy, s: Schedule, client: str, history: History, t: int,
               end: int) -> int | None:
    """The first moment in [t, end] at which `s` is due with a window open (tries aside)."""
    if not is_automatic(s):
        return None
    if s.is_calendar:
        return _next_calendar_start(policy, s, client, history, t, end)
    at = _next_frequency_start(policy, s, client, history, t)
    return at if at is not None and at <= end else None


def _walk(policy: Policy, client: str, history: History, start: int, end: int) -> list[Due]:
    out: list[Due] = []
    t = max(start, policy.effective_date)
    while t <= end and len(out) < MAX_JOBS_PER_CLIENT:
        times = [at for s in policy.schedules
                 if (at := next_start(policy, s, client, history, t, end)) is not None]
        if not times:
            break
        t = min(times)
        d = pick(policy, client, history, t, {}, 0, 0)
        if d is None or t in history.get((policy.name, client, d.schedule), ()):
            t += 1  # a second run at the same second would change nothing: move on
            continue
        out.append(replace(d, due_time=t))
        history.setdefault((policy.name, client, d.schedule), []).append(t)
    return out


def predict(policies: Iterable[Policy], history: History, start: int, end: int,
            include_inactive: bool = False) -> list[Due]:
    """The jobs nbpem would start in [start, end], in time order (see the module doc).

    `include_inactive` walks inactive policies too, as if they were active (-predict_all).
    """
    walked: History = {k: list(v) for k, v in history.items()}
    out: list[Due] = []
    for policy in policies:
        if policy.active or include_inactive:
            for c in policy.clients:
                out += _walk(policy, c.name, walked, int(start), int(end))
    # Stable: jobs of one client at the same second stay in the order nbpem would run them.
    return sorted(out, key=lambda d: (d.due_time, -d.priority, d.policy, d.client))
