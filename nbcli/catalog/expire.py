"""Expiration: when an image stops being part of the catalog, and the settings that decide it.

Place: the image catalog's rules about time, below bpdbm (nbcli/daemons/bpdbm.py) and its Image
Cleanup job (nbcli/daemons/cleanup.py). Pure functions over header dicts, plus the two settings
owned elsewhere: retention periods (nbcli.catalog.retention, bpretlevel's) and the cleanup
interval (nbcli.catalog.globals, bpconfig's). No network, no commands.

An image is expired when its header's EXPIRATION is at or before the master's clock.now(); from
then on it neither lists nor restores, whether or not the cleanup has removed it yet. INFINITY
(NetBackup's 2147483647, retention level 9) is never reached, whatever the clock says.

A tape medium holds images until the last valid one on it expires; then EMM unassigns it (back
to the scratch pool; a frozen one stays assigned, unless bpexpdate -m expires it whole).
`media_of` and `valid_images_on` are the catalog's side of that count.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from nbcli import kinds
from nbcli.config import Paths
from nbcli.status import INVALID_PARAMETER, NbuError

NEVER_EXPIRES_LEVEL = 9  # "infinity (cannot be changed)", reference §4.1
DEFAULT_CLEANUP_HOURS = 12  # bpconfig's image cleanup interval, NetBackup's default
# A header renamed to `.<name>.deleted` is an image being removed: gone from the catalog, its
# files file still to delete (see ImageStore.remove).
TOMBSTONE = ".deleted"


def _optional(name: str) -> Any:
    """A module another part of nbcli is adding; None while it is not there."""
    # TODO: import nbcli.catalog.retention and .globals directly once both have landed.
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return None


def is_expired(h: dict[str, Any], now: float) -> bool:
    """Whether the image of header `h` has expired at `now`."""
    expiration = int(h["expiration"])
    return expiration < kinds.INFINITY and expiration <= now


def media_of(h: dict[str, Any]) -> set[str]:
    """The tape media an image has fragments on (upper case, as EMM keeps media ids)."""
    return {str(f["media_id"]).upper() for f in h.get("fragments", []) if f.get("media_id")}


def valid_images_on(headers: list[dict[str, Any]], media: set[str],
                    now: float) -> dict[str, int]:
    """Per medium of `media`: how many of `headers` (the catalog's complete images) are on
    it and not expired at `now`."""
    counts = dict.fromkeys(media, 0)
    for h in headers:
        if not is_expired(h, now):
            for m in media_of(h) & media:
                counts[m] += 1
    return counts


def retention_period(paths: Paths, level: int) -> int | None:
    """A retention level's period in seconds as configured on this master; None = infinity.

    Level 9 is infinity whatever the configuration says: NetBackup does not let it change.
    """
    if level == NEVER_EXPIRES_LEVEL:
        return None
    retention = _optional("nbcli.catalog.retention")
    if retention is None:
        return kinds.default_period(level)
    period = retention.retention_seconds(paths, level)
    return None if period is None else int(period)


def expiration_of(backup_time: int, period: int | None) -> int:
    return kinds.INFINITY if period is None else backup_time + period


def cleanup_interval(paths: Paths, log: logging.Logger) -> float:
    """Seconds between two Image Cleanup jobs (bpconfig's cleanup_interval_hours, default 12)."""
    settings = _optional("nbcli.catalog.globals")
    if settings is None:
        return DEFAULT_CLEANUP_HOURS * 3600.0
    try:
        hours = float(settings.load_globals(paths).cleanup_interval_hours)
    except (NbuError, OSError, AttributeError, TypeError, ValueError) as e:
        log.warning("cannot read the image cleanup interval (%s); using %d hours", e,
                    DEFAULT_CLEANUP_HOURS)
        return DEFAULT_CLEANUP_HOURS * 3600.0
    return hours * 3600.0 if hours > 0 else DEFAULT_CLEANUP_HOURS * 3600.0


def check_expiration(value: Any) -> int:
    """An expiration a request may set: 0 (now), an epoch, up to INFINITY; status 20 otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= kinds.INFINITY:
        raise NbuError(INVALID_PARAMETER,
                       f"expiration must be 0 (now) or an epoch up to {kinds.INFINITY}, "
                           f"not {value!r}")
    return value


def tombstone_name(header: str) -> str:
    return f".{header}{TOMBSTONE}"


def header_of_tombstone(name: str) -> str | None:
    """The header name a tombstone stands for; None for any other file."""
    if name.startswith(".") and name.endswith(TOMBSTONE) and len(name) > len(TOMBSTONE) + 1:
        return name[1:-len(TOMBSTONE)]
    return None
