"""bplist: list the backed-up files of a client, as of now or of a date (-s/-e).

One file_list request to bpdbm on the master, whose answer streams in frames of columns
(docs/protocol.md "Catalog"); each frame is rendered and written as it arrives, so a listing
of a million files never sits in memory whole. Renderers: nbcli/commands/imagefmt.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import click

from nbcli import timefmt
from nbcli.cli import NbCommand, join_date_times, load_cfg, root_option
from nbcli.commands import imagefmt
from nbcli.commands.bpimagelist import policy_type_code
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.status import CONNECTION_BROKEN, INVALID_PARAMETER, NbuError
from nbcli.wire import frames

SYNOPSIS = """bplist [-A | -B] [-C client] [-S master] [-k policy] [-t policy_type] [-F]
       [-R [n]] [-b | -c | -u] [-l] [-r] [-T] [-unix_files] [-nt_files] [-s date]
       [-e date] [-I] [-PI] [-keyword "phrase"] [-Listseconds] [-flops options] [-json]
       [filename]"""

DEFAULT_DEPTH = 999  # -R without a number, as NetBackup's
FRAME_TIMEOUT = 600.0
JSON_FIELDS = ["path", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtime_ns",
               "ctime", "backup_time", "backupid"]


class BplistCommand(NbCommand):
    """-R takes an optional depth: `-R /etc` means -R 999 /etc, `-R 2 /etc` a depth of 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        fixed: list[str] = []
        for i, arg in enumerate(args):
            fixed.append(arg)
            if arg == "-R" and (i + 1 == len(args) or not args[i + 1].isdigit()):
                fixed.append(str(DEFAULT_DEPTH))
        return super().parse_args(ctx, fixed)


