"""bparchive: archive files on this client - back them up under a user archive (UARC) schedule,
then delete them once the image is in the catalog (files changed meanwhile are kept)."""

from __future__ import annotations

import sys

import click

from nbcli.cli import command, load_cfg, optional_clock, root_option
from nbcli.commands._userreq import ProgressLog, parse_wait, wait_jobs
from nbcli.commands.bpbackup import user_request
from nbcli.status import NbuError

SYNOPSIS = """bparchive [-p policy] [-s schedule] [-S master_server] [-t policy_type]
          [-L progress_log [-en]] [-w [hh:mm:ss]] [-k "keyword_phrase"] -f listfile | filenames"""


@command("bparchive", SYNOPSIS)
@click.option("-p", "policy", help="Policy name.")
@click.option("-s", "schedule", help="User archive schedule label.")
@click.option("-S", "master", help="Master server (default: the first SERVER entry).")
@click.option("-t", "policy_type", type=int, default=0, help="Policy type (0 = Standard).")
@click.option("-L", "progress_log", type=click.Path(dir_okay=False), help="Progress log file.")
@click.option("-en", "english", is_flag=True, help="Progress log in English (always).")
@click.option("-w", "wait", is_flag=True, help="Wait for the archive; exit with its status.")
@click.option("-wait_for", "wait_for", hidden=True, help="The hh:mm:ss given to -w.")
@click.option("-k", "keyword", default="", help="Keyword phrase for the image.")
@click.option("-f", "listfile", type=click.Path(dir_okay=False),
              help="A file naming the files to archive, one per line.")
@click.argument("files", nargs=-1)
@root_option
def cli(policy: str | None, schedule: str | None, master: str | None, policy_type: int,
        progress_log: str | None, english: bool, wait: bool, wait_for: str | None,
        keyword: str, listfile: str | None, files: tuple[str, ...], root: str | None) -> int:
    """Archive files: back them up, then delete them from this client.

    \b
    EXIT STATUS
      0    accepted (without -w), or archived and deleted (with -w)
      3    with -w: archived, but some files were not deleted (changed meanwhile)
      4    with -w: archived, but deleting the files failed
      12   the -f file list cannot be read
      71   with -w: none of the files exist
      112  no files were named
      131  the request came from another host than the client it names
      197  the schedule is not in the policy
      198  no active policy has a user archive schedule for this client
      199  the archive schedule's window is not open now
      230  the policy does not exist
      239  this client is not in the policy
      241  the schedule is not a user archive schedule
      247  the policy is not active
      n    with -w: the job's own status
    """
    cfg = load_cfg(root)
    if master:
        cfg.data["SERVER"] = [master] + [s for s in cfg.servers if s != master]
    timeout = parse_wait(wait_for)  # checked before anything is asked
    log = ProgressLog(progress_log, "Archive")
    try:
        jobids = user_request(cfg, True, policy, schedule, files, listfile, log)
    except NbuError as e:
        log.end(e.status)
        raise
    for jobid in jobids:
        log.write(f"INF - Archive Job Id={jobid}")
    status = wait_jobs(cfg, jobids, timeout, log) if wait else 0
    log.end(status)
    return status


def main() -> None:
    cli.main(args=optional_clock(sys.argv[1:], "-w", "-wait_for"), prog_name="bparchive")
