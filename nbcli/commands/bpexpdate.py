"""bpexpdate: change the expiration of backup images in the catalog; `-d 0` removes them now.

Two requests to bpdbm on each master (docs/protocol.md "Catalog"): image_list finds the images
the options name (227 when there is none), then - once the user has confirmed, or with -force -
image_expire gives them their new expiration. An image expired this way leaves the catalog and
its storage unit at once (bpdbm runs an Image Cleanup job for it, and the exit status is that
job's); a later date only changes the expiration bpimagelist shows.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import kinds, timefmt
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.commands.bpimage import check_jobs, masters_of
from nbcli.net import client as net
from nbcli.status import INVALID_DATE, INVALID_PARAMETER, NO_ENTITY, TERMINATED_BY_ADMIN, NbuError

SYNOPSIS = """bpexpdate -backupid backup_id -d date | 0 | infinity [-client name] [-force]
          [-M master_server,...]
bpexpdate -policy name -d date | 0 | infinity [-client name] [-force]
          [-M master_server,...]"""


def parse_expiration(text: str) -> int:
    """`-d`: 0 (expire now), infinity, or mm/dd/yyyy [hh:mm:ss]; status 109 otherwise."""
    t = text.strip()
    if t == "0":
        return 0
    if t.lower() == "infinity":
        return kinds.INFINITY
    when = timefmt.parse(t)
    if not 0 < when <= kinds.INFINITY:
        raise NbuError(INVALID_DATE, f"invalid date {text!r}: it must lie between 1970 and 2038 "
                                     "(or be 0 or infinity)")
    return when


def question(expiration: int, count: int, backupid: str | None, policy: str | None,
             client: str | None) -> str:
    """NetBackup's confirmation prompt for what the options name."""
    what = backupid or (f"the {count} image(s) of policy {policy}"
                        + (f" and client {client}" if client else ""))
    if expiration == 0:
        return f"Are you SURE you want to delete {what} y/n (n)? "
    to = "infinity" if expiration == kinds.INFINITY else timefmt.fmt(expiration)
    return f"Are you SURE you want to change the expiration date of {what} to {to} y/n (n)? "


def confirmed(prompt: str) -> bool:
    """Ask on the terminal (standard input); only y or yes goes on, no answer does not."""
    click.echo(prompt, nl=False)
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):
        click.echo()  # end the prompt's line when there was no answer
    return answer.strip().lower() in ("y", "yes")


EXIT_STATUS = """
\b
EXIT STATUS
  0    expiration changed (with -d 0: images and their fragments removed)
  1    -d 0: some image could not be removed from its storage unit yet (it no
       longer lists and restores; the next image cleanup tries again)
  20   invalid option, or neither or both of -backupid and -policy
  25   cannot connect to bpdbm on the master
  46   this host is not a server of the master
  109  invalid date
  150  not confirmed: nothing was changed
  227  no image matches
"""


@command("bpexpdate", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-backupid", metavar="ID", help="The image with this backup id.")
@click.option("-policy", metavar="NAME", help="Every image of this policy.")
@click.option("-d", "date", required=True, metavar="DATE",
              help="New expiration: mm/dd/yyyy [hh:mm:ss], 0 (now) or infinity.")
@click.option("-client", "client_name", metavar="NAME", help="Only images of this client.")
@click.option("-force", is_flag=True, help="Do not ask for confirmation.")
@click.option("-M", "masters", metavar="MASTER", help="Masters to ask (comma-separated).")
@root_option
def cli(backupid: str | None, policy: str | None, date: str, client_name: str | None,
        force: bool, masters: str | None, root: str | None) -> int:
    """Change the expiration date of backup images; -d 0 expires and removes them now."""
    cfg = load_cfg(root)
    if bool(backupid) == bool(policy):
        raise NbuError(INVALID_PARAMETER, "give either -backupid or -policy")
    expiration = parse_expiration(date)
    request: dict[str, Any] = {k: v for k, v in (("backupid", backupid), ("policy", policy),
                                                 ("client", client_name)) if v}
    found = {m: len(net.call(cfg, m, "bpdbm", "image_list", **request)["images"])
             for m in masters_of(cfg, masters)}
    if not any(found.values()):
        raise NbuError(NO_ENTITY, "no image matches")
    prompt = question(expiration, sum(found.values()), backupid, policy, client_name)
    if not force and not confirmed(prompt):
        raise NbuError(TERMINATED_BY_ADMIN, "the expiration was not changed")
    replies = {m: net.call(cfg, m, "bpdbm", "image_expire", expiration=expiration, **request)
               for m, count in found.items() if count}
    return check_jobs(replies, "the images expired, but not all could be removed yet")


def main() -> None:
    # `-d 12/25/2030 10:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-d"}), prog_name="bpexpdate")
