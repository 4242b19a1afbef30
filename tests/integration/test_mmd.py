"""The Media Manager daemons as a media server runs them: ltid, tldd, tldcd, avrd (and vmd,
nbemm on the master) as real processes on an all-in-one host with a virtual library of 2
drives and 10 slots; requests over PBX and the commands as real processes."""

from __future__ import annotations

import os
import signal
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli.media import tapefmt
from nbcli.net import client
from nbcli.pidfile import read_pidfile
from nbcli.status import MEDIA_DOWN, WRONG_TAPE, NbuError
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.conftest import Host, wait_for

MM = ("nbevtmgr", "nbemm", "vmd", "tldcd", "tldd", "avrd", "ltid")
DRIVES = ("IBM.ULT3580-TD5.000", "IBM.ULT3580-TD5.001")


def call(h: Host, service: str, op: str, /, **fields: Any) -> dict[str, Any]:
    return client.call(h.cfg, h.name, service, op, **fields)


@pytest.fixture
def tape(aio_root: Host, daemons: Callable[..., Host]) -> Iterator[Host]:
    """The host with its library configured in EMM and ltid's delay set to 2 s."""
    cfg = aio_root.cfg
    cfg.data.update({"MEDIA_UNMOUNT_DELAY": 2, "AVRD_SCAN_DELAY": 0.5})
    cfg.save()
    aio_root.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--move-time", "0",
                 "--barcodes", "A00000L6..A00005L6")
    host = daemons(*MM)
    home = str(host.root / "volmgr" / "vtl")
    host.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld", "-robpath", home)
    for i, name in enumerate(DRIVES):
        host.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
                 "tld", "-robdrnum", str(i), "-asciiname", name)  # path HOME:N
    call(host, "ltid", "learn")  # else within LEARN_EVERY seconds
    yield host


def library(host: Host) -> Library:
    return Library(host.root / "volmgr" / "vtl")


def where(host: Host, barcode: str) -> tuple[str, int]:
    c = library(host).state().cartridges[barcode]
    return c.location, c.element


def drives(host: Host) -> list[dict[str, Any]]:
    return list(call(host, "ltid", "drive_status")["drives"])


def emm_drives(host: Host) -> list[dict[str, Any]]:
    return sorted(call(host, "nbemm", "drive_list")["drives"], key=lambda d: d["index"])


def mount(host: Host, jobid: int, barcode: str, drive: int, mode: str = "w") -> dict[str, Any]:
    return call(host, "ltid", "mount", jobid=jobid, media_id=barcode[-6:], barcode=barcode,
                drive=DRIVES[drive], mode=mode)


def test_bpps_lists_the_media_manager_processes(tape: Host) -> None:
    out = tape.run("bpps", "-x").stdout.splitlines()
    mm = out[out.index("MM Processes") + 2:out.index("Shared Veritas Processes") - 1]
    # CMD is the console script, or python running it
    running = sorted(next(w.rsplit("/", 1)[-1] for w in line.split()[7:]
                          if not w.rsplit("/", 1)[-1].startswith("python")) for line in mm)
    assert running == ["avrd", "ltid", "tldcd", "tldd", "vmd"]
    nb = out[:out.index("MM Processes")]
    assert not any(name in line for line in nb for name in ("ltid", "tldd", "avrd"))


def test_mount_unmount_and_unload_after_the_delay(tape: Host) -> None:
    reply = mount(tape, 11, "A00001L6", 0)
    assert reply["drive"] == DRIVES[0] and reply["drnum"] == 0
    assert reply["library"] == str(library(tape).home)
    assert where(tape, "A00001L6") == ("drive", 0)
    d0 = drives(tape)[0]
    assert (d0["user"], d0["jobid"], d0["ready"], d0["extmid"]) == ("root", 11, True, "0001L6")
    assert emm_drives(tape)[0]["media_id"] == "0001L6"
    # vmoprcmd -d ds by position (netbackup-cli.md 1.9)
    out = tape.run("vmoprcmd", "-d", "ds").stdout.splitlines()
    assert out[1].strip() == "DRIVE STATUS" and out[3].startswith("Drv Type   Control  User")
    line = out[4]
    assert line[:3] == "  0" and line[4:10] == "hcart " and line[11:19] == "TLD     "
    assert line[20:24] == "root" and line[30:35] == " No  "  # blank tape: no label yet
    assert line[45:51] == "0001L6" and line[53:58] == " Yes " and line[61:66] == " Yes "
    assert out[5][:3] == "  1" and out[5][11:14] == "TLD" and out[5][53:58] == " No  "

    call(tape, "ltid", "unmount", jobid=11, drive=DRIVES[0])
    assert drives(tape)[0]["user"] == ""
    assert where(tape, "A00001L6") == ("drive", 0)  # kept loaded for the delay
    wait_for(lambda: where(tape, "A00001L6") == ("slot", 2), timeout=20,
             what="the cartridge back home after MEDIA_UNMOUNT_DELAY")
    wait_for(lambda: emm_drives(tape)[0]["media_id"] == "", timeout=10, what="nbemm told")
    assert drives(tape)[0]["ready"] is False


