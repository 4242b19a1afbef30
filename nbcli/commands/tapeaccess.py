"""A medium in a drive for a media command: bplabel writes its label, bpmedialist -mheader reads
its media header.

The medium, its robot and the drives come from nbemm (media_list, robot_list, drive_list).
A drive is chosen as NetBackup's bplabel chooses one: UP, free, in the medium's robot, of the
medium's density (-n names one by name, -u by index; one already holding the cartridge
first). ltid on the robot's host mounts the cartridge (`mount`, TAPE-PLAN §2: its robot
daemons move it, avrd reads the header) and `unmount`s it afterwards; the command then opens
the drive as `mt` and `dd` open /dev/nst (nbcli.vtl: the virtual library's drive, or the real
one at the drive's path). An ltid that cannot mount yet (an older one, status 143) is stood in
for by the robot itself: the command moves the cartridge with the library's changer, as
`mtx load` would, and leaves it in the drive, as ltid does for a while after an unmount. So
is an ltid whose avrd refused the tape's header (93, 172): the cartridge is in the drive, and
the command reads (and bplabel -o overwrites) what is there.

Place: a helper of the media commands; imports net, status, vtl and labelfmt.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nbcli.commands import labelfmt, mediacodes
from nbcli.commands.stufmt import emm_request
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.status import (
    INVALID_PROTOCOL,
    MEDIA_HEADER_UNREADABLE,
    MEDIA_IN_USE,
    MEDIA_PROTECTED,
    MEDIA_REQUEST_FAILED,
    NO_DRIVES,
    NO_ENTITY,
    WRONG_TAPE,
    NbuError,
)
from nbcli.vtl.api import Changer, ChangerError, TapeDrive, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.mtio import RealDrive
from nbcli.vtl.mtx import MtxChanger
from nbcli.vtl.vdrive import VirtualDrive

COMMAND_JOB = 0  # the job id a command's mount carries: no job owns it


@dataclass(frozen=True)
class Place:
    """Where a medium is mounted: the drive (nbemm's record) and how to open it."""

    drive: dict[str, Any]
    robot: dict[str, Any]
    host: str


def medium(cfg: HostConfig, server: str, media_id: str) -> dict[str, Any]:
    """nbemm's record of `media_id` (227 when there is none)."""
    found = [r for r in emm_request(cfg, server, "media_list", media_id=media_id)["media"]
             if r["media_id"] == media_id]
    if not found:
        raise NbuError(NO_ENTITY, f"media id {media_id} is not in the EMM database")
    rec: dict[str, Any] = found[0]
    return rec


def choose(cfg: HostConfig, server: str, rec: dict[str, Any], host: str | None = None,
           name: str | None = None, index: int | None = None) -> Place:
    """The drive to mount `rec` in (see the module docstring); 2001 when none will do."""
    if not mediacodes.in_robot(rec):
        raise NbuError(MEDIA_REQUEST_FAILED, f"media {rec['media_id']} is in no robot: "
                       "nbcli mounts robot media only")
    robots = [r for r in emm_request(cfg, server, "robot_list")["robots"]
              if r["rn"] == rec["rn"]]
    if not robots:
        raise NbuError(MEDIA_REQUEST_FAILED, f"robot {rec['rn']} is not configured")
    robot = robots[0]
    on = host or str(robot.get("host") or rec.get("host") or cfg.client_name)
    dens = mediacodes.density(rec)
    drives = [d for d in emm_request(cfg, server, "drive_list", host=on)["drives"]
              if d["rn"] == rec["rn"] and (name is None or d["name"] == name)
              and (index is None or d["index"] == index)]
    usable = [d for d in drives if str(d["type"]).lower() == dens
              and d.get("state", "UP") == "UP" and not d.get("jobid")]
    if not usable:
        what = f"drive {name or index}" if name or index is not None else "drive"
        raise NbuError(NO_DRIVES, f"no {what} of density {dens} in robot {rec['rn']} on "
                       f"{on} is up and free")
    usable.sort(key=lambda d: (d.get("media_id") != rec["media_id"], d["index"]))
    return Place(usable[0], robot, on)


def _ltid_mount(cfg: HostConfig, place: Place, rec: dict[str, Any], mode: str
                ) -> dict[str, Any] | None:
    """ltid's mount reply, or None when the command reads the drive without ltid: an ltid
    that cannot mount (143), or one whose avrd refused the tape's header (93: another media
    id, 172: not a NetBackup tape). Those are what bplabel -o overwrites and -mheader shows;
    the cartridge is in the drive by then, and the command checks the header itself."""
    try:
        return net.call(cfg, place.host, "ltid", "mount", jobid=COMMAND_JOB,
                        media_id=rec["media_id"], barcode=rec.get("barcode") or rec["media_id"],
                        drive=place.drive["name"], mode=mode)
    except NbuError as e:
        if e.status in (INVALID_PROTOCOL, WRONG_TAPE, MEDIA_HEADER_UNREADABLE):
            return None
        raise


def _changer(device: str) -> tuple[Changer, Library | None]:
    if os.path.isdir(device):
        lib = Library(device)
        if not lib.exists():
            raise NbuError(MEDIA_REQUEST_FAILED, f"no tape library in {device}")
        return VirtualChanger(lib), lib
    return MtxChanger(device), None


def _load(changer: Changer, barcode: str, drnum: int) -> None:
    """`mtx load` the cartridge into drive `drnum`, unless it is there already."""
    try:
        inv = changer.inventory()
        found = inv.find(barcode)
        if found is None or found.kind == "mailslot":
            raise NbuError(MEDIA_REQUEST_FAILED, f"cartridge {barcode} is not in a slot")
        if found.kind == "drive":
            if found.number != drnum:
                raise NbuError(MEDIA_IN_USE, f"cartridge {barcode} is in drive {found.number}")
            return
        if any(d.number == drnum and d.full for d in inv.drives):
            changer.unload(drnum)
        changer.load(found.number, drnum)
    except ChangerError as e:
        raise NbuError(status_for(e), f"loading {barcode} into drive {drnum}: "
                       f"{e.strerror or e}") from e


def _drive(reply: dict[str, Any] | None, place: Place, rec: dict[str, Any]) -> TapeDrive:
    """The drive to open, as ltid's reply names it, or after loading it ourselves."""
    if reply is not None:
        library, path = str(reply.get("library") or ""), str(reply.get("path") or "")
        drnum = int(reply.get("drnum", place.drive["drnum"]))
        if library:
            return VirtualDrive(Library(library), drnum)
        return RealDrive(path or str(place.drive["path"]))
    changer, lib = _changer(str(place.robot["device"]))
    drnum = int(place.drive["drnum"])
    _load(changer, str(rec.get("barcode") or rec["media_id"]), drnum)
    if lib is not None:
        return VirtualDrive(lib, drnum)
    return RealDrive(str(place.drive["path"]))


@contextmanager
def mounted(cfg: HostConfig, place: Place, rec: dict[str, Any], mode: str
            ) -> Iterator[TapeDrive]:
    """The medium's drive, open (writable for mode "w"), rewound, in variable block mode;
    closed and unmounted afterwards."""
    reply = _ltid_mount(cfg, place, rec, mode)
    try:
        drive = _drive(reply, place, rec)
        try:
            drive.open(mode == "w")
        except OSError as e:
            if mode == "w" and e.errno in (errno.EROFS, errno.EACCES):
                raise NbuError(MEDIA_PROTECTED, f"media {rec['media_id']} is write "
                               "protected") from e
            raise NbuError(status_for(e, "open"), f"opening drive {place.drive['name']}: "
                           f"{e.strerror or e}") from e
        try:
            drive.set_block_size(0)
            drive.rewind()
            yield drive
        except OSError as e:
            raise NbuError(status_for(e, "position"), f"drive {place.drive['name']}: "
                           f"{e.strerror or e}") from e
        finally:
            drive.close()
    finally:
        if reply is not None:
            net.call(cfg, place.host, "ltid", "unmount", jobid=COMMAND_JOB,
                     drive=place.drive["name"])


def read_label(drive: TapeDrive) -> tuple[str, int] | None:
    """(media id, allocation time) of the tape's media header; None for a blank tape; 172
    for a tape whose first record is not a NetBackup media header."""
    st = drive.status()
    if st.bot and st.eod:
        return None
    try:
        raw = drive.read(labelfmt.LABEL_READ)
    except OSError as e:
        raise NbuError(status_for(e, "read"), f"reading the media header: "
                       f"{e.strerror or e}") from e
    return labelfmt.decode_mh(raw)


def write_label(drive: TapeDrive, media_id: str, when: int) -> None:
    """Label the tape from its start: `MH * EH *` (whatever followed is gone)."""
    try:
        drive.rewind()
        drive.write(labelfmt.encode_mh(media_id, when))
        drive.write_filemarks(1)
        drive.write(labelfmt.encode_eh(media_id, 1))
        drive.write_filemarks(1)
    except OSError as e:
        raise NbuError(status_for(e, "write"), f"writing the label: {e.strerror or e}") from e
