"""Retention levels 0-100 and how NetBackup names their periods: the pure part of bpretlevel.

The configured periods live on the master (db/config/retention.toml, nbcli.catalog.retention,
bpdbm's); what both bpdbm and the commands need - the levels, the fixed ones, the words for a
period - is here. Infinity is None; NetBackup shows it as 2147483647 seconds (24855 days), its
"never expires" time. Pure: imports only nbcli.kinds and nbcli.status.
"""

from __future__ import annotations

from nbcli import kinds
from nbcli.status import INVALID_PARAMETER, NbuError

LEVELS = range(0, 101)
FIXED = {9: None, 25: 0}  # level -> the period it always has
INFINITY_WORD = "infinity"
HOUR, DAY, WEEK, YEAR = 3600, kinds.DAY, kinds.WEEK, 365 * kinds.DAY
MAX_SECONDS = kinds.INFINITY - 1  # a finite period must stay below "never expires"

# The names NetBackup gives its default periods; other periods are named by their unit.
NAMED = {7 * DAY: "1 week", 14 * DAY: "2 weeks", 21 * DAY: "3 weeks", 31 * DAY: "1 month",
         62 * DAY: "2 months", 92 * DAY: "3 months", 183 * DAY: "6 months",
         274 * DAY: "9 months", 365 * DAY: "1 year"}


def check_level(level: int) -> int:
    if level not in LEVELS:
        raise NbuError(INVALID_PARAMETER, f"retention level {level} is not 0 to {LEVELS[-1]}")
    return level


# --- how NetBackup names a period --------------------------------------------------------------

def shown_seconds(seconds: int | None) -> int:
    """The seconds bpretlevel prints: infinity is NetBackup's 2147483647."""
    return kinds.INFINITY if seconds is None else seconds


def period_text(seconds: int | None) -> str:
    """"2 weeks", "infinity", "expires immediately", "36 hours": NetBackup's words for it."""
    if seconds is None:
        return INFINITY_WORD
    if seconds == 0:
        return "expires immediately"
    if seconds in NAMED:
        return NAMED[seconds]
    for size, unit in ((YEAR, "year"), (WEEK, "week"), (DAY, "day"), (HOUR, "hour")):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} seconds"