def test_wrong_media_header_is_93_and_down_drive_is_164(tape: Host) -> None:
    lib = library(tape)
    VirtualChanger(lib).load(3, 1)
    d = VirtualDrive(lib, 1)
    d.open(True)
    d.write(tapefmt.encode_mh(tapefmt.MediaHeader("OTHER1", 1)))
    d.write_filemarks(1)
    d.close()
    VirtualChanger(lib).unload(1)
    with pytest.raises(NbuError) as e:
        mount(tape, 12, "A00002L6", 0)
    assert e.value.status == WRONG_TAPE and "OTHER1" in e.value.detail
    d0 = drives(tape)[0]
    assert d0["user"] == "" and d0["recmid"] == "OTHER1" and d0["label"] == "Yes"

    tape.run("vmoprcmd", "-down", "1")
    assert emm_drives(tape)[1]["state"] == "DOWN"
    ds = tape.run("vmoprcmd", "-d", "ds").stdout.splitlines()
    assert ds[5][11:19] == "DOWN-TLD"
    dp = tape.run("vmoprcmd", "-dp", "ds").stdout.splitlines()
    # a path longer than the column pushes the rest right, as NetBackup's does
    assert dp[3].startswith("Drv DrivePath") and dp[3].endswith("Status  Label  Ready")
    assert dp[5].split()[1:] == [f"{library(tape).home}:1", "DOWN", "-", "No"]
    assert dp[4].split()[2] == "UP"
    with pytest.raises(NbuError) as e:
        mount(tape, 13, "A00000L6", 1)
    assert e.value.status == MEDIA_DOWN
    assert where(tape, "A00000L6") == ("slot", 1)
    tape.run("vmoprcmd", "-up", "1")
    mount(tape, 13, "A00000L6", 1)
    tape.run("vmoprcmd", "-resetdrive", "1")
    assert where(tape, "A00000L6") == ("slot", 1) and drives(tape)[1]["user"] == ""


@pytest.mark.parametrize("victim", ["ltid", "tldd", "tldcd"])
def test_killed_mid_mount_leaves_nothing_reserved(tape: Host, victim: str) -> None:
    """A daemon killed during a slow robot move. ltid: the mount fails, and after `netbackup
    start` nothing is held and the tape mounts. tldd or tldcd: ltid starts it again and the
    mount completes by itself - tldd plans its moves again from the robot's inventory, so
    a move the library made is not made twice - and nothing stays held after the unmount."""
    with library(tape).update() as s:
        s.geometry.move_time = 3.0
    failed: list[BaseException] = []

    def slow_mount() -> None:
        try:
            mount(tape, 21, "A00003L6", 0)
        except BaseException as e:
            failed.append(e)

    t = threading.Thread(target=slow_mount)
    t.start()
    wait_for(lambda: drives(tape)[0]["user"] == "root", timeout=10, what="the reservation")
    proc = read_pidfile(tape.cfg.paths, victim)
    assert proc is not None
    os.kill(proc.pid, signal.SIGKILL)
    t.join(60)
    assert not t.is_alive()
    if victim != "ltid":
        assert not failed, failed
        d0 = drives(tape)[0]
        assert where(tape, "A00003L6") == ("drive", 0) and (d0["jobid"], d0["extmid"]) == \
            (21, "0003L6"), d0
        assert f"{victim} was not running: started it" in tape.log("ltid")
        call(tape, "ltid", "unmount", jobid=21, drive=DRIVES[0])
        assert all(d["user"] == "" for d in drives(tape))
        assert call(tape, "nbemm", "allocations").get("allocations", []) == []
        return
    assert failed, "the mount should fail when ltid dies"

    def gone() -> bool:  # one read: the process may end between two
        proc = read_pidfile(tape.cfg.paths, victim)
        return proc is None or not proc.is_running()

    wait_for(gone, timeout=10, what=f"{victim} gone")
    tape.run("netbackup", "start", "--only", ",".join(MM))
    # the library finished or never made the move; nothing is held anywhere
    wait_for(lambda: all(d["user"] == "" for d in drives(tape)), timeout=20,
             what="no drive held after the restart")
    assert call(tape, "nbemm", "allocations").get("allocations", []) == []
    with library(tape).update() as s:
        s.geometry.move_time = 0.0
    reply = mount(tape, 22, "A00003L6", 0)
    assert reply["media_id"] == "0003L6" and where(tape, "A00003L6") == ("drive", 0)


