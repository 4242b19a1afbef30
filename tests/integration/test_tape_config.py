"""The tape configuration commands as real processes on an all-in-one host with nbemm running:
tpconfig on a virtual library, vmadd / vmchange / vmdelete, vmpool and nbemmcmd's media
settings, their output read by position as scripts read it, and their errors."""

from __future__ import annotations

import pytest

from tests.conftest import Host
from tests.integration.test_emm import call, emm

__all__ = ["emm"]  # the fixture, imported for the tests below

HEADER = ["Device Robot Drive       Robot                    Drive                 Device",
          "Type     Num Index  Type DrNum Status  Comment    Name                  Path"]


def configured(nb: Host) -> str:
    """A virtual library of 2 drives as robot 0 with its two drives; its home."""
    nb.run("nbvtl", "create", "--drives", "2", "--slots", "10")
    home = str(nb.root / "volmgr" / "vtl")
    nb.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld")
    nb.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype", "tld",
           "-robdrnum", "0")
    nb.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype", "tld",
           "-robdrnum", "1", "-asciiname", "HP.ULTRIUM6-SCSI.001", "-path", f"{home}:1")
    return home


def test_tpconfig_lists_by_position(emm: Host) -> None:
    empty = emm.run("tpconfig", "-l").stdout.splitlines()
    assert len(empty) == 2 and all(line.startswith(h) for line, h in zip(empty, HEADER))
    assert empty[0].split()[-1] == "Second" and empty[1].split()[-2:] == ["Device", "Path"]
    home = configured(emm)
    emm.run("tpconfig", "-update", "-drive", "1", "-down")
    lines = emm.run("tpconfig", "-l").stdout.splitlines()
    assert len(lines) == 5 and lines[0].startswith(HEADER[0]) and lines[1].startswith(HEADER[1])
    robot, d0, d1 = lines[2:]
    assert robot.split() == ["robot", "0", "-", "TLD", "-", "-", "-", "-", home]
    assert d0.split() == ["drive", "-", "0", "hcart", "0", "UP", "-", "HCART.DRIVE.000",
                          f"{home}:0"]
    assert d1.split()[:6] == ["drive", "-", "1", "hcart", "1", "DOWN"]
    # the columns of NetBackup's sample: number ends at 12, index 17, type 24, status 37
    assert (robot[11], d0[16], d0[19:24], d1[33:37], d1[50:70], d1[72:]) == \
        ("0", "0", "hcart", "DOWN", "HP.ULTRIUM6-SCSI.001", f"{home}:1")
    d = emm.run("tpconfig", "-d").stdout.splitlines()
    assert d[2] == "*" * 76
    assert d[3].split() == ["0", "HCART.DRIVE.000", "hcart", "TLD(0)", "DRIVE=0"]
    assert d[4].split() == [f"{home}:0", "UP"] and d[6].split() == [f"{home}:1", "DOWN"]
    assert d[7] == "Currently defined robotics are:"
    assert d[8].split() == ["TLD(0)", "robotic", "path", "=", home]
    assert d[-1] == "EMM Server = aio"
    dl = emm.run("tpconfig", "-dl").stdout.splitlines()
    # tpconfig -dl | awk '/Status/ {print $2}'
    assert [line.split()[1] for line in dl if "Status" in line] == ["UP", "DOWN"]
    assert [line.split()[-1] for line in dl if "Drive Name" in line] == \
        ["HCART.DRIVE.000", "HP.ULTRIUM6-SCSI.001"]


