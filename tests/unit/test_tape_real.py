"""The real-device side, tested without devices: mtio's ioctl request numbers and struct
layouts against the kernel's values (linux/mtio.h on x86_64 and aarch64), and the parser of
`mtx status` on sample output, plus MtxChanger's command lines through a stand-in mtx."""

from __future__ import annotations

import errno
import os
import platform
import struct
from pathlib import Path

import pytest

from nbcli.vtl import mtio, mtx
from nbcli.vtl.api import ChangerError, Element
from nbcli.vtl.library import VirtualChanger
from tests.unit.tapekit import make_library

LP64 = struct.calcsize("@l") == 8


@pytest.mark.skipif(not LP64 or platform.machine() not in ("x86_64", "aarch64", "arm64"),
                    reason="the kernel's numbers below are those of 64-bit x86 and arm")
def test_ioctl_numbers_are_the_kernels() -> None:
    """_IOW('m', 1, struct mtop), _IOR('m', 2, struct mtget), _IOR('m', 3, struct mtpos)."""
    assert mtio.MTIOCTOP == 0x40086D01
    assert mtio.MTIOCGET == 0x80306D02
    assert mtio.MTIOCPOS == 0x80086D03
    assert (mtio.MTOP.size, mtio.MTGET.size, mtio.MTPOS.size) == (8, 48, 8)


def test_ioc_encoding() -> None:
    """The generic _IOC layout x86_64 and aarch64 share: dir, size, type, number."""
    # _IOC(dir, type, nr, size): dir in bits 30-31, size 16-29, type 8-15, nr 0-7
    assert mtio.ioc(1, "m", 1, 8) == (1 << 30) | (8 << 16) | (0x6D << 8) | 1
    assert mtio.ioc(2, "T", 0x13, 0) == 0x80005413


def test_mtop_packing() -> None:
    """struct mtop {short mt_op; int mt_count;}: 2 bytes, 2 of padding, 4 bytes."""
    raw = mtio.pack_mtop(mtio.MTFSF, 3)
    assert raw == struct.pack("=h2xi", 1, 3)
    assert mtio.MTEOM == 12 and mtio.MTSEEK == 22 and mtio.MTSETBLK == 20


def test_mtget_unpacking() -> None:
    """struct mtget: the block size in mt_dsreg's low 24 bits, GMT_* bits in mt_gstat."""
    gstat = mtio.GMT_BOT | mtio.GMT_ONLINE | mtio.GMT_WR_PROT
    raw = mtio.MTGET.pack(0x72, 0, 512 | (0x44 << 24), gstat, 0, 2, 7)
    got = mtio.unpack_mtget(raw)
    assert (got.file_number, got.block_number, got.block_size) == (2, 7, 512)
    assert got.bot and got.online and got.write_protected and got.loaded
    assert not (got.eof or got.eot or got.eod)
    empty = mtio.unpack_mtget(mtio.MTGET.pack(0, 0, 0, mtio.GMT_DR_OPEN, 0, -1, -1))
    assert not empty.loaded and empty.file_number == -1


# mtx pads volume tags with spaces and prints "Full " with a space; lines as mtx prints them.
SAMPLE = "\n".join([
    "  Storage Changer /dev/sg3:2 Drives, 6 Slots ( 1 Import/Export )",
    "Data Transfer Element 0:Full (Storage Element 3 Loaded):VolumeTag = 000003L4" + " " * 28,
    "Data Transfer Element 1:Full (Unknown Storage Element Loaded):VolumeTag = E01001L4"
    ":AlternateVolumeTag = X",
    "      Storage Element 1:Full :VolumeTag=000001L4" + " " * 24,
    "      Storage Element 2:Empty",
    "      Storage Element 3:Empty",
    "      Storage Element 4:Full ",
    "      Storage Element 5:Full :VolumeTag=CLN001L1",
    "      Storage Element 6 IMPORT/EXPORT:Empty",
]) + "\n"


def test_a_real_drive_writes_a_framed_record_as_the_record_alone(tmp_path: Path) -> None:
    """st takes a record from any memory: write_framed writes frame[at:at + length] as one
    write and leaves the room around it alone (the device here is a plain file)."""
    device = tmp_path / "nst0"
    device.touch()
    drive = mtio.RealDrive(str(device))
    assert drive.frame_room == (0, 0)
    drive.open()
    try:
        frame = memoryview(bytearray(b"<" * 8 + b"record" + b">" * 8))
        assert drive.write_framed(frame, 8, 6) == 6
    finally:
        drive.close()
    assert device.read_bytes() == b"record" and bytes(frame) == b"<" * 8 + b"record" + b">" * 8


