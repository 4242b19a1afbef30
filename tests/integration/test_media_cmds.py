"""The media commands on a running all-in-one host with a virtual library of 2 drives and 6
slots: vmquery, bpmedialist, bpmedia, available_media read nbemm's media records; bplabel and
bpmedialist -mheader mount a cartridge through ltid and write or read its media header.

Robots, drives, pools and media go into EMM with nbemm's ops (as tpconfig and vmadd do);
media are assigned with media_written, as bptm reports a backup.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from nbcli import config
from nbcli.media import tapefmt
from nbcli.net import client
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.conftest import Host, wait_for

DAY = 86400


def emm(host: Host, op: str, /, **fields: Any) -> dict[str, Any]:
    return client.call(host.cfg, host.name, "nbemm", op, **fields)


@pytest.fixture
def library(aio_root: Host) -> Path:
    aio_root.run("nbvtl", "create", "--drives", "2", "--slots", "6", "--capacity", "64M",
                 "--barcodes", "A00000L6..A00005L6", "--move-time", "0")
    return aio_root.root / "volmgr" / "vtl"


@pytest.fixture
def tapes(aio: Host, library: Path) -> Host:
    """The library in EMM: robot 0, two hcart drives, A00000-A00004 in NetBackup, A00005 in
    the scratch pool."""
    emm(aio, "robot_add", rn=0, rt="tld", host=aio.name, device=str(library))
    for n in range(2):
        emm(aio, "drive_add", name=f"IBM.ULT3580-TD5.00{n}", host=aio.name, type="hcart",
            rn=0, drnum=n, path=f"{library}:{n}")
    emm(aio, "pool_add", name="Scratch", description="scratch tapes")
    emm(aio, "pool_scratch", name="Scratch", on=True)
    for n in range(6):
        emm(aio, "media_add", media_id=f"A0000{n}", type="hcart", barcode=f"A0000{n}L6",
            pool="Scratch" if n == 5 else "NetBackup", rt="tld", rn=0, slot=n + 1)
    client.call(aio.cfg, aio.name, "ltid", "learn")
    return aio


def assign(host: Host, media_id: str, rl: int, images: int, full: bool = False) -> None:
    emm(host, "media_written", jobid=1, media_id=media_id, kbytes=1024 * images,
        images=images, full=full, rl=rl, expiration=int(time.time()) + 7 * DAY)


def test_reports_and_states(tapes: Host) -> None:
    h = tapes
    assert h.run("bpmedialist").stdout == ""  # nothing assigned: no output at all
    assign(h, "A00000", 1, 2, full=True)
    assign(h, "A00001", 3, 1)
    emm(h, "media_change", media_id="A00004", pool="DataStore")  # as vmchange -p does

    wide = h.run("vmquery", "-a", "-w").stdout.splitlines()
    assert len(wide) == 3 + 6 and wide[2].startswith("-----")
    rows = {line.split()[0]: line.split(None, 36) for line in wide[3:]}
    a0 = rows["A00000"]
    assert len(a0) == 37
    assert a0[2:13] == ["HCART", "A00000L6", "-", h.name, "TLD", "0", "1", "-",
                        "000_00000_TLD", "NetBackup", "1"]
    assert a0[27] == "1" and rows["A00003"][27] == "0"
    assert rows["A00005"][11] == "Scratch"
    # the previous pool (field 14): where a moved medium was before
    assert (rows["A00004"][11], rows["A00004"][13]) == ("DataStore", "NetBackup")
    assert rows["A00000"][13] == "None"
    emm(h, "media_change", media_id="A00004", pool="NetBackup")

    brief = h.run("vmquery", "-pn", "Scratch", "-b").stdout.splitlines()
    assert len(brief) - 3 == 1 and brief[3].split()[0] == "A00005"
    assert len(h.run("vmquery", "-rn", "0", "-b").stdout.splitlines()) - 3 == 6

    block = h.run("vmquery", "-m", "A00003").stdout.splitlines()
    assert block[0] == "=" * 80 and block[-1] == "=" * 80
    assert "media ID:              A00003" in block
    assert "robot slot:            4" in block and "number of mounts:      0" in block
    missing = h.run("vmquery", "-m", "NOPE", check=False)
    assert missing.returncode == 227 and missing.stdout == ""
    assert h.run("vmquery", "-pn", "NoSuchPool", check=False).returncode == 167
    assert h.run("vmquery", check=False).returncode == 20

    h.run("bpmedia", "-freeze", "-m", "A00001")
    report = h.run("bpmedialist").stdout.splitlines()
    assert report[0] == f"Server Host = {h.name}" and report[1] == ""
    assert report[2].startswith(" id     rl  images   allocated")
    ids = [line.split()[0] for line in report[6:] if line and not line.startswith(" ")]
    assert ids == ["A00000", "A00001"]  # unassigned media are not NetBackup's yet
    first = report[6].split()
    assert first[:3] == ["A00000", "1", "2"] and first[7:10] == ["hcart", "2048", "0"]
    assert report[7].split()[-1] == "FULL" and report[11].split()[-1] == "FROZEN"
    # a public PowerShell script finds frozen media so:
    #   nbemmcmd -listmedia -mediaid $mediaID | Where-Object {$_ -match "FROZEN"}
    listed = h.run("nbemmcmd", "-listmedia", "-mediaid", "A00001").stdout.splitlines()
    assert [line.split(":")[1].strip() for line in listed if "FROZEN" in line] == ["FROZEN"]
    assert "FROZEN" not in h.run("nbemmcmd", "-listmedia", "-mediaid", "A00003").stdout

    raw = {line.split()[0]: line.split() for line in
           h.run("bpmedialist", "-mlist", "-l").stdout.splitlines()}
    assert int(raw["A00000"][14]) & 8 and int(raw["A00001"][14]) & 1
    assert raw["A00001"][11] == "3"
    summary = h.run("bpmedialist", "-summary").stdout.splitlines()
    assert [line.split()[0] for line in summary if "(FROZEN)" in line] == ["A00001"]
    assert h.run("bpmedialist", "-m", "A00000", "-L").stdout.splitlines()[2:4] == \
        ["media_id = A00000, partner_id = -, version = 50", "density = hcart (6)"]
    assert h.run("bpmedialist", "-rl", "3", "-l").stdout.split()[0] == "A00001"
    assert h.run("bpmedialist", "-m", "NOPE", check=False).returncode == 227

    avail = h.run("available_media").stdout.splitlines()
    assert [line for line in avail if line.endswith(" pool")] == ["NetBackup pool",
                                                                 "Scratch pool"]
    words = {line.split()[0]: line.split()[-1] for line in avail[3:]
             if line.startswith("A0000")}
    assert words == {"A00000": "FULL", "A00001": "FROZEN", "A00002": "AVAILABLE",
                     "A00003": "AVAILABLE", "A00004": "AVAILABLE", "A00005": "AVAILABLE"}

    h.run("bpmedia", "-unfreeze", "-m", "A00001")
    h.run("bpmedia", "-suspend", "-m", "A00001")
    assert "SUSPENDED" in h.run("bpmedialist", "-m", "A00001").stdout
    h.run("bpmedia", "-unsuspend", "-m", "A00001")
    assert h.run("bpmedialist", "-m", "A00001").stdout.splitlines()[7].split()[-1] == "N/A"
    unassigned = h.run("bpmedia", "-freeze", "-m", "A00003", check=False)
    assert unassigned.returncode == 95
    assert h.run("bpmedia", "-m", "A00003", check=False).returncode == 20


def write_foreign_header(library: Path, barcode: str, media_id: str) -> None:
    """Put a media header naming `media_id` on cartridge `barcode`, with the robot and drive
    1, as another NetBackup would have labelled it; the cartridge goes back to its slot."""
    lib = Library(library)
    changer = VirtualChanger(lib)
    slot = changer.inventory().find(barcode)
    assert slot is not None
    changer.load(slot.number, 1)
    with VirtualDrive(lib, 1) as d:
        d.open(True)
        d.write(tapefmt.encode_mh(tapefmt.MediaHeader(media_id, 1_700_000_000)))
        d.write_filemarks(1)
    changer.unload(1)


def test_bplabel_and_mheader(tapes: Host, library: Path) -> None:
    h = tapes
    before = int(time.time()) // 60 * 60
    h.run("bplabel", "-m", "A00002", "-d", "hcart")
    # ltid mounted it (its robot daemons moved the cartridge), for no job:
    logs = "".join(p.read_text(errors="replace") for p in h.cfg.paths.logs.rglob("*")
                   if p.is_file() and "ltid" in str(p))
    assert "mounted A00002 (A00002L6) in IBM.ULT3580-TD5.000 for job 0 (w)" in logs
    line = h.run("bpmedialist", "-mheader", "-m", "A00002").stdout.strip()
    head, _, level = line.rpartition(", retention level = ")
    assert head.startswith("media id = A00002, allocated ") and level == "0"
    stamp = time.mktime(time.strptime(head.split("allocated ")[1], "%m/%d/%Y %H:%M"))
    assert before <= stamp <= time.time()

    assert h.run("bplabel", "-m", "A00002", "-d", "hcart2", check=False).returncode == 179
    assert h.run("bplabel", "-m", "A00002", "-d", "hcart", "-p", "Scratch",
                 check=False).returncode == 178
    assert h.run("bplabel", "-m", "NOPE", "-d", "hcart", check=False).returncode == 227
    assert h.run("bplabel", "-m", "A00002", check=False).returncode == 20

    assign(h, "A00000", 2, 1)
    refused = h.run("bplabel", "-m", "A00000", "-d", "hcart", check=False)
    assert refused.returncode == 168 and "assigned" in refused.stderr
    h.run("bplabel", "-m", "A00000", "-d", "HCART", "-o", "-n", "IBM.ULT3580-TD5.001")
    assert h.run("bpmedialist", "-mheader", "-m", "A00000").stdout.startswith(
        "media id = A00000, allocated ")

    blank = h.run("bpmedialist", "-mheader", "-m", "A00005", check=False)
    assert blank.returncode == 172

    # ltid keeps A00000 in drive 1 for MEDIA_UNMOUNT_DELAY after bplabel: make it short
    # (ltid reads bp.toml again on SIGHUP) and wait for the robot to send it home
    cfg = config.load(h.root)
    cfg.data["MEDIA_UNMOUNT_DELAY"] = 1
    cfg.save()
    for p in h.processes(spares=False):
        if p.program == "ltid":
            os.kill(p.proc.pid, signal.SIGHUP)
    wait_for(lambda: not VirtualChanger(Library(library)).inventory().drives[1].full, 60,
             "drive 1 unloaded after the unmount delay")
    write_foreign_header(library, "A00004L6", "ZZ0004")
    other = h.run("bpmedialist", "-mheader", "-m", "A00004").stdout
    assert other.startswith("media id = ZZ0004, allocated ")
    refused = h.run("bplabel", "-m", "A00004", "-d", "hcart", check=False)
    assert refused.returncode == 168 and "ZZ0004" in refused.stderr
    h.run("bplabel", "-m", "A00004", "-d", "hcart", "-o", "-erase")
    assert h.run("bpmedialist", "-mheader", "-m", "A00004").stdout.startswith(
        "media id = A00004, ")


def test_bpexpdate_deassignempty_gives_back_media_without_valid_images(tapes: Host) -> None:
    """Media assigned with no image in bpdbm's catalog (EMM's counts say one on A00001:
    the catalog decides) are unassigned: -m one of them, then all."""
    h = tapes
    emm(h, "media_written", jobid=1, media_id="A00003", kbytes=0, images=0, rl=1)
    assign(h, "A00001", 1, 1)
    assert [line.split()[0] for line in h.run("bpmedialist", "-l").stdout.splitlines()] == \
        ["A00001", "A00003"]
    h.run("bpexpdate", "-deassignempty", "-m", "A00001", "-force")
    assert h.run("bpmedialist", "-l").stdout.split()[0] == "A00003"
    h.run("bpexpdate", "-deassignempty", "-force")
    assert h.run("bpmedialist", "-l").stdout == ""
    back = h.run("vmquery", "-m", "A00003").stdout
    assert "volume pool:           Scratch (" in back and "status:                0x0" in back
    assert h.run("bpexpdate", "-m", "NOPE", "-d", "0", "-force", check=False).returncode \
        == 227


@pytest.fixture
def tape_unit(aio_root: Host, tmp_path: Path) -> Host:
    """The host running, its library in EMM with the tape storage unit "tape1" writing to
    volume pool "tapes", A00000 and A00001 in the scratch pool, and a policy "p" of a small
    directory backing up to it."""
    h = aio_root
    h.run("nbvtl", "create", "--drives", "2", "--slots", "4", "--capacity", "8M",
          "--barcodes", "A00000L6..A00003L6", "--move-time", "0")
    h.start()
    emm(h, "robot_add", rn=0, rt="tld", host=h.name, device=str(h.root / "volmgr" / "vtl"))
    for n in (0, 1):
        emm(h, "drive_add", name=f"DRV{n}", host=h.name, type="hcart", rn=0, drnum=n,
            path=f"/dev/nst{n}")
    emm(h, "pool_add", name="tapes")
    emm(h, "pool_add", name="scratch")
    emm(h, "pool_scratch", name="scratch", on=True)
    for n in (0, 1):
        emm(h, "media_add", media_id=f"A0000{n}", type="hcart", barcode=f"A0000{n}L6",
            pool="scratch", rt="tld", rn=0, slot=n + 1)
    emm(h, "stu_add", label="tape1", host=h.name, stype=2, rt="tld", rn=0, density="hcart",
        cj=1)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.bin").write_bytes(bytes(range(256)) * 1024)
    h.run("bppolicynew", "p")
    h.run("bpplinfo", "p", "-modify", "-residence", "tape1", "-pool", "tapes")
    h.run("bpplclients", "p", "-add", h.name, "Linux", "Debian")
    h.run("bpplinclude", "p", "-add", str(data))
    h.run("bpplsched", "p", "-add", "full", "-st", "FULL", "-rl", "3")
    return h


def test_a_backed_up_tape_reported_relabelled_refused_and_given_back(tape_unit: Host
                                                                      ) -> None:
    h = tape_unit
    try:
        for _ in range(2):
            h.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w", timeout=300)
        ids = [ln.split()[5] for ln in h.run("bpimagelist", "-l").stdout.splitlines()
               if ln.startswith("IMAGE")]
        assert len(ids) == 2
        raw = h.run("bpmedialist", "-mlist", "-l").stdout.split()
        assert raw[0] == "A00000" and raw[9:12] == ["2", "2", "3"]  # images, valid, level
        # bptm labelled the blank tape: its header, read back through ltid
        line = h.run("bpmedialist", "-mheader", "-m", "A00000").stdout.strip()
        assert line.startswith("media id = A00000, allocated ")
        assert line.endswith(", retention level = 3")
        assert "volume pool:           tapes (" in h.run("vmquery", "-m", "A00000").stdout
        assert h.run("bplabel", "-m", "A00000", "-d", "hcart", check=False).returncode \
            == 168
        # EMM's counts miss both images (reports nbemm could not take): bpdbm's catalog still
        # names A00000, so -deassignempty keeps it assigned - an unassigned tape is labelled
        # again by the next backup that takes it, which would wipe both images
        with sqlite3.connect(h.cfg.paths.emm / "emm.db") as db:
            db.execute("UPDATE media SET images = 0, vimages = 0 WHERE media_id = 'A00000'")
        db.close()
        h.run("bpexpdate", "-deassignempty", "-force")
        assert h.run("bpmedialist", "-l").stdout.split()[0] == "A00000"

        later = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(time.time() + 90 * DAY))
        h.run("bpexpdate", "-m", "A00000", "-d", *later.split(), "-force")
        want = int(time.mktime(time.strptime(later, "%m/%d/%Y %H:%M:%S")))
        for backupid in ids:
            fields = h.run("bpimagelist", "-backupid", backupid, "-l").stdout.split()
            assert int(fields[15]) == want
        no = h.run("bpexpdate", "-m", "A00000", "-d", "0", input="n\n", check=False)
        assert no.returncode == 150 and "media A00000" in no.stdout
        assert h.run("bpmedialist", "-l").stdout.split()[0] == "A00000"

        h.run("bpexpdate", "-m", "A00000", "-d", "0", "-force")
        assert h.run("bpimagelist", "-l", check=False).returncode == 227
        assert h.run("bpmedialist").stdout == ""  # no assigned media: nothing at all
        assert "volume pool:           scratch (" in h.run("vmquery", "-m", "A00000").stdout
        h.run("bplabel", "-m", "A00000", "-d", "hcart")
        assert h.run("bpmedialist", "-mheader", "-m", "A00000").stdout.endswith(
            ", retention level = 0\n")
    finally:
        h.stop()
    assert h.processes() == []
