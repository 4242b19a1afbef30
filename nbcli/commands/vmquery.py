"""vmquery: query the EMM volume database, as NetBackup's Media Manager command does.

The volumes come from nbemm (media_list, TAPE-PLAN §1) on the EMM server (-h, default this
host's master); -a, -m, -pn, -rn and -rt choose them, -w, -b or the default long form prints
them (vmqueryfmt). A media id that does not exist is an error (227, "volume does not exist in
database", Media Manager status 35); a pool name that does not exist is 167; a pool or robot
with no volume prints the headers of -w and -b and nothing else (`vmquery -pn P -b | wc -l`
minus 3 counts 0).
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mediacodes as codes
from nbcli.commands import vmqueryfmt as fmt
from nbcli.commands.options import emm_server_query_option
from nbcli.commands.stufmt import emm_request
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NO_SUCH_POOL, NbuError

SYNOPSIS = """vmquery [-h EMM_server] [-b | -w | -W] -a
vmquery [-h EMM_server] [-b | -w | -W] -m media_id
vmquery [-h EMM_server] [-b | -w | -W] -pn pool_name
vmquery [-h EMM_server] [-b | -w | -W] -rn robot_number [-rt robot_type]
vmquery [-h EMM_server] [-b | -w | -W] -rt robot_type
vmquery [-h EMM_server] [-b | -w | -W] -mt media_type"""

EXIT_STATUS = """
\b
EXIT STATUS
  0    listed (-w and -b print only their headers when no volume matches)
  20   invalid option, or none of -a, -m, -pn, -rn, -rt, -mt
  25   cannot connect to nbemm on the EMM server
  167  -pn names no volume pool
  227  -m names no volume (volume does not exist in database)
"""


def select(cfg: Any, server: str, media_id: str | None, pool: str | None,
           rn: int | None, rt: str | None, mt: str | None) -> list[dict[str, Any]]:
    """The volumes the options name, in media id order (NbuError when -m or -pn names
    nothing)."""
    fields: dict[str, Any] = {}
    if media_id is not None:
        fields["media_id"] = media_id
    if pool is not None:
        names = {p["name"] for p in emm_request(cfg, server, "pool_list")["pools"]}
        if pool not in names:
            raise NbuError(NO_SUCH_POOL, f"volume pool {pool} does not exist")
        fields["pool"] = pool
    if rn is not None:
        fields["rn"] = rn
    records = emm_request(cfg, server, "media_list", **fields)["media"]
    if media_id is not None:
        records = [r for r in records if r["media_id"] == media_id]
        if not records:
            raise NbuError(NO_ENTITY, f"volume does not exist in database (media id "
                                      f"{media_id}; Media Manager status 35)")
    if rt is not None:
        records = [r for r in records if codes.robot_type(r) == rt.upper()]
    if mt is not None:
        records = [r for r in records if codes.media_type(r) == mt.upper()]
    return sorted(records, key=lambda r: str(r["media_id"]))


@command("vmquery", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-a", "everything", is_flag=True, help="Every volume.")
@click.option("-m", "media_id", metavar="MEDIA_ID", help="This volume.")
@click.option("-pn", "pool", metavar="POOL", help="The volumes of this volume pool.")
@click.option("-rn", "rn", type=int, metavar="N", help="The volumes of robot number N.")
@click.option("-rt", "rt", metavar="TYPE", help="The volumes of robots of this type (tld).")
@click.option("-mt", "mt", metavar="TYPE", help="The volumes of this media type (hcart).")
@click.option("-b", "form", flag_value="brief", help="Brief form: one short line a volume.")
@click.option("-w", "form", flag_value="wide", help="Wide form: one 37-field line a volume.")
@click.option("-W", "form", flag_value="wide",
              help="Wide form, as -w (nbcli's columns are already parseable).")
@emm_server_query_option
@root_option
def cli(everything: bool, media_id: str | None, pool: str | None, rn: int | None,
        rt: str | None, mt: str | None, form: str | None, emm_server: str | None,
        root: str | None) -> int:
    """Query the EMM volume database."""
    if not (everything or media_id or pool or rn is not None or rt or mt):
        raise NbuError(INVALID_PARAMETER, "give -a, -m, -pn, -rn, -rt or -mt")
    cfg = load_cfg(root)
    records = select(cfg, emm_server or cfg.master, media_id, pool, rn, rt, mt)
    if form == "wide":
        echo_lines([*fmt.WIDE_HEADER, *(fmt.wide_line(r) for r in records)])
    elif form == "brief":
        echo_lines([*fmt.BRIEF_HEADER, *(fmt.brief_line(r) for r in records)])
    else:
        echo_lines(fmt.long_form(records))
    return 0


main = entry(cli)
