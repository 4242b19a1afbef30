"""bpdbjobs: the Activity Monitor on the command line - list, summarise and act on jobs.

Asks bpjobd on the master, or on each master of -M (docs/protocol.md "Job records"), and prints
with jobfmt.py's formats; jobctl.py does the actions (-cancel, -delete, -clean, ...). Lists
are fetched in pages over one connection, so a long job history never needs one huge reply.
Output meant for a file (-file) is written whole: atomically, or in one append, never half.

-stay_alive keeps the listing open for a reader such as NBU::Job: a `C<n>` line and n lines,
then, for every `refresh` line on stdin, another block with the jobs that changed and a
`-<jobid>` line for each job that left the database; end of input ends it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from nbcli import __version__, atomic, kinds, timefmt
from nbcli.cli import admin_log, command, join_date_times, load_cfg, master_list, root_option
from nbcli.commands import jobctl, jobfmt
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.status import (
    FILE_OPEN_FAILED,
    FILE_WRITE_FAILED,
    INVALID_JOB_ID,
    INVALID_PARAMETER,
    NbuError,
)

SYNOPSIS = """bpdbjobs [-report] [-M master_servers] [-ignore_parent_jobs]
         [-vault | -lvault | -all_columns | -most_columns | -gdm] [-file pathname]
         [-append] [-noheader] [-mastertime] [-t timestamp] [-jobid job1,...jobn]
         [-stay_alive] [-verbose] [-json]
bpdbjobs -summary [-M master_servers] [-ignore_parent_jobs] [-U | -L | -l | -all_columns]
         [-noheader] [-file pathname] [-append] [-verbose] [-json]
bpdbjobs -resume | -suspend | -delete | -cancel | -restart job1,...jobn | type=jobtype
         | type=all [-M master_servers] [-quiet] [-reason "string"]
bpdbjobs -cancel_all [-M master_servers] [-reason "string"]
bpdbjobs -clean [-M master_servers] [-keep_hours hours | -keep_days days]
         [-keep_successful_hours hours | -keep_successful_days days] [-verbose]
bpdbjobs -change_priority_by | -set_priority [-M master_servers] -priority number
         -jobid job1,...jobn
