"""bpdbjobs' output formats: the report table, -all_columns, -most_columns and -summary.

Pure functions from job dicts (as bpjobd's job_list returns them, docs/protocol.md "Job
records") to lines; bpdbjobs.py only chooses one. Field order and escaping are NetBackup's
(reference/netbackup-cli.md §1.1 and §2), so that awk -F, pipelines and the parsers written
for NetBackup read ours unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def _elapsed(job: Job) -> str:
    return timefmt.fmt_elapsed(job["elapsed"]) if job["started"] else ""


def _blank0(value: object) -> object:
    return "" if value == 0 else value


# The report's columns by BPDBJOBS_COLDEFS name: (header, value). Names are NetBackup's.
REPORT_COLUMNS: dict[str, tuple[str, Callable[[Job], object]]] = {
    "JOBID": ("JobID", lambda j: j["jobid"]),
    "TYPE": ("Type", type_word),
    "STATE": ("State", state_word),
    "STATUS": ("Status", _status),
    "POLICY": ("Policy", lambda j: j["policy"]),
    "SCHEDULE": ("Schedule", lambda j: j["schedule"]),
    "CLIENT": ("Client", lambda j: j["client"]),
    "DSTMEDIASERVER": ("Dest Media Svr", lambda j: j["server"]),
    "ACTPID": ("Active PID", lambda j: _blank0(j["jobpid"])),
    "STARTED": ("Started", lambda j: timefmt.fmt(j["started"])),
    "ENDED": ("Ended", lambda j: timefmt.fmt(j["ended"])),
    "ELAPSED": ("Elapsed", _elapsed),
    "KILOBYTES": ("Kilobytes", lambda j: j["kbytes"]),
    "FILES": ("Files", lambda j: j["files"]),
    "KBPERSEC": ("KB Per Sec", lambda j: j["kbpersec"]),
    "ATTEMPT": ("Attempt", lambda j: j["trycount"]),
    "DSTSTUNIT": ("Dest StUnit", lambda j: j["stunit"]),
    "OWNER": ("Owner", lambda j: j["owner"]),
    "PARENTJOBID": ("Parent JobID", lambda j: j["parentjob"]),
    "PERCENT": ("%", lambda j: j["percent"]),
    "PRIORITY": ("Priority", lambda j: j["priority"]),
    "PATHNAME": ("Last Path", lambda j: j["pathlastwritten"]),
    "GROUP": ("Group", lambda j: j["group"]),
    "BACKUPID": ("Backup ID", lambda j: j["backupid"]),
    # nbcli's name: the job's DTE mode (On/Off once decided; jobrecord.EXTRA), not a default
    # column - NetBackup's place for it in bpdbjobs is not known to us
    "DTEMODE": ("DTE Mode", lambda j: j.get("dtemode", "")),
}
# NetBackup's default column set (`JobID Type State Status Policy Schedule Client Dest Media
# Svr Active PID`), as BPDBJOBS_COLDEFS lines: name, minimum width, whether it may grow.
DEFAULT_COLDEFS = ("JOBID 6 true", "TYPE 15 true", "STATE 10 true", "STATUS 6 true",
                   "POLICY 20 true", "SCHEDULE 20 true", "CLIENT 20 true",
                   "DSTMEDIASERVER 20 true", "ACTPID 10 true")


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    grows: bool
    value: Callable[[Job], object]


def columns(coldefs: list[str] | tuple[str, ...] | None) -> list[Column]:
    """The report's columns from `NAME width true|false` lines (bp.conf's BPDBJOBS_COLDEFS).

    Lines naming no column nbcli knows are left out, as NetBackup leaves them; a missing
    width or flag takes 0 and true.
    """
    out = []
    for line in coldefs or DEFAULT_COLDEFS:
        words = str(line).split()
        if not words or words[0].upper() not in REPORT_COLUMNS:
            continue
        title, value = REPORT_COLUMNS[words[0].upper()]
        width = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        grows = len(words) < 3 or words[2].lower() != "false"
        out.append(Column(title, width, grows, value))
    return out or columns(DEFAULT_COLDEFS)


def report(jobs: list[Job], header: bool = True,
           coldefs: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The default table: right-aligned columns. A column that grows is as wide as its widest
    cell (its header included); a fixed one (`false`) cuts cells and header to its width, as
    NetBackup's `Statu` shows."""
    cols = columns(coldefs)
    rows = [[str(c.value(job)) for c in cols] for job in jobs]
    if header:
        rows.insert(0, [c.title for c in cols])
    widths = [max([c.width, len(c.title)] + [len(row[i]) for row in rows]) if c.grows
              else c.width for i, c in enumerate(cols)]
    rows = [[cell[:w] for cell, w in zip(row, widths)] for row in rows]
    return table(rows, widths)


def shown(job: Job) -> Job:
    """The job as bpdbjobs shows it: a job that ran for less than a second ran for 1 s, as
    NetBackup rounds it, so that `kbytes/elapsed` in a script never divides by zero."""
    if job["started"] and job["ended"] and not job["elapsed"]:
        job = {**job, "elapsed": 1, "kbpersec": job["kbytes"]}
    tries = job.get("tries")
    if tries and any(t.get("trystarted") and t.get("tryended") and not t.get("tryelapsed")
                     for t in tries):
        job = {**job, "tries": [{**t, "tryelapsed": 1}
                                if t.get("trystarted") and t.get("tryended")
                                and not t.get("tryelapsed") else t for t in tries]}
    return job


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
    return summary_rows([s], header)


def summary_rows(summaries: list[dict[str, Any]], header: bool = True) -> list[str]:
    """The header, then one row per master (-M)."""
    rows = [[s["master"], *(str(s[key]) for _, key in SUMMARY_COLUMNS)] for s in summaries]
    if header:
        rows.insert(0, ["Server", *(title for title, _ in SUMMARY_COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return table(rows, widths, "l" + "r" * len(SUMMARY_COLUMNS))


def count_summary(jobs: list[Job], master: str) -> dict[str, Any]:
    """bpjobd's summary counts, from a job list (-summary -ignore_parent_jobs)."""
    counts: dict[str, Any] = {key: 0 for _, key in SUMMARY_COLUMNS}
    counts["master"] = master
    by_state = {kinds.QUEUED: "queued", kinds.REQUEUED: "requeued", kinds.ACTIVE: "active",
                kinds.INCOMPLETE: "incomplete", kinds.SUSPENDED: "suspended"}
    for j in jobs:
        counts["total"] += 1
        if j["state"] == kinds.DONE:
            counts[{0: "successful", 1: "partial"}.get(j["status"], "failed")] += 1
        else:
            counts[by_state.get(j["state"], "queued")] += 1
    return counts


def summary_labelled(s: dict[str, Any]) -> list[str]:
    """-summary -L / -U: "Summary of jobs on <master>", then one `Label: n` line per count."""
    return [f"Summary of jobs on {s['master']}",
            *(f"{label:<24}{s[key]}" for label, key in SUMMARY_LABELS)]


def summary_csv(s: dict[str, Any]) -> str:
    """-summary -all_columns: the table's row as one comma line."""
    return csv_line([s["master"], *(s[key] for _, key in SUMMARY_COLUMNS)])