def test_tpconfig_changes_reach_nbemm(emm: Host) -> None:
    home = configured(emm)
    drives = call(emm, "drive_list", host="aio")["drives"]
    assert [(d["index"], d["rn"], d["drnum"], d["path"], d["type"]) for d in drives] == \
        [(0, 0, 0, f"{home}:0", "hcart"), (1, 0, 1, f"{home}:1", "hcart")]
    emm.run("tpconfig", "-update", "-drive", "0", "-comment", "cleaned", "-drstatus", "DOWN")
    assert call(emm, "drive_list")["drives"][0]["comment"] == "cleaned"
    assert call(emm, "drive_list")["drives"][0]["state"] == "DOWN"
    emm.run("tpconfig", "-update", "-drive", "0", "-up")
    assert call(emm, "drive_list")["drives"][0]["state"] == "UP"
    assert emm.run("tpconfig", "-delete", "-robot", "0", check=False).returncode == 133
    emm.run("tpconfig", "-delete", "-drive", "0")
    emm.run("tpconfig", "-delete", "-drive", "1")
    emm.run("tpconfig", "-delete", "-robot", "0")
    assert len(emm.run("tpconfig", "-l").stdout.splitlines()) == 2


@pytest.mark.parametrize("argv, code, words", [
    (["tpconfig"], 20, "give one of"),
    (["tpconfig", "-add", "-robot", "0", "-robtype", "acs"], 20, "only tld"),
    (["tpconfig", "-add", "-robot", "1", "-robtype", "tld", "-robpath", "/nb/none"], 227,
     "no virtual tape library"),
    (["tpconfig", "-add", "-drive", "-type", "lto", "-robot", "0", "-robtype", "tld",
      "-robdrnum", "0"], 20, "unknown density"),
    (["tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype", "tld",
      "-robdrnum", "5"], 20, "drives 0 to 1"),
    (["tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype", "tld",
      "-robdrnum", "1"], 226, "drive number 1"),
    (["tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "3", "-robtype", "tld",
      "-robdrnum", "0"], 227, "robot 3"),
    (["tpconfig", "-update", "-drive", "9", "-down"], 227, "drive 9"),
])
def test_tpconfig_errors(emm: Host, argv: list[str], code: int, words: str) -> None:
    configured(emm)
    r = emm.run(*argv, check=False)
    assert r.returncode == code and words in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(f"EXIT STATUS {code}: ")


def test_vmadd_vmchange_vmdelete(emm: Host) -> None:
    configured(emm)
    emm.run("vmadd", "-m", "a00001", "-mt", "hcart", "-b", "A00001L6", "-rt", "tld", "-rn",
            "0", "-rc1", "1", "-p", "1")
    assert emm.run("vmadd", "-m", "A00002", "-mt", "hcart").stdout == ""
    (m1,) = call(emm, "media_list", media_id="A00001")["media"]
    assert (m1["barcode"], m1["pool"], m1["rt"], m1["rn"], m1["slot"]) == \
        ("A00001L6", "NetBackup", "tld", 0, 1)
    (m2,) = call(emm, "media_list", media_id="A00002")["media"]
    assert (m2["pool"], m2["rt"], m2["rn"]) == ("None", "none", -1)  # vmadd's default pool 0
    emm.run("vmchange", "-m", "A00002", "-p", "1", "-maxmounts", "500")
    emm.run("vmchange", "-m", "A00002", "-rt", "tld", "-rn", "0", "-rc1", "2")
    (m2,) = call(emm, "media_list", media_id="A00002")["media"]
    assert (m2["pool"], m2["max_mounts"], m2["rn"], m2["slot"]) == ("NetBackup", 500, 0, 2)
    r = emm.run("vmchange", "-m", "A00002", "-rt", "tld", "-rn", "0", "-rc1", "1", check=False)
    assert r.returncode == 226 and "holds A00001" in r.stderr
    for argv, code in ((["vmadd", "-m", "A00001", "-mt", "hcart"], 226),
                       (["vmadd", "-m", "A0000001", "-mt", "hcart"], 171),
                       (["vmadd", "-m", "B1", "-mt", "hcart", "-p", "42"], 167),
                       (["vmadd", "-m", "B1", "-mt", "hcart", "-rt", "tld"], 20),
                       (["vmchange", "-m", "A00001"], 20),
                       (["vmdelete", "-m", "NOSUCH"], 227)):
        r = emm.run(*argv, check=False)
        assert r.returncode == code and "Traceback" not in r.stderr, argv
    call(emm, "media_written", jobid=1, media_id="A00001", kbytes=1, images=1)
    r = emm.run("vmdelete", "-m", "A00001", check=False)
    assert r.returncode == 168
    assert emm.run("vmdelete", "-m", "A00002").stdout == ""
    assert [m["media_id"] for m in call(emm, "media_list")["media"]] == ["A00001"]