def test_avrd_reads_a_cartridge_loaded_by_hand(tape: Host) -> None:
    lib = library(tape)
    VirtualChanger(lib).load(6, 1)
    d = VirtualDrive(lib, 1)
    d.open(True)
    d.write(tapefmt.encode_mh(tapefmt.MediaHeader("0005L6", 1)))
    d.write_filemarks(1)
    d.close()
    wait_for(lambda: drives(tape)[1]["recmid"] == "0005L6", timeout=30,
             what="avrd's read of drive 1")
    line = tape.run("vmoprcmd", "-d", "ds").stdout.splitlines()[5]
    assert line[30:35] == " Yes " and line[37:43] == "0005L6" and line[20:29].strip() == ""
    assert emm_drives(tape)[1]["media_id"] == "0005L6"
    wait_for(lambda: where(tape, "A00005L6") == ("slot", 6), timeout=30,
             what="home after the delay")


def test_ltid_not_active(tape: Host) -> None:
    proc = read_pidfile(tape.cfg.paths, "ltid")
    assert proc is not None
    proc.terminate()
    wait_for(lambda: read_pidfile(tape.cfg.paths, "ltid") is None, timeout=20,
             what="ltid stopped")
    r = tape.run("vmoprcmd", "-d", check=False)
    assert r.stdout.strip() == \
        f"The Media Manager device daemon (ltid) is not active on host {tape.name}"
    assert r.returncode == 25
    # started again, it learns its drives from nbemm by itself
    tape.run("netbackup", "start", "--only", "ltid")
    wait_for(lambda: [d["name"] for d in drives(tape)] == list(DRIVES), timeout=20,
             what="ltid's drives learnt from nbemm")


@pytest.mark.parametrize("victims", [("avrd",), ("tldd", "tldcd")])
def test_ltid_starts_again_the_daemons_it_relies_on(tape: Host, victims: tuple[str, ...]
                                                     ) -> None:
    """avrd or the robot daemons killed, and nobody runs `netbackup start`: ltid starts them
    again within seconds, says so in its log, and the next mount works (it failed with 25
    until an administrator restarted them). A mount asked right after avrd's death waits
    for the new avrd to read the tape, rather than failing."""
    old = {}
    for name in victims:
        proc = read_pidfile(tape.cfg.paths, name)
        assert proc is not None
        old[name] = proc.pid
        os.kill(proc.pid, signal.SIGKILL)
    if victims == ("avrd",):  # at once: ltid starts the next avrd within a second
        reply = mount(tape, 40, "A00001L6", 0)
        assert reply["drive"] == DRIVES[0] and where(tape, "A00001L6") == ("drive", 0)
        call(tape, "ltid", "unmount", jobid=40, drive=DRIVES[0])

    def again(name: str) -> bool:  # one read: the pid file may change between two
        proc = read_pidfile(tape.cfg.paths, name)
        return proc is not None and proc.pid != old[name]

    for name in victims:
        wait_for(lambda name=name: again(name), timeout=30, what=f"{name} started again")
        assert f"{name} was not running: started it" in tape.log("ltid")
    reply = mount(tape, 41, "A00002L6", 1)
    assert reply["drive"] == DRIVES[1] and where(tape, "A00002L6") == ("drive", 1)
    call(tape, "ltid", "unmount", jobid=41, drive=DRIVES[1])


