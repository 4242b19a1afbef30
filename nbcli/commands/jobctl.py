"""bpdbjobs' actions on jobs: -cancel, -cancel_all, -suspend, -resume, -restart, -delete,
-clean and the priority changes, each asked of bpjobd (or bprd, for a restart) on a master.

The targets are NetBackup's: a comma list of job ids, `type=jobtype` or `type=all`. Each job is
acted on by itself; the first failure's status is the command's, the others are printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from nbcli import clock, kinds
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import INVALID_PARAMETER, INVALID_REQUEST, NbuError

Job = dict[str, Any]
HOUR = 3600
# -clean's defaults, NetBackup's: done jobs are kept 78 hours (3 days and 6 hours).
KEEP_HOURS = 78
PRIORITY_MAX = 99999
# The past tense each action's summary line uses.
DONE_WORDS = {"cancel": "canceled", "suspend": "suspended", "resume": "resumed",
              "restart": "restarted", "delete": "deleted"}


def parse_jobids(text: str) -> list[int]:
    """`-jobid 1,2,3` -> [1, 2, 3]; status 20 for anything that is not a job id."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise NbuError(INVALID_PARAMETER, f"invalid job id {part!r} in {text!r}")
        ids.append(int(part))
    return ids


def all_jobs(cfg: HostConfig, master: str) -> list[Job]:
    return list(client.call(cfg, master, "bpjobd", "job_list")["jobs"])


def targets(cfg: HostConfig, master: str, spec: str, wanted: Callable[[Job], bool]) -> list[int]:
    """The ids of `1,2` (as given) or of the jobs of `type=all` / `type=backup` that `wanted`
    accepts (unfinished ones for -cancel, done ones for -delete, ...)."""
    if not spec.startswith("type="):
        return parse_jobids(spec)
    kind = spec[5:].strip().lower()
    types = {word.lower(): code for code, word in kinds.JOB_TYPES.items()}
    if kind != "all" and kind not in types:
        raise NbuError(INVALID_PARAMETER,
                       f"unknown job type {kind!r} (all, {', '.join(sorted(types))})")
    return [j["jobid"] for j in all_jobs(cfg, master)
            if wanted(j) and (kind == "all" or j["jobtype"] == types[kind])]


def _job(cfg: HostConfig, master: str, jobid: int) -> Job:
    return dict(client.call(cfg, master, "bpjobd", "job_get", jobid=jobid)["job"])


def _find(cfg: HostConfig, masters: list[str], jobid: int) -> tuple[str, Job] | NbuError:
    """The master that has job `jobid`, and the job; the last master's error if none has."""
    error = NbuError(INVALID_REQUEST, f"job {jobid} does not exist")
    for master in masters:
        try:
            return master, _job(cfg, master, jobid)
        except NbuError as e:
            error = e
    return error


def _cancel(cfg: HostConfig, master: str, jobid: int) -> None:
    client.call(cfg, master, "bpjobd", "job_cancel", jobid=jobid)


def _not_supported(word: str, flag: str) -> Callable[[HostConfig, str, int], None]:
    def act(cfg: HostConfig, master: str, jobid: int) -> None:
        job = _job(cfg, master, jobid)
        if not job.get(flag):
            raise NbuError(INVALID_REQUEST, f"job {jobid} cannot be {word}: it is not {flag} "
                                            "(nbcli's jobs take no checkpoints)")
        raise NbuError(INVALID_REQUEST, f"job {jobid} cannot be {word} by nbcli")
    return act


def _restart(cfg: HostConfig, master: str, jobid: int) -> None:
    """A done backup runs again as a new job of the same policy, schedule and client."""
    job = _job(cfg, master, jobid)
    if job["state"] != kinds.DONE:
        raise NbuError(INVALID_REQUEST, f"job {jobid} is {kinds.JOB_STATES[job['state']]}; "
                                        "only a done job can be restarted")
    if job["jobtype"] != kinds.JOB_BACKUP or not job["policy"]:
        raise NbuError(INVALID_REQUEST, f"job {jobid} is not a policy backup; it cannot be "
                                        "restarted")
    client.call(cfg, master, "bprd", "backup", policy=job["policy"],
                schedule=job["schedule"] or None, client=job["client"] or None)