def cleanings_left(emm: Host, media_id: str) -> str:
    """vmquery -m's `cleanings left:` line, as `awk '/^cleanings left/ {print $3}'` reads it."""
    out = emm.run("vmquery", "-m", media_id).stdout
    return next(line.split()[2] for line in out.splitlines()
                if line.startswith("cleanings left"))


def test_cleaning_tapes_and_deleting_a_volume_group(emm: Host) -> None:
    configured(emm)
    emm.run("vmadd", "-m", "CLN001", "-mt", "hc_cln", "-rt", "tld", "-rn", "0", "-rc1", "3",
            "-n", "25")
    assert cleanings_left(emm, "CLN001") == "25"
    emm.run("vmchange", "-m", "CLN001", "-n", "7")
    assert cleanings_left(emm, "CLN001") == "7"
    for argv in (["vmadd", "-m", "D1", "-mt", "hcart", "-n", "5"],
                 ["vmadd", "-m", "D1", "-mt", "hc_cln", "-n", "-1"]):
        r = emm.run(*argv, check=False)
        assert r.returncode == 20 and "Traceback" not in r.stderr, argv
    emm.run("vmadd", "-m", "D1", "-mt", "hcart", "-rt", "tld", "-rn", "0", "-rc1", "4")
    r = emm.run("vmchange", "-m", "D1", "-n", "5", check=False)
    assert r.returncode == 20 and "cleanings are a cleaning tape's" in r.stderr
    # vmdelete -v: every volume of robot 0's group but the assigned one, which is named (168)
    emm.run("vmadd", "-m", "D2", "-mt", "hcart", "-rt", "tld", "-rn", "0", "-rc1", "5")
    emm.run("vmadd", "-m", "OUT1", "-mt", "hcart")  # standalone: group ---, kept
    call(emm, "media_written", jobid=1, media_id="D2", kbytes=1, images=1)
    group = "000_00000_TLD"
    assert group in emm.run("vmquery", "-m", "D1").stdout
    r = emm.run("vmdelete", "-v", group, check=False)
    assert r.returncode == 168 and "D2 is assigned" in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1].startswith("EXIT STATUS 168")
    assert sorted(m["media_id"] for m in call(emm, "media_list")["media"]) == ["D2", "OUT1"]
    r = emm.run("vmdelete", "-v", "001_00000_TLD", check=False)
    assert r.returncode == 227
    assert emm.run("vmdelete", "-m", "D2", "-v", group, check=False).returncode == 20
    assert emm.run("vmdelete", "-v", "---", check=False).returncode == 20  # no group
    assert "OUT1" in [m["media_id"] for m in call(emm, "media_list")["media"]]