def test_stopltid_and_ltid(tape: Host) -> None:
    """A runbook's restart of device management: `stopltid` stops ltid first (it would start
    the others again), then avrd and the robot daemons, and nothing else; `ltid` starts them
    all again, silently, and returns; `ltid -v` says what it found."""
    mm = ("ltid", "avrd", "tldd", "tldcd")
    r = tape.run("stopltid")
    stopped = [line.split()[1] for line in r.stdout.splitlines()]
    assert stopped[0] == "ltid" and sorted(stopped) == sorted(mm), r.stdout
    assert [n for n in mm if read_pidfile(tape.cfg.paths, n)] == []
    assert read_pidfile(tape.cfg.paths, "vmd") and read_pidfile(tape.cfg.paths, "nbemm")
    r = tape.run("vmoprcmd", "-d", check=False)
    assert r.returncode == 25 and "(ltid) is not active" in r.stdout
    r = tape.run("ltid")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert [n for n in mm if not read_pidfile(tape.cfg.paths, n)] == []
    wait_for(lambda: [d["name"] for d in drives(tape)] == list(DRIVES), timeout=20,
             what="ltid's drives learnt from nbemm")
    reply = mount(tape, 42, "A00003L6", 0)
    assert reply["drive"] == DRIVES[0]
    call(tape, "ltid", "unmount", jobid=42, drive=DRIVES[0])
    r = tape.run("ltid", "-v")
    assert r.returncode == 0 and "ltid is already running" in r.stdout, r.stdout
    r = tape.run("ltid", "-logmounts", "-1", check=False)
    assert r.returncode == 20 and "-logmounts" in r.stderr, r.stderr


def test_ltid_logmounts_logs_each_mount_request_and_plain_ltid_none(tape: Host) -> None:
    """`ltid -logmounts 0`: every mount request is logged as it comes (through syslogd and
    in ltid's log); the ltid a later `ltid` starts without it logs none."""
    tape.run("stopltid")
    assert tape.run("ltid", "-logmounts", "0").returncode == 0
    wait_for(lambda: [d["name"] for d in drives(tape)] == list(DRIVES), timeout=20,
             what="ltid's drives learnt from nbemm")
    reply = mount(tape, 43, "A00004L6", 1, mode="r")
    call(tape, "ltid", "unmount", jobid=43, drive=DRIVES[1])
    assert (f"mount request {reply['reqid']} new: media 0004L6 (A00004L6) in drive "
            f"{DRIVES[1]} for job 43, read") in tape.log("ltid")
    tape.run("stopltid")
    tape.run("ltid")
    wait_for(lambda: [d["name"] for d in drives(tape)] == list(DRIVES), timeout=20,
             what="ltid's drives learnt from nbemm")
    before = tape.log("ltid").count("mount request")
    mount(tape, 44, "A00005L6", 0)
    call(tape, "ltid", "unmount", jobid=44, drive=DRIVES[0])
    assert tape.log("ltid").count("mount request") == before


def test_robtest_session(tape: Host) -> None:
    r = tape.run("robtest", "-rn", "0",
                 input="s d\nm s1 d2\ns d\nm s1 d1\nbogus\nunload d2\ns s\nq\ns s\n")
    out = r.stdout.splitlines()
    assert "Enter tld commands (? returns help information)" in out
    assert "drive 1 (addr 0) access = 1 Contains Cartridge = no" in out
    assert "Initiating MOVE_MEDIUM from address 1 to 1" in out
    i = out.index("MOVE_MEDIUM complete")
    assert out[i + 1:i + 5] == ["drive 1 (addr 0) access = 1 Contains Cartridge = no",
                                "drive 2 (addr 1) access = 1 Contains Cartridge = yes",
                                "Source address = 1 (slot 1)", "Barcode = A00000L6"]
    assert any(line.startswith("Error: ") and "source element 1 is empty" in line
               for line in out)
    assert any(line.startswith("Error: unknown command 'bogus'") for line in out)
    assert "slot 1 (addr 1) contains Cartridge = yes" in out
    assert out.count("slot 1 (addr 1) contains Cartridge = yes") == 1  # after q: nothing
    assert where(tape, "A00000L6") == ("slot", 1)


