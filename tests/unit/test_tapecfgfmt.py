"""tpconfig's and vmpool's output from records, column by column (nbcli.commands.tapecfgfmt)."""

from __future__ import annotations

from typing import Any

from nbcli.commands import tapecfgfmt

ROBOT = {"rn": 0, "rt": "tld", "host": "media1", "device": "/dev/tape/by-path/pci-0000:87:00"}


def drive(index: int, name: str, state: str = "DOWN", rn: int = 0, **kw: Any) -> dict[str, Any]:
    d = {"index": index, "name": name, "host": "media1", "type": "hcart3", "rn": rn,
         "drnum": index + 1 if rn >= 0 else -1, "path": f"/dev/nst{index}", "state": state,
         "comment": "", "jobid": 0, "media_id": ""}
    d.update(kw)
    return d


def test_tpconfig_l_matches_netbackups_sample_columns() -> None:
    lines = tapecfgfmt.tpconfig_l([ROBOT], [drive(0, "HP.ULTRIUM6-SCSI.000"),
                                            drive(1, "HP.ULTRIUM6-SCSI.001")])
    # reference/netbackup-cli.md §1.9, verbatim (the sample's paths shortened)
    assert lines[2] == ("robot      0    -    TLD    -       -  -          -                "
                        "     /dev/tape/by-path/pci-0000:87:00")
    assert lines[3] == ("  drive    -    0 hcart3    1    DOWN  -          "
                        "HP.ULTRIUM6-SCSI.000  /dev/nst0")
    assert lines[4].split()[2] == "1" and lines[4].split()[5] == "DOWN"
    assert tapecfgfmt.tpconfig_l([], []) == list(tapecfgfmt.L_HEADER)


def test_tpconfig_l_standalone_drives_follow_the_robots() -> None:
    lines = tapecfgfmt.tpconfig_l([ROBOT], [drive(0, "SA.000", "UP", rn=-1), drive(1, "R.001")])
    assert [line.split()[2] for line in lines[3:]] == ["1", "0"]
    assert lines[4].split()[:6] == ["drive", "-", "0", "hcart3", "-", "UP"]


def test_tpconfig_d_and_dl() -> None:
    d = tapecfgfmt.tpconfig_d([ROBOT], [drive(0, "HP.ULTRIUM6-SCSI.000", "UP")], "master1")
    assert d[3] == "0   HP.ULTRIUM6-SCSI.000 hcart3 TLD(0)  DRIVE=1"
    assert d[4].split() == ["/dev/nst0", "UP"] and len(d[4]) == 73
    assert d[-3:] == ["  TLD(0)     robotic path = /dev/tape/by-path/pci-0000:87:00", "",
                      "EMM Server = master1"]
    dl = tapecfgfmt.tpconfig_dl([ROBOT], [drive(0, "A", "UP", media_id="A00001")], "master1")
    assert [line.split()[1] for line in dl if "Status" in line] == ["UP"]
    assert "        Loaded Media            A00001" in dl
    assert "        Residence               TLD(0)  Drive = 1" in dl


def test_vmpool_blocks() -> None:
    pool = {"number": 4, "name": "Weekly", "description": "weekly fulls", "host": "ANYHOST",
            "user": "ANY", "group": "NONE", "scratch": True}
    assert tapecfgfmt.pool_block(pool) == ["=" * 80, "pool number: 4", "pool name: Weekly",
                                           "description: weekly fulls", "pool host: ANYHOST",
                                           "pool user: ANY", "pool group: NONE",
                                           "max partially full: 0"]
    assert tapecfgfmt.scratch_list([pool]) == ["Scratch Pools", "=" * 80, "Weekly"]
    assert tapecfgfmt.pools_brief([pool])[2].split() == ["4", "Weekly", "weekly", "fulls"]
