"""bprestore: restore files from backup images to their client or another one.

bprd finds the images and the files' places in them; the restore runs as a job (seed restore
steps 1-17). Without -w bprestore returns once the job exists; with -w it waits and exits with
the job's status. A rename file moves files on the way: one `change /a/b to /x/y` per line.
"""

from __future__ import annotations

import os
import sys

import click

from nbcli import timefmt
from nbcli.cli import command, join_date_times, load_cfg, optional_clock, root_option
from nbcli.commands._userreq import ProgressLog, parse_wait, wait_jobs
from nbcli.net import client
from nbcli.status import (
    CLIENT_NOT_VALIDATED_FOR_OP,
    FILE_OPEN_FAILED,
    INVALID_PARAMETER,
    PATH_NOT_ABSOLUTE,
    NbuError,
)

SYNOPSIS = """bprestore [-K] [-L progress_log [-en]] [-R rename_file] [-C client] [-D client]
          [-S master_server] [-t policy_type] [-p policy] [-w [hh:mm:ss]] [-print_jobid]
          [-s mm/dd/yyyy [hh:mm:ss]] [-e mm/dd/yyyy [hh:mm:ss]] [-f listfile | filenames]"""


def read_rename_file(path: str) -> list[list[str]]:
    """`change /a/b to /x/y` lines; anything else is status 20 naming the line."""
    try:
        lines = open(path, encoding="utf-8", errors="surrogateescape").read().splitlines()
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot open rename file {path}: {e.strerror}") from e
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        words = line.split(" ")
        if len(words) < 4 or words[0] != "change" or " to " not in line:
            raise NbuError(INVALID_PARAMETER, f"rename file {path}, line {n}: expected "
                                              f"'change /old/path to /new/path', not {line!r}")
        src, _, dst = line[len("change "):].partition(" to ")
        if not src.startswith("/") or not dst.startswith("/"):
            raise NbuError(INVALID_PARAMETER,
                           f"rename file {path}, line {n}: paths must be absolute")
        out.append([src, dst])
    return out


def read_list_file(path: str) -> list[str]:
    try:
        text = open(path, encoding="utf-8", errors="surrogateescape").read()
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot open file list {path}: {e.strerror}") from e
    return [line for line in text.splitlines() if line.strip()]


@command("bprestore", SYNOPSIS)
@click.option("-C", "source", help="The client whose backups are restored.")
@click.option("-D", "dest", help="The client the files are restored to.")
@click.option("-s", "start", help="Restore as of images from this date (mm/dd/yyyy [hh:mm:ss]).")
@click.option("-e", "end", help="Restore the state as of this date.")
@click.option("-R", "rename_file", type=click.Path(dir_okay=False), help="Rename file.")
@click.option("-L", "progress_log", type=click.Path(dir_okay=False), help="Progress log file.")
@click.option("-en", "english", is_flag=True, help="Progress log in English (always).")
@click.option("-w", "wait", is_flag=True, help="Wait for the restore; exit with its status.")
@click.option("-wait_for", "wait_for", hidden=True, help="The hh:mm:ss given to -w.")
@click.option("-K", "keep", is_flag=True, help="Keep existing files instead of overwriting.")
@click.option("-f", "listfile", type=click.Path(dir_okay=False), help="File of paths.")
@click.option("-print_jobid", "print_jobid", is_flag=True, help="Print the restore job id.")
@click.option("-S", "master", help="Master server (default: the first SERVER entry).")
@click.option("-t", "policy_type", type=int, default=0, help="Policy type of the backups.")
@click.option("-p", "policy", help="Policy of the backups (accepted, not used for disk).")
@click.argument("files", nargs=-1)
@root_option
def cli(source: str | None, dest: str | None, start: str | None, end: str | None,
        rename_file: str | None, progress_log: str | None, english: bool, wait: bool,
        wait_for: str | None, keep: bool, listfile: str | None, print_jobid: bool,
        master: str | None, policy_type: int, policy: str | None, files: tuple[str, ...],
        root: str | None) -> int:
    """Restore files (absolute paths; a directory restores everything below it).

    \b
    EXIT STATUS
      0    the restore job was started (without -w) or succeeded (with -w)
      1    some requested files were in no backup image
      5    the restore failed to recover the requested files
      20   bad arguments, or a bad rename file
      41   with -w hh:mm:ss: the wait ended before the job did (it goes on)
      109  a date is not valid
      182  the image held a file name that would escape the destination
      227  none of the files was found in a backup image
      n    with -w: the job's own status
    """
    cfg = load_cfg(root)
    if master:
        cfg.data["SERVER"] = [master] + [s for s in cfg.servers if s != master]
    paths = list(files) + (read_list_file(listfile) if listfile else [])
    if not paths:
        raise NbuError(INVALID_PARAMETER, "no files to restore: give file names or -f listfile")
    bad = [p for p in paths if not p.startswith("/")]
    if bad:
        raise NbuError(PATH_NOT_ABSOLUTE, f"not an absolute path: {bad[0]}")
    renames = read_rename_file(rename_file) if rename_file else []
    since = timefmt.parse(start) if start else None
    until = timefmt.parse(end, end_of_day=True) if end else None
    timeout = parse_wait(wait_for)  # checked before anything is asked
    log = ProgressLog(progress_log, "Restore")
    try:
        if os.geteuid() != 0 and not cfg.is_local(cfg.master):
            # a user of a client: through this host's bpcd, which tells the master who asks
            # (the kernel told it) and checks the user may write where the files go; they
            # come back to this client, written with the user's rights alone
            if dest and dest != cfg.client_name:
                raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP, "a user restores to this client "
                                                            "only (-D needs root)")
            reply = client.call(cfg, cfg.client_name, "bpcd", "user_restore",
                                client=source or cfg.client_name, paths=paths, start=since,
                                end=until, renames=renames, keep_existing=keep)
        else:
            reply = client.master_call(cfg, "bprd", "restore",
                                       client=source or cfg.client_name,
                                       dest_client=dest or source or cfg.client_name,
                                       paths=paths, start=since, end=until, renames=renames,
                                       keep_existing=keep)
    except NbuError as e:
        log.end(e.status)
        raise
    jobid = int(reply["jobid"])
    log.write(f"Restore Job Id={jobid}", stamp=False)
    for missing in reply.get("missing", []):
        log.write(f"WRN - {missing} was not found in any backup image")
    if print_jobid:
        click.echo(f"Restore Job Id={jobid}")
    status = wait_jobs(cfg, [jobid], timeout, log) if wait else 0
    log.end(status)
    return status


def main() -> None:
    args = join_date_times(sys.argv[1:], {"-s", "-e"})
    cli.main(args=optional_clock(args, "-w", "-wait_for"), prog_name="bprestore")