def test_vmupdate_takes_the_mail_slot_and_adds_media(tape: Host) -> None:
    assert tape.run("nbvtl", "insert", "NEW001L6").stdout.strip() == \
        "Inserted NEW001L6 into mail slot 11"
    call(tape, "nbemm", "pool_add", name="Scratch", description="scratch")
    call(tape, "nbemm", "pool_scratch", name="Scratch", on=True)
    call(tape, "nbemm", "media_add", media_id="0000L6", type="hcart", barcode="A00000L6",
         pool="NetBackup", rt="tld", rn=0, slot=9)
    # the mail slot is taken in with -empty_map only, as NetBackup's vmupdate does
    plan = tape.run("vmupdate", "-rt", "tld", "-rn", "0", "-recommend").stdout
    assert "NEW001L6" not in plan and "Logically add new media 0001L6" in plan
    plan = tape.run("vmupdate", "-rt", "tld", "-rn", "0", "-empty_map", "-recommend").stdout
    assert "Move cartridge NEW001L6 from the mail slot into slot 7." in plan
    assert where(tape, "NEW001L6")[0] == "mailslot"
    out = tape.run("vmupdate", "-rt", "tld", "-rn", "0", "-use_barcode_rules",
                   "-empty_map").stdout
    assert "Logically add new media 0001L6 (barcode A00001L6) to robot slot 2." in out
    assert "Logically move media 0000L6 from slot 9 to robot slot 1." in out
    assert out.splitlines()[-1] == "Volume configuration successfully updated."
    assert where(tape, "NEW001L6") == ("slot", 7)
    media = {m["media_id"]: m for m in call(tape, "nbemm", "media_list")["media"]}
    assert sorted(media) == ["0000L6", "0001L6", "0002L6", "0003L6", "0004L6", "0005L6",
                             "W001L6"]
    assert media["W001L6"]["pool"] == "Scratch" and media["W001L6"]["slot"] == 7
    assert media["W001L6"]["barcode"] == "NEW001L6" and media["0000L6"]["slot"] == 1
    assert media["0000L6"]["pool"] == "NetBackup"
    again = tape.run("vmupdate", "-rt", "tld", "-rn", "0").stdout
    assert "up to date" in again
    # an operator takes A00003L6 out through the mail slot: the next inventory makes it
    # standalone, as NetBackup's does with media removed from the robot
    tape.run("nbvtl", "export", "A00003L6")
    tape.run("nbvtl", "remove", "A00003L6")
    out = tape.run("vmupdate", "-rt", "tld", "-rn", "0").stdout
    assert "Logically move media 0003L6 from robot slot 4 to standalone (it is no longer in " \
        "the robot)." in out and "Media ID 0003L6 moved to standalone." in out
    gone = call(tape, "nbemm", "media_list", media_id="0003L6")["media"][0]
    assert (gone["rt"], gone["rn"], gone["slot"]) == ("none", -1, 0), gone
    row = tape.run("vmquery", "-m", "0003L6").stdout
    assert "robot type:" in row and "NONE" in row.split("robot type:")[1].splitlines()[0]
    assert "up to date" in tape.run("vmupdate", "-rt", "tld", "-rn", "0").stdout
    # robot numbers run to 32767, as tpconfig and EMM number them: not a usage error
    r = tape.run("vmupdate", "-rt", "tld", "-rn", "20000", check=False)
    assert r.returncode == 227 and "robot 20000 is not configured" in r.stderr, r.stderr


def test_tpreq_and_tpunmount(tape: Host, tmp_path: Path) -> None:
    call(tape, "nbemm", "media_add", media_id="0004L6", type="hcart", barcode="A00004L6",
         rt="tld", rn=0, slot=5)
    f = tmp_path / "mytape"
    tape.run("tpreq", "-m", "0004L6", "-a", "w", str(f))
    bound = tomllib.loads(f.read_text())
    assert bound["media_id"] == "0004L6" and bound["library"] == str(library(tape).home)
    assert where(tape, "A00004L6") == ("drive", bound["drnum"])
    d = drives(tape)[bound["drive_index"]]
    assert d["user"] == "root" and d["jobid"] == 0 and d["extmid"] == "0004L6"
    # the file says how to drive it: nbvtl mt DRNUM
    words = bound["mt"].split()
    assert words[:2] == ["nbvtl", "mt"]
    st = tape.run("nbvtl", "mt", words[2], "status").stdout
    assert "BOT" in st
    again = tape.run("tpreq", "-m", "0004L6", str(f), check=False)
    assert again.returncode == 226
    tape.run("tpunmount", str(f))
    assert not f.exists() and drives(tape)[bound["drive_index"]]["user"] == ""
    assert tape.run("tpunmount", str(f), check=False).returncode == 227
    wait_for(lambda: where(tape, "A00004L6") == ("slot", 5), timeout=20,
             what="the cartridge home after tpunmount and the delay")


