"""bpexpdate: change the expiration of backup images in the catalog; `-d 0` removes them now.

Two requests to bpdbm on each master (docs/protocol.md "Catalog"): image_list finds the images
the options name (227 when there is none), then - once the user has confirmed, or with -force -
image_expire gives them their new expiration. An image expired this way leaves the catalog and
its storage unit at once (bpdbm runs an Image Cleanup job for it, and the exit status is that
job's); a later date only changes the expiration bpimagelist shows.

-m names the images by the medium that holds them (their fragments' media id). `-m ID -d 0`
is one request, bpdbm's expire_media: every image on the medium expires and goes, and the
medium is unassigned (back to the scratch pool), whether or not any image was left on it
and whatever its state, FROZEN or SUSPENDED included - that is how NetBackup gives a medium
back. Only a medium a running job writes stays assigned (97). A later date changes
the expiration of each image on the medium. -deassignempty asks nbemm to unassign every
assigned medium (or the one of -m) on which bpdbm's catalog has no image. Both ask bpdbm for
the images of one medium (image_list's media_id), never the whole catalog.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import kinds, timefmt
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.commands.bpimage import check_jobs, masters_of
from nbcli.commands.options import masters_option
from nbcli.commands.stufmt import emm_request
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.status import (
    COPY_NOT_FOUND,
    FILE_OPEN_FAILED,
    INVALID_DATE,
    INVALID_PARAMETER,
    MEDIA_IN_USE,
    NO_ENTITY,
    TERMINATED_BY_ADMIN,
    NbuError,
)

SYNOPSIS = """bpexpdate -backupid backup_id | -Bidfile filename -d date | 0 | infinity
          [-client name] [-copy number [-try_expire_worm_copy]] [-force] [-nodelete]
          [-notimmediate] [-force_not_complete] [-do_not_follow_dependee]
          [-M master_server,...] [-extend_worm_locks] [-refresh_worm_locks]
bpexpdate -policy name -d date | 0 | infinity [-client name] [-force]
          [-M master_server,...]
bpexpdate -servername server_name -d date | 0 | infinity [-force] [-nodelete]
          [-notimmediate] [-force_not_complete] [-M master_server,...]
bpexpdate -m media_id -d date | 0 | infinity [-host name] [-force] [-nodelete]
          [-notimmediate] [-force_not_complete] [-M master_server,...]
bpexpdate -deassignempty [-m media_id] [-force] [-M master_server,...]
bpexpdate -recalculate [-backupid backup_id] [-copy number] [-d date | 0 | infinity]
          [-client name] [-policy name] [-ret retention_level] [-sched type] [-force]
          [-M master_server,...]
bpexpdate -stype server_type [-dp disk_pool_name [-dv disk_volume]] [-nodelete]
          [-notimmediate] [-force_not_complete] [-M master_server,...]"""


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
  97   -m ID -d 0: the images expired, but a running job writes the medium, which
       stays assigned
  109  invalid date
  150  not confirmed: nothing was changed
  227  no image matches (-m with a date: no image is on the medium)
"""


