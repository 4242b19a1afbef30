"""bpbackup: start a backup - `-i` runs a policy's automatic schedule now (a manual backup).

Without -w it returns as soon as bprd has accepted the request (the job runs on); with -w it
waits and exits with the job's status (the worst one when -i starts jobs for several clients).
"""

from __future__ import annotations

import sys

import click

from nbcli.commands._entry import command, load_cfg, optional_clock, root_option
from nbcli.commands._userreq import ProgressLog, parse_wait, wait_jobs
from nbcli.net import client
from nbcli.status import NbuError

SYNOPSIS = """bpbackup -i [-p policy] [-h hostname] [-s schedule] [-S master_server]
         [-t policy_type] [-L progress_log [-en]] [-w [hh:mm:ss]] [-k "keyword_phrase"]"""


@command("bpbackup", SYNOPSIS)
@click.option("-i", "immediate", is_flag=True, help="Run the policy's schedule now (manual).")
@click.option("-p", "policy", help="Policy name.")
@click.option("-s", "schedule", help="Schedule label.")
@click.option("-h", "hostname", help="Back up only this client of the policy.")
@click.option("-S", "master", help="Master server (default: the first SERVER entry).")
@click.option("-t", "policy_type", type=int, default=0, help="Policy type (0 = Standard).")
@click.option("-L", "progress_log", type=click.Path(dir_okay=False), help="Progress log file.")
@click.option("-en", "english", is_flag=True, help="Progress log in English (always).")
@click.option("-w", "wait", is_flag=True, help="Wait for the backup and exit with its status.")
@click.option("-wait_for", "wait_for", hidden=True, help="The hh:mm:ss given to -w.")
@click.option("-k", "keyword", default="", help="Keyword phrase for the images.")
@click.argument("files", nargs=-1)
@root_option
def cli(immediate: bool, policy: str | None, schedule: str | None, hostname: str | None,
        master: str | None, policy_type: int, progress_log: str | None, english: bool,
        wait: bool, wait_for: str | None, keyword: str, files: tuple[str, ...],
        root: str | None) -> int:
    """Start a manual backup of a policy's automatic schedule.

    \b
    EXIT STATUS
      0    accepted (without -w), or the backup succeeded (with -w)
      1    with -w: the backup was partially successful
      41   with -w hh:mm:ss: the wait ended before the job did (it goes on)
      197  the schedule is not in the policy
      230  the policy does not exist
      239  the client is not in the policy
      241  the schedule is a user schedule
      247  the policy is not active
      n    with -w: the job's own status
    """
    cfg = load_cfg(root)
    if master:
        cfg.data["SERVER"] = [master] + [s for s in cfg.servers if s != master]
    if not immediate:
        raise NbuError(20, "user-directed backups (without -i) are not available yet; "
                           "use -i -p POLICY -s SCHEDULE")
    if not policy or not schedule:
        raise NbuError(20, "-i needs -p policy and -s schedule")
    if files:
        raise NbuError(20, "-i takes no file names: the policy's backup selections are used")
    log = ProgressLog(progress_log, "Backup")
    try:
        reply = client.master_call(cfg, "bprd", "backup", policy=policy, schedule=schedule,
                                   client=hostname, owner=_user())
    except NbuError as e:
        log.end(e.status)
        raise
    jobids = [int(j) for j in reply["jobids"]]
    for jobid in jobids:
        log.write(f"INF - Backup Job Id={jobid}")
    status = wait_jobs(cfg, jobids, parse_wait(wait_for), log) if wait else 0
    log.end(status)
    return status


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def main() -> None:
    cli.main(args=optional_clock(sys.argv[1:], "-w", "-wait_for"), prog_name="bpbackup")
