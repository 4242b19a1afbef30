"""vmdelete: delete a volume, or every volume of a volume group, from the EMM database (through
the master's nbemm).

A volume that is assigned (it holds images) or in use cannot be deleted: expire its images
first (bpexpdate -m ID -d 0). `-v GROUP` deletes each volume of the group (nbcli's groups are
its robots', `000_00000_TLD`, as vmquery shows them) that can be, says why for each that
cannot, and exits with the first such status. Prints nothing when everything was deleted.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mediacodes
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request
from nbcli.status import MEDIA_IN_USE, MEDIA_PROTECTED, NO_ENTITY, NbuError

SYNOPSIS = """vmdelete [-h EMM_server] {-m media_id | -v volume_group}"""


@command("vmdelete", SYNOPSIS)
@click.option("-m", "media_id", help="Media id of the volume to delete.")
@click.option("-v", "group", help="Volume group: delete every volume of it.")
@emm_server_option
@root_option
@click.pass_context
def cli(ctx: click.Context, media_id: str | None, group: str | None, emm_server: str | None,
        root: str | None) -> int:
    """Delete a volume, or every volume of a volume group, from the EMM database.

    \b
    EXIT STATUS
      0     the volumes were deleted
      20    invalid parameter (give -m or -v)
      25    the master's nbemm (or its PBX) is not running
      97    a volume is in use by a job
      168   a volume is assigned (it holds images)
      227   no such volume; no volume in that group
    """
    if (media_id is None) == (group is None):
        raise click.UsageError("give -m media_id or -v volume_group", ctx)
    if group is not None and group.strip("-") == "":
        # vmquery's "---" is the absence of a group (standalone volumes), not one to delete
        raise click.UsageError(f"{group!r} names no volume group", ctx)
    cfg = load_cfg(root)
    emm = emm_server or cfg.master
    if media_id is not None:
        emm_request(cfg, emm, "media_delete", media_id=media_id)
        return 0
    members = [str(m["media_id"]) for m in emm_request(cfg, emm, "media_list")["media"]
               if mediacodes.volume_group(m) == group]
    if not members:
        raise NbuError(NO_ENTITY, f"volume group {group} has no volumes")
    first = 0
    for one in members:
        try:
            emm_request(cfg, emm, "media_delete", media_id=one)
        except NbuError as e:
            if e.status not in (MEDIA_IN_USE, MEDIA_PROTECTED, NO_ENTITY):  # nbemm gone: all fail
                raise
            click.echo(f"vmdelete: {e.detail or e.message} (status {e.status})", err=True)
            first = first or e.status
    return first


main = entry(cli)