@command("bpexpdate", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-backupid", metavar="ID", help="The image with this backup id.")
@click.option("-policy", metavar="NAME", help="Every image of this policy.")
@click.option("-d", "date", metavar="DATE",
              help="New expiration: mm/dd/yyyy [hh:mm:ss], 0 (now) or infinity.")
@click.option("-client", "client_name", metavar="NAME", help="Only images of this client.")
@click.option("-force", is_flag=True, help="Do not ask for confirmation.")
@masters_option
@click.option("-Bidfile", "bidfile", type=click.Path(dir_okay=False), metavar="FILE",
              help="Images whose backup ids this file lists, one a line.")
@click.option("-servername", metavar="NAME", help="Every image this media server wrote.")
@click.option("-m", "media_id", metavar="MEDIA_ID",
              help="The images on this tape; with -d 0 the tape is unassigned too.")
@click.option("-host", metavar="NAME", help="With -m: the medium's server (accepted).")
@click.option("-deassignempty", is_flag=True,
              help="Unassign the media (or the one of -m) that hold no valid image.")
@click.option("-recalculate", is_flag=True,
              help="New expirations from the retention periods as configured now: backup "
                   "time + the period of the image's level (or -ret's); -d sets a date.")
@click.option("-ret", "ret", type=click.IntRange(0, 100), metavar="LEVEL",
              help="With -recalculate: the retention level whose period counts.")
@click.option("-sched", "sched", type=click.IntRange(0, 4), metavar="TYPE",
              help="With -recalculate: only images of this schedule type (0 full, 1 "
                   "differential incremental, 2 user backup, 3 user archive, 4 cumulative).")
@click.option("-stype", metavar="TYPE", help="Images on this disk type (nbcli has no pools).")
@click.option("-dp", metavar="POOL", help="With -stype: the disk pool.")
@click.option("-dv", metavar="VOLUME", help="With -dp: the disk volume.")
@click.option("-copy", type=int, metavar="N", help="This copy only (nbcli keeps copy 1).")
@click.option("-nodelete", is_flag=True, help="Change the date only (not with -d 0).")
@click.option("-notimmediate", is_flag=True, help="Accepted; no effect.")
@click.option("-force_not_complete", is_flag=True, help="Accepted; no effect.")
@click.option("-try_expire_worm_copy", is_flag=True, help="Accepted; no WORM copies.")
@click.option("-do_not_follow_dependee", is_flag=True, help="Accepted; no effect.")
@click.option("-extend_worm_locks", is_flag=True, help="Accepted; no WORM copies.")
@click.option("-refresh_worm_locks", is_flag=True, help="Accepted; no WORM copies.")
@root_option
def cli(backupid: str | None, policy: str | None, date: str | None, client_name: str | None,
        force: bool, masters: str | None, bidfile: str | None, servername: str | None,
        media_id: str | None, host: str | None, deassignempty: bool, stype: str | None,
        dp: str | None, dv: str | None, copy: int | None, nodelete: bool, notimmediate: bool,
        force_not_complete: bool, try_expire_worm_copy: bool, do_not_follow_dependee: bool,
        extend_worm_locks: bool, refresh_worm_locks: bool, recalculate: bool,
        ret: int | None, sched: int | None, root: str | None) -> int:
    """Change the expiration date of backup images; -d 0 expires and removes them now."""
    cfg = load_cfg(root)
    if copy is not None and copy != 1:
        raise NbuError(COPY_NOT_FOUND, f"copy {copy} does not exist (nbcli keeps one copy)")
    if recalculate:
        if media_id or bidfile or servername or stype or deassignempty:
            raise NbuError(INVALID_PARAMETER, "-recalculate takes -backupid, -client, "
                                              "-policy, -ret, -sched and -d only")
        return _recalculate(cfg, masters, backupid, policy, client_name, date, ret, sched,
                            force)
    if ret is not None or sched is not None:
        raise NbuError(INVALID_PARAMETER, "-ret and -sched go with -recalculate")
    chosen = [name for name, given in (("backupid", backupid), ("policy", policy),
                                       ("Bidfile", bidfile), ("servername", servername),
                                       ("m", media_id and not deassignempty),
                                       ("deassignempty", deassignempty), ("stype", stype))
              if given]
    if len(chosen) != 1:
        raise NbuError(INVALID_PARAMETER, "give one of -backupid, -Bidfile, -policy, "
                                          "-servername, -m, -deassignempty, -stype")
    if deassignempty:
        return _deassign_empty(cfg, masters, media_id)
    if date is None:
        raise NbuError(INVALID_PARAMETER, "-d date | 0 | infinity is required")
    expiration = parse_expiration(date)
    if nodelete and expiration == 0:
        raise NbuError(INVALID_PARAMETER, "-nodelete with -d 0: nbcli removes an image the "
                                          "moment it expires")
    if stype:
        raise NbuError(NO_ENTITY, f"no image is on {stype}: nbcli's disk images have no "
                                  "disk pools")
    if media_id and expiration == 0:
        return _expire_medium(cfg, masters, media_id, force)
    requests = _requests(cfg, masters, backupid, policy, client_name, bidfile, servername,
                         media_id)
    found = {m: len(net.call(cfg, m, "bpdbm", "image_list", **r)["images"])
             for m, r in requests}
    if not any(found.values()):
        raise NbuError(NO_ENTITY, "no image matches")
    what_id = backupid or (requests[0][1].get("backupid") if len(requests) == 1 else None)
    prompt = question(expiration, sum(found.values()), what_id,
                      policy or (f"server {servername}" if servername
                                 else f"media {media_id}" if media_id else "the Bidfile"),
                      client_name)
    if not force and not confirmed(prompt):
        raise NbuError(TERMINATED_BY_ADMIN, "the expiration was not changed")
    replies = {}
    for m, r in requests:
        if found.get(m):
            replies[f"{m} {r.get('backupid', '')}".strip()] = net.call(
                cfg, m, "bpdbm", "image_expire", expiration=expiration, **r)
    return check_jobs(replies, "the images expired, but not all could be removed yet")


def _recalculate(cfg: HostConfig, masters: str | None, backupid: str | None,
                 policy: str | None, client_name: str | None, date: str | None,
                 ret: int | None, sched: int | None, force: bool) -> int:
    """-recalculate: each chosen image expires at its backup time plus the period its level
    (or -ret's) has now (bpretlevel), or at -d's date; 227 when no image matches."""
    fixed = parse_expiration(date) if date is not None else None
    if fixed == 0:
        raise NbuError(INVALID_PARAMETER, "-recalculate -d 0: expire with bpexpdate "
                                          "-backupid ID -d 0")
    fields: dict[str, Any] = {k: v for k, v in (("backupid", backupid), ("policy", policy),
                                                ("client", client_name)) if v}
    plan: list[tuple[str, str, int]] = []
    for m in masters_of(cfg, masters):
        periods = dict(net.call(cfg, m, "bpdbm", "retention_list")["levels"])
        for im in net.call(cfg, m, "bpdbm", "image_list", **fields)["images"]:
            if sched is not None and int(im["sched_type"]) != sched:
                continue
            period = periods.get(ret) if ret is not None else im["retention_period"]
            new = fixed if fixed is not None else kinds.INFINITY if period is None else \
                min(int(im["backup_time"]) + int(period), kinds.INFINITY)
            plan.append((m, str(im["backupid"]), new))
    if not plan:
        raise NbuError(NO_ENTITY, "no image matches")
    if not force and not confirmed(f"Are you SURE you want to recalculate the expiration "
                                   f"date of {len(plan)} image(s) y/n (n)? "):
        raise NbuError(TERMINATED_BY_ADMIN, "the expiration was not changed")
    replies = {f"{m} {b}": net.call(cfg, m, "bpdbm", "image_expire", backupid=b, expiration=e)
               for m, b, e in plan}
    return check_jobs(replies, "the images expired, but not all could be removed yet")


def _requests(cfg: HostConfig, masters: str | None, backupid: str | None,
              policy: str | None, client_name: str | None, bidfile: str | None,
              servername: str | None, media_id: str | None = None
              ) -> list[tuple[str, dict[str, Any]]]:
    """(master, image_list/image_expire fields) for each set of images the options name."""
    base: dict[str, Any] = {"client": client_name} if client_name else {}
    out: list[tuple[str, dict[str, Any]]] = []
    for m in masters_of(cfg, masters):
        if backupid or policy:
            out.append((m, {**base, **({"backupid": backupid} if backupid
                                       else {"policy": policy})}))
        elif bidfile:
            out += [(m, {**base, "backupid": b}) for b in _backupids(bidfile)]
        elif servername:
            images = net.call(cfg, m, "bpdbm", "image_list", **base)["images"]
            out += [(m, {**base, "backupid": h["backupid"]}) for h in images
                    if h.get("media_server") == servername
                    or any(f["host"] == servername for f in h["fragments"])]
        elif media_id:  # bpdbm picks the images on the medium: the catalog may be large
            images = net.call(cfg, m, "bpdbm", "image_list", media_id=media_id,
                              **base)["images"]
            out += [(m, {**base, "backupid": h["backupid"]}) for h in images]
    return out


def _expire_medium(cfg: HostConfig, masters: str | None, media_id: str, force: bool) -> int:
    """`-m ID -d 0`: bpdbm expires every image on the medium and unassigns it (227 when the
    EMM database has no such medium)."""
    for m in masters_of(cfg, masters):
        emm_request(cfg, m, "media_list", media_id=media_id)
    if not force and not confirmed(f"Are you SURE you want to delete the images on media "
                                   f"{media_id} y/n (n)? "):
        raise NbuError(TERMINATED_BY_ADMIN, "the expiration was not changed")
    replies = {m: net.call(cfg, m, "bpdbm", "expire_media", media_id=media_id)
               for m in masters_of(cfg, masters)}
    status = check_jobs(replies, f"the images on {media_id} expired, but not all could be "
                                 "removed yet")
    if not all(r.get("unassigned") for r in replies.values()):
        raise NbuError(MEDIA_IN_USE, f"the images on {media_id} expired, but a running job "
                                     "writes the medium: it stays assigned (bpexpdate "
                                     "-deassignempty unassigns it once the job has ended)")
    return status


def _deassign_empty(cfg: HostConfig, masters: str | None, media_id: str | None) -> int:
    """-deassignempty: nbemm unassigns each assigned medium that no image in bpdbm's catalog
    has a fragment on. The catalog decides, not EMM's image counts: a count can miss an
    image (a report nbemm could not take), and the next backup to take an unassigned
    medium labels it again from the start of the tape."""
    for m in masters_of(cfg, masters):
        fields = {"media_id": media_id} if media_id else {}
        for rec in emm_request(cfg, m, "media_list", **fields)["media"]:
            if rec.get("assigned") and not net.call(cfg, m, "bpdbm", "image_list",
                                                    media_id=rec["media_id"])["images"]:
                emm_request(cfg, m, "media_unassign", media_id=rec["media_id"])
    return 0


def _backupids(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot read {path}: {e.strerror}") from e


def main() -> None:
    # `-d 12/25/2030 10:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-d"}), prog_name="bpexpdate")
