"""bpmedialist: report on the media NetBackup has assigned, per media server.

The media come from nbemm (media_list) on each master of -M; mediafmt prints -mlist (-U, the
default, -l, -L), -summary [-brief]. -mheader reads the media header off the tape itself:
ltid mounts it and the command reads the drive (tapeaccess), printing the media id and
allocation time the header holds and the retention level EMM has for the medium. No media,
no output (not even the Server Host line), exit 0; -m with a medium nbemm does not know is 227.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import mediafmt, tapeaccess
from nbcli.commands.options import masters_option, media_id_options, verbose_accepted
from nbcli.commands.stufmt import emm_request
from nbcli.config import HostConfig
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, MEDIA_HEADER_UNREADABLE, NO_ENTITY, NbuError

SYNOPSIS = """bpmedialist [-mlist] [-U | -l | -L] [-m media_id] [-h host_name]
          [-rl retention_level] [-p pool_name] [-M master_server,...]
bpmedialist -summary [-brief] [-U | -L] [-h host_name] [-M master_server,...]
bpmedialist -mheader -m media_id [-h host_name] [-M master_server,...]"""

EXIT_STATUS = """
\b
EXIT STATUS
  0    reported (nothing is printed when no medium matches -mlist or -summary)
  20   invalid option (-mheader without -m, two reports)
  25   cannot connect to nbemm on the master (or ltid, for -mheader)
  172  -mheader: the tape holds no NetBackup media header
  227  -m names a medium the EMM database does not have
  2001 -mheader: no drive for the medium is up and free
"""


def _media(cfg: HostConfig, master: str, media_id: str | None, host: str | None,
           rl: int | None, pool: str | None) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {"media_id": media_id} if media_id else {}
    if pool:
        fields["pool"] = pool
    records = emm_request(cfg, master, "media_list", **fields)["media"]
    if media_id:
        records = [r for r in records if r["media_id"] == media_id]
        if not records:
            raise NbuError(NO_ENTITY, f"media id {media_id} is not in the EMM database")
    records = mediafmt.listed(records)
    if rl is not None:
        records = [r for r in records if r.get("rl") == rl]
    return [r for r in records if host is None or (r.get("host") or master) == host]


def _mheader(cfg: HostConfig, master: str, media_id: str, host: str | None) -> None:
    rec = tapeaccess.medium(cfg, master, media_id)
    place = tapeaccess.choose(cfg, master, rec, host)
    with tapeaccess.mounted(cfg, place, rec, "r") as drive:
        label = tapeaccess.read_label(drive)
    if label is None:
        raise NbuError(MEDIA_HEADER_UNREADABLE, f"media {media_id} is blank: no media header")
    found, allocated = label
    click.echo(mediafmt.mheader_line(found, allocated, rec.get("rl")))


@command("bpmedialist", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-mlist", "report", flag_value="mlist", help="Media list report (the default).")
@click.option("-summary", "report", flag_value="summary", help="Summary report.")
@click.option("-mheader", "report", flag_value="mheader",
              help="Read the media header off the tape of -m.")
@click.option("-brief", is_flag=True, help="-summary: the counts only.")
@click.option("-U", "form", flag_value="user", help="User form (the default).")
@click.option("-l", "form", flag_value="raw", help="Raw form: one line a medium.")
@click.option("-L", "form", flag_value="long", help="Long form: key = value lines.")
@media_id_options("This medium only")
@click.option("-h", "host", metavar="HOST", help="Media of this media server only.")
@click.option("-rl", "rl", type=click.IntRange(0, 100), metavar="LEVEL",
              help="Media of this retention level only.")
@click.option("-p", "pool", metavar="POOL", help="Media of this volume pool only.")
@masters_option
@verbose_accepted
@root_option
def cli(report: str | None, brief: bool, form: str | None, media_id: str | None,
        ev: str | None, host: str | None, rl: int | None, pool: str | None,
        masters: str | None, verbose: bool, root: str | None) -> int:
    """Report on NetBackup's media."""
    cfg = load_cfg(root)
    media_id = media_id or ev
    if report == "mheader":
        if not media_id:
            raise NbuError(INVALID_PARAMETER, "-mheader needs -m media_id")
        _mheader(cfg, master_list(cfg, masters)[0], media_id, host)
        return 0
    for master in master_list(cfg, masters):
        records = _media(cfg, master, media_id, host, rl, pool)
        for server, media in mediafmt.by_server(records, master).items():
            if report == "summary":
                echo_lines(mediafmt.summary(server, media, brief))
            elif form == "raw":
                echo_lines(mediafmt.raw_line(r) for r in media)
            elif form == "long":
                echo_lines([f"Server Host = {server}", ""])
                for r in media:
                    echo_lines(mediafmt.long_block(r))
            else:
                echo_lines(mediafmt.user_report(server, media))
    return 0


main = entry(cli)
