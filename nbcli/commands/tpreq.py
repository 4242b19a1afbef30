"""tpreq: mount a tape for a user and bind a file to it; `tpunmount FILE` lets it go.

ltid (on this host) finds the medium in EMM, picks a free UP drive of its robot (of the
density, when -d names one), has the robot load it and avrd check its header, and answers
where the tape is. For a real drive FILE becomes a symbolic link to its device (/dev/nstN), as
NetBackup makes it, so that `mt -f FILE` and `dd if=FILE` work; for a drive of a virtual
library tpreq writes where the tape is into FILE (mmfmt.tpreq_file: TOML - media id, drive,
robot drive number, the library's home and the `nbvtl mt` words that position it). The drive
stays the user's until `tpunmount FILE`.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import click

from nbcli import atomic
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mmfmt
from nbcli.net import client
from nbcli.status import ENTITY_EXISTS, INVALID_PARAMETER, NbuError

SYNOPSIS = "tpreq -m media_id | -ev media_id [-a r|w] [-d density] [-p poolname] [-f] FILE"


def user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


@command("tpreq", SYNOPSIS)
@click.option("-m", "media_id", help="The media id of the tape to mount.")
@click.option("-ev", "external", help="The external media id (as -m).")
@click.option("-a", "access", type=click.Choice(["r", "w"]), default="r", show_default=True,
              help="Access mode: r (read) or w (write).")
@click.option("-d", "density", default="", help="The drive type (density) to use: hcart...")
@click.option("-p", "pool", default="", help="The volume pool the media must be in.")
@click.option("-f", "force", is_flag=True, help="Replace FILE when it exists.")
@click.argument("file")
@root_option
def cli(media_id: str | None, external: str | None, access: str, density: str, pool: str,
        force: bool, file: str, root: str | None) -> int:
    """Mount a tape and bind FILE to it (FILE then says where the tape is).

    \b
    EXIT STATUS
      0     mounted; FILE written
      20    invalid argument
      93    the tape's media header names another media id
      97    the media is in use
      98    the robot could not load it
      164   no UP drive for it
      178   the media is not in the pool -p names
      226   FILE exists (use -f)
      227   no such media in EMM, or not in a robot
      2001  no drive is free
    """
    cfg = load_cfg(root)
    mid = media_id or external
    if not mid or (media_id and external):
        raise NbuError(INVALID_PARAMETER, "name the media with -m or -ev (one of them)")
    path = Path(file).absolute()
    if path.exists() and not force:
        raise NbuError(ENTITY_EXISTS, f"{path} exists")
    reply = client.call(cfg, cfg.client_name, "ltid", "tpreq", media_id=mid, file=str(path),
                        mode=access, density=density, pool=pool, user=user_name())
    bind(path, reply, cfg.client_name, access)
    click.echo(f"Media {mid} mounted in drive {reply['drive']} (index {reply.get('index')}); "
               f"{path} is bound to it.")
    return 0


def bind(path: Path, reply: dict[str, object], host: str, access: str) -> None:
    """FILE as ltid's answer makes it: a link to a real drive's device, else the TOML table;
    either appears whole (made beside it, then renamed over it)."""
    device = mmfmt.tpreq_device(reply)
    if device is None:
        atomic.write_text(path, mmfmt.tpreq_file(reply, host, access))
        return
    tmp = path.with_name(f".{path.name}.tpreq-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(device, tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


main = entry(cli)
