"""bpimage: catalog maintenance; `bpimage -cleanup -allclients` runs the Image Cleanup job now,
`bpimage -update -backupid ID -image_dtemode On|Off` changes an image's data-in-transit
encryption (DTE) mode (NetBackup Security and Encryption Guide, "Modify the DTE mode on a backup
image"): a restore of an image whose mode is On is encrypted whatever the global and client
modes say, one whose mode is Off decides with them (nbcli.net.dte).

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
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpimage -cleanup -allclients [-M master_server,...]
bpimage -update -backupid backup_id -image_dtemode On|Off [-M master_server]"""
DTE_MODES = {"on": 1, "off": 0}


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
  20   invalid option (-cleanup -allclients, or -update -backupid -image_dtemode
       On|Off, is needed)
  25   cannot connect to bpdbm or bpjobd on the master
  46   this host is not a server of the master
  227  no such image (-update)
"""


@command("bpimage", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-cleanup", is_flag=True, help="Remove the expired images now.")
@click.option("-allclients", is_flag=True, help="Of every client.")
@click.option("-update", is_flag=True, help="Change an image's attributes.")
@click.option("-backupid", metavar="BACKUP_ID", help="The image to change (-update).")
@click.option("-image_dtemode", "dtemode", metavar="On|Off",
              help="The image's data-in-transit encryption mode (-update).")
@click.option("-M", "masters", metavar="MASTER", help="Masters to clean (comma-separated).")
@root_option
def cli(cleanup: bool, allclients: bool, update: bool, backupid: str | None,
        dtemode: str | None, masters: str | None, root: str | None) -> int:
    """Run an Image Cleanup job and wait for it: expired images leave their storage units
    and the catalog. Or change an image's DTE mode."""
    if update:
        return _update(backupid, dtemode, masters, root)
    if not (cleanup and allclients):
        raise click.UsageError("-cleanup -allclients is needed")
    cfg = load_cfg(root)
    replies = {m: net.call(cfg, m, "bpdbm", "image_cleanup") for m in masters_of(cfg, masters)}
    return check_jobs(replies, "some expired images stay in the catalog")


def _update(backupid: str | None, dtemode: str | None, masters: str | None,
            root: str | None) -> int:
    if not backupid or dtemode is None:
        raise click.UsageError("-update needs -backupid and -image_dtemode On|Off")
    mode = DTE_MODES.get(dtemode.strip().lower())
    if mode is None:
        raise NbuError(INVALID_PARAMETER, f"invalid -image_dtemode {dtemode!r}: On or Off")
    cfg = load_cfg(root)
    for m in masters_of(cfg, masters):
        net.call(cfg, m, "bpdbm", "image_update", backupid=backupid, dte_mode=mode)
    return 0


main = entry(cli)
