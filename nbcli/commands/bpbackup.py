"""bpbackup: start a backup. `-i` runs a policy's automatic schedule now (a manual backup, for
administrators on the master); without -i, a user on a client backs up the files named, under
a user backup (UBAK) schedule whose window is open now - the form cron jobs use.

Without -w it returns as soon as bprd has accepted the request (the job runs on); with -w it
waits and exits with the job's status (the worst one when -i starts jobs for several clients).
"""

from __future__ import annotations

import getpass
import os
import sys

import click

from nbcli.cli import command, load_cfg, optional_clock, root_option
from nbcli.commands._userreq import ProgressLog, parse_wait, wait_jobs
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NO_FILES_SPECIFIED, NbuError

SYNOPSIS = """bpbackup -i -p policy -s schedule [-h hostname] [-S master_server]
         [-t policy_type] [-L progress_log [-en]] [-w [hh:mm:ss]] [-k "keyword_phrase"]
bpbackup [-p policy] [-s schedule] [-S master_server] [-t policy_type]
         [-L progress_log [-en]] [-w [hh:mm:ss]] [-k "keyword_phrase"] -f listfile | filenames"""

EXIT_STATUS = """
    \b
    EXIT STATUS
      0    accepted (without -w), or the backup succeeded (with -w)
      1    with -w: the backup was partially successful
      12   the -f file list cannot be read
      41   with -w hh:mm:ss: the wait ended before the job did (it goes on)
      71   with -w: none of the files exist
      112  no files were named
      131  the request came from another host than the client it names
      197  the schedule is not in the policy
      198  no active policy has a user schedule for this client
      199  the user schedule's window is not open now
      230  the policy does not exist
      236  the policy has no clients
      239  the client is not in the policy
      241  the schedule is of the wrong type for this request
      247  the policy is not active
      n    with -w: the job's own status
"""


def user_request(cfg: HostConfig, archive: bool, policy: str | None, schedule: str | None,
                 files: tuple[str, ...], listfile: str | None, log: ProgressLog) -> list[int]:
    """A user backup (or archive) of files on this client, through bprd."""
    paths = list(files)
    if listfile:
        try:
            text = open(listfile, encoding="utf-8", errors="surrogateescape").read()
        except OSError as e:
            raise NbuError(FILE_OPEN_FAILED,
                           f"cannot open file list {listfile}: {e.strerror}") from e
        paths += [line for line in text.splitlines() if line.strip()]
    if not paths:
        raise NbuError(NO_FILES_SPECIFIED, "no files to back up: give file names or -f listfile")
    paths = [os.path.abspath(p) for p in paths]
    # Through this host's bpcd, which tells the master who asks (the kernel told it).
    reply = client.call(cfg, cfg.client_name, "bpcd", "user_request", policy=policy,
                        schedule=schedule, paths=paths, archive=archive)
    return [int(j) for j in reply["jobids"]]


@command("bpbackup", SYNOPSIS)
@click.option("-i", "immediate", is_flag=True, help="Run the policy's schedule now (manual).")
@click.option("-p", "policy", help="Policy name.")
@click.option("-s", "schedule", help="Schedule label.")
@click.option("-h", "hostname", help="With -i: back up only this client of the policy.")
@click.option("-S", "master", help="Master server (default: the first SERVER entry).")
@click.option("-t", "policy_type", type=int, default=0, help="Policy type (0 = Standard).")
@click.option("-L", "progress_log", type=click.Path(dir_okay=False), help="Progress log file.")
@click.option("-en", "english", is_flag=True, help="Progress log in English (always).")
@click.option("-w", "wait", is_flag=True, help="Wait for the backup and exit with its status.")
@click.option("-wait_for", "wait_for", hidden=True, help="The hh:mm:ss given to -w.")
@click.option("-k", "keyword", default="", help="Keyword phrase for the images.")
@click.option("-f", "listfile", type=click.Path(dir_okay=False),
              help="Without -i: a file naming the files to back up, one per line.")
@click.argument("files", nargs=-1)
@root_option
def cli(immediate: bool, policy: str | None, schedule: str | None, hostname: str | None,
        master: str | None, policy_type: int, progress_log: str | None, english: bool,
        wait: bool, wait_for: str | None, keyword: str, listfile: str | None,
        files: tuple[str, ...], root: str | None) -> int:
    cfg = load_cfg(root)
    if master:
        cfg.data["SERVER"] = [master] + [s for s in cfg.servers if s != master]
    timeout = parse_wait(wait_for)  # checked before anything is asked
    log = ProgressLog(progress_log, "Backup")
    try:
        if immediate:
            if not policy or not schedule:
                raise NbuError(INVALID_PARAMETER, "-i needs -p policy and -s schedule")
            if files or listfile:
                raise NbuError(INVALID_PARAMETER,
                               "-i takes no file names: the policy's selections are used")
            reply = client.master_call(cfg, "bprd", "backup", policy=policy,
                                       schedule=schedule, client=hostname, owner=_user())
            jobids = [int(j) for j in reply["jobids"]]
        else:
            jobids = user_request(cfg, False, policy, schedule, files, listfile, log)
    except NbuError as e:
        log.end(e.status)
        raise
    for jobid in jobids:
        log.write(f"INF - Backup Job Id={jobid}")
    status = wait_jobs(cfg, jobids, timeout, log) if wait else 0
    log.end(status)
    return status


cli.help = "Start a manual backup (-i) or a user backup of files on this client.\n" + \
    EXIT_STATUS


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def main() -> None:
    cli.main(args=optional_clock(sys.argv[1:], "-w", "-wait_for"), prog_name="bpbackup")
