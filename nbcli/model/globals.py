"""The master's global attributes (bpconfig): the record, NetBackup's ranges, the check.

bpdbm keeps them in db/config/bpconfig.toml (nbcli.catalog.globals) and sends them as a table
(nbcli.model.records); bpconfig rebuilds them here. Ranges are NetBackup's where its
documentation gives one (job retry delay 1-60 minutes, policy update interval 1-1440 minutes,
-cd 0 or 86400-2147472000 seconds, -prep 0-48 hours, maximum backup copies 2-10); elsewhere
they only keep a value a positive or non-negative 32-bit number. `check` is the one place that
applies them (status 20). Pure: imports only nbcli.status.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbcli.status import INVALID_PARAMETER, NbuError

INT_MAX = 2147483647
PREP_DEFAULT = 4  # hours; `bpconfig -prep -1` puts it back


@dataclass
class Globals:
    """Every global attribute bpconfig shows, with NetBackup's default."""

    admin_mail: str = ""  # -ma: the administrator's mail address ("" = none, *NULL*)
    job_retry_delay_minutes: int = 10  # -wi: how long a failed job waits to be retried
    tries: int = 2  # -tries: schedule backup attempts ...
    period_hours: int = 12  # -period: ... per this many hours
    max_jobs_per_client: int = 1  # -mj
    keep_logs_days: int = 28  # -kl: error and debug logs
    compress_after_seconds: int = 0  # -cd: compress the image catalog after (0 = never)
    media_mount_timeout_seconds: int = 0  # -to (0 = unlimited)
    shared_mount_timeout_seconds: int = 0  # -sto: multihosted media mount (0 = unlimited)
    display_reports_hours: int = 24  # -ha: reports start this many hours ago
    keep_tir_days: int = 1  # -kt: true image restore information on disk
    prep_hours: int = PREP_DEFAULT  # -prep: auto-discovery preprocessing interval
    max_copies: int = 2  # -max_copies: maximum backup copies
    cleanup_interval_hours: int = 12  # -cleanup_int: image catalog cleanup interval
    cleanup_wait_minutes: int = 60  # -cleanup_wait
    policy_update_minutes: int = 10  # -pui: policy update interval


# attribute -> (lowest, highest) allowed value
RANGES: dict[str, tuple[int, int]] = {
    "job_retry_delay_minutes": (1, 60),
    "tries": (1, INT_MAX),
    "period_hours": (1, INT_MAX),
    "max_jobs_per_client": (1, 32767),
    "keep_logs_days": (1, INT_MAX),
    "compress_after_seconds": (0, 2147472000),
    "media_mount_timeout_seconds": (0, INT_MAX),
    "shared_mount_timeout_seconds": (0, INT_MAX),
    "display_reports_hours": (1, INT_MAX),
    "keep_tir_days": (0, INT_MAX),
    "prep_hours": (0, 48),
    "max_copies": (2, 10),
    "cleanup_interval_hours": (1, INT_MAX),
    "cleanup_wait_minutes": (1, INT_MAX),
    "policy_update_minutes": (1, 1440),
}
MIN_COMPRESS = 86400  # -cd is 0 (off) or at least a day
MAX_MAIL = 1024  # -ma: addresses, comma-separated, as one word



def check(g: Globals) -> Globals:
    """`g` if every attribute is in NetBackup's range; status 20 naming the first that is not."""
    for name, (low, high) in RANGES.items():
        value = getattr(g, name)
        if not low <= value <= high:
            raise NbuError(INVALID_PARAMETER,
                           f"{name.replace('_', ' ')} must be {low} to {high}, not {value}")
    if 0 < g.compress_after_seconds < MIN_COMPRESS:
        raise NbuError(INVALID_PARAMETER, f"compress after must be 0 or {MIN_COMPRESS} to "
                                          f"{RANGES['compress_after_seconds'][1]} seconds")
    if any(c.isspace() for c in g.admin_mail) or not g.admin_mail.isprintable() \
            or len(g.admin_mail) > MAX_MAIL:
        raise NbuError(INVALID_PARAMETER, f"the mail address must be one word of at most "
                                          f"{MAX_MAIL} printable characters")
    return g
