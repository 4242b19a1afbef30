"""What a job record is: its fields, their types, legal state moves, derived values, try lines.

Pure data and functions shared by the jobs database (jobsdb.py) and bpjobd; the field names are
the `bpdbjobs -all_columns` names (reference/netbackup-cli.md §2.1, docs/protocol.md "Job
records"). Nothing here does I/O or reads the clock (callers pass `now`); it imports only the
code tables, the date formats and the status table, never a daemon or the network.

Theory of operation. A job moves between NetBackup's states (kinds.JOB_STATES):

    Queued <-> Active <-> Re-Queued      (Suspended and Incomplete: to and from any of them)
        \\         |          /
         +------> Done <----+            Done is final: nothing moves a job out of it

`TRANSITIONS` is that machine as data; `check_move` is the one place that applies it.
Elapsed, kbpersec, try and trycount are never stored: `derive` computes them from the stored
times, kilobytes and tries whenever a job is read.
"""

from __future__ import annotations

from typing import Any

from nbcli import kinds, timefmt
from nbcli.status import INVALID_PARAMETER, INVALID_PROTOCOL, INVALID_REQUEST, NbuError, message

INT_FIELDS = (
    "jobtype", "state", "status", "started", "ended", "operation", "kbytes", "files",
    "percent", "jobpid", "subtype", "policytype", "scheduletype", "priority",
    "retentionlevel", "retentionperiod", "compression", "kbyteslastwritten",
    "fileslastwritten", "parentjob", "copy", "session", "ejecttapes", "stream", "suspendable",
    "resumable", "restartable", "datamovement", "snapshot", "killable", "offhosttype",
    "ftusage", "queuereason", "accelerator")
STR_FIELDS = (
    "policy", "schedule", "client", "server", "stunit", "pathlastwritten", "owner", "group",
    "masterserver", "robot", "vault", "profile", "srcstunit", "srcserver", "srcmedia",
    "dstmedia", "backupid", "controllinghost", "reasonstring", "instancedbname", "dtemode")
# Computed on every read (see `derive`); a request that tries to set one is refused.
DERIVED = ("jobid", "elapsed", "try", "trycount", "kbpersec")

# Every job field, in `bpdbjobs -all_columns` order (filelist stands for filelistcount+files).
FIELDS = (
    "jobid", "jobtype", "state", "status", "policy", "schedule", "client", "server", "started",
    "elapsed", "ended", "stunit", "try", "operation", "kbytes", "files", "pathlastwritten",
    "percent", "jobpid", "owner", "subtype", "policytype", "scheduletype", "priority", "group",
    "masterserver", "retentionlevel", "retentionperiod", "compression", "kbyteslastwritten",
    "fileslastwritten", "filelist", "trycount", "parentjob", "kbpersec", "copy", "robot",
    "vault", "profile", "session", "ejecttapes", "srcstunit", "srcserver", "srcmedia",
    "dstmedia", "stream", "suspendable", "resumable", "restartable", "datamovement",
    "snapshot", "backupid", "killable", "controllinghost", "offhosttype", "ftusage",
    "queuereason", "reasonstring", "dedupratio", "accelerator", "instancedbname")
# Kept and listed after those, in no -all_columns position: the job's data-in-transit encryption
# mode (REST `dteMode`; "On" or "Off" once the client's agent decided, nbcli.net.dte), which
# no source we found places in bpdbjobs' columns.
EXTRA = ("dtemode",)
DTE_MODES = ("", "On", "Off")

# Fields of the current try a job_update may set directly; by default they follow the job's.
TRY_FIELDS = ("trypid", "trystunit", "tryserver", "trystarted", "tryended", "trystatus",
              "trystatusdescription", "trybyteswritten", "tryfileswritten")
# Job field -> the current try's field that mirrors it.
TRY_MIRROR = {"jobpid": "trypid", "stunit": "trystunit", "server": "tryserver",
              "kbytes": "trybyteswritten", "files": "tryfileswritten"}

SEVERITIES = ("Info", "Warning", "Error")

_ANY = frozenset(kinds.JOB_STATES) - {kinds.DONE}
TRANSITIONS: dict[int, frozenset[int]] = {
    kinds.QUEUED: _ANY | {kinds.DONE},
    kinds.ACTIVE: _ANY | {kinds.DONE},
    kinds.REQUEUED: _ANY | {kinds.DONE},
    kinds.SUSPENDED: _ANY | {kinds.DONE},
    kinds.INCOMPLETE: _ANY | {kinds.DONE},
    kinds.DONE: frozenset({kinds.DONE}),
}