def test_parse_mtx_status() -> None:
    """mtx status: full drives with a known or unknown source, padded tags, an alternate tag, a
    full slot without a label, the import/export element."""
    inv = mtx.parse_status(SAMPLE)
    assert inv.drives == (Element("drive", 0, True, "000003L4", 3),
                          Element("drive", 1, True, "E01001L4", None))
    assert inv.slots[0] == Element("slot", 1, True, "000001L4")
    assert inv.slots[1] == Element("slot", 2, False, "")
    assert inv.slots[3] == Element("slot", 4, True, "")  # full, no barcode label
    assert [e.number for e in inv.slots] == [1, 2, 3, 4, 5]
    assert inv.mailslots == (Element("mailslot", 6, False, ""),)
    assert inv.find("CLN001L1") == Element("slot", 5, True, "CLN001L1")


def test_parse_mtx_status_rejects_other_text() -> None:
    """An mtx error message is not an empty inventory."""
    with pytest.raises(ValueError):
        mtx.parse_status("mtx: cannot open SCSI device '/dev/sg9'\n")


def test_virtual_library_status_reads_as_mtx(tmp_path: Path) -> None:
    """nbvtl status prints mtx's format: the mtx parser reads it back to the same inventory."""
    lib = make_library(tmp_path, slots=3, mailslots=1, barcodes=["A00000L6", "A00001L6"])
    robot = VirtualChanger(lib)
    robot.load(2, 1)
    robot.insert("B00000L6")
    text = mtx.format_status(robot.inventory(), "/dev/sg3")
    assert text.splitlines()[:3] == [
        "  Storage Changer /dev/sg3:2 Drives, 4 Slots ( 1 Import/Export )",
        "Data Transfer Element 0:Empty",
        "Data Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = A00001L6"]
    assert "      Storage Element 4 IMPORT/EXPORT:Full :VolumeTag=B00000L6" in text
    assert mtx.parse_status(text) == robot.inventory()


@pytest.fixture
def fake_mtx(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for mtx that logs its arguments, prints SAMPLE for status, and fails a
    load from slot 2 as mtx does for an empty source."""
    log = tmp_path / "mtx.log"
    sample = tmp_path / "sample.txt"
    sample.write_text(SAMPLE)
    script = tmp_path / "mtx"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
case "$3 $4" in
  "status "*) cat {sample} ;;
  "load 2") echo "source Element Address 1001 is Empty" >&2; exit 1 ;;
  "load 1") echo "Destination Element Address 500 is Already Full" >&2; exit 1 ;;
esac
""")
    os.chmod(script, 0o755)
    return script, log


def test_mtx_changer_command_lines(fake_mtx: tuple[Path, Path]) -> None:
    """mtx -f DEV load SLOT DRIVE / unload SLOT DRIVE / transfer A B; its 'is Empty' and 'Already
    Full' errors become ENOMEDIUM and EEXIST."""
    script, log = fake_mtx
    robot = mtx.MtxChanger("/dev/sg3", mtx=str(script))
    assert robot.inventory().drives[0].barcode == "000003L4"
    robot.load(4, 1)
    robot.unload(0)          # back to its source: mtx needs the slot named
    robot.unload(1, 2)
    robot.transfer(5, 6)
    assert log.read_text().splitlines() == [
        "-f /dev/sg3 status", "-f /dev/sg3 load 4 1", "-f /dev/sg3 status",
        "-f /dev/sg3 unload 3 0", "-f /dev/sg3 unload 2 1", "-f /dev/sg3 transfer 5 6"]
    with pytest.raises(ChangerError) as e:
        robot.load(2, 0)
    assert e.value.errno == errno.ENOMEDIUM
    with pytest.raises(ChangerError) as e:
        robot.load(1, 0)
    assert e.value.errno == errno.EEXIST
    with pytest.raises(ChangerError) as e:
        robot.unload(1)  # drive 1's source slot is unknown
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ChangerError) as e:
        mtx.MtxChanger("/dev/sg3", mtx=str(script) + ".missing").inventory()
    assert e.value.errno == errno.EIO
