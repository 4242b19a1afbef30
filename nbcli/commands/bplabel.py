"""bplabel: write a NetBackup label (media header) on a tape.

The medium must be in the EMM database (vmadd, vmupdate) and in a robot. ltid mounts it in a
drive of its density (tapeaccess); the command writes `MH * EH *` from the start of the tape,
the label bptm writes on a blank tape, with the media id of -m. It refuses (168) a medium
assigned to NetBackup (it holds images, or is frozen) and a tape whose header names another
media id, unless -o; a medium in use by a job (97); a density other than the medium's (179);
a pool other than the medium's (178). -erase erases the tape first: on a virtual tape the
label overwrites everything after it, so quick and long (-l) erase are the label itself.
Prints nothing on success.
"""

from __future__ import annotations

import time

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import mediacodes, tapeaccess
from nbcli.commands.options import first_master_option
from nbcli.status import (
    INVALID_PARAMETER,
    MEDIA_HEADER_UNREADABLE,
    MEDIA_IN_USE,
    MEDIA_NOT_IN_POOL,
    MEDIA_PROTECTED,
    WRONG_DENSITY,
    NbuError,
)

SYNOPSIS = """bplabel -m media_id -d density [-o] [-p volume_pool_name]
        [-n drive_name | -u device_number] [-host media_server] [-erase [-l]]
        [-M master_server]"""

EXIT_STATUS = """
\b
EXIT STATUS
  0    labelled
  20   invalid option
  25   cannot connect to nbemm on the master or to ltid on the media server
  93   ltid's avrd found another media id on the tape (the mount was refused)
  97   the medium is in use by a job
  168  the medium is assigned, or its tape has another media header: use -o
  178  the medium is not in the volume pool of -p
  179  -d is not the medium's density
  227  the EMM database has no such medium
  2001 no drive of the density is up and free
"""


@command("bplabel", SYNOPSIS, epilog=EXIT_STATUS)
@click.option("-m", "media_id", metavar="MEDIA_ID", help="The medium (its media id).")
@click.option("-d", "density", metavar="DENSITY", help="Its density (hcart, hcart2, ...).")
@click.option("-o", "overwrite", is_flag=True,
              help="Overwrite an assigned medium or another media header.")
@click.option("-p", "pool", metavar="POOL", help="The volume pool the medium must be in.")
@click.option("-n", "drive_name", metavar="DRIVE", help="Label in this drive (by name).")
@click.option("-u", "drive_index", type=int, metavar="INDEX",
              help="Label in this drive (by drive index).")
@click.option("-host", "host", metavar="MEDIA_SERVER",
              help="The media server whose drive labels it (default: the robot's host).")
@click.option("-erase", is_flag=True, help="Erase the tape first.")
@click.option("-l", "long_erase", is_flag=True, help="With -erase: a long erase.")
@first_master_option
@root_option
def cli(media_id: str | None, density: str | None, overwrite: bool, pool: str | None,
        drive_name: str | None, drive_index: int | None, host: str | None, erase: bool,
        long_erase: bool, masters: str | None, root: str | None) -> int:
    """Write a NetBackup media header on a tape."""
    if not media_id or not density:
        raise NbuError(INVALID_PARAMETER, "-m media_id and -d density are required")
    if long_erase and not erase:
        raise NbuError(INVALID_PARAMETER, "-l goes with -erase")
    cfg = load_cfg(root)
    master = master_list(cfg, masters)[0]
    rec = tapeaccess.medium(cfg, master, media_id)
    if density.lower() != mediacodes.density(rec):
        raise NbuError(WRONG_DENSITY, f"media {media_id} is {mediacodes.media_type(rec)}, "
                                      f"density {mediacodes.density(rec)}, not {density}")
    if pool is not None and pool != rec.get("pool"):
        raise NbuError(MEDIA_NOT_IN_POOL, f"media {media_id} is in volume pool "
                                          f"{rec.get('pool')}, not {pool}")
    if rec.get("jobid"):
        raise NbuError(MEDIA_IN_USE, f"media {media_id} is in use by job {rec['jobid']}")
    if (rec.get("assigned") or int(rec.get("state") or 0) & mediacodes.FROZEN) \
            and not overwrite:
        raise NbuError(MEDIA_PROTECTED, f"media {media_id} is assigned to NetBackup: its "
                                        "images would be lost (-o overwrites it)")
    place = tapeaccess.choose(cfg, master, rec, host, drive_name, drive_index)
    with tapeaccess.mounted(cfg, place, rec, "w") as drive:
        try:
            label = tapeaccess.read_label(drive)
        except NbuError as e:
            if e.status != MEDIA_HEADER_UNREADABLE:
                raise
            if not overwrite:
                raise NbuError(MEDIA_PROTECTED, f"the tape in drive {place.drive['name']} "
                                                "holds data that is not NetBackup's (-o "
                                                "overwrites it)") from e
            label = None
        if label is not None and label[0] != media_id and not overwrite:
            raise NbuError(MEDIA_PROTECTED, f"the tape in drive {place.drive['name']} holds "
                                            f"media header {label[0]} (-o overwrites it)")
        tapeaccess.write_label(drive, media_id, int(time.time()))
    return 0


main = entry(cli)
