"""bpdbjobs: the Activity Monitor on the command line - list, summarise and cancel jobs.

Asks bpjobd on the master (docs/protocol.md "Job records") and prints with jobfmt.py's
formats. Lists are fetched in pages over one connection, so a long job history never needs
one huge reply. Output meant for a file (-file) is written whole: atomically, or in one
append, never half.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nbcli import __version__, atomic, kinds
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import jobfmt
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

SYNOPSIS = """bpdbjobs [-report] [-all_columns | -most_columns | -gdm] [-noheader]
         [-jobid job1,job2,...jobn] [-file pathname [-append]] [-json]
bpdbjobs -summary [-U | -L | -all_columns] [-noheader] [-file pathname [-append]] [-json]
bpdbjobs -cancel job1,job2,...jobn | type=jobtype | type=all [-quiet]
bpdbjobs -version"""

# Jobs per job_list request when listing everything: fewer when each carries its tries and
# status lines, so that a page stays far below the frame limit.
PAGE, DETAIL_PAGE = 1000, 100


def parse_jobids(text: str) -> list[int]:
    """`-jobid 1,2,3` -> [1, 2, 3]; status 20 for anything that is not a job id."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise NbuError(INVALID_PARAMETER, f"invalid job id {part!r} in {text!r}")
        ids.append(int(part))
    return ids


def fetch(cfg: HostConfig, jobids: list[int] | None, detail: bool) -> list[dict[str, Any]]:
    """The jobs asked for (all of them when `jobids` is None), newest first."""
    with client.master(cfg, "bpjobd") as conn:
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


def listing(cfg: HostConfig, fmt: str, jobids: list[int] | None,
            header: bool) -> tuple[str, list[int]]:
    """The job list in format `fmt`, and the -jobid ids that do not exist."""
    jobs = [jobfmt.shown(j) for j in fetch(cfg, jobids, detail=fmt in ("all", "json"))]
    if fmt == "json":
        text = _json(jobs)
    elif fmt == "all":
        text = _text([jobfmt.all_columns(j) for j in jobs])
    elif fmt == "most":
        text = _text([jobfmt.most_columns(j) for j in jobs])
    else:
        text = _text(jobfmt.report(jobs, header, cfg.get("BPDBJOBS_COLDEFS")))
    return text, sorted(set(jobids or []) - {j["jobid"] for j in jobs})


def summary(cfg: HostConfig, form: str, header: bool) -> str:
    s = client.master_call(cfg, "bpjobd", "summary")
    if form == "json":
        return _json({k: v for k, v in s.items() if k != "status"})
    if form == "labelled":
        return _text(jobfmt.summary_labelled(s))
    if form == "all":
        return _text([jobfmt.summary_csv(s)])
    return _text(jobfmt.summary_table(s, header))


def cancel_targets(cfg: HostConfig, spec: str) -> list[int]:
    """The ids of `-cancel 1,2` or of the unfinished jobs of `type=all` / `type=backup`."""
    if not spec.startswith("type="):
        return parse_jobids(spec)
    kind = spec[5:].strip().lower()
    types = {word.lower(): code for code, word in kinds.JOB_TYPES.items()}
    if kind != "all" and kind not in types:
        raise NbuError(INVALID_PARAMETER,
                       f"unknown job type {kind!r} (all, {', '.join(sorted(types))})")
    return [j["jobid"] for j in fetch(cfg, None, detail=False)
            if j["state"] != kinds.DONE and (kind == "all" or j["jobtype"] == types[kind])]


def cancel(cfg: HostConfig, spec: str, quiet: bool) -> None:
    """Cancel each job; the first failure's status is the command's (273: unknown job)."""
    failed: list[NbuError] = []
    done = 0
    for jobid in cancel_targets(cfg, spec):
        try:
            client.master_call(cfg, "bpjobd", "job_cancel", jobid=jobid)
            done += 1
        except NbuError as e:
            failed.append(e)
    if not quiet:
        click.echo(f"{done} job(s) canceled")
    for e in failed[1:]:
        click.echo(f"bpdbjobs: {e.detail or e.message} (status {e.status})", err=True)
    if failed:
        raise NbuError(failed[0].status, failed[0].detail)


def _mode(summary_: bool, cancel_: str | None, version: bool) -> str:
    chosen = [m for m, on in (("summary", summary_), ("cancel", cancel_ is not None),
                              ("version", version)) if on]
    if len(chosen) > 1:
        raise NbuError(INVALID_PARAMETER, f"-{chosen[0]} and -{chosen[1]} cannot be used together")
    return chosen[0] if chosen else "report"


