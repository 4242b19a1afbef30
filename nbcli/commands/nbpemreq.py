"""nbpemreq: ask nbpem on the master what is due now (or at a date) and what it would run.

One request to nbpem (`due` or `predict`, docs/protocol.md "Scheduling"); nbpem answers from
nbcli.sched, the logic its own loop uses, so the list is what nbpem does. This module only
renders the reply: one line per job, the status word first, then schedule type, client and
policy (scripts split on whitespace and read the client at token 2, the policy at token 3).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import clock, kinds, timefmt
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.net import client
from nbcli.render import echo_lines, table

SYNOPSIS = """nbpemreq -due [-date mm/dd/yyyy [hh:mm:ss]] [-client_filter client]
    [-policy_filter policy]
nbpemreq -predict -date mm/dd/yyyy [hh:mm:ss] [-client_filter client]
    [-policy_filter policy]
nbpemreq -predict_all -date mm/dd/yyyy [hh:mm:ss] [-client_filter client]
    [-policy_filter policy]"""

HEADER = ("Status", "Type", "Client", "Policy", "Schedule", "Priority", "Due Time",
          "Window Closes")
ALIGN = "lllllrll"
DUE_WORD, PREDICTED_WORD = "QUED", "PRED"


def job_lines(jobs: list[dict[str, Any]], word: str) -> list[str]:
    """The header and one row per job, columns as wide as their widest value."""
    rows = [HEADER] + [(word, kinds.SCHED_TYPES.get(int(j["sched_type"]), "?"), j["client"],
                        j["policy"], j["schedule"], str(j["priority"]),
                        timefmt.fmt(j["due_time"]) or "-", timefmt.fmt(j["window_close"]))
                       for j in jobs]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(HEADER))]
    return table(rows, widths, ALIGN)


@command("nbpemreq", SYNOPSIS)
@click.option("-due", "mode", flag_value="due", help="What is due now (or at -date).")
@click.option("-predict", "mode", flag_value="predict",
              help="What nbpem would start from now until -date.")
@click.option("-predict_all", "mode", flag_value="predict_all",
              help="As -predict, inactive policies included (as if active).")
@click.option("-date", "date", metavar="DATE", help="mm/dd/yyyy [hh:mm:ss], local time.")
@click.option("-client_filter", "client_name", metavar="CLIENT", help="Only this client.")
@click.option("-policy_filter", "policy", metavar="POLICY", help="Only this policy.")
@root_option
def cli(mode: str | None, date: str | None, client_name: str | None, policy: str | None,
        root: str | None) -> int:
    """Show nbpem's due list or predict the jobs it will start.

    \b
    EXIT STATUS
      0    listed (also when nothing is due)
      20   invalid option: no -due/-predict/-predict_all, or -predict without -date
      25   cannot connect to nbpem on the master
      109  invalid date
    """
    if mode is None:
        raise click.UsageError("one of -due, -predict or -predict_all is needed")
    if mode != "due" and not date:
        raise click.UsageError(f"-{mode} needs -date")
    cfg = load_cfg(root)
    when = timefmt.parse(date) if date else int(clock.now())
    if mode == "due":
        reply = client.master_call(cfg, "nbpem", "due", date=when, client=client_name,
                                   policy=policy)
        title, word = f"Due list at {timefmt.fmt(when)}:", DUE_WORD
    else:
        start = int(clock.now())
        reply = client.master_call(cfg, "nbpem", "predict", start=start, date=when,
                                   client=client_name, policy=policy,
                                   all=mode == "predict_all")
        title = f"Predicted jobs from {timefmt.fmt(start)} to {timefmt.fmt(when)}:"
        word = PREDICTED_WORD
    jobs = reply["jobs"]
    echo_lines([title, ""] + (job_lines(jobs, word) if jobs else ["(none)"]))
    return 0


def main() -> None:
    """`-date 02/10/2021 23:59:59`: NetBackup's time is the next word, not part of the date."""
    cli.main(args=join_date_times(sys.argv[1:], {"-date"}), prog_name="nbpemreq")
