"""bpimage: catalog maintenance; `bpimage -cleanup -allclients` runs the Image Cleanup job now.

One image_cleanup request to bpdbm on each master (docs/protocol.md "Catalog"): bpdbm runs the
job (type 17, "Image Cleanup" in bpdbjobs) that removes every expired image's fragments and
catalog files, and answers once it is done; the exit status is the job's.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.status import NbuError

SYNOPSIS = "bpimage -cleanup -allclients [-M master_server,...]"


def masters_of(cfg: HostConfig, masters: str | None) -> list[str]:
    """-M master,...: the masters to ask (default: this host's first SERVER)."""
    return [m.strip() for m in masters.split(",")] if masters else [cfg.master]


def check_jobs(replies: dict[str, dict[str, Any]], what: str) -> int:
    """0 when every master's Image Cleanup job removed all it had to; otherwise the worst job
    status, as an NbuError naming the jobs."""
    failed = {m: r for m, r in replies.items() if r.get("job_status")}
    if not failed:
        return 0
    jobs = ", ".join(f"{r['jobid']} on {m}" for m, r in failed.items())
    raise NbuError(max(int(r["job_status"]) for r in failed.values()),
                   f"{what} (image cleanup job {jobs}); the next cleanup tries again")


EXIT_STATUS = """
\b
EXIT STATUS
  0    every expired image was removed
  1    some image could not be removed (its media server is unreachable, ...):
       it stays in the catalog and the next cleanup tries again; or an orphaned
       fragment (on a disk unit, owned by no image) could not be removed
  20   invalid option (-cleanup -allclients is needed)
  25   cannot connect to bpdbm or bpjobd on the master
  46   this host is not a server of the master
"""


@command("bpimage", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-cleanup", is_flag=True, help="Remove the expired images now.")
@click.option("-allclients", is_flag=True, help="Of every client.")
@click.option("-M", "masters", metavar="MASTER", help="Masters to clean (comma-separated).")
@root_option
def cli(cleanup: bool, allclients: bool, masters: str | None, root: str | None) -> int:
    """Run an Image Cleanup job and wait for it: expired images leave their storage units
    and the catalog."""
    if not (cleanup and allclients):
        raise click.UsageError("-cleanup -allclients is needed")
    cfg = load_cfg(root)
    replies = {m: net.call(cfg, m, "bpdbm", "image_cleanup") for m in masters_of(cfg, masters)}
    return check_jobs(replies, "some expired images stay in the catalog")


main = entry(cli)
