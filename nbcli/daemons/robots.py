"""The devices the Media Manager daemons drive: a robot's changer and a drive, from what EMM
says of them, and the reading of a tape's media header (what avrd does).

A robot's `device` in EMM is the virtual library's home (a folder holding library.toml,
nbcli.vtl) or a real changer (/dev/sgN, driven through mtx). A drive of a virtual robot is
that library's drive `drnum` (mtx's data transfer element, from 0); a drive of a real robot,
or a standalone one, is its no-rewind device path (/dev/nstN).

Place: shared by tldcd (changers) and avrd (drives). Imports nbcli.vtl and nbcli.media.tapefmt
(the header bytes), status; nothing of net or catalog.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from nbcli.media import tapefmt
from nbcli.status import MEDIA_READ_ERROR, MEDIA_REQUEST_FAILED, NbuError
from nbcli.vtl.api import Changer, ChangerError, Element, Inventory, TapeDrive, status_for
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.mtio import RealDrive
from nbcli.vtl.mtx import MtxChanger
from nbcli.vtl.vdrive import VirtualDrive

LABEL_READ = 256 * 1024  # any header record fits; a larger first record is foreign


def is_virtual(device: str) -> bool:
    """Whether a robot device names a virtual library (a folder) rather than /dev/sgN."""
    return bool(device) and not device.startswith("/dev/")


def changer(device: str) -> Changer:
    """The changer of robot device `device` (NbuError 98 when there is no library there)."""
    if is_virtual(device):
        lib = Library(device)
        if not lib.exists():
            raise NbuError(MEDIA_REQUEST_FAILED, f"no tape library in {device}")
        return VirtualChanger(lib)
    return MtxChanger(device)


def drive(device: str, drnum: int, path: str) -> TapeDrive:
    """Drive `drnum` of the robot at `device`, or the real drive at `path`."""
    if is_virtual(device):
        return VirtualDrive(Library(device), drnum)
    return RealDrive(path)


def inventory_record(inv: Inventory) -> dict[str, list[dict[str, object]]]:
    """An inventory as a message: drives, slots and mail slots with their barcodes."""
    def one(e: Element) -> dict[str, object]:
        return {"number": e.number, "full": e.full, "barcode": e.barcode, "source": e.source}

    return {"drives": [one(e) for e in inv.drives], "slots": [one(e) for e in inv.slots],
            "mailslots": [one(e) for e in inv.mailslots]}


def changer_error(e: ChangerError, what: str) -> NbuError:
    return NbuError(status_for(e), f"{what}: {e.strerror or e}")


@dataclass(frozen=True)
class Label:
    """What avrd finds on a loaded tape."""

    recmid: str            # the media id its media header records ("" when none)
    blank: bool            # nothing written: bptm labels it at its first write
    foreign: bool          # a first record that is not a NetBackup media header
    write_protected: bool

    def record(self) -> dict[str, object]:
        return {"recmid": self.recmid, "blank": self.blank, "foreign": self.foreign,
                "write_protected": self.write_protected}


def read_label(d: TapeDrive) -> Label:
    """Open the drive read-only, rewind, read the first record, close: the tape's label.

    NbuError 97 (MEDIA_IN_USE) when a process has the drive open, 98 when it is empty,
    85 when the read fails."""
    try:
        d.open(False)
    except OSError as e:
        raise NbuError(status_for(e, "open"), f"reading the media header: {e.strerror}") from e
    try:
        d.set_block_size(0)
        d.rewind()
        st = d.status()
        if st.bot and st.eod:
            return Label("", True, False, st.write_protected)
        try:
            raw = d.read(LABEL_READ)
        except OSError as e:
            if e.errno == errno.ENOMEM:  # a record larger than any header
                return Label("", False, True, st.write_protected)
            raise
        try:
            mh = tapefmt.decode_mh(raw)
        except NbuError:
            return Label("", False, True, st.write_protected)
        return Label(mh.media_id, False, False, st.write_protected)
    except OSError as e:
        raise NbuError(MEDIA_READ_ERROR, f"reading the media header: {e.strerror}") from e
    finally:
        try:
            d.rewind()
        except OSError:
            pass
        d.close()
