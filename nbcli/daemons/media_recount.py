"""The media recount of an Image Cleanup: nbemm's counters of each tape, from the catalog.

bptm tells nbemm what it wrote on each medium (`media_written`) once the image is committed,
and that report can be lost: bptm killed right after the commit, nbemm's database refusing
writes (220), nbemm down. The image is in the catalog either way, so the catalog is where the
counters are made good: per medium holding valid images, bpdbm sends nbemm those images and
nbemm counts the ones no report counted (each image once: media_written names it too), and
takes the number of valid images and the latest expiration from the list - which also follows
images that expired or whose expiration bpexpdate moved.

    bpdbm -> nbemm: media_recount{media_id, as_of, valid, expiration, images [{backupid,
                    kbytes, expiration, rl, written}]}   (per medium, PART images at a time;
                    valid and expiration: the whole list's count and latest expiration)
    nbemm -> bpdbm: {counted [backup ids], set}

A full cleanup recounts every tape; the cleanups that bpexpdate's expirations start, only
the tapes whose images they removed (a frozen one, which stays assigned, then shows no valid
image). A medium a job is writing, or wrote after `as_of` (when the catalog was read), keeps
its valid images and expiration until the next cleanup: the catalog did not have that job's
image yet.

Place: cleanup.py's (bpdbm); imports the catalog's expiration rule and the net client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any, Protocol

from nbcli.catalog import expire
from nbcli.catalog.imagehdr import Header
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import NbuError

PART = 10_000  # images in one media_recount (a request of about a megabyte)


class Lines(Protocol):
    def line(self, msg: str, severity: str = "Info") -> None: ...


def tape_images(headers: list[Header], now: float) -> dict[str, list[dict[str, Any]]]:
    """Per tape medium: the valid images of `headers` with fragments on it, as
    media_recount lists them (their kbytes are those of their fragments on that medium)."""
    media: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in headers:
        if expire.is_expired(h, now):
            continue
        nbytes: dict[str, int] = defaultdict(int)
        for f in h.get("fragments", []):
            if f.get("media_id"):
                nbytes[str(f["media_id"]).upper()] += int(f.get("bytes") or 0)
        for media_id, n in nbytes.items():
            media[media_id].append({
                "backupid": str(h["backupid"]), "kbytes": (n + 1023) // 1024,
                "expiration": max(0, int(h.get("expiration") or 0)),
                "rl": int(h.get("retention_level", -1)),
                "written": max(0, int(h.get("backup_time") or 0))})
    return dict(media)


def named(backupids: list[str], most: int = 20) -> str:
    """The first `most` backup ids, and how many more: a line of the job's details."""
    more = len(backupids) - most
    return ", ".join(backupids[:most]) + (f" and {more} more" if more > 0 else "")


def recount(cfg: HostConfig, job: Lines, headers: list[Header], now: float,
            touched: Collection[str] = (), only: Collection[str] | None = None) -> None:
    """Send each medium's valid images to nbemm (`only` those media, when given), and the
    `touched` ones (whose images this cleanup removed) even when none is left on them: a
    medium that stays assigned (frozen) then shows none valid. The job's details say what
    was counted, and which media nbemm could not take (the next cleanup tries again: counters
    only, so the job's status stays what its images make it)."""
    media: dict[str, list[dict[str, Any]]] = {m: [] for m in touched}
    media.update(tape_images(headers, now))
    if only is not None:
        media = {m: images for m, images in media.items() if m in only}
    for media_id, images in sorted(media.items()):
        latest = max((i["expiration"] for i in images), default=0)
        counted: list[str] = []
        try:
            for at in range(0, max(len(images), 1), PART):
                done = client.call(cfg, cfg.client_name, "nbemm", "media_recount",
                                   media_id=media_id, as_of=int(now),
                                   images=images[at:at + PART], valid=len(images),
                                   expiration=latest)
                counted += done.get("counted") or []
        except NbuError as e:
            job.line(f"media {media_id}: nbemm did not recount its {len(images)} valid "
                     f"image(s): {e}", "Warning")
        if counted:
            job.line(f"media {media_id}: counted {len(counted)} image(s) that bptm never "
                     f"reported: {named(counted)}", "Warning")
