"""bpdbjobs' output formats: the report table, -all_columns, -most_columns and -summary.

Pure functions from job dicts (as bpjobd's job_list returns them, docs/protocol.md "Job
records") to lines; bpdbjobs.py only chooses one. Field order and escaping are NetBackup's
(reference/netbackup-cli.md §1.1 and §2), so that awk -F, pipelines and the parsers written
for NetBackup read ours unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nbcli import kinds, timefmt
from nbcli.render import csv_line, table

Job = dict[str, Any]

# -all_columns, §2.1: the fields before the file list (indexes 0-30; filelistcount is 31)...
HEAD = ("jobid", "jobtype", "state", "status", "policy", "schedule", "client", "server",
        "started", "elapsed", "ended", "stunit", "try", "operation", "kbytes", "files",
        "pathlastwritten", "percent", "jobpid", "owner", "subtype", "policytype",
        "scheduletype", "priority", "group", "masterserver", "retentionlevel",
        "retentionperiod", "compression", "kbyteslastwritten", "fileslastwritten")
# ...and those after the try blocks. Every line ends with two reserved fields (rest1, rest2).
TAIL = ("parentjob", "kbpersec", "copy", "robot", "vault", "profile", "session", "ejecttapes",
        "srcstunit", "srcserver", "srcmedia", "dstmedia", "stream", "suspendable", "resumable",
        "restartable", "datamovement", "snapshot", "backupid", "killable", "controllinghost",
        "offhosttype", "ftusage", "queuereason", "reasonstring", "dedupratio", "accelerator",
        "instancedbname")
RESERVED = ("", "")


def type_word(job: Job) -> str:
    return kinds.JOB_TYPES.get(job["jobtype"], str(job["jobtype"]))


def state_word(job: Job) -> str:
    return kinds.JOB_STATES.get(job["state"], str(job["state"]))


def _status(job: Job) -> str:
    """The status shows once the job is done (NetBackup leaves it empty before)."""
    return "" if job["status"] is None or job["state"] != kinds.DONE else str(job["status"])


# The report's columns in BPDBJOBS_COLDEFS' default order: (header, minimum width, value).
REPORT_COLUMNS: list[tuple[str, int, Callable[[Job], object]]] = [
    ("JobID", 5, lambda j: j["jobid"]),
    ("Type", 4, type_word),
    ("State", 5, state_word),
    ("Status", 6, _status),
    ("Policy", 6, lambda j: j["policy"]),
    ("Schedule", 8, lambda j: j["schedule"]),
    ("Client", 6, lambda j: j["client"]),
    ("Dest Media Svr", 14, lambda j: j["server"]),
    ("Started", 20, lambda j: timefmt.fmt(j["started"])),
    ("Ended", 20, lambda j: timefmt.fmt(j["ended"])),
    ("Elapsed", 9, lambda j: timefmt.fmt_elapsed(j["elapsed"]) if j["started"] else ""),
    ("Kilobytes", 9, lambda j: j["kbytes"]),
    ("Files", 5, lambda j: j["files"]),
    ("KB Per Sec", 10, lambda j: j["kbpersec"]),
    ("Tries", 5, lambda j: j["trycount"]),
]


def report(jobs: list[Job], header: bool = True) -> list[str]:
    """The default table: right-aligned columns, each as wide as its widest cell."""
    rows = [[str(value(job)) for _, _, value in REPORT_COLUMNS] for job in jobs]
    if header:
        rows.insert(0, [title for title, _, _ in REPORT_COLUMNS])
    widths = [max([minimum, len(title)] + [len(row[i]) for row in rows])
              for i, (title, minimum, _) in enumerate(REPORT_COLUMNS)]
    return table(rows, widths)


def _value(job: Job, name: str) -> object:
    return _status(job) if name == "status" else job[name]


def _try_block(tr: dict[str, Any]) -> list[object]:
    lines = tr["trystatuslines"]
    return [tr["trypid"], tr["trystunit"], tr["tryserver"], tr["trystarted"],
            tr["tryelapsed"], tr["tryended"], tr["trystatus"], tr["trystatusdescription"],
            len(lines), *lines, tr["trybyteswritten"], tr["tryfileswritten"]]


def all_columns(job: Job) -> str:
    """One -all_columns line: §2.1's fields with the file list and the try blocks."""
    values: list[object] = [_value(job, name) for name in HEAD]
    values += [len(job["filelist"]), *job["filelist"], len(job["tries"])]
    for tr in job["tries"]:
        values += _try_block(tr)
    values += [_value(job, name) for name in TAIL]
    return csv_line([*values, *RESERVED])


def most_columns(job: Job) -> str:
    """One -most_columns / -gdm line: §2.2, without the file list and the try blocks."""
    values: list[object] = [_value(job, name) for name in HEAD]
    values += [len(job["filelist"]), job["trycount"]]
    values += [_value(job, name) for name in TAIL]
    return csv_line([*values, *RESERVED])


# -summary's columns and the summary op's keys, in NetBackup's order.
SUMMARY_COLUMNS = [("Queued", "queued"), ("Requeued", "requeued"), ("Active", "active"),
                   ("Success", "successful"), ("PartSucc", "partial"), ("Failed", "failed"),
                   ("Incomplete", "incomplete"), ("Suspended", "suspended"),
                   ("WaitingRetry", "waiting_retry"), ("Total", "total")]
SUMMARY_LABELS = [("Queued:", "queued"), ("Waiting-to-Retry:", "requeued"),
                  ("Active:", "active"), ("Successful:", "successful"),
                  ("Partially Successful:", "partial"), ("Failed:", "failed"),
                  ("Incomplete:", "incomplete"), ("Suspended:", "suspended"),
                  ("Total:", "total")]


def summary_table(s: dict[str, Any], header: bool = True) -> list[str]:
    """The two-line form: master name, then the counts (11 whitespace-separated fields)."""
    rows = [[s["master"], *(str(s[key]) for _, key in SUMMARY_COLUMNS)]]
    if header:
        rows.insert(0, ["Server", *(title for title, _ in SUMMARY_COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return table(rows, widths, "l" + "r" * len(SUMMARY_COLUMNS))


def summary_labelled(s: dict[str, Any]) -> list[str]:
    """-summary -L / -U: "Summary of jobs on <master>", then one `Label: n` line per count."""
    return [f"Summary of jobs on {s['master']}",
            *(f"{label:<24}{s[key]}" for label, key in SUMMARY_LABELS)]


def summary_csv(s: dict[str, Any]) -> str:
    """-summary -all_columns: the table's row as one comma line."""
    return csv_line([s["master"], *(s[key] for _, key in SUMMARY_COLUMNS)])
