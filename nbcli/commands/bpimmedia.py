"""bpimmedia: the catalog's images with the media their fragments are on (NetBackup's "images
on media" report), as bpdbm on the master knows them.

The same image_list request to bpdbm that bpimagelist makes (its helpers, imported); the media
options (-mediaid, -disk or -tape, -server) then keep the fragments on those media, and an image
with none left is not listed. Each image prints in NetBackup's short form (-l): an IMAGE line,
then one FRAG line per fragment kept.

The -l layout is reference/netbackup-cli.md §1.6: IMAGE has 13 fields, FRAG 20, as the MARS
collector reads them and the myfaqbase "bpimmedia fields" page and the NBU Perl modules' parser
confirm. Every field holds the value bpimagelist -l prints for the same field
(nbcli/commands/imagefmt.py), so the two commands never disagree about an image. NetBackup's
-L and -U forms, -spanpools and -mediatype are not implemented (the reference has no layout for
them): unknown options, status 20.

Place: a command; it asks bpdbm through bpimagelist's list_images and never reads the catalog.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from nbcli import kinds
from nbcli.cli import command, join_date_times, load_cfg, root_option
from nbcli.commands import imagefmt
from nbcli.commands.bpimagelist import list_images, time_range
from nbcli.render import echo_lines, raw_field
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """bpimmedia [-l] [-disk | -tape] [-policy name] [-client name] [-t sched_type]
          [-d date] [-e date] [-hoursago hours] [-mediaid media_id | pathname]
          [-server name] [-M master[,master...]] [-verbose]"""

# bpimmedia's IMAGE fields - name, version, backupid, policy, policy_type, sched_label,
# sched_type, retention, num_files, expiration, compression, encryption, hold - as positions in
# bpimagelist's IMAGE fields (imagefmt.image_fields; reference §1.5's list, 0 = client_name).
IMAGE_PICK = (0, 3, 4, 5, 6, 9, 10, 11, 18, 14, 15, 16, 59)
# Its FRAG fields: bpimagelist's first 19 (copy_num ... checkpoint), then copy_on_hold.
FRAG_PICK = (*range(19), 29)
MEDIA_ID_MAX = 6
Fragment = dict[str, Any]  # a fragment of an image header, as bpdbm sends it


def medium_filter(mediaid: str | None, where: str | None,
                  server: str | None) -> Callable[[Fragment], bool]:
    """The test a fragment passes to be listed: on the medium -mediaid names (a tape's media
    id, any case; or a disk path, a fragment file or the folder holding it), on disk or on
    tape (-disk, -tape), written by the media server -server names."""
    if mediaid is not None and not mediaid.startswith("/") \
            and not 1 <= len(mediaid) <= MEDIA_ID_MAX:
        raise NbuError(INVALID_PARAMETER, f"-mediaid {mediaid!r}: a media ID has 1 to "
                                          f"{MEDIA_ID_MAX} characters, a disk path starts "
                                          f"with /")
    folder = mediaid.rstrip("/") + "/" if mediaid and mediaid.startswith("/") else None

    def keep(f: Fragment) -> bool:
        tape = bool(f.get("media_id"))
        if where is not None and tape != (where == "tape"):
            return False
        if server is not None and f["host"] != server:
            return False
        if mediaid is None:
            return True
        if folder is None:
            return tape and str(f["media_id"]).upper() == mediaid.upper()
        return not tape and (f["path"] == mediaid or f["path"].startswith(folder))

    return keep


def image_lines(h: dict[str, Any], fragments: list[Fragment]) -> list[str]:
    """-l: the IMAGE line of image `h`, then a FRAG line for each of `fragments`."""
    fields = imagefmt.image_fields(h)
    lines = ["IMAGE " + " ".join(raw_field(fields[i]) for i in IMAGE_PICK)]
    for f in fragments:
        fields = imagefmt.frag_fields(h, f)
        lines.append("FRAG " + " ".join(raw_field(fields[i]) for i in FRAG_PICK))
    return lines


@command("bpimmedia", SYNOPSIS)
@click.option("-l", "short", is_flag=True, help="Short form: IMAGE and FRAG lines (default).")
@click.option("-disk", "where", flag_value="disk", help="Only fragments on disk.")
@click.option("-tape", "where", flag_value="tape", help="Only fragments on tape.")
@click.option("-policy", metavar="NAME", help="Images of this policy.")
@click.option("-client", "client_name", metavar="NAME", help="Images of this client.")
@click.option("-t", "sched_type", metavar="TYPE",
              help="Images of this schedule type: FULL, INCR, CINC, UBAK or UARC.")
@click.option("-d", "since", metavar="DATE", help="Images backed up on or after this date.")
@click.option("-e", "until", metavar="DATE", help="Images backed up on or before this date.")
@click.option("-hoursago", type=int, metavar="N", help="Images of the last N hours.")
@click.option("-mediaid", metavar="ID", help="Only fragments on this tape (media ID) or "
                                             "under this disk path.")
@click.option("-server", metavar="NAME", help="Only fragments this media server wrote.")
@click.option("-M", "masters", metavar="MASTER", help="Ask these masters (comma-separated).")
@click.option("-verbose", is_flag=True, help="Accepted; no effect.")
@root_option
def cli(short: bool, where: str | None, policy: str | None, client_name: str | None,
        sched_type: str | None, since: str | None, until: str | None, hoursago: int | None,
        mediaid: str | None, server: str | None, masters: str | None, verbose: bool,
        root: str | None) -> int:
    """List the catalog's images (all of them unless -d, -e or -hoursago say otherwise),
    newest first, each with the fragments on the media the options name.

    \b
    EXIT STATUS
      0    images listed
      20   invalid option or value
      25   cannot connect to bpdbm on the master
      48   the master's host name cannot be resolved
      109  invalid date
      227  no image matches
    """
    keep = medium_filter(mediaid, where, server)
    cfg = load_cfg(root)
    start, end = time_range(since, until, hoursago, None, window=None)
    tape_id = mediaid if mediaid and not mediaid.startswith("/") else None
    request = {"client": client_name, "policy": policy, "start": start, "end": end,
               "sched_type": kinds.sched_code(sched_type) if sched_type else None,
               "media_id": tape_id}
    listed = [(h, kept) for h in list_images(cfg, masters, request)
              if (kept := [f for f in h["fragments"] if keep(f)])]
    if not listed:
        raise NbuError(NO_ENTITY)
    for h, fragments in listed:
        echo_lines(image_lines(h, fragments))
    return 0


def main() -> None:
    # `-d 03/01/2014 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-d", "-e"}), prog_name="bpimmedia")
