"""Retention levels 0-100 and their periods (bpretlevel): db/config/retention.toml.

A schedule names a level (bpplsched -rl); the period comes from here when a backup is made,
so changing a level changes the expiration of future images only, as in NetBackup. The file
holds only the levels bpretlevel changed, as `[levels]` "<level>" = seconds or "infinity";
every other level has NetBackup's default (nbcli.kinds.RETENTION_DEFAULTS, reference §4.1):
0-8 from one week to one year, 9-24 and 26-100 infinity, 25 expires immediately.

Two levels never change (status 20): 9 is infinity and 25 expires immediately, whatever the
file says. Infinity is None in the API; NetBackup shows it as 2147483647 seconds (24855
days), its "never expires" time.
"""

from __future__ import annotations

from pathlib import Path

from nbcli import kinds
from nbcli.catalog import tomldoc
from nbcli.config import Paths
from nbcli.model.retention import (
    DAY,
    FIXED,
    HOUR,
    INFINITY_WORD,
    LEVELS,
    MAX_SECONDS,
    NAMED,
    WEEK,
    YEAR,
    check_level,
    period_text,
    shown_seconds,
)
from nbcli.status import INVALID_PARAMETER, NbuError

FILE = "retention.toml"
__all__ = ["DAY", "FIXED", "HOUR", "INFINITY_WORD", "LEVELS", "MAX_SECONDS", "NAMED", "WEEK",
           "YEAR", "check_level", "levels", "path", "period_text", "retention_seconds",
           "set_level", "shown_seconds"]


def path(paths: Paths) -> Path:
    return paths.db_config / FILE


def _overrides(data: dict[str, object] | None) -> dict[int, int | None]:
    """The levels the file changes; status 238 for an entry nbcli cannot read."""
    table = (data or {}).get("levels", {})
    if not isinstance(table, dict):
        raise NbuError(tomldoc.BAD_DOCUMENT, f"{FILE}: levels must be a table")
    out: dict[int, int | None] = {}
    for key, value in table.items():
        if not (key.isdigit() and int(key) in LEVELS):
            raise NbuError(tomldoc.BAD_DOCUMENT, f"{FILE}: {key!r} is not a retention level")
        if value == INFINITY_WORD:
            out[int(key)] = None
        elif isinstance(value, int) and not isinstance(value, bool) \
                and 0 <= value <= MAX_SECONDS:
            out[int(key)] = value
        else:
            raise NbuError(tomldoc.BAD_DOCUMENT, f"{FILE}: level {key}: {value!r} is not a "
                                                 f"number of seconds or {INFINITY_WORD!r}")
    return out


def _period(level: int, overrides: dict[int, int | None]) -> int | None:
    if level in FIXED:
        return FIXED[level]
    if level in overrides:
        return overrides[level]
    return kinds.default_period(level)


def retention_seconds(paths: Paths, level: int) -> int | None:
    """The period of `level` in seconds; None means infinity (status 20 for a level that is
    not 0-100)."""
    return _period(check_level(level), _overrides(tomldoc.read(path(paths))))


def levels(paths: Paths) -> list[tuple[int, int | None]]:
    """Every level 0-100 with its period in seconds (None = infinity), in order."""
    overrides = _overrides(tomldoc.read(path(paths)))
    return [(level, _period(level, overrides)) for level in LEVELS]


def set_level(paths: Paths, level: int, seconds: int | None) -> None:
    """Give `level` a new period (None = infinity), atomically under the lock. Status 20 for
    level 9 or 25 (fixed), a level outside 0-100 or a period outside 0-2147483646 seconds."""
    check_level(level)
    if level in FIXED:
        raise NbuError(INVALID_PARAMETER, f"retention level {level} cannot be changed "
                                          f"({period_text(FIXED[level])})")
    if seconds is not None and not 0 <= seconds <= MAX_SECONDS:
        raise NbuError(INVALID_PARAMETER, f"a retention period must be 0 to {MAX_SECONDS} seconds "
                                          f"or {INFINITY_WORD}")
    with tomldoc.modify(path(paths)) as data:
        _overrides(data)  # refuse to build on a damaged file
        table = dict(data.get("levels", {}))
        table[str(level)] = INFINITY_WORD if seconds is None else seconds
        data["levels"] = dict(sorted(table.items(), key=lambda kv: int(kv[0])))
