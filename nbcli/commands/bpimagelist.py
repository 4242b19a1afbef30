"""bpimagelist: list the backup images of the catalog, as bpdbm on the master knows them.

One image_list request to bpdbm (docs/protocol.md "Catalog"); nbcli/commands/imagefmt.py
renders the reply in NetBackup's forms.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import clock, kinds, timefmt
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.commands import imagefmt
from nbcli.commands.options import verbose_accepted
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.render import echo_json, echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """bpimagelist [-media] [-l | -L | -U | -idonly | -json | -json_compact]
            [-d date] [-e date] [-hoursago hours] [-keyword "keyword_phrase"]
            [-client name] [-server name] [-backupid id] [-option option_name]
            [-policy name] [-pt policy_type] [-rl retention_level] [-sl sched_label]
            [-st FULL|INCR|CINC|UBAK|UARC|NOT_ARCHIVE] [-class_id class_guid]
            [-stl_complete | -stl_incomplete] [-stl_name name] [-M master[,master...]]
            [-v]"""
# -option values NetBackup knows; nbcli has no imported or TIR-only images, so each is
# accepted and changes nothing.
OPTIONS = ("INCLUDE_PRE_IMPORT", "INCLUDE_TIR", "ONLY_PRE_IMPORT", "ONLY_TIR",
           "INCLUDE_ALL_IMAGES")
MEDIA_HEADER = ["Media ID                        Last Written      Server",
                "------------------------------  ----------------  ----------"]

DAY = 86400


def policy_type_code(text: str) -> int:
    """`-pt Standard` or `-pt 0` -> 0; status 20 for an unknown type."""
    if text.isdigit():
        return int(text)
    code = kinds.POLICY_CODES.get(text.lower())
    if code is None:
        raise NbuError(INVALID_PARAMETER, f"unknown policy type {text!r}")
    return code


def time_range(since: str | None, until: str | None, hoursago: int | None,
               backupid: str | None, window: int | None = DAY
               ) -> tuple[int | None, int | None]:
    """-d/-e/-hoursago as a backup time range. Without them it is the last `window` seconds
    (bpimagelist's default, NetBackup's: the last 24 hours), or every time when `window` is
    None or a backup id is given."""
    if hoursago is not None and since:
        raise NbuError(INVALID_PARAMETER, "-hoursago and -d cannot be used together")
    if hoursago is not None and hoursago < 0:
        raise NbuError(INVALID_PARAMETER, "-hoursago needs a positive number of hours")
    now = int(clock.now())
    if hoursago is not None:
        if hoursago * 3600 > now:  # before 1970: no date NetBackup can name
            raise NbuError(INVALID_PARAMETER, f"-hoursago {hoursago} reaches back before "
                                              f"01/01/1970")
        start: int | None = now - hoursago * 3600
    elif since:
        start = timefmt.parse(since)
    else:
        start = None if backupid or window is None else now - window
    return start, timefmt.parse(until, end_of_day=True) if until else None


def list_images(cfg: HostConfig, masters: str | None,
                request: dict[str, Any]) -> list[dict[str, Any]]:
    """bpdbm's image_list (the `request` filters that are not None) on each master of `-M`
    (comma-separated; default: this host's master), in turn."""
    fields = {k: v for k, v in request.items() if v is not None}
    images: list[dict[str, Any]] = []
    for master in (masters.split(",") if masters else [cfg.master]):
        images += net.call(cfg, master.strip(), "bpdbm", "image_list", **fields)["images"]
    return images


def media_rows(images: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """-media: each medium (for disk, a fragment's path) once, with the time it was last
    written and its server, newest first."""
    seen: dict[str, tuple[str, int, str]] = {}
    for h in images:
        for f in h["fragments"]:
            old = seen.get(f["path"])
            if old is None or old[1] < h["backup_time"]:
                seen[f["path"]] = (f["path"], h["backup_time"], f["host"])
    return sorted(seen.values(), key=lambda r: -r[1])


def render_media(images: list[dict[str, Any]], form: str) -> None:
    rows = media_rows(images)
    if form == "U":
        echo_lines(MEDIA_HEADER + [f"{m:<30}  {timefmt.fmt(t, seconds=False):<16}  {host}"
                                   for m, t, host in rows])
    else:
        echo_lines(f"{m} {t} {host}" for m, t, host in rows)


def keep(h: dict[str, Any], rl: int | None, keyword: str | None, server: str | None,
         not_archive: bool) -> bool:
    """The filters the master does not apply: -rl, -keyword, -server, -st NOT_ARCHIVE."""
    return ((rl is None or h["retention_level"] == rl)
            and (keyword is None or keyword in (h.get("keyword") or ""))
            and (server is None or h.get("media_server") == server
                 or any(f["host"] == server for f in h["fragments"]))
            and not (not_archive and h["sched_type"] == kinds.sched_code("UARC")))


def render(images: list[dict[str, Any]], form: str) -> None:
    if form in ("json", "json_compact"):
        echo_json({"images": images}, compact=form == "json_compact")
    elif form == "U":
        echo_lines(imagefmt.table_lines(images))
    elif form == "L":
        for h in images:
            echo_lines(imagefmt.long_lines(h))
    elif form == "idonly":
        echo_lines(imagefmt.idonly_line(h) for h in images)
    else:
        for h in images:
            echo_lines(imagefmt.raw_lines(h))


@command("bpimagelist", SYNOPSIS)
@click.option("-l", "form", flag_value="l", default=True, help="Raw IMAGE/HISTO/FRAG lines.")
@click.option("-L", "form", flag_value="L", help="Long form, one labelled line per field.")
@click.option("-U", "form", flag_value="U", help="User form: one table row per image.")
@click.option("-idonly", "form", flag_value="idonly", help="Backup time and id only.")
@click.option("-json", "form", flag_value="json", help="JSON.")
@click.option("-json_compact", "form", flag_value="json_compact", help="JSON on one line.")
@click.option("-d", "since", metavar="DATE", help="Images backed up on or after this date.")
@click.option("-e", "until", metavar="DATE", help="Images backed up on or before this date.")
@click.option("-hoursago", type=int, metavar="N", help="Images of the last N hours.")
@click.option("-client", "client_name", metavar="NAME", help="Images of this client.")
@click.option("-backupid", metavar="ID", help="The image with this backup id.")
@click.option("-policy", metavar="NAME", help="Images of this policy.")
@click.option("-st", "sched_type", metavar="TYPE", help="FULL, INCR, CINC, UBAK or UARC.")
@click.option("-sl", "sched_label", metavar="LABEL", help="Images of this schedule.")
@click.option("-pt", "policy_type", metavar="TYPE", help="Policy type (name or number).")
@click.option("-M", "masters", metavar="MASTER", help="Ask these masters (comma-separated).")
@click.option("-media", is_flag=True, help="List the media the images are on.")
@click.option("-rl", "retention_level", type=click.IntRange(0, 100), metavar="LEVEL",
              help="Images of this retention level.")
@click.option("-keyword", metavar="PHRASE", help="Images whose keyword holds this phrase.")
@click.option("-server", metavar="NAME", help="Images written by this media server.")
@click.option("-option", "option_names", metavar="NAME",
              help="INCLUDE_PRE_IMPORT, ONLY_TIR, ... (accepted; no effect).")
@click.option("-class_id", metavar="GUID", help="Images of this policy GUID (nbcli has none).")
@click.option("-stl_complete", is_flag=True, help="Accepted; no effect (no SLPs).")
@click.option("-stl_incomplete", is_flag=True, help="Accepted; no effect (no SLPs).")
@click.option("-stl_name", metavar="NAME", help="Images of this SLP (nbcli has none).")
@verbose_accepted
@root_option
def cli(form: str, since: str | None, until: str | None, hoursago: int | None,
        client_name: str | None, backupid: str | None, policy: str | None,
        sched_type: str | None, sched_label: str | None, policy_type: str | None,
        masters: str | None, media: bool, retention_level: int | None, keyword: str | None,
        server: str | None, option_names: str | None, class_id: str | None,
        stl_complete: bool, stl_incomplete: bool, stl_name: str | None, verbose: bool,
        root: str | None) -> int:
    """List catalog images (by default those of the last 24 hours), newest first.

    \b
    EXIT STATUS
      0    images listed
      20   invalid option or value
      25   cannot connect to bpdbm on the master
      109  invalid date
      227  no image matches
    """
    for name in (option_names or "").split(","):
        if name.strip() and name.strip().upper() not in OPTIONS:
            raise NbuError(INVALID_PARAMETER, f"unknown -option {name.strip()!r} "
                                              f"({', '.join(OPTIONS)})")
    if stl_complete and stl_incomplete:
        raise NbuError(INVALID_PARAMETER, "-stl_complete and -stl_incomplete cannot be used "
                                          "together")
    cfg = load_cfg(root)
    start, end = time_range(since, until, hoursago, backupid)
    not_archive = (sched_type or "").upper() == "NOT_ARCHIVE"
    if not_archive:
        sched_type = None
    request: dict[str, Any] = {"client": client_name, "backupid": backupid, "policy": policy,
               "sched_type": kinds.sched_code(sched_type) if sched_type else None,
               "sched_label": sched_label, "start": start, "end": end,
               "policy_type": policy_type_code(policy_type) if policy_type else None}
    images = [h for h in list_images(cfg, masters, request)
              if keep(h, retention_level, keyword, server, not_archive)]
    if class_id or stl_name:
        images = []  # nbcli's images belong to no policy GUID and no storage lifecycle
    if not images:
        raise NbuError(NO_ENTITY)
    if media:
        render_media(images, form)
        return 0
    render(images, form)
    return 0


def main() -> None:
    # `-d 03/01/2014 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-d", "-e"}), prog_name="bpimagelist")
