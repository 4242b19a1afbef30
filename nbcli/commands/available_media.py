"""available_media: every volume and its status, grouped by volume pool (NetBackup's goodies
script, which formats vmquery and bpmedialist; here one request to nbemm for the media and one
for the pools). mediafmt prints it.
"""

from __future__ import annotations

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mediafmt
from nbcli.commands.options import emm_server_query_option
from nbcli.commands.stufmt import emm_request
from nbcli.render import echo_lines

SYNOPSIS = "available_media [-h EMM_server]"

EXIT_STATUS = """
\b
EXIT STATUS
  0    listed (the header alone when there is no volume)
  25   cannot connect to nbemm on the EMM server
"""


@command("available_media", SYNOPSIS, epilog=EXIT_STATUS)
@emm_server_query_option
@root_option
def cli(emm_server: str | None, root: str | None) -> int:
    """List every volume with its status, grouped by volume pool."""
    cfg = load_cfg(root)
    at = emm_server or cfg.master
    pools = emm_request(cfg, at, "pool_list")["pools"]
    media = emm_request(cfg, at, "media_list")["media"]
    echo_lines(mediafmt.available(pools, media))
    return 0


main = entry(cli)