def _format(mode: str, flags: dict[str, bool]) -> str:
    """The one output form the flags ask for; status 20 for combinations that make no sense."""
    on = [name for name, value in flags.items() if value]
    allowed = {"report": ("all_columns", "most_columns", "gdm", "json"),
               "summary": ("all_columns", "L", "U", "json")}.get(mode, ())
    wrong = [name for name in on if name not in allowed]
    if wrong:
        raise NbuError(INVALID_PARAMETER, f"-{wrong[0]} cannot be used " +
                       (f"with -{mode}" if mode != "report" else "without -summary"))
    if len(on) > 1:
        raise NbuError(INVALID_PARAMETER, f"-{on[0]} and -{on[1]} cannot be used together")
    form = on[0] if on else "table"
    return {"all_columns": "all", "most_columns": "most", "gdm": "most",
            "L": "labelled", "U": "labelled"}.get(form, form)


@command("bpdbjobs", SYNOPSIS)
@click.option("-report", "report_", is_flag=True, help="List the jobs (the default).")
@click.option("-all_columns", is_flag=True,
              help="One comma line per job with every field, file list and try.")
@click.option("-most_columns", is_flag=True, help="Comma lines without file list and tries.")
@click.option("-gdm", is_flag=True, help="The same as -most_columns.")
@click.option("-noheader", is_flag=True, help="No header line in the table forms.")
@click.option("-jobid", "jobid_list", metavar="N[,N...]", help="Only these jobs.")
@click.option("-file", "path", metavar="PATHNAME", help="Write the output to this file.")
@click.option("-append", is_flag=True, help="With -file: add to the file's end.")
@click.option("-json", "as_json", is_flag=True,
              help="A JSON list of jobs with their tries and steps (nbcli extension).")
@click.option("-summary", "summary_", is_flag=True, help="Counts of jobs per state.")
@click.option("-L", "long_form", is_flag=True, help="With -summary: labelled form.")
@click.option("-U", "user_form", is_flag=True, help="With -summary: labelled form.")
@click.option("-cancel", "cancel_", metavar="N[,N...]|type=T",
              help="Cancel these jobs (type=all: every unfinished job).")
@click.option("-quiet", is_flag=True, help="With -cancel: print nothing on success.")
@click.option("-version", is_flag=True, help="Print the version and exit.")
@root_option
def cli(report_: bool, all_columns: bool, most_columns: bool, gdm: bool, noheader: bool,
        jobid_list: str | None, path: str | None, append: bool, as_json: bool,
        summary_: bool, long_form: bool, user_form: bool, cancel_: str | None, quiet: bool,
        version: bool, root: str | None) -> int:
    """Show the jobs database (the Activity Monitor), summarise it, or cancel jobs.

    \b
    EXIT STATUS
      0    done
      12   the -file could not be opened
      20   invalid option, option combination or job id
      25   bpjobd on the master cannot be reached
      273  a job named with -jobid or -cancel does not exist
    """
    mode = _mode(summary_, cancel_, version)
    form = _format(mode, {"all_columns": all_columns, "most_columns": most_columns,
                          "gdm": gdm, "json": as_json, "L": long_form, "U": user_form})
    if append and not path:
        raise NbuError(INVALID_PARAMETER, "-append needs -file")
    if quiet and mode != "cancel":
        raise NbuError(INVALID_PARAMETER, "-quiet goes with -cancel")
    for name, given in (("jobid", jobid_list), ("report", report_), ("file", path)):
        if given and mode not in ("report", "summary" if name == "file" else "report"):
            raise NbuError(INVALID_PARAMETER, f"-{name} cannot be used with -{mode}")
    if mode == "version":
        click.echo(f"bpdbjobs (nbcli) {__version__}")
        return 0
    jobids = parse_jobids(jobid_list) if jobid_list else None
    cfg = load_cfg(root)
    if mode == "cancel":
        assert cancel_ is not None
        cancel(cfg, cancel_, quiet)
        return 0
    if mode == "summary":
        deliver(summary(cfg, form, not noheader), path, append)
        return 0
    text, missing = listing(cfg, form, jobids, not noheader)
    deliver(text, path, append)
    if missing:
        raise NbuError(INVALID_JOB_ID, "no such job: " + ", ".join(map(str, missing)))
    return 0


main = entry(cli)
