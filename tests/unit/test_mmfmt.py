"""The Media Manager commands' output (nbcli.commands.mmfmt), by position, against the
reference samples of netbackup-cli.md §1.9; robtest's parser; vmupdate's plan."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from nbcli.commands import mmfmt, tpreq
from nbcli.commands.vmoprcmd import parse
from nbcli.status import NbuError

# netbackup-cli.md 1.9, `vmoprcmd -d ds` on a 10.x appliance
REFERENCE_DS = """
                                  DRIVE STATUS

Drv Type   Control  User      Label  RecMID  ExtMID  Ready   Wr.Enbl.  ReqId
  0 hcart3 DOWN-TLD             -                     No       -         0
  1 hcart3 DOWN-TLD             -                     No       -         0

"""
REFERENCE_DP = """\
Drv DrivePath                                             Status  Label  Ready
  0 {4,0,1,0}                                              DOWN     -     No
  1 {4,0,0,0}                                               UP     Yes    Yes"""


def drive(index: int, **over: Any) -> dict[str, Any]:
    rec = {"index": index, "name": f"IBM.ULT3580-TD5.00{index}", "type": "hcart3",
           "control": "DOWN-TLD", "user": "", "label": "-", "recmid": "", "extmid": "",
           "ready": False, "writable": None, "reqid": 0, "state": "DOWN", "path": "",
           "comment": ""}
    rec.update(over)
    return rec


def test_drive_status_matches_netbackups_bytes() -> None:
    lines = mmfmt.drive_status_lines([drive(0), drive(1)])
    assert "\n".join(lines) + "\n" == REFERENCE_DS


def test_drive_status_of_a_mounted_drive_by_position() -> None:
    (line,) = mmfmt.drive_status_lines([drive(2, control="TLD", user="root", label="Yes",
                                              recmid="A00001", extmid="A00001", ready=True,
                                              writable=True, reqid=12)])[4:5]
    assert line[:3] == "  2" and line[11:19] == "TLD     " and line[20:29] == "root     "
    assert line[30:35] == " Yes " and line[37:43] == "A00001" and line[45:51] == "A00001"
    assert line[53:58] == " Yes " and line[61:66] == " Yes " and line[71:76] == " 12"


def test_drive_paths_match_netbackups_bytes() -> None:
    lines = mmfmt.drive_path_lines([drive(0, path="{4,0,1,0}"),
                                    drive(1, path="{4,0,0,0}", state="UP", label="Yes",
                                          ready=True)])
    assert "\n".join(lines[3:6]) == REFERENCE_DP


def test_whole_display_sections() -> None:
    reply = {"host": "media1", "drives": [drive(0, user="root", control="TLD")],
             "pending": []}
    out = mmfmt.vmoprcmd_lines(reply, "")
    titles = [line.strip() for line in out if line.startswith("    ") and "<" not in line]
    assert titles == ["PENDING REQUESTS", "DRIVE STATUS", "ADDITIONAL DRIVE STATUS"]
    assert out[3] == " " * 37 + "<NONE>"
    add = out[out.index(mmfmt.ADDITIONAL_HEADER) + 1]
    assert add.split() == ["0", "IBM.ULT3580-TD5.000", "No", "media1"]
    assert add[25:27] == "No" and add[35:41] == "media1"
    assert "" not in [a + b for a, b in zip(out, out[1:])]  # never two blank lines
    assert mmfmt.vmoprcmd_lines(reply, "pr") == out[:5]
    pending = {"reqid": 4, "user": "root", "media_id": "A00001", "mode": "w", "time": 0,
               "drive": "D0"}
    lines = mmfmt.pending_lines([pending])
    assert lines[3] == mmfmt.PENDING_HEADER and lines[4].split()[:5] == \
        ["4", "root", "A00001", "-", "Write"]


def test_vmoprcmd_arguments() -> None:
    assert parse(["-d"]) == (None, "-d", "", "")
    assert parse(["-h", "m1", "-dp", "ds"]) == ("m1", "-dp", "", "ds")
    assert parse(["-down", "1"]) == (None, "-down", "1", "")
    assert parse(["-upbyname", "IBM.X"]) == (None, "-upbyname", "IBM.X", "")
    for bad in (["-up", "x"], ["-bogus"], ["-d", "zz"]):
        with pytest.raises(NbuError) as e:
            parse(bad)
        assert e.value.status == 20


def test_tpreq_file_is_toml_with_the_mt_words() -> None:
    reply = {"media_id": "A00001", "barcode": "A00001L6", "drive": 'odd"name', "index": 1,
             "drnum": 1, "reqid": 3, "path": "/x/drive1", "library": "/x"}
    doc = tomllib.loads(mmfmt.tpreq_file(reply, "m1", "w"))
    assert doc["drive"] == 'odd"name' and doc["mt"] == "nbvtl mt 1" and doc["drnum"] == 1
    real = tomllib.loads(mmfmt.tpreq_file({**reply, "library": "", "path": "/dev/nst1"},
                                          "m1", "r"))
    assert real["mt"] == "mt -f /dev/nst1" and real["library"] == ""


def test_tpreq_binds_a_real_drive_by_a_link_and_a_virtual_one_by_its_table(
        tmp_path: Path) -> None:
    """NetBackup's FILE is a link to the drive (`mt -f FILE`); a virtual drive has no device
    file, so its FILE says where the tape is. Either replaces what -f overwrites."""
    virtual = {"media_id": "A00001", "drive": "DRV1", "index": 1, "drnum": 1, "reqid": 3,
               "path": "/x/vtl:1", "library": "/x/vtl"}
    real = {**virtual, "library": "", "path": "/dev/nst1"}
    assert mmfmt.tpreq_device(real) == "/dev/nst1"
    assert mmfmt.tpreq_device(virtual) is None
    assert mmfmt.tpreq_device({**real, "path": "/tmp/evil"}) is None  # not a device path
    bound = tmp_path / "t"
    bound.write_text("old")
    tpreq.bind(bound, real, "m1", "r")
    assert bound.is_symlink() and os.readlink(bound) == "/dev/nst1"
    tpreq.bind(bound, virtual, "m1", "r")
    assert not bound.is_symlink()
    assert tomllib.loads(bound.read_text())["mt"] == "nbvtl mt 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no temporary left


def test_robtest_parser() -> None:
    assert mmfmt.parse_robtest("s s\n") == ("status", [("s", 0)])
    assert mmfmt.parse_robtest("m s3 d1") == ("move", [("s", 3), ("d", 1)])
    assert mmfmt.parse_robtest("unload d2") == ("unload", [("d", 2)])
    assert mmfmt.parse_robtest("q") == ("quit", [])
    assert mmfmt.parse_robtest("  ") == ("", [])
    for bad in ("m s0 d1", "m x1 d1", "unload s1", "s x", "fly"):
        with pytest.raises(ValueError):
            mmfmt.parse_robtest(bad)


def test_robtest_lines() -> None:
    drives = [{"number": 0, "full": True, "barcode": "A1", "source": 4},
              {"number": 1, "full": False, "barcode": "", "source": None}]
    assert mmfmt.robtest_drives(drives) == [
        "drive 1 (addr 0) access = 1 Contains Cartridge = yes", "Source address = 4 (slot 4)",
        "Barcode = A1", "drive 2 (addr 1) access = 1 Contains Cartridge = no"]
    assert mmfmt.robtest_inports([{"number": 11, "full": True, "barcode": "N1"}]) == \
        ["inport 1 (addr 11) contains Cartridge = yes", "Barcode = N1"]


def el(n: int, barcode: str = "", source: int | None = None) -> dict[str, Any]:
    return {"number": n, "full": bool(barcode), "barcode": barcode, "source": source}


def test_vmupdate_plan() -> None:
    inv = {"drives": [el(0, "C00002L6", 2), el(1)],
           "slots": [el(1, "C00001L6"), el(2), el(3), el(4, "C00004L6")],
           "mailslots": [el(5, "NEW001L6"), el(6, "NEW002L6")]}
    media = [{"media_id": "0001L6", "barcode": "C00001L6", "rn": 0, "slot": 1},
             {"media_id": "0004L6", "barcode": "C00004L6", "rn": 0, "slot": 9}]
    # slot 2 is the home of the cartridge in drive 0: not free; slot 4 is full
    with pytest.raises(ValueError):
        mmfmt.vmupdate_plan(inv, media, 0, empty_map=True)  # two cartridges, one free slot
    inv["mailslots"] = [el(5, "NEW001L6"), el(6)]
    # gone from the robot: 0007L6 (idle) and 0008L6 (its job's cartridge on its way: kept);
    # 0009L6 is another robot's, 0010L6 in a drive with no home slot: both still there
    inv["drives"][1] = el(1, "C00010L6")
    media += [{"media_id": "0007L6", "barcode": "C00007L6", "rn": 0, "slot": 7},
              {"media_id": "0008L6", "barcode": "C00008L6", "rn": 0, "slot": 8, "jobid": 4},
              {"media_id": "0009L6", "barcode": "C00009L6", "rn": 1, "slot": 1},
              {"media_id": "0010L6", "barcode": "C00010L6", "rn": 0, "slot": 10}]
    # without -empty_map the mail slot is left alone: its cartridge is not in the robot
    left = mmfmt.vmupdate_plan(inv, media, 0)
    assert left.moves == [] and ("W001L6", "NEW001L6", 3) not in left.adds
    plan = mmfmt.vmupdate_plan(inv, media, 0, empty_map=True)
    assert plan.moves == [("NEW001L6", 3)]
    assert plan.adds == [("0002L6", "C00002L6", 2), ("W001L6", "NEW001L6", 3)]
    assert plan.changes == [("0004L6", 9, 4)]
    assert plan.removals == [("0007L6", 7)]
    lines = mmfmt.vmupdate_lines(0, plan, "Scratch", "hcart")
    assert "Logically add new media W001L6 (barcode NEW001L6) to robot slot 3." in lines
    assert "Logically move media 0007L6 from robot slot 7 to standalone (it is no longer " \
        "in the robot)." in lines
    assert "Media ID 0007L6 moved to standalone." in lines
    assert lines[-1] == "Volume configuration successfully updated."
    none = mmfmt.vmupdate_lines(0, mmfmt.InventoryPlan(), "", "")
    assert none[-1] == "Volume configuration is up to date: no changes to make."