def test_two_mounts_at_once_are_moved_one_after_the_other(tape: Host) -> None:
    """tldcd serialises the robot: two drives mounted at once take two move times."""
    import time

    with library(tape).update() as s:
        s.geometry.move_time = 1.0
    results: list[dict[str, Any] | BaseException] = []

    def one(jobid: int, barcode: str, drive: int) -> None:
        try:
            results.append(mount(tape, jobid, barcode, drive, "r"))
        except BaseException as e:
            results.append(e)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(31, "A00000L6", 0)),
               threading.Thread(target=one, args=(32, "A00001L6", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, dict) for r in results) and len(results) == 2, results
    assert elapsed >= 2.0, elapsed
    assert where(tape, "A00000L6") == ("drive", 0) and where(tape, "A00001L6") == ("drive", 1)


def test_media_server_and_master_apart(three_hosts: dict[str, Host]) -> None:
    """ltid and the robot daemons on the media server, nbemm and vmd on the master: the
    mount reaches EMM across hosts, vmupdate on the media server goes through the master's
    vmd, robtest through the media server's tldcd."""
    master, media = three_hosts["master"], three_hosts["media"]
    media.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--move-time", "0",
              "--barcodes", "B00000L6..B00002L6")
    home = str(media.root / "volmgr" / "vtl")
    call(master, "nbemm", "robot_add", rn=3, rt="tld", host=media.name, device=home)
    call(master, "nbemm", "drive_add", name="MEDIA.DRV0", host=media.name, type="hcart",
         rn=3, drnum=0, path=f"{home}/drive0")
    assert call(media, "ltid", "learn")["drives"] == 1
    out = media.run("vmupdate", "-rt", "tld", "-rn", "3").stdout
    assert "Logically add new media 0002L6 (barcode B00002L6) to robot slot 3." in out
    media_ids = {m["media_id"] for m in call(master, "nbemm", "media_list", rn=3)["media"]}
    assert media_ids == {"0000L6", "0001L6", "0002L6"}
    reply = call(media, "ltid", "mount", jobid=41, media_id="0001L6", barcode="B00001L6",
                 drive="MEDIA.DRV0", mode="w")
    assert reply["library"] == home
    (drv,) = call(master, "nbemm", "drive_list", host=media.name)["drives"]
    assert drv["media_id"] == "0001L6"
    line = media.run("vmoprcmd", "-d", "ds").stdout.splitlines()[4]
    assert line[20:24] == "root" and line[45:51] == "0001L6"
    # from the master, about the media server's ltid
    remote = master.run("vmoprcmd", "-h", media.name, "-d", "ds").stdout.splitlines()[4]
    assert remote == line
    call(media, "ltid", "unmount", jobid=41, drive="MEDIA.DRV0")
    media.run("vmoprcmd", "-resetdrive", "0")
    assert Library(home).state().cartridges["B00001L6"].location == "slot"
    session = media.run("robtest", "-rn", "3", input="s s\nq\n").stdout
    assert "slot 2 (addr 2) contains Cartridge = yes" in session
    assert "Barcode = B00001L6" in session