bpdbjobs -version
bpdbjobs -fast"""

# Jobs per job_list request when listing everything: fewer when each carries its tries and
# status lines, so that a page stays far below the frame limit.
PAGE, DETAIL_PAGE = 1000, 100
VAULT_COLDEFS = ("JOBID 6 true", "TYPE 15 true", "STATE 10 true", "STATUS 6 true",
                 "POLICY 20 true", "SCHEDULE 20 true", "CLIENT 20 true", "BACKUPID 20 true")
ACTIONS = ("cancel", "suspend", "resume", "restart", "delete")
parse_jobids = jobctl.parse_jobids


def fetch(cfg: HostConfig, master: str, jobids: list[int] | None,
          detail: bool) -> list[dict[str, Any]]:
    """The jobs asked for (all of them when `jobids` is None), newest first."""
    with client.connect(cfg, master, "bpjobd") as conn:
        if jobids is not None:
            return list(conn.request("job_list", jobids=jobids, detail=detail)["jobs"])
        return _all_pages(conn, detail)


def _all_pages(conn: Connection, detail: bool) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    before = None
    while True:
        page = conn.request("job_list", detail=detail, limit=DETAIL_PAGE if detail else PAGE,
                            before=before)
        jobs += page["jobs"]
        if not page.get("more") or not page["jobs"]:
            return jobs
        before = page["jobs"][-1]["jobid"]


def deliver(text: str, path: str | None, append: bool) -> None:
    """Print `text`, or write it to `path` whole (status 12/14 when that fails)."""
    if path is None:
        # Bytes, so that a file name that is not UTF-8 comes out as the bytes it was.
        click.echo(text.encode("utf-8", "surrogateescape"), nl=False)
        return
    target = Path(path)
    try:
        if append or (target.exists() and not target.is_file()):
            # A FIFO or device cannot be replaced; one write keeps an append in one piece.
            with open(target, "a" if append else "w", encoding="utf-8",
                      errors="surrogateescape") as f:
                f.write(text)
        else:
            atomic.write_text(target, text)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot write {path}: {e.strerror}") from e
    except OSError as e:
        raise NbuError(FILE_WRITE_FAILED, f"cannot write {path}: {e.strerror}") from e


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2) + "\n"


def without_parents(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """-ignore_parent_jobs: leave out the jobs other jobs name as their parent."""
    parents = {j["parentjob"] for j in jobs if j.get("parentjob")}
    return [j for j in jobs if j["jobid"] not in parents]


def changed_since(jobs: list[dict[str, Any]], since: int) -> list[dict[str, Any]]:
    """-t: the jobs that may have changed at or after `since`: started or ended then, or
    not done yet."""
    return [j for j in jobs if j["state"] != kinds.DONE or j["started"] >= since
            or (j["ended"] or 0) >= since]


class Listing:
    """What a listing asks for, and how each job comes out."""

    def __init__(self, cfg: HostConfig, masters: list[str], fmt: str, jobids: list[int] | None,
                 header: bool, ignore_parents: bool, since: int | None) -> None:
        self.cfg, self.masters, self.fmt, self.jobids = cfg, masters, fmt, jobids
        self.header, self.ignore_parents, self.since = header, ignore_parents, since

    def jobs(self) -> list[dict[str, Any]]:
        detail = self.fmt in ("all", "json", "lvault")
        jobs = [j for m in self.masters for j in fetch(self.cfg, m, self.jobids, detail)]
        if self.ignore_parents:
            jobs = without_parents(jobs)
        if self.since is not None:
            jobs = changed_since(jobs, self.since)
        if self.fmt in ("vault", "lvault"):
            jobs = [j for j in jobs if kinds.JOB_TYPES.get(j["jobtype"]) == "Vault"]
        return [jobfmt.shown(j) for j in jobs]

    def line(self, job: dict[str, Any]) -> str:
        return jobfmt.all_columns(job) if self.fmt in ("all", "lvault") \
            else jobfmt.most_columns(job)

    def text(self, jobs: list[dict[str, Any]]) -> str:
        if self.fmt == "json":
            return _json(jobs)
        if self.fmt in ("all", "most", "lvault"):
            return _text([self.line(j) for j in jobs])
        coldefs = VAULT_COLDEFS if self.fmt == "vault" else self.cfg.get("BPDBJOBS_COLDEFS")
        return _text(jobfmt.report(jobs, self.header, coldefs))


def stream(listing: Listing) -> None:
    """`C<n>` and n lines now; again for every `refresh` on stdin, with the changed jobs only
    and `-<jobid>` for jobs that are gone. Ends at end of input (or `quit`)."""
    shown: dict[int, str] = {}
    first = True
    while True:
        current = {j["jobid"]: listing.line(j) for j in listing.jobs()}
        lines = [line for jobid, line in current.items() if shown.get(jobid) != line]
        lines += [f"-{jobid}" for jobid in shown if jobid not in current]
        shown = current
        if lines or first:
            click.echo(f"C{len(lines)}")
            for line in lines:
                click.echo(line)
        else:
            click.echo("C0")
        sys.stdout.flush()
        first = False
        while True:
            word = sys.stdin.readline()
            if not word or word.strip().lower() in ("quit", "exit"):
                return
            if word.strip().lower() == "refresh":
                break


def summary(cfg: HostConfig, masters: list[str], form: str, header: bool,
            ignore_parents: bool) -> str:
    rows = []
    for m in masters:
        if ignore_parents:
            rows.append(jobfmt.count_summary(without_parents(fetch(cfg, m, None, False)), m))
        else:
            s = client.call(cfg, m, "bpjobd", "summary")
            rows.append({k: v for k, v in s.items() if k != "status"})
    if form == "json":
        return _json(rows[0] if len(rows) == 1 else rows)
    if form == "labelled":
        return _text([line for s in rows for line in jobfmt.summary_labelled(s)])
    if form == "all":
        return _text([jobfmt.summary_csv(s) for s in rows])
    return _text(jobfmt.summary_rows(rows, header))


def _mode(chosen: list[str]) -> str:
    if len(chosen) > 1:
        raise NbuError(INVALID_PARAMETER, f"-{chosen[0]} and -{chosen[1]} cannot be used together")
    return chosen[0] if chosen else "report"


def _format(mode: str, flags: dict[str, bool]) -> str:
    """The one output form the flags ask for; status 20 for combinations that make no sense."""
    on = [name for name, value in flags.items() if value]
    allowed = {"report": ("all_columns", "most_columns", "gdm", "json", "vault", "lvault"),
               "summary": ("all_columns", "L", "U", "l", "json")}.get(mode, ())
    wrong = [name for name in on if name not in allowed]
    if wrong:
        raise NbuError(INVALID_PARAMETER, f"-{wrong[0]} cannot be used " +
                       (f"with -{mode}" if mode != "report" else "without -summary"))
    if len(on) > 1:
        raise NbuError(INVALID_PARAMETER, f"-{on[0]} and -{on[1]} cannot be used together")
    form = on[0] if on else "table"
    return {"all_columns": "all", "most_columns": "most", "gdm": "most",
            "L": "labelled", "U": "labelled", "l": "labelled"}.get(form, form)


def _hours(hours: int | None, days: int | None, name: str) -> int | None:
    if hours is not None and days is not None:
        raise NbuError(INVALID_PARAMETER, f"-{name}_hours and -{name}_days cannot be used "
                                          "together")
    value = hours if hours is not None else days * 24 if days is not None else None
    if value is not None and value < 0:
        raise NbuError(INVALID_PARAMETER, f"-{name}_hours/-{name}_days must not be negative")
    return value


@command("bpdbjobs", SYNOPSIS)
@click.option("-report", "report_", is_flag=True, help="List the jobs (the default).")
@click.option("-all_columns", is_flag=True,
              help="One comma line per job with every field, file list and try.")
@click.option("-most_columns", is_flag=True, help="Comma lines without file list and tries.")
@click.option("-gdm", is_flag=True, help="The same as -most_columns.")
@click.option("-vault", is_flag=True, help="Vault jobs, as a table (nbcli runs none).")
@click.option("-lvault", is_flag=True, help="Vault jobs, as -all_columns lines.")
@click.option("-noheader", is_flag=True, help="No header line in the table forms.")
@click.option("-jobid", "jobid_list", metavar="N[,N...]", help="Only these jobs.")
@click.option("-M", "masters", metavar="MASTER[,...]", help="Ask these master servers.")
@click.option("-ignore_parent_jobs", is_flag=True, help="Leave out parent jobs.")
@click.option("-t", "timestamp", metavar="TIMESTAMP",
              help="Only jobs that may have changed since mm/dd/yyyy [hh:mm:ss].")
@click.option("-mastertime", is_flag=True, help="Accepted; times are the master's already.")
@click.option("-stay_alive", is_flag=True,
              help="With -all_columns/-most_columns: keep listing on `refresh` from stdin.")
@click.option("-file", "path", metavar="PATHNAME", help="Write the output to this file.")
@click.option("-append", is_flag=True, help="With -file: add to the file's end.")
@click.option("-json", "as_json", is_flag=True,
              help="A JSON list of jobs with their tries and steps (nbcli extension).")
@click.option("-summary", "summary_", is_flag=True, help="Counts of jobs per state.")
@click.option("-L", "long_form", is_flag=True, help="With -summary: labelled form.")
@click.option("-U", "user_form", is_flag=True, help="With -summary: labelled form.")
@click.option("-l", "list_form", is_flag=True, help="With -summary: labelled form.")
@click.option("-cancel", "cancel_", metavar="JOBS", help="Cancel jobs (ids, type=T, type=all).")
@click.option("-suspend", "suspend_", metavar="JOBS", help="Suspend jobs (checkpointed only).")
@click.option("-resume", "resume_", metavar="JOBS", help="Resume suspended jobs.")
@click.option("-restart", "restart_", metavar="JOBS", help="Run done backups again.")
@click.option("-delete", "delete_", metavar="JOBS", help="Remove done jobs.")
@click.option("-cancel_all", is_flag=True, help="Cancel every unfinished job.")
@click.option("-clean", is_flag=True, help="Remove old done jobs.")
@click.option("-keep_hours", type=int, metavar="H", help="With -clean: keep H hours (78).")
@click.option("-keep_days", type=int, metavar="D", help="With -clean: keep D days.")
@click.option("-keep_successful_hours", type=int, metavar="H",
              help="With -clean: keep successful jobs H hours.")
@click.option("-keep_successful_days", type=int, metavar="D",
              help="With -clean: keep successful jobs D days.")
@click.option("-change_priority_by", is_flag=True, help="Add -priority to the jobs' priority.")
@click.option("-set_priority", is_flag=True, help="Set the jobs' priority to -priority.")
@click.option("-priority", type=int, metavar="N", help="The priority or its change.")
@click.option("-quiet", is_flag=True, help="With an action: print nothing on success.")
@click.option("-reason", metavar="TEXT", help="With an action: why (written to the admin log).")
@click.option("-verbose", is_flag=True, help="With -clean: say how many jobs went.")
@click.option("-fast", is_flag=True, help="The default report (accepted for NetBackup's).")
@click.option("-version", is_flag=True, help="Print the version and exit.")
@root_option
def cli(report_: bool, all_columns: bool, most_columns: bool, gdm: bool, vault: bool,
        lvault: bool, noheader: bool, jobid_list: str | None, masters: str | None,
        ignore_parent_jobs: bool, timestamp: str | None, mastertime: bool, stay_alive: bool,
        path: str | None, append: bool, as_json: bool, summary_: bool, long_form: bool,
        user_form: bool, list_form: bool, cancel_: str | None, suspend_: str | None,
        resume_: str | None, restart_: str | None, delete_: str | None, cancel_all: bool,
        clean: bool, keep_hours: int | None, keep_days: int | None,
        keep_successful_hours: int | None, keep_successful_days: int | None,
        change_priority_by: bool, set_priority: bool, priority: int | None, quiet: bool,
        reason: str | None, verbose: bool, fast: bool, version: bool, root: str | None) -> int:
    """Show the jobs database (the Activity Monitor), summarise it, or act on jobs.

    \b
    EXIT STATUS
      0    done
      12   the -file could not be opened
      20   invalid option, option combination or job id
      25   bpjobd on the master cannot be reached
      133  the job cannot be suspended, resumed, restarted or deleted in its state
      227  a job named with an action does not exist
      273  a job named with -jobid or -cancel does not exist
    """
    specs = {"cancel": cancel_, "suspend": suspend_, "resume": resume_, "restart": restart_,
             "delete": delete_}
    flags = {"summary": summary_, "cancel_all": cancel_all, "clean": clean,
             "change_priority_by": change_priority_by, "set_priority": set_priority,
             "version": version, **{k: v is not None for k, v in specs.items()}}
    mode = _mode([m for m, on in flags.items() if on])
    form = _format(mode, {"all_columns": all_columns, "most_columns": most_columns,
                          "gdm": gdm, "json": as_json, "L": long_form, "U": user_form,
                          "l": list_form, "vault": vault, "lvault": lvault})
    _check(mode, jobid_list, report_, path, append, quiet, reason, stay_alive, form,
           priority, timestamp, keep_hours, keep_days, keep_successful_hours,
           keep_successful_days)
    if mode == "version":
        click.echo(f"bpdbjobs (nbcli) {__version__}")
        return 0
    jobids = parse_jobids(jobid_list) if jobid_list else None
    cfg = load_cfg(root)
    servers = master_list(cfg, masters)
    if reason is not None or mode in ACTIONS + ("cancel_all", "clean"):
        admin_log(cfg).info("bpdbjobs -%s %s%s", mode, specs.get(mode) or "",
                            f" reason: {reason}" if reason else "")
    if mode in ACTIONS:
        jobctl.act(cfg, servers, mode, str(specs[mode]), quiet)
        return 0
    if mode == "cancel_all":
        jobctl.act(cfg, servers, "cancel", "type=all", quiet)
        return 0
    if mode == "clean":
        jobctl.clean(cfg, servers, _hours(keep_hours, keep_days, "keep"),
                     _hours(keep_successful_hours, keep_successful_days, "keep_successful"),
                     verbose)
        return 0
    if mode in ("change_priority_by", "set_priority"):
        assert jobids is not None and priority is not None
        jobctl.set_priority(cfg, servers, jobids, priority, mode == "change_priority_by")
        return 0
    if mode == "summary":
        deliver(summary(cfg, servers, form, not noheader, ignore_parent_jobs), path, append)
        return 0
    since = timefmt.parse(timestamp) if timestamp else None
    listing = Listing(cfg, servers, form, jobids, not noheader, ignore_parent_jobs, since)
    if stay_alive:
        stream(listing)
        return 0
    jobs = listing.jobs()
    deliver(listing.text(jobs), path, append)
    missing = sorted(set(jobids or []) - {j["jobid"] for j in jobs})
    if missing and not ignore_parent_jobs and since is None:
        raise NbuError(INVALID_JOB_ID, "no such job: " + ", ".join(map(str, missing)))
    return 0



def _check(mode: str, jobid_list: str | None, report_: bool, path: str | None, append: bool,
           quiet: bool, reason: str | None, stay_alive: bool, form: str,
           priority: int | None, timestamp: str | None, *keeps: int | None) -> None:
    """Status 20 for options given to a mode they mean nothing in."""
    def refuse(text: str) -> None:
        raise NbuError(INVALID_PARAMETER, text)

    if append and not path:
        refuse("-append needs -file")
    if quiet and mode not in ACTIONS:
        refuse("-quiet goes with -cancel, -suspend, -resume, -restart or -delete")
    if reason is not None and mode not in ACTIONS + ("cancel_all",):
        refuse("-reason goes with an action on jobs")
    if report_ and mode != "report":
        refuse(f"-report cannot be used with -{mode}")
    if path and mode not in ("report", "summary"):
        refuse(f"-file cannot be used with -{mode}")
    if jobid_list and mode not in ("report", "change_priority_by", "set_priority"):
        refuse(f"-jobid cannot be used with -{mode}")
    if mode in ("change_priority_by", "set_priority") and (priority is None or not jobid_list):
        refuse(f"-{mode} needs -priority and -jobid")
    if priority is not None and mode not in ("change_priority_by", "set_priority"):
        refuse("-priority goes with -set_priority or -change_priority_by")
    if any(k is not None for k in keeps) and mode != "clean":
        refuse("-keep_* options go with -clean")
    if timestamp and mode != "report":
        refuse("-t goes with the job listing")
    if stay_alive and (mode != "report" or form not in ("all", "most") or path):
        refuse("-stay_alive goes with -all_columns or -most_columns, without -file")


def main() -> None:
    # `-t 03/01/2014 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-t"}), prog_name="bpdbjobs")
