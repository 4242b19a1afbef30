"""bpconfig's three displays of the global attributes: -U (user), -L (long), -l (raw).

Labels, their order and the raw field order follow NetBackup's output as scripts read it
(reference/netbackup-cli.md §1.17; NetBackupPS's Get-NetBackupConfiguration reads lines 1-16 of
-U and -L after a first blank line, split at ": ", and the 17 raw fields by position; runbooks
grep 'Max Simultaneous Jobs/Client:' in -U and take the 4th word). -U values start at column
30, -L values at column 24. The raw line appends the maximum backup copies after NetBackup's
17 fields, so a script that reads fields by position is not disturbed.
"""

from __future__ import annotations

from nbcli.model.globals import Globals
from nbcli.render import raw_field

# Not settable in nbcli: no drive limit per master, images are processed as they complete.
MAX_DRIVES = 0
POSTPROCESS_IMMEDIATELY = 1


def _compress(g: Globals) -> str:
    if not g.compress_after_seconds:
        return "(not enabled)"
    days, rest = divmod(g.compress_after_seconds, 86400)
    return f"older than {days} days" if not rest else \
        f"older than {g.compress_after_seconds} seconds"


def _mount(seconds: int) -> str:
    return "0 minutes (unlimited)" if not seconds else f"{seconds // 60} minutes"


def _values(g: Globals) -> list[str]:
    """The values, in the order of the -U and -L lines."""
    return [g.admin_mail, f"{g.job_retry_delay_minutes} minutes", str(g.max_jobs_per_client),
            f"{g.tries} in {g.period_hours} hours", f"{g.keep_logs_days} days",
            str(MAX_DRIVES), _compress(g), _mount(g.media_mount_timeout_seconds),
            "immediately", f"{g.display_reports_hours} hours ago", f"{g.keep_tir_days} days",
            f"{g.prep_hours} hours", str(g.max_copies), f"{g.cleanup_interval_hours} hours",
            f"{g.cleanup_wait_minutes} minutes", f"{g.policy_update_minutes} minutes"]


U_LABELS = ["Admin Mail Address", "Job Retry Delay", "Max Simultaneous Jobs/Client",
            "Backup Tries", "Keep Error/Debug Logs", "Max drives this master",
            "Compress Image DB Files", "Media Mount Timeout", "Postprocess Image",
            "Display Reports", "Keep TrueImageRecovery Info", "Preprocess Interval",
            "Maximum Backup Copies", "Image DB Cleanup Interval", "Image DB Cleanup Wait Time",
            "Policy Update Interval"]
L_LABELS = ["Mail Admin", "Job Retry Delay", "Max Jobs/Client", "Backup Tries",
            "Keep Error/Debug Logs", "Max drives/master", "Compress DB Files",
            "Media Mnt Timeout", "Postprocess Image", "Display Reports", "Keep TIR Info",
            "Prep Interval", "Max Backup Copies", "DB Clean Interval", "DB Clean Wait Time",
            "Policy Update Interval"]
# -U moves "Keep TrueImageRecovery Info" up, after "Max drives this master" (NetBackupPS).
U_ORDER = [0, 1, 2, 3, 4, 5, 10, 6, 7, 8, 9, 11, 12, 13, 14, 15]


def bpconfig_u(g: Globals) -> list[str]:
    values = _values(g)
    return [""] + [f"{U_LABELS[i] + ':':<30}{values[i]}".rstrip() for i in U_ORDER]


def bpconfig_l_long(g: Globals) -> list[str]:
    values = _values(g)
    values[0] = raw_field(g.admin_mail)  # -L shows *NULL* for no address
    return [""] + [f"{label + ':':<24}{value}" for label, value in zip(L_LABELS, values)]


def bpconfig_raw(g: Globals) -> list[str]:
    fields = [raw_field(g.admin_mail), g.job_retry_delay_minutes, g.period_hours,
              g.max_jobs_per_client, g.tries, g.keep_logs_days, MAX_DRIVES,
              g.compress_after_seconds, g.media_mount_timeout_seconds,
              g.shared_mount_timeout_seconds, POSTPROCESS_IMMEDIATELY,
              g.display_reports_hours, g.keep_tir_days, g.prep_hours,
              g.cleanup_interval_hours, g.cleanup_wait_minutes, g.policy_update_minutes,
              g.max_copies]
    return [" ".join(str(f) for f in fields)]


def show(g: Globals, form: str) -> list[str]:
    """The lines of `bpconfig -<form>` ("U", "L" or "l")."""
    return {"U": bpconfig_u, "L": bpconfig_l_long, "l": bpconfig_raw}[form](g)