def test_vmchange_multi_eject_through_the_mail_slot(tape: Host) -> None:
    """vmchange -res -multi_eject: each volume's cartridge from its slot into a free mail
    slot, the volume standalone in EMM; what does not fit waits (1), a cartridge in a drive
    or a volume a job holds is refused (97) and nothing moves, an unknown one is 227."""
    tape.run("vmupdate", "-rt", "tld", "-rn", "0")  # A00000..A00005 in slots 1..6
    eject = ("vmchange", "-res", "-multi_eject", "-rt", "tld", "-rn", "0", "-single_cycle")
    r = tape.run(*eject, "-ml", "0001L6:0002L6", check=False)
    assert r.returncode == 1 and "no free mail slot for 0002L6" in r.stderr, r.stderr
    assert r.stdout.splitlines() == ["Ejected media 0001L6 (barcode A00001L6) from slot 2 "
                                     "into mail slot 11; it is standalone now."]
    assert where(tape, "A00001L6") == ("mailslot", 11) and where(tape, "A00002L6") == ("slot", 3)
    media = {m["media_id"]: m for m in call(tape, "nbemm", "media_list")["media"]}
    assert (media["0001L6"]["rn"], media["0001L6"]["slot"]) == (-1, 0)
    assert (media["0002L6"]["rn"], media["0002L6"]["slot"]) == (0, 3)
    tape.run("nbvtl", "remove", "A00001L6")  # the operator empties the mail slot
    # a cartridge in a drive, or a volume a job holds, is not ejected: nothing moves
    mount(tape, 7, "A00003L6", 0)
    r = tape.run(*eject, "-ml", "0002L6:0003L6", check=False)
    assert r.returncode == 97 and "0003L6 is in drive 0" in r.stderr, r.stderr
    assert where(tape, "A00002L6") == ("slot", 3)
    call(tape, "ltid", "unmount", jobid=7, drive=DRIVES[0])
    tape.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
             "hcart", "-host", tape.name)
    call(tape, "nbemm", "media_written", jobid=1, media_id="0004L6", kbytes=1, images=1)
    call(tape, "nbemm", "allocate", jobid=9, kind="restore", stu="tape1", host=tape.name,
         media_id="0004L6")
    r = tape.run(*eject, "-ml", "0002L6:0004L6", check=False)
    assert r.returncode == 97 and "0004L6 is in use by job 9" in r.stderr, r.stderr
    call(tape, "nbemm", "release", jobid=9)
    assert where(tape, "A00002L6") == ("slot", 3)
    assert tape.run(*eject, "-ml", "NOSUCH", check=False).returncode == 227
    r = tape.run(*eject, "-ml", "0002L6")
    assert "Ejected media 0002L6 (barcode A00002L6) from slot 3 into mail slot 11" in r.stdout
    assert where(tape, "A00002L6") == ("mailslot", 11)
    row = tape.run("vmquery", "-m", "0002L6").stdout
    assert "NONE" in row.split("robot type:")[1].splitlines()[0]
    # an inventory before the operator came leaves the tape to go out where it is
    # (vmupdate -empty_map would take it in)
    assert "up to date" in tape.run("vmupdate", "-rt", "tld", "-rn", "0").stdout
    assert where(tape, "A00002L6") == ("mailslot", 11)
    usage = tape.run("vmchange", "-res", "-multi_eject", "-rn", "0", check=False)
    assert usage.returncode == 20


def test_tpconfig_update_robot_follows_a_library_that_moved(tape: Host, tmp_path: Path) -> None:
    """The changer got another path (on real hardware /dev/sg3 became /dev/sg5 after a
    reboot; here the virtual library's folder moved): tpconfig -update -robot N -robpath P
    records it, the virtual drives' paths follow, the running ltid, tldd and tldcd learn it
    at once, and the next inventory and mount use it. Before that the robot cannot be
    reached."""
    tape.run("vmupdate", "-rt", "tld", "-rn", "0")
    old = library(tape).home
    new = tmp_path / "moved" / "vtl"
    new.parent.mkdir()
    os.rename(old, new)
    lost = tape.run("vmupdate", "-rt", "tld", "-rn", "0", check=False)
    assert lost.returncode != 0 and "Traceback" not in lost.stderr
    tape.run("tpconfig", "-update", "-robot", "0", "-robpath", str(new))
    assert [d["path"] for d in emm_drives(tape)] == [f"{new}:0", f"{new}:1"]
    assert "up to date" in tape.run("vmupdate", "-rt", "tld", "-rn", "0").stdout
    mounted = mount(tape, 5, "A00002L6", 1)
    assert mounted["library"] == str(new), mounted
    assert Library(new).state().at("drive", 1) == "A00002L6"
    call(tape, "ltid", "unmount", jobid=5, drive=DRIVES[1])
    busy = tape.run("tpconfig", "-update", "-robot", "0", "-robpath", str(old), check=False)
    assert busy.returncode == 227  # no library there any more: nothing changed
    assert emm_drives(tape)[0]["path"] == f"{new}:0"