def listing(cfg: HostConfig, master: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The column frames of a file_list answer, as they arrive."""
    with net.connect(cfg, master, "bpdbm") as conn:
        conn.send({"op": "file_list", **request})
        while True:
            try:
                msg = conn.recv(FRAME_TIMEOUT)
            except EOFError as e:
                raise NbuError(CONNECTION_BROKEN,
                               "bpdbm closed the connection in the middle of a listing") \
                    from e
            if "status" in msg:
                frames.raise_for_status(msg)
            yield msg["columns"]
            if not msg.get("more"):
                return


class SecondsCache(imagefmt.DateCache):
    """-Listseconds: `Mon DD HH:MM:SS`."""

    def __call__(self, epoch: int) -> str:
        t = time.localtime(epoch)
        return f"{imagefmt.MONTHS[t.tm_mon - 1]} {t.tm_mday:>2} " \
               f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def columns_for(long_form: bool, flags: bool, backup_time: bool, as_json: bool,
                change_time: bool = False) -> list[str]:
    if as_json:
        return JSON_FIELDS
    if long_form:
        return ["path", "type", "mode", "uname", "gname", "size",
                "backup_time" if backup_time else "ctime" if change_time else "mtime_ns"]
    return ["path", "type", "mode"] if flags else ["path"]


def write_json(chunks: Iterator[dict[str, list[Any]]]) -> None:
    """{"files": [...]} written frame by frame."""
    out = sys.stdout.buffer
    out.write(b'{"files": [')
    first = True
    for cols in chunks:
        rows = [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]
        if rows:
            text = ",\n".join(json.dumps(r) for r in rows)
            out.write((("" if first else ",\n") + text).encode())
            first = False
    out.write(b"]}\n")


@click.command("bplist", cls=BplistCommand, synopsis=SYNOPSIS)
@click.option("-C", "client_name", metavar="CLIENT", help="Client whose backups to list "
              "(default: this host).")
@click.option("-S", "master", metavar="MASTER", help="Master server (default: the first SERVER).")
@click.option("-k", "policy", metavar="POLICY", help="Only backups of this policy.")
@click.option("-t", "policy_type", metavar="TYPE", help="Only backups of this policy type.")
@click.option("-F", "flags", is_flag=True, help="Mark folders with /, links with @, "
              "executables with *.")
@click.option("-R", "depth", type=click.IntRange(min=0), metavar="[N]",
              help=f"List recursively, N levels deep (default {DEFAULT_DEPTH}).")
@click.option("-b", "backup_time", is_flag=True, help="With -l: show the backup time, "
              "not the modification time.")
@click.option("-l", "long_form", is_flag=True, help="Long list: mode owner group size date path.")
@click.option("-s", "since", metavar="DATE", help="Backups made on or after this date.")
@click.option("-e", "until", metavar="DATE", help="As of this date (default: now).")
@click.option("-json", "as_json", is_flag=True, help="JSON output.")
@click.option("-A", "archives", is_flag=True,
              help="Archives (accepted; nbcli lists backups and archives together).")
@click.option("-B", "backups", is_flag=True, help="Backups (the default).")
@click.option("-c", "change_time", is_flag=True, help="With -l: the change time (ctime).")
@click.option("-u", "access_time", is_flag=True,
              help="With -l: the access time (accepted; nbcli shows the modification time).")
@click.option("-r", "raw_partitions", is_flag=True, help="Raw partitions (accepted; none).")
@click.option("-T", "true_image", is_flag=True, help="True image lists (accepted; no effect).")
@click.option("-unix_files", is_flag=True, help="Accepted; names are shown as stored.")
@click.option("-nt_files", is_flag=True, help="Accepted; names are shown as stored.")
@click.option("-I", "ignore_case", is_flag=True, help="Accepted; matching is case-sensitive.")
@click.option("-PI", "path_independent", is_flag=True,
              help="Accepted; the filename is a path, searched where it is.")
@click.option("-keyword", metavar="PHRASE", help="Accepted; no effect.")
@click.option("-Listseconds", "list_seconds", is_flag=True, help="With -l: times to the second.")
@click.option("-flops", metavar="OPTIONS", help="Accepted; no effect.")
@click.argument("filename", required=False)
@root_option
def cli(client_name: str | None, master: str | None, policy: str | None,
        policy_type: str | None, flags: bool, depth: int | None, backup_time: bool,
        long_form: bool, since: str | None, until: str | None, as_json: bool,
        archives: bool, backups: bool, change_time: bool, access_time: bool,
        raw_partitions: bool, true_image: bool, unix_files: bool, nt_files: bool,
        ignore_case: bool, path_independent: bool, keyword: str | None, list_seconds: bool,
        flops: str | None, filename: str | None, root: str | None) -> int:
    """List backed-up files: a folder's contents (everything below it with -R) or one file,
    as of the last full backup and the incrementals after it.

    \b
    EXIT STATUS
      0    files listed
      20   invalid option or value
      25   cannot connect to bpdbm on the master
      109  invalid date
      227  no backed-up file matches
    """
    if sum((backup_time, change_time, access_time)) > 1:
        raise NbuError(INVALID_PARAMETER, "-b, -c and -u cannot be used together")
    if archives and backups:
        raise NbuError(INVALID_PARAMETER, "-A and -B cannot be used together")
    cfg = load_cfg(root)
    path = os.path.join(os.getcwd(), filename) if filename else os.getcwd()
    request: dict[str, Any] = {
        "client": client_name or cfg.client_name, "path": path, "recursive": depth is not None,
        "columns": columns_for(long_form, flags, backup_time, as_json, change_time)}
    if depth is not None:
        request["depth"] = depth
    if since:
        request["start"] = timefmt.parse(since)
    if until:
        request["end"] = timefmt.parse(until, end_of_day=True)
    if policy:
        request["policy"] = policy
    if policy_type:
        request["policy_type"] = policy_type_code(policy_type)
    chunks = listing(cfg, master or cfg.master, request)
    if as_json:
        write_json(chunks)
        return 0
    dates = SecondsCache() if list_seconds else imagefmt.DateCache()
    for cols in chunks:
        if change_time and long_form:
            cols = {**cols, "backup_time": cols["ctime"]}  # shown where -b shows its time
        lines: Sequence[str] = imagefmt.long_file_lines(cols, flags, dates,
                                                        backup_time or change_time) \
            if long_form else imagefmt.plain_lines(cols, flags)
        imagefmt.write_lines(lines)
    return 0


def main() -> None:
    # `-s 01/01/2008 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-s", "-e"}), prog_name="bplist")