def check_move(old: int, new: int, jobid: int) -> None:
    """Refuse a state change the machine does not allow (status 133)."""
    if new not in TRANSITIONS[old]:
        raise NbuError(INVALID_REQUEST, f"job {jobid} is {kinds.JOB_STATES[old]}; it cannot become "
                                        f"{kinds.JOB_STATES[new]}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def one_line(text: str) -> str:
    """Status lines and fields are one line each: -all_columns is one line per job."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


# null is accepted for these and means "not set": the field's empty value.
_NULLABLE: dict[str, object] = {
    **dict.fromkeys(INT_FIELDS, 0), **dict.fromkeys(STR_FIELDS, ""), "status": None,
    "filelist": [], "dedupratio": 0, "trypid": 0, "trystunit": "", "tryserver": "",
    "trystarted": 0, "tryended": 0, "trystatus": None, "trystatusdescription": "",
    "trybyteswritten": 0, "tryfileswritten": 0}
_NULLABLE.pop("jobtype")
_NULLABLE.pop("state")


_TRY_STRINGS = ("trystunit", "tryserver", "trystatusdescription")
# Request-shape errors (a field of the wrong type, an unknown field) are 143, as in every
# daemon's protocol; well-formed values that make no sense are 20.
SHAPE, VALUE = INVALID_PROTOCOL, INVALID_PARAMETER


def _clean_value(name: str, value: Any) -> Any:
    if value is None and name in _NULLABLE:
        empty = _NULLABLE[name]
        return list(empty) if isinstance(empty, list) else empty
    if name in INT_FIELDS or (name in TRY_FIELDS and name not in _TRY_STRINGS):
        if not _is_int(value):
            raise NbuError(SHAPE, f"job field {name} must be an integer, not {value!r}")
        if value < 0:
            raise NbuError(VALUE, f"job field {name} must not be negative ({value})")
        return value
    if name in STR_FIELDS or name in _TRY_STRINGS:
        if not isinstance(value, str):
            raise NbuError(SHAPE, f"job field {name} must be a string, not {value!r}")
        if name == "dtemode" and value not in DTE_MODES:
            raise NbuError(VALUE, f"job field dtemode is On or Off, not {value!r}")
        return one_line(value)
    if name == "filelist":
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise NbuError(SHAPE, "job field filelist must be a list of paths")
        return [one_line(p) for p in value]
    if name == "dedupratio" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if name == "closed" and isinstance(value, bool):
        return value
    if name in ("dedupratio", "closed"):
        raise NbuError(SHAPE, f"job field {name} has the wrong type: {value!r}")
    if name in DERIVED:
        raise NbuError(VALUE, f"job field {name} is derived; it cannot be set")
    raise NbuError(SHAPE, f"unknown job field {name!r}")


def clean(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Checked job fields of a job_create/job_update request (status 143 or 20 if wrong)."""
    out = {name: _clean_value(name, value) for name, value in fields.items()}
    if "state" in out and out["state"] not in kinds.JOB_STATES:
        raise NbuError(VALUE, f"unknown job state {out['state']}")
    if creating:
        for required in ("jobtype", "state"):
            if required not in out:
                raise NbuError(SHAPE, f"job_create needs {required}")
        if any(name in TRY_FIELDS for name in out):
            raise NbuError(VALUE, "job_create takes no try fields (new_try opens the first)")
    return out


def defaults() -> dict[str, Any]:
    """A job's fields before anyone set them: numbers 0, strings empty, status null."""
    job: dict[str, Any] = {name: 0 for name in INT_FIELDS}
    job.update({name: "" for name in STR_FIELDS})
    job.update(status=None, filelist=[], dedupratio=0)
    return job


def new_try(job: dict[str, Any], now: int) -> dict[str, Any]:
    """The stored fields of a try opened now, seeded from the job's current values."""
    return {"trypid": job.get("jobpid", 0), "trystunit": job.get("stunit", ""),
            "tryserver": job.get("server", ""), "trystarted": now, "tryended": 0,
            "trystatus": None, "trystatusdescription": "",
            "trybyteswritten": job.get("kbytes", 0), "tryfileswritten": job.get("files", 0)}


def close_try(tr: dict[str, Any], now: int, status: int | None) -> None:
    """End a try (its job is done, or a new try replaces it) with `status` unless it has one."""
    if not tr["tryended"]:
        tr["tryended"] = now
    if tr["trystatus"] is None:
        tr["trystatus"] = status
    if tr["trystatus"] is not None and not tr["trystatusdescription"]:
        tr["trystatusdescription"] = message(tr["trystatus"])


def _elapsed(started: int, ended: int, now: int) -> int:
    if not started:
        return 0
    return max(0, (ended or now) - started)


def derive(job: dict[str, Any], trycount: int, now: int) -> None:
    """Fill the computed fields of a job read from the database."""
    job["elapsed"] = _elapsed(job["started"], job["ended"], now)
    job["trycount"] = job["try"] = trycount
    job["kbpersec"] = job["kbytes"] // job["elapsed"] if job["elapsed"] else 0


def derive_try(tr: dict[str, Any], now: int) -> None:
    tr["tryelapsed"] = _elapsed(tr["trystarted"], tr["tryended"], now)


def step_line(step: dict[str, Any]) -> str:
    """A seed step as a try status line (docs/protocol.md "Steps")."""
    return (f"{timefmt.fmt(step['time'])} - Info {step['process']} (pid={step['pid']}) "
            f"step {step['step']} on {step['host']}: {step['msg']}")


def log_line(when: int, severity: str, process: str, pid: int, msg: str) -> str:
    """Any other progress line of a try."""
    return f"{timefmt.fmt(when)} - {severity} {process} (pid={pid}) {msg}"
