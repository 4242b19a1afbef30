"""bpstulist's and nbemmcmd's formats as pure functions: field positions, labels, -M lists."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from nbcli.cli import master_list
from nbcli.commands import nbemmcmd, stufmt
from nbcli.config import HostConfig
from nbcli.status import NbuError

STU = {"label": "disk_stu", "stype": 1, "host": "media1", "path": "/nb/disk_stu", "cj": 4,
       "mfs_mb": 2048, "odo": 1, "jobs": 0}


def test_raw_line_field_order() -> None:
    fields = dict(zip(stufmt.RAW_FIELDS, stufmt.raw_values(STU), strict=True))
    assert fields["label"] == "disk_stu"
    assert fields["type"] == "0"  # Disk
    assert fields["host"] == "media1"
    assert (fields["robot_type"], fields["robot_number"], fields["density"]) == ("0", "-1", "-1")
    assert fields["concurrent_jobs"] == "4"
    assert fields["path"] == '"/nb/disk_stu"'  # quoted, as NetBackup's; see below for blanks
    assert fields["on_demand_only"] == "1"
    assert fields["max_fragment_size"] == "2048"
    assert fields["ndmp_attach_host"] == "*NULL*"
    assert fields["subtype"] == "1"  # BasicDisk, bpstuadd -dt 1
    assert (fields["high_water_mark"], fields["low_water_mark"]) == ("98", "80")
    assert fields["host_list"] == "media1"
    line = stufmt.raw_line(STU)
    assert line.split()[0] == "disk_stu" and len(line.split()) == len(stufmt.RAW_FIELDS)
    blank = stufmt.raw_line({**STU, "path": "/nb/my disk"})
    assert ' "/nb/my disk" ' in blank and shlex.split(blank)[8] == "/nb/my disk"


def test_labelled_block() -> None:
    lines = stufmt.labelled(STU)
    pairs = {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert lines[0].startswith("Label:") and pairs["Label"] == "disk_stu"
    assert pairs["Storage Unit Type"] == "Disk"
    assert pairs["Storage Unit Subtype"] == "Basic (1)"
    assert pairs["Host Connection"] == "media1"
    assert pairs["Concurrent Jobs"] == "4"
    assert pairs["On Demand Only"] == "yes"
    assert pairs["Path"] == '"/nb/disk_stu"'
    assert pairs["Max Fragment Size"] == "2048 MB"
    # values line up in one column, as NetBackup's do
    assert len({line.index(v) for line, v in zip(lines, pairs.values(), strict=True)}) == 1


def test_masters_option(tmp_path: Path) -> None:
    cfg = HostConfig(tmp_path, {"SERVER": ["m1", "media"]})
    assert master_list(cfg, None) == ["m1"]
    assert master_list(cfg, "a, b,") == ["a", "b"]
    with pytest.raises(NbuError) as e:
        master_list(cfg, " , ")
    assert e.value.status == 20


def test_nbemmcmd_lines() -> None:
    host = {"name": "media1", "machinetype": "media", "master": "m1", "version": "10.1.1"}
    assert nbemmcmd.host_line(host).split() == ["media", "media1"]
    block = nbemmcmd.verbose_block(host)
    assert block[0] == "media1"
    assert '        MachineName = "media1"' in block
    assert "        MachineNbuType = media (1)" in block
    assert '        MasterServerName = "m1"' in block
    assert "        NetBackupVersion = 10.1.1 (1011000)" in block
    assert nbemmcmd.version_number("8.1.2") == 812000
    assert nbemmcmd.verbose_block({**host, "version": ""})[-1].endswith("0.0.0.0 (0)")
    assert nbemmcmd.verbose_block({**host, "os": "Linux"})[-2] == \
        '        OperatingSystem = "Linux"'
    # -parsable: split on " - " (NetBackup's shape: EMMHOST<version> - <host> - ...)
    assert nbemmcmd.parsable_line(host).split(" - ") == \
        ["EMMHOST10.1.1", "media1", "media", "m1", "-"]
    assert nbemmcmd.probe_lines([]) == ["No media or drive errors were found."]


def test_nbemmcmd_machine_state_line() -> None:
    """-listhosts -verbose shows a media server's state after its type (words are nbcli's)."""
    host = {"name": "media1", "machinetype": "media", "master": "m1", "version": "10.1.1"}
    block = nbemmcmd.verbose_block({**host, "state": 5})
    assert block[6] == "        MachineState = administrative pause, disabled (5)"
    assert nbemmcmd.verbose_block(host)[6] == "        MachineState = active (0)"
    assert not any("MachineState" in line
                   for line in nbemmcmd.verbose_block({**host, "machinetype": "client"}))