def test_vmpool(emm: Host) -> None:
    blocks = emm.run("vmpool", "-listall").stdout.split("=" * 80 + "\n")
    assert blocks[0] == "" and len(blocks) == 5
    assert blocks[2].splitlines() == ["pool number: 1", "pool name: NetBackup",
                                      "description: the NetBackup pool", "pool host: ANYHOST",
                                      "pool user: ANY", "pool group: NONE",
                                      "max partially full: 0"]
    emm.run("vmpool", "-add", "Weekly", "weekly fulls", "ANYHOST", "-1", "-2")
    emm.run("vmpool", "-add", "Scratch", "new tapes", "ANYHOST", "-1", "-2")
    assert emm.run("vmpool", "-list_scratch").stdout.splitlines() == ["Scratch Pools",
                                                                      "=" * 80]
    emm.run("vmpool", "-set_scratch", "Scratch")
    assert emm.run("vmpool", "-list_scratch").stdout.splitlines()[2:] == ["Scratch"]
    brief = emm.run("vmpool", "-listall", "-b").stdout.splitlines()
    assert [line.split()[:2] for line in brief[2:]][-2:] == [["4", "Weekly"], ["5", "Scratch"]]
    # vmpool -listall | grep "pool name:"
    names = [line.split(": ")[1] for line in emm.run("vmpool", "-listall").stdout.splitlines()
             if line.startswith("pool name:")]
    assert names == ["None", "NetBackup", "DataStore", "CatalogBackup", "Weekly", "Scratch"]
    for argv, code in ((["vmpool", "-set_scratch", "NetBackup"], 133),
                       (["vmpool", "-set_scratch", "Weekly"], 226),
                       (["vmpool", "-delete", "None"], 133),
                       (["vmpool", "-delete", "Nope"], 167),
                       (["vmpool", "-add", "Weekly", "x", "ANYHOST", "-1", "-2"], 226),
                       (["vmpool", "-add", "Only"], 20),
                       (["vmpool"], 20)):
        r = emm.run(*argv, check=False)
        assert r.returncode == code and "Traceback" not in r.stderr, argv
    emm.run("vmpool", "-unset_scratch", "Scratch")
    emm.run("vmpool", "-delete", "Scratch")
    assert "Scratch" not in emm.run("vmpool", "-listall").stdout


def test_nbemmcmd_media_settings_and_listmedia(emm: Host) -> None:
    out = emm.run("nbemmcmd", "-changesetting", "-machinename", "aio",
                  "-media_error_threshold", "3", "-time_window", "24").stdout.splitlines()
    assert out[0].startswith("NBEMMCMD, Version: ")
    assert out[1:] == ['MEDIA_ERROR_THRESHOLD="3"', 'DRIVE_ERROR_THRESHOLD="2"',
                       'TIME_WINDOW="24"', "Command completed successfully."]
    out = emm.run("nbemmcmd", "-changesetting", "-drive_error_threshold", "4").stdout
    assert 'DRIVE_ERROR_THRESHOLD="4"' in out.splitlines()
    assert call(emm, "settings")["settings"] == {"media_error_threshold": 3,
                                                 "drive_error_threshold": 4,
                                                 "time_window": 24}
    r = emm.run("nbemmcmd", "-changesetting", check=False)
    assert r.returncode == 20
    emm.run("vmadd", "-m", "A00001", "-mt", "hcart", "-b", "A00001L6", "-p", "1")
    lines = emm.run("nbemmcmd", "-listmedia", "-mediaid", "A00001").stdout.splitlines()
    fields = {k: v.strip() for k, _, v in (line.partition(":") for line in lines[2:-1])}
    assert (fields["Media ID"], fields["Barcode"], fields["Volume Pool"],
            fields["Media Status"]) == ("A00001", "A00001L6", "NetBackup", "UNASSIGNED")
    assert len(emm.run("nbemmcmd", "-listmedia", "-conflicts").stdout.splitlines()) == 2
    emm.run("nbemmcmd", "-deletemedia", "-mediaid", "A00001")
    assert call(emm, "media_list")["media"] == []


@pytest.mark.parametrize("name", ["tpconfig", "vmadd", "vmchange", "vmdelete", "vmpool"])
def test_help_ends_with_exit_status(aio_root: Host, name: str) -> None:
    out = aio_root.run(name, "--help").stdout
    section = out[out.index("EXIT STATUS"):out.index("Options:")].splitlines()
    assert section[1].split()[0] == "0" and all(line.split()[0].isdigit()
                                                for line in section[1:] if line.strip())