def _delete(cfg: HostConfig, master: str, jobid: int) -> None:
    deleted = client.call(cfg, master, "bpjobd", "job_delete", jobids=[jobid])["deleted"]
    if jobid not in deleted:
        job = _job(cfg, master, jobid)  # 227 when it does not exist
        raise NbuError(INVALID_REQUEST, f"job {jobid} is {kinds.JOB_STATES[job['state']]}; "
                                        "only a done job can be deleted")


ACTIONS: dict[str, tuple[Callable[[HostConfig, str, int], None], Callable[[Job], bool]]] = {
    "cancel": (_cancel, lambda j: j["state"] != kinds.DONE),
    "suspend": (_not_supported("suspended", "suspendable"),
                lambda j: j["state"] in (kinds.ACTIVE, kinds.QUEUED)),
    "resume": (_not_supported("resumed", "resumable"),
               lambda j: j["state"] in (kinds.SUSPENDED, kinds.INCOMPLETE)),
    "restart": (_restart, lambda j: j["state"] == kinds.DONE and j["status"] not in (0, None)),
    "delete": (_delete, lambda j: j["state"] == kinds.DONE),
}


def act(cfg: HostConfig, masters: list[str], action: str, spec: str, quiet: bool) -> None:
    """Run `action` on every target on every master; print `<n> job(s) <done>` unless quiet."""
    do, wanted = ACTIONS[action]
    failed: list[NbuError] = []
    done = 0
    for master in masters:
        for jobid in targets(cfg, master, spec, wanted):
            try:
                do(cfg, master, jobid)
                done += 1
            except NbuError as error:
                failed.append(error)
    if not quiet:
        click.echo(f"{done} job(s) {DONE_WORDS[action]}")
    _raise_first(failed)


def _raise_first(failed: list[NbuError]) -> None:
    """Print every failure but the first, then raise the first: its status is the command's."""
    for e in failed[1:]:
        click.echo(f"bpdbjobs: {e.detail or e.message} (status {e.status})", err=True)
    if failed:
        raise NbuError(failed[0].status, failed[0].detail)


def clean(cfg: HostConfig, masters: list[str], keep_hours: int | None,
          keep_successful_hours: int | None, verbose: bool) -> None:
    """-clean: delete done jobs that ended more than keep hours ago (successful ones after
    keep_successful hours, which defaults to the keep hours)."""
    keep = KEEP_HOURS if keep_hours is None else keep_hours
    keep_ok = keep if keep_successful_hours is None else keep_successful_hours
    now = clock.now()
    for master in masters:
        old = [j["jobid"] for j in all_jobs(cfg, master) if j["state"] == kinds.DONE
               and j["ended"] and now - j["ended"] > (keep_ok if j["status"] == 0 else keep) * HOUR]
        deleted = client.call(cfg, master, "bpjobd", "job_delete", jobids=old)["deleted"] \
            if old else []
        if verbose:
            click.echo(f"{master}: {len(deleted)} job(s) deleted")


def set_priority(cfg: HostConfig, masters: list[str], jobids: list[int], priority: int,
                 relative: bool) -> None:
    """-set_priority / -change_priority_by: the priority of jobs that are not done yet."""
    failed: list[NbuError] = []
    for jobid in jobids:
        found = _find(cfg, masters, jobid)
        if isinstance(found, NbuError):
            failed.append(found)
            continue
        master, job = found
        if job["state"] == kinds.DONE:
            failed.append(NbuError(INVALID_REQUEST, f"job {jobid} is done"))
            continue
        new = job["priority"] + priority if relative else priority
        client.call(cfg, master, "bpjobd", "job_update", jobid=jobid,
                    priority=max(0, min(PRIORITY_MAX, new)))
    _raise_first(failed)
