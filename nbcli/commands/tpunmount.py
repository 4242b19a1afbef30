"""tpunmount: release the tape a `tpreq` bound to FILE, and remove FILE.

ltid frees the drive; the cartridge stays loaded MEDIA_UNMOUNT_DELAY seconds, then goes home.
"""

from __future__ import annotations

from pathlib import Path

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = "tpunmount [-f] FILE"


@command("tpunmount", SYNOPSIS)
@click.option("-f", "force", is_flag=True,
              help="Remove FILE even when ltid no longer has it bound (ltid restarted).")
@click.argument("file")
@root_option
def cli(force: bool, file: str, root: str | None) -> int:
    """Unmount the tape bound to FILE by tpreq and remove FILE.

    \b
    EXIT STATUS
      0    unmounted, FILE removed
      227  FILE is not bound to a tape (FILE is left, unless -f)
    """
    cfg = load_cfg(root)
    path = Path(file).absolute()
    try:
        reply = client.call(cfg, cfg.client_name, "ltid", "tpunmount", file=str(path))
    except NbuError as e:
        if e.status == NO_ENTITY and force:
            path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    click.echo(f"Drive {reply.get('drive')} released; {path} removed.")
    return 0


main = entry(cli)
