"""bplist: list the backed-up files of a client, as of now or of a date (-s/-e).

One file_list request to bpdbm on the master, whose answer streams in frames of columns
(docs/protocol.md "Catalog"); each frame is rendered and written as it arrives, so a listing
of a million files never sits in memory whole. Renderers: nbcli/commands/imagefmt.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from nbcli import timefmt
from nbcli.cli import NbCommand, join_date_times, load_cfg, root_option
from nbcli.commands import imagefmt
from nbcli.commands.bpimagelist import policy_type_code
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.status import CONNECTION_BROKEN, NbuError
from nbcli.wire import frames

SYNOPSIS = """bplist [-C client] [-S master] [-k policy] [-t policy_type] [-F] [-R [n]]
       [-b] [-l] [-s date] [-e date] [-json] [filename]"""

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


def columns_for(long_form: bool, flags: bool, backup_time: bool, as_json: bool) -> list[str]:
    if as_json:
        return JSON_FIELDS
    if long_form:
        return ["path", "type", "mode", "uname", "gname", "size",
                "backup_time" if backup_time else "mtime_ns"]
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
@click.argument("filename", required=False)
@root_option
def cli(client_name: str | None, master: str | None, policy: str | None,
        policy_type: str | None, flags: bool, depth: int | None, backup_time: bool,
        long_form: bool, since: str | None, until: str | None, as_json: bool,
        filename: str | None, root: str | None) -> int:
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
    cfg = load_cfg(root)
    path = os.path.join(os.getcwd(), filename) if filename else os.getcwd()
    request: dict[str, Any] = {
        "client": client_name or cfg.client_name, "path": path, "recursive": depth is not None,
        "columns": columns_for(long_form, flags, backup_time, as_json)}
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
    dates = imagefmt.DateCache()
    for cols in chunks:
        lines: Sequence[str] = imagefmt.long_file_lines(cols, flags, dates, backup_time) \
            if long_form else imagefmt.plain_lines(cols, flags)
        imagefmt.write_lines(lines)
    return 0


def main() -> None:
    # `-s 01/01/2008 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-s", "-e"}), prog_name="bplist")
