"""The kinds NetBackup numbers: schedule, job and policy types, job states, retention levels.

Numbers are NetBackup's (reference/netbackup-cli.md §2.3, §4.1, §5); every module that prints or
parses one of these uses this table, so a `3` means the same thing in bpdbjobs and bpimagelist.
Status codes are not kinds: they live in nbcli.status. Imports nothing from nbcli but status.
"""

from __future__ import annotations

# Schedule types: number <-> the -st keyword, and the words bpimagelist -U / bpdbjobs show.
SCHED_TYPES: dict[int, str] = {0: "FULL", 1: "INCR", 2: "UBAK", 3: "UARC", 4: "CINC", 5: "TLOG"}
SCHED_CODES: dict[str, int] = {v: k for k, v in SCHED_TYPES.items()}
SCHED_WORDS: dict[int, str] = {0: "Full Backup", 1: "Differential Incremental",
                               2: "User Backup", 3: "User Archive",
                               4: "Cumulative Incremental", 5: "Transaction Log"}

# Job types (bpdbjobs field 1) and the words of the report's Type column.
JOB_BACKUP, JOB_ARCHIVE, JOB_RESTORE, JOB_IMAGE_CLEANUP = 0, 1, 2, 17
JOB_TYPES: dict[int, str] = {0: "Backup", 1: "Archive", 2: "Restore", 3: "Verify",
                             4: "Duplication", 5: "Import", 6: "Catalog Backup", 7: "Vault",
                             8: "Label", 9: "Erase", 10: "Tape Request", 11: "Clean",
                             12: "Format", 13: "Inventory", 14: "Qualification",
                             15: "Catalog Recovery", 16: "Media Contents",
                             17: "Image Cleanup"}

# Job states (field 2).
QUEUED, ACTIVE, REQUEUED, DONE, SUSPENDED, INCOMPLETE = 0, 1, 2, 3, 4, 5
JOB_STATES: dict[int, str] = {0: "Queued", 1: "Active", 2: "Re-Queued", 3: "Done",
                              4: "Suspended", 5: "Incomplete"}

# Job subtypes (field 20).
SUBTYPE_IMMEDIATE, SUBTYPE_SCHEDULED, SUBTYPE_USER = 0, 1, 2

# Policy types (bpplinfo -pt, INFO field 1, job field 21).
POLICY_TYPES: dict[int, str] = {0: "Standard", 1: "Proxy", 4: "Oracle", 6: "Informix-On-BAR",
                                7: "Sybase", 8: "MS-SharePoint", 13: "MS-Windows",
                                15: "MS-SQL-Server", 16: "MS-Exchange-Server", 17: "SAP",
                                18: "DB2", 19: "NDMP", 20: "FlashBackup", 21: "Split-Mirror",
                                25: "Lotus-Notes", 29: "FlashBackup-Windows", 30: "Vault",
                                35: "NBU-Catalog", 36: "Generic", 40: "VMware",
                                41: "Hyper-V", 44: "BigData", 46: "Deployment"}
POLICY_CODES: dict[str, int] = {v.lower(): k for k, v in POLICY_TYPES.items()}

# Job operations (field 13), the ones nbcli reports.
OP_MOUNT, OP_POSITION, OP_CONNECT, OP_WRITE, OP_READ, OP_RESTORE = 0, 1, 2, 3, 10, 14
OP_REQUEST_RESOURCES = 26

DAY, WEEK = 86400, 7 * 86400
INFINITY = 2147483647  # NetBackup's "never expires" expiration time

# Default retention periods in seconds (levels 9-24 and 26-100 are infinite; 25 expires
# immediately), reference §4.1. bpretlevel may change all but level 9.
RETENTION_DEFAULTS: dict[int, int] = {0: WEEK, 1: 2 * WEEK, 2: 3 * WEEK, 3: 31 * DAY,
                                      4: 62 * DAY, 5: 92 * DAY, 6: 183 * DAY, 7: 274 * DAY,
                                      8: 365 * DAY, 25: 0}
DEFAULT_RETENTION_LEVEL = 1


def default_period(level: int) -> int | None:
    """A level's default period in seconds (None = infinity), before bpretlevel changes it.

    The configured period is nbcli.catalog.retention.retention_seconds; only that one answers
    "how long does this master keep level N".
    """
    if level == 25:
        return 0
    return RETENTION_DEFAULTS.get(level)


def sched_code(word: str) -> int:
    """FULL/INCR/CINC/UBAK/UARC (or the number) -> the schedule type number."""
    from nbcli.status import INVALID_PARAMETER, NbuError

    w = word.strip().upper()
    if w.isdigit() and int(w) in SCHED_TYPES:
        return int(w)
    if w not in SCHED_CODES:
        raise NbuError(INVALID_PARAMETER,
                       f"unknown schedule type {word!r} (FULL, INCR, CINC, UBAK, UARC)")
    return SCHED_CODES[w]


# Tape densities: the name a storage unit or drive names (bpstuadd -den) <-> NetBackup's code
# (bpimagelist's FRAG density, bpmedialist -L "density = hcart (6)"); next-areas.md §1.5.
DENSITIES: dict[int, str] = {0: "qscsi", 6: "hcart", 9: "odiskwm", 10: "odiskwo", 12: "4mm",
                             13: "dlt", 14: "hcart2", 15: "dlt2", 16: "8mm", 19: "dtf",
                             20: "hcart3", 21: "dlt3"}
DENSITY_CODES: dict[str, int] = {v: k for k, v in DENSITIES.items()}
MEDIA_TYPE_DISK, MEDIA_TYPE_TAPE = 0, 2  # FRAG media_type: 0 disk, 2 removable (tape)
