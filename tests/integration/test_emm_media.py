"""nbemm's media ops on a real all-in-one host: robots, drives, pools and media over the socket,
a tape allocation with spanning and the error threshold, and the tape storage unit commands
run as real processes with their output checked by position."""

from __future__ import annotations

import shlex

from tests.conftest import Host
from tests.integration.test_emm import call, emm, status

__all__ = ["emm"]  # the fixture, imported for the tests below

HOME = "/nb/volmgr/vtl"


def library(nb: Host, drives: int = 2, media: int = 3) -> None:
    """Robot 0 (TLD) on aio with `drives` hcart drives and `media` media in slots 1..n."""
    call(nb, "robot_add", rn=0, rt="tld", host="aio", device=HOME)
    for n in range(drives):
        assert call(nb, "drive_add", name=f"HP.ULTRIUM.00{n}", host="aio", type="hcart",
                    rn=0, drnum=n, path=f"{HOME}:{n}") == {"index": n}
    for n in range(1, media + 1):
        call(nb, "media_add", media_id=f"A0000{n}", type="hcart", barcode=f"A0000{n}L6",
             rt="tld", rn=0, slot=n)


def test_media_ops_over_the_socket(emm: Host) -> None:
    library(emm)
    assert call(emm, "robot_list") == {"robots": [{"rn": 0, "rt": "tld", "host": "aio",
                                                   "device": HOME}]}
    drives = call(emm, "drive_list", host="aio")["drives"]
    assert [(d["index"], d["name"], d["state"], d["jobid"], d["media_id"]) for d in drives] == \
        [(0, "HP.ULTRIUM.000", "UP", 0, ""), (1, "HP.ULTRIUM.001", "UP", 0, "")]
    assert call(emm, "pool_add", name="Weekly", description="weekly") == {"number": 4}
    assert call(emm, "pool_scratch", name="Weekly", on=True) == {}
    assert status(emm, "pool_scratch", name="NetBackup", on=True) == 133
    pools = call(emm, "pool_list")["pools"]
    assert [(p["number"], p["name"], p["scratch"]) for p in pools] == \
        [(0, "None", False), (1, "NetBackup", False), (2, "DataStore", False),
         (3, "CatalogBackup", False), (4, "Weekly", True)]
    assert call(emm, "media_change", media_id="A00003", pool="4") == {}
    assert [m["media_id"] for m in call(emm, "media_list", pool="Weekly")["media"]] == \
        ["A00003"]
    assert status(emm, "media_add", media_id="TOOLONG", type="hcart") == 171
    assert status(emm, "media_list", media_id="NOSUCH") == 227
    assert status(emm, "media_state", media_id="A00001", action="melt") == 20
    assert call(emm, "settings", media_error_threshold=3) == \
        {"settings": {"media_error_threshold": 3, "drive_error_threshold": 2,
                      "time_window": 12}}
    assert call(emm, "drive_update", name="HP.ULTRIUM.001", host="aio", state="DOWN") == {}
    assert call(emm, "drive_list")["drives"][1]["state"] == "DOWN"
    assert call(emm, "drive_delete", name="HP.ULTRIUM.001", host="aio") == {}
    assert call(emm, "media_delete", media_id="A00002") == {}
    assert [m["media_id"] for m in call(emm, "media_list")["media"]] == ["A00001", "A00003"]


def test_tape_job_allocates_spans_and_releases(emm: Host) -> None:
    library(emm)
    call(emm, "stu_add", label="tape1", stype=2, rt="tld", rn=0, density="hcart", cj=2)
    g = call(emm, "allocate", jobid=7, kind="backup", stu="tape1", pool="NetBackup", rl=1)
    unit = g["stu"]
    assert (g["host"], unit["stype"], unit["library"], unit["drive"], unit["drive_name"],
            unit["media_id"], unit["barcode"], unit["pool"], unit["density"]) == \
        ("aio", 2, HOME, 0, "HP.ULTRIUM.000", "A00001", "A00001L6", "NetBackup", "hcart")
    assert call(emm, "drive_loaded", name="HP.ULTRIUM.000", host="aio", media_id="A00001") == {}
    assert call(emm, "media_written", jobid=7, media_id="A00001", kbytes=64, images=1,
                full=True, rl=1, expiration=2_000_000_000) == {}
    nxt = call(emm, "span", jobid=7, full_media_id="A00001")["stu"]
    assert (nxt["media_id"], nxt["drive_name"]) == ("A00002", "HP.ULTRIUM.000")
    (rec,) = call(emm, "media_list", media_id="A00001")["media"]
    assert (rec["state"], rec["kbytes"], rec["images"], rec["mounts"], rec["jobid"]) == \
        (0x8, 64, 1, 1, 0)
    assert call(emm, "media_error", jobid=7, media_id="A00002", drive="HP.ULTRIUM.000",
                kind="write") == {"action": "none"}
    assert call(emm, "allocations")["allocations"][0]["media_id"] == "A00002"
    call(emm, "release", jobid=7)
    assert all(d["jobid"] == 0 for d in call(emm, "drive_list")["drives"])
    assert call(emm, "media_unassign", media_id="A00001") == {"unassigned": True}
    restore = call(emm, "allocate", jobid=8, kind="restore", host="aio", media_id="A00002")
    assert restore["stu"]["media_id"] == "A00002"


def test_tape_storage_unit_in_bpstulist(emm: Host) -> None:
    emm.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
            "hcart", "-host", "aio", "-cj", "2")
    emm.run("bpstuadd", "-label", "disk1", "-path", "/nb/disk1")
    raw = emm.run("bpstulist").stdout.splitlines()
    f = shlex.split(raw[1])
    assert f[:9] == ["tape1", "2", "aio", "8", "0", "6", "2", "0", "*NULL*"]
    assert (f[9], f[10], f[11], f[14], f[20]) == ("0", "1", "1048576", "0", "aio")
    assert len(f) == len(shlex.split(raw[0])) == 21
    block = emm.run("bpstulist", "-label", "tape1", "-U").stdout.splitlines()
    assert block[0] == ""
    fields = {k: v.strip() for k, _, v in (line.partition(":") for line in block[1:])}
    assert fields["Storage Unit Type"] == "Media Manager"
    assert fields["Number of Drives"] == "2"
    assert fields["Robot Type/Number"] == "TLD / 0"
    assert fields["Density"] == "hcart - 1/2 Inch Cartridge"
    assert fields["Max Fragment Size"] == "1048576 MB"
    r = emm.run("bpstuadd", "-label", "t2", "-rt", "tld", "-rn", "0", "-den", "hcart",
                check=False)
    assert r.returncode == 226 and "hcart drives of robot 0 on aio" in r.stderr
    r = emm.run("bpstuadd", "-label", "t3", "-dt", "2", "-rn", "1", "-den", "hcart",
                check=False)
    assert r.returncode == 20 and "needs -rt, -rn and -den" in r.stderr
