"""bperror: report the master's error log (NetBackup's error database), or explain a status.

One `query` to nbevtmgr on each master (docs/protocol.md "Error log"), filtered there by time,
report type, job, client and server; errfmt.py prints the entries in NetBackup's forms.
`-S code [-r]` needs no daemon: the message (and what to do) comes from the status table.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import clock, timefmt
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.commands import errfmt
from nbcli.commands.options import verbose_accepted
from nbcli.net import client
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bperror {-S | -statuscode status_code} [-r | -recommendation]
bperror [-all | -problems | -media | -tape | -backstat [-by_statcode]]
        [-L | -l | -U] [-columns ncols] [-d date | -hoursago hours] [-e date]
        [-client client_name] [-server server_name] [-jobid job_id]
        [-M master_server,...] [-v]"""

DEFAULT_HOURS = 24  # NetBackup's reports start 24 hours back (bpconfig -ha)
WARNING = 8
MEDIA, BACKSTAT = 128, 64


def query_fields(report: str, since: int, until: int | None, client_name: str | None,
                 server: str | None, jobid: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"since": since, "until": until, "client": client_name,
                              "server": server, "jobid": jobid}
    if report == "problems":
        fields["min_severity"] = WARNING
    elif report == "media":
        fields["types"] = [MEDIA]
    elif report == "backstat":
        fields["types"] = [BACKSTAT]
    return {k: v for k, v in fields.items() if v is not None}


def time_window(since: str | None, until: str | None, hoursago: int | None) -> tuple[int,
                                                                                        int | None]:
    if since and hoursago is not None:
        raise NbuError(INVALID_PARAMETER, "-d and -hoursago cannot be used together")
    if hoursago is not None and hoursago < 0:
        raise NbuError(INVALID_PARAMETER, "-hoursago needs a positive number of hours")
    now = int(clock.now())
    start = timefmt.parse(since) if since else now - (hoursago if hoursago is not None
                                                       else DEFAULT_HOURS) * 3600
    end = timefmt.parse(until, end_of_day=True) if until else None
    return start, end


def render(entries: list[dict[str, Any]], report: str, form: str, by_statcode: bool) -> list[str]:
    if report == "backstat" and by_statcode:
        return errfmt.by_statcode(entries)
    if form == "U":
        return errfmt.backstat_table(entries) if report == "backstat" \
            else errfmt.user_table(entries)
    if form == "L":
        return [line for e in entries for line in errfmt.long_block(e)]
    return [errfmt.raw_line(e) for e in entries]


@command("bperror", SYNOPSIS)
@click.option("-S", "-statuscode", "status_code", type=int, metavar="CODE",
              help="Print the message of this status code.")
@click.option("-r", "-recommendation", "recommendation", is_flag=True,
              help="With -S: also what to do about it.")
@click.option("-all", "report", flag_value="all", help="Every entry (the default).")
@click.option("-problems", "report", flag_value="problems",
              help="Warnings, errors and critical entries.")
@click.option("-media", "report", flag_value="media", help="Media and device entries.")
@click.option("-tape", "report", flag_value="media", help="The same as -media.")
@click.option("-backstat", "report", flag_value="backstat", help="The status of each job.")
@click.option("-by_statcode", is_flag=True,
              help="With -backstat: one line per status, then the clients that had it.")
@click.option("-L", "form", flag_value="L", help="Long form: one labelled block per entry.")
@click.option("-l", "form", flag_value="l", help="Raw lines (the default).")
@click.option("-U", "form", flag_value="U", help="User form: a table.")
@click.option("-columns", type=click.IntRange(min=1), metavar="N",
              help="Line width for -L and -U (accepted; lines are never wrapped).")
@click.option("-d", "since", metavar="DATE", help="Entries from this date (mm/dd/yyyy "
                                                   "[hh:mm:ss]).")
@click.option("-e", "until", metavar="DATE", help="Entries up to this date.")
@click.option("-hoursago", type=int, metavar="N", help="Entries of the last N hours (24).")
@click.option("-client", "client_name", metavar="NAME", help="Only entries of this client.")
@click.option("-server", metavar="NAME", help="Only entries of this server.")
@click.option("-jobid", type=click.IntRange(min=0), metavar="N", help="Only this job's entries.")
@click.option("-M", "masters", metavar="MASTER,...", help="Ask these masters.")
@verbose_accepted
@root_option
def cli(status_code: int | None, recommendation: bool, report: str | None, by_statcode: bool,
        form: str | None, columns: int | None, since: str | None, until: str | None,
        hoursago: int | None, client_name: str | None, server: str | None,
        jobid: int | None, masters: str | None, verbose: bool, root: str | None) -> int:
    """Report the error log of the master (by default the last 24 hours), or explain a
    status code.

    \b
    EXIT STATUS
      0    reported (an empty report prints nothing)
      20   invalid option or combination
      25   nbevtmgr on the master cannot be reached
      109  invalid date
    """
    if status_code is not None:
        if report or form or since or until or hoursago is not None:
            raise NbuError(INVALID_PARAMETER, "-S takes no report options")
        echo_lines(errfmt.status_lines(status_code, recommendation))
        return 0
    if recommendation:
        raise NbuError(INVALID_PARAMETER, "-r goes with -S")
    if by_statcode and report != "backstat":
        raise NbuError(INVALID_PARAMETER, "-by_statcode goes with -backstat")
    report = report or "all"
    cfg = load_cfg(root)
    start, end = time_window(since, until, hoursago)
    fields = query_fields(report, start, end, client_name, server, jobid)
    entries: list[dict[str, Any]] = []
    for master in (masters.split(",") if masters else [cfg.master]):
        entries += client.call(cfg, master.strip(), "nbevtmgr", "query", **fields)["entries"]
    entries.sort(key=lambda e: e["time"])
    echo_lines(render(entries, report, form or "l", by_statcode))
    return 0


def main() -> None:
    # `-d 01/30/00 00:00:00` (Oracle Explorer's collector): the time is the next word.
    cli.main(args=join_date_times(sys.argv[1:], {"-d", "-e"}), prog_name="bperror")
