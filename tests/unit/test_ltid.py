"""ltid's rules (nbcli.daemons.ltid_mount) over ports that drive a real virtual library on
tmp_path: tldd's plan, tldcd's moves and avrd's header reads are the real functions; only
nbemm is a dictionary and the clock is a number the test moves."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli.daemons import ltid, ltid_withdraw, robots
from nbcli.daemons.ltid_drives import Drive, due_unloads, scan_candidate, tpreq_drive
from nbcli.daemons.ltid_mount import Mounter
from nbcli.daemons.tldd import plan
from nbcli.media import tapefmt
from nbcli.net.conn import Connection
from nbcli.status import (
    MEDIA_DOWN,
    MEDIA_HEADER_UNREADABLE,
    MEDIA_IN_USE,
    MEDIA_OPEN_ERROR,
    MEDIA_REQUEST_FAILED,
    NO_ENTITY,
    WRONG_TAPE,
    NbuError,
)
from nbcli.vtl import admin
from nbcli.vtl.api import ChangerError
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.conftest import wait_for
from tests.unit.tapekit import make_library

DELAY = 10.0
DRIVES = ("IBM.ULT3580-TD5.000", "IBM.ULT3580-TD5.001")


class Ports:
    """nbemm as dictionaries; the robot and avrd as the daemons do it, on a real library."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.drives = [
            {"index": i, "name": f"IBM.ULT3580-TD5.00{i}", "host": "aio", "type": "hcart",
             "rn": 0, "drnum": i, "path": f"/dev/nst{i}", "state": "UP", "comment": ""}
            for i in range(2)]
        self.loaded: list[tuple[str, str]] = []
        self.states: list[tuple[str, str]] = []
        self.moves = 0
        self.reads = 0  # avrd label reads

    def emm_drives(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.drives]

    def emm_robots(self) -> list[dict[str, Any]]:
        return [{"rn": 0, "rt": "tld", "host": "aio", "device": str(self.lib.home)}]

    def emm_loaded(self, name: str, media_id: str) -> None:
        self.loaded.append((name, media_id))

    def emm_state(self, name: str, state: str) -> None:
        self.states.append((name, state))

    def robot_inventory(self, rn: int) -> dict[str, Any]:
        return robots.inventory_record(VirtualChanger(self.lib).inventory())

    def robot_mount(self, rn: int, drnum: int, barcode: str) -> None:
        changer = VirtualChanger(self.lib)
        for kind, a, b in plan(self.robot_inventory(rn), drnum, barcode):
            self.moves += 1
            try:
                changer.unload(a) if kind == "unload" else changer.load(a, b)
            except ChangerError as e:  # as tldd answers it
                raise robots.changer_error(e, f"{kind} {a}") from e

    def robot_unmount(self, rn: int, drnum: int) -> None:
        self.moves += 1
        VirtualChanger(self.lib).unload(drnum)

    def read_label(self, drive: Drive) -> dict[str, Any]:
        self.reads += 1
        return robots.read_label(robots.drive(drive.device, drive.drnum, drive.path)).record()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return make_library(tmp_path, drives=2, slots=4)


@pytest.fixture
def world(lib: Library) -> tuple[Mounter, Ports, Clock]:
    ports, clock = Ports(lib), Clock()
    m = Mounter(ports, DELAY, logging.getLogger("test-ltid"), clock)
    m.learn()
    assert ports.loaded == [(DRIVES[0], ""), (DRIVES[1], "")]  # nbemm told: both empty
    ports.loaded.clear()
    return m, ports, clock


def label_cartridge(lib: Library, slot: int, media_id: str) -> None:
    """Write a NetBackup media header on the cartridge of `slot` through drive 1."""
    VirtualChanger(lib).load(slot, 1)
    d = VirtualDrive(lib, 1)
    d.open(True)
    d.write(tapefmt.encode_mh(tapefmt.MediaHeader(media_id, 1)))
    d.write_filemarks(1)
    d.close()
    VirtualChanger(lib).unload(1)


def where(lib: Library, barcode: str) -> tuple[str, int]:
    c = lib.state().cartridges[barcode]
    return c.location, c.element


def test_mount_loads_records_and_tells_emm(world: tuple[Mounter, Ports, Clock],
                                           lib: Library) -> None:
    m, ports, _ = world
    reply = m.mount(7, "MINE00", "A00000L6", "IBM.ULT3580-TD5.000", "w")
    assert reply["drive"] == "IBM.ULT3580-TD5.000" and reply["drnum"] == 0
    assert reply["library"] == str(lib.home) and reply["media_id"] == "MINE00"
    assert where(lib, "A00000L6") == ("drive", 0)
    assert ports.loaded == [("IBM.ULT3580-TD5.000", "MINE00")]  # the id mounted for
    rec = m.status()["drives"][0]
    assert (rec["user"], rec["jobid"], rec["ready"], rec["label"], rec["extmid"]) == \
        ("root", 7, True, "No", "MINE00")  # a blank tape: not labelled yet
    # the same job asks again while its bptm has the drive open: no move, no read (97)
    bptm = VirtualDrive(lib, 0)
    bptm.open(True)
    moves = ports.moves
    assert m.mount(7, "MINE00", "A00000L6", "IBM.ULT3580-TD5.000", "w")["reqid"] == \
        reply["reqid"]
    assert ports.moves == moves
    bptm.close()
    with pytest.raises(NbuError) as e:  # another job: 97
        m.mount(8, "0001L6", "A00001L6", "IBM.ULT3580-TD5.000", "w")
    assert e.value.status == MEDIA_IN_USE


def test_unmount_keeps_the_cartridge_for_the_delay_then_sends_it_home(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, ports, clock = world
    m.mount(7, "0001L6", "A00001L6", "IBM.ULT3580-TD5.001", "r")
    for other in (0, 8):  # a command's unmount (job 0) or another job's frees nothing
        with pytest.raises(NbuError) as e:
            m.unmount(other, "IBM.ULT3580-TD5.001")
        assert e.value.status == MEDIA_IN_USE
    m.unmount(7, "IBM.ULT3580-TD5.001")
    assert m.status()["drives"][1]["user"] == ""
    clock.now += DELAY - 1
    m.unload_due()
    assert where(lib, "A00001L6") == ("drive", 1)
    # a next job of the same medium within the delay mounts it without a move
    moves = ports.moves
    m.mount(9, "0001L6", "A00001L6", "IBM.ULT3580-TD5.001", "r")
    assert ports.moves == moves
    m.unmount(9, "IBM.ULT3580-TD5.001")
    clock.now += DELAY + 1
    m.unload_due()
    assert where(lib, "A00001L6") == ("slot", 2)
    assert ports.loaded[-1] == ("IBM.ULT3580-TD5.001", "")
    assert m.status()["drives"][1]["ready"] is False


def test_a_mount_whose_process_died_is_freed_and_a_users_tpreq_is_not(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    """reap: a drive held for a process that is gone (bptm killed with its bpbrm) is free
    again, its cartridge due home after the delay; a live owner's, a mount still under way
    and a tpreq mount (no owner: it outlives its command) stay held."""
    m, _, clock = world
    bptm, other = (111, 1.5), (222, 2.5)
    m.mount(7, "0001L6", "A00001L6", DRIVES[0], "r", owner=bptm)
    m.tpreq("0002L6", "A00002L6", 0, "", "r", "alice", set())
    dead = {bptm}
    m.reap(lambda owner: owner not in dead)
    held = [d["jobid"] for d in m.status()["drives"]]
    assert held == [0, 0] and m.status()["drives"][1]["user"] == "alice"
    assert where(lib, "A00001L6") == ("drive", 0)  # home after the delay, as an unmount
    clock.now += DELAY + 1
    m.unload_due()
    assert where(lib, "A00001L6") == ("slot", 2)
    # a live owner keeps it; the same job asking again from another process moves it there
    m.mount(8, "0001L6", "A00001L6", DRIVES[0], "r", owner=bptm)
    dead.clear()
    m.reap(lambda owner: owner not in dead)
    assert m.status()["drives"][0]["jobid"] == 8
    m.mount(8, "0001L6", "A00001L6", DRIVES[0], "r", owner=other)
    dead.add(bptm)
    m.reap(lambda owner: owner not in dead)
    assert m.status()["drives"][0]["jobid"] == 8
    # a mount under way (the robot moving) is left to finish first
    with m.cond:
        reqid = m.drives[DRIVES[0]].reqid
        m.pending[reqid] = {"reqid": reqid}
    dead.add(other)
    m.reap(lambda owner: owner not in dead)
    assert m.status()["drives"][0]["jobid"] == 8
    with m.cond:
        m.pending.pop(reqid)
    m.reap(lambda owner: owner not in dead)
    assert m.status()["drives"][0]["jobid"] == 0


def test_a_mount_that_finds_its_drive_held_by_a_dead_process_takes_it(lib: Library) -> None:
    """A bptm killed after its job ended, before its unmount, leaves the drive held in ltid
    while nbemm gives it to the next job: that job's mount frees it then and goes on (not
    97 until the periodic reap). A live holder's drive stays refused (97)."""
    ports, clock = Ports(lib), Clock()
    dead: set[tuple[int, float]] = set()
    m = Mounter(ports, DELAY, logging.getLogger("test-ltid"), clock,
                alive=lambda owner: owner not in dead)
    m.learn()
    killed, live, next_bptm = (111, 1.5), (222, 2.5), (333, 3.5)
    m.mount(7, "0001L6", "A00001L6", DRIVES[0], "w", owner=killed)
    m.mount(9, "0002L6", "A00002L6", DRIVES[1], "w", owner=live)
    dead.add(killed)
    reply = m.mount(8, "0003L6", "A00003L6", DRIVES[0], "w", owner=next_bptm)
    assert reply["media_id"] == "0003L6" and m.status()["drives"][0]["jobid"] == 8
    with pytest.raises(NbuError) as e:
        m.mount(10, "0004L6", "A00004L6", DRIVES[1], "w", owner=next_bptm)
    assert e.value.status == MEDIA_IN_USE
    assert m.status()["drives"][1]["jobid"] == 9


def test_a_failed_jobs_drive_stays_held_while_its_bptm_lives_and_the_next_job_waits(
        lib: Library) -> None:
    """nbjm lets go of a failed job's drive (unmount, orphan) while that job's bptm may
    still have it open, finishing its abort: ltid keeps it for that bptm, and the next
    job's mount (nbemm gave it the drive) waits for it to unmount rather than fail 97. A
    holder that never lets go still makes it 97, after the wait."""
    ports, clock = Ports(lib), Clock()
    dead: set[tuple[int, float]] = set()
    m = Mounter(ports, DELAY, logging.getLogger("test-ltid"), clock,
                alive=lambda owner: owner not in dead, holder_wait=10.0)
    m.learn()
    old_bptm, new_bptm = (111, 1.5), (222, 2.5)
    m.mount(7, "0001L6", "A00001L6", DRIVES[0], "w", owner=old_bptm)
    m.unmount(7, DRIVES[0], orphan=True)  # nbjm: the owner lives, the drive stays its
    assert m.status()["drives"][0]["jobid"] == 7
    threading.Timer(0.3, lambda: m.unmount(7, DRIVES[0])).start()  # the old bptm lets go
    start = time.monotonic()
    reply = m.mount(8, "0002L6", "A00002L6", DRIVES[0], "w", owner=new_bptm)
    assert reply["media_id"] == "0002L6" and time.monotonic() - start >= 0.25
    assert m.status()["drives"][0]["jobid"] == 8
    dead.add(new_bptm)
    m.unmount(8, DRIVES[0], orphan=True)  # its owner is gone: freed now
    assert m.status()["drives"][0]["jobid"] == 0
    m.mount(9, "0003L6", "A00003L6", DRIVES[1], "w", owner=old_bptm)
    m.holder_wait = 0.3
    with pytest.raises(NbuError) as e:
        m.mount(10, "0004L6", "A00004L6", DRIVES[1], "w", owner=new_bptm)
    assert e.value.status == MEDIA_IN_USE and "job 9" in str(e.value)


def test_two_mounts_crosswise_swap_the_cartridges(world: tuple[Mounter, Ports, Clock],
                                                 lib: Library) -> None:
    """nbemm gives two jobs each the drive the other's cartridge sits in (as after an ltid
    restart): neither is 97 because its cartridge is loaded in a drive held for another
    medium; the robot swaps them, one mount's moves after the other's."""
    m, ports, _ = world
    m.mount(1, "0001L6", "A00001L6", DRIVES[0], "w")
    m.mount(2, "0002L6", "A00002L6", DRIVES[1], "w")
    m.unmount(1, DRIVES[0])
    m.unmount(2, DRIVES[1])  # both stay loaded, idle
    gate, moving = threading.Event(), threading.Event()
    robot_mount = ports.robot_mount

    def slow_robot_mount(rn: int, drnum: int, barcode: str) -> None:
        moving.set()
        gate.wait(10)
        robot_mount(rn, drnum, barcode)

    ports.robot_mount = slow_robot_mount  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def mount(jobid: int, media_id: str, drive: str) -> None:
        try:
            m.mount(jobid, media_id, f"A0{media_id}", drive, "w")
        except BaseException as e:
            errors.append(e)

    first = threading.Thread(target=mount, args=(4, "0001L6", DRIVES[1]))
    first.start()
    assert moving.wait(10)  # job 4 holds drive 1 (A00002 in it), its move under way
    second = threading.Thread(target=mount, args=(3, "0002L6", DRIVES[0]))
    second.start()
    gate.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert where(lib, "A00001L6") == ("drive", 1) and where(lib, "A00002L6") == ("drive", 0)
    assert [d["jobid"] for d in m.status()["drives"]] == [3, 4]


def test_owner_of_a_local_peer_and_whether_it_lives() -> None:
    """ltid's real ports to the kernel: a Unix peer's pid and start time (SO_PEERCRED), and
    `alive` false once that process is dead and reaped, or a zombie."""
    a, b = socket.socketpair()
    me = (os.getpid(), psutil.Process().create_time())
    assert ltid.owner_of(Connection(b, "x", "local")) == me
    assert ltid.owner_of(Connection(b, "x", "10.0.0.1")) is None  # not a local peer
    a.close()
    b.close()
    child = subprocess.Popen(["sleep", "30"])
    owner = (child.pid, psutil.Process(child.pid).create_time())
    assert ltid.alive(owner) and not ltid.alive((child.pid, owner[1] + 1))  # pid reused
    child.kill()
    wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 10, "zombie")
    assert not ltid.alive(owner)
    child.wait()
    assert not ltid.alive(owner)


def test_a_header_naming_another_media_id_is_93_and_frees_the_drive(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, _, _ = world
    label_cartridge(lib, 3, "OTHER1")
    with pytest.raises(NbuError) as e:
        m.mount(5, "0002L6", "A00002L6", "IBM.ULT3580-TD5.000", "w")
    assert e.value.status == WRONG_TAPE and "OTHER1" in e.value.detail
    rec = m.status()["drives"][0]
    assert rec["user"] == "" and rec["recmid"] == "OTHER1" and rec["label"] == "Yes"
    assert m.status()["pending"] == []
    # the right id passes
    m.mount(6, "OTHER1", "A00002L6", "IBM.ULT3580-TD5.000", "w")


def test_a_read_mount_within_the_delay_reuses_the_loaded_labelled_cartridge(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    """The next restore of a cartridge still in its drive: no move and no second avrd read
    (bptm checks the header as it opens the drive); a write mount reads the label again."""
    m, ports, clock = world
    label_cartridge(lib, 3, "0002L6")
    m.mount(5, "0002L6", "A00002L6", "IBM.ULT3580-TD5.000", "r")
    assert (ports.moves, ports.reads) == (1, 1)
    m.unmount(5, "IBM.ULT3580-TD5.000")
    clock.now += DELAY - 1
    reply = m.mount(6, "0002L6", "A00002L6", "IBM.ULT3580-TD5.000", "r")
    assert (ports.moves, ports.reads) == (1, 1) and reply["media_id"] == "0002L6"
    rec = m.status()["drives"][0]
    assert (rec["jobid"], rec["ready"], rec["recmid"]) == (6, True, "0002L6")
    m.unmount(6, "IBM.ULT3580-TD5.000")
    m.mount(7, "0002L6", "A00002L6", "IBM.ULT3580-TD5.000", "w")
    assert (ports.moves, ports.reads) == (1, 2)
    m.unmount(7, "IBM.ULT3580-TD5.000")
    # another medium asked for in that drive: the robot swaps and avrd reads
    m.mount(8, "0001L6", "A00001L6", "IBM.ULT3580-TD5.000", "r")
    assert ports.reads == 3 and where(lib, "A00002L6") == ("slot", 3)


def test_a_foreign_tape_is_172(world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, _, _ = world
    VirtualChanger(lib).load(4, 1)
    d = VirtualDrive(lib, 1)
    d.open(True)
    d.write(b"not a header" * 10)
    d.close()
    VirtualChanger(lib).unload(1)
    with pytest.raises(NbuError) as e:
        m.mount(5, "0003L6", "A00003L6", "IBM.ULT3580-TD5.000", "w")
    assert e.value.status == MEDIA_HEADER_UNREADABLE


def test_down_drive_is_164_and_state_goes_to_emm(world: tuple[Mounter, Ports, Clock]) -> None:
    m, ports, _ = world
    m.set_state(1, "DOWN")
    assert ports.states == [("IBM.ULT3580-TD5.001", "DOWN")]
    assert m.status()["drives"][1]["control"] == "DOWN-TLD"
    with pytest.raises(NbuError) as e:
        m.mount(5, "0000L6", "A00000L6", "IBM.ULT3580-TD5.001", "w")
    assert e.value.status == MEDIA_DOWN
    m.set_state("IBM.ULT3580-TD5.001", "UP")
    assert m.status()["drives"][1]["control"] == "TLD"


def test_a_drive_that_cannot_be_opened_goes_down_and_frees_its_reservation(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    """The drive fails (EIO at open, whatever tape it holds): the mount ends 83 saying the
    drive is DOWN now, nbemm is told first, the reservation is gone, and the next mount in
    it is 164 at once; the other drive still mounts. A refused tape (93) downs nothing."""
    m, ports, _ = world
    label_cartridge(lib, 3, "OTHER1")
    with pytest.raises(NbuError):
        m.mount(4, "0002L6", "A00002L6", DRIVES[1], "w")  # 93: the tape's fault
    assert ports.states == []
    m.mount(5, "0000L6", "A00000L6", DRIVES[0], "w")
    m.unmount(5, DRIVES[0])  # A00000 stays in drive 0 for the delay
    admin.fault(lib, ["drive_down", "0"])
    with pytest.raises(NbuError) as e:
        m.mount(5, "0000L6", "A00000L6", DRIVES[0], "w")
    assert e.value.status == MEDIA_OPEN_ERROR == 83
    assert f"drive {DRIVES[0]} could not be opened and is DOWN now" in e.value.detail
    assert ports.states == [(DRIVES[0], "DOWN")]
    rec = m.status()["drives"][0]
    assert (rec["control"], rec["user"]) == ("DOWN-TLD", "") and m.status()["pending"] == []
    with pytest.raises(NbuError) as e:
        m.mount(6, "0000L6", "A00000L6", DRIVES[0], "w")
    assert e.value.status == MEDIA_DOWN
    assert m.mount(7, "0001L6", "A00001L6", DRIVES[1], "w")["drive"] == DRIVES[1]


def test_a_drive_the_robot_cannot_load_goes_down_a_cartridge_that_will_not_load_not(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    """The robot cannot load into the drive (164: the element is not available): the drive
    goes DOWN. A cartridge that will not load (98) is the cartridge's fault: the drive
    stays UP (bptm selects other media)."""
    m, ports, _ = world
    admin.fault(lib, ["load_fail", "A00001L6"])
    with pytest.raises(NbuError) as e:
        m.mount(3, "0001L6", "A00001L6", DRIVES[1], "w")
    assert e.value.status == MEDIA_REQUEST_FAILED and ports.states == []
    admin.fault(lib, ["drive_down", "0"])
    with pytest.raises(NbuError) as e:
        m.mount(5, "0000L6", "A00000L6", DRIVES[0], "w")
    assert e.value.status == MEDIA_DOWN
    assert f"drive {DRIVES[0]} is not available to the robot and is DOWN now" in \
        e.value.detail
    assert ports.states == [(DRIVES[0], "DOWN")] and m.status()["pending"] == []
    assert where(lib, "A00000L6") == ("slot", 1)


def test_a_cartridge_in_another_idle_drive_moves_over(world: tuple[Mounter, Ports, Clock],
                                                      lib: Library) -> None:
    m, ports, _ = world
    m.mount(1, "0000L6", "A00000L6", "IBM.ULT3580-TD5.000", "r")
    with pytest.raises(NbuError) as e:  # held by job 1
        m.mount(2, "0000L6", "A00000L6", "IBM.ULT3580-TD5.001", "r")
    assert e.value.status == MEDIA_IN_USE
    m.unmount(1, "IBM.ULT3580-TD5.000")
    m.mount(2, "0000L6", "A00000L6", "IBM.ULT3580-TD5.001", "r")
    assert where(lib, "A00000L6") == ("drive", 1)
    assert m.status()["drives"][0]["ready"] is False
    assert ("IBM.ULT3580-TD5.000", "") in ports.loaded


def test_unknown_drive_and_missing_cartridge(world: tuple[Mounter, Ports, Clock],
                                             lib: Library) -> None:
    m, _, _ = world
    with pytest.raises(NbuError) as e:
        m.mount(1, "0000L6", "A00000L6", "NO.SUCH.DRIVE", "r")
    assert e.value.status == NO_ENTITY
    with pytest.raises(NbuError) as e:
        m.mount(1, "XYZ999", "XYZ999", "IBM.ULT3580-TD5.000", "r")
    assert e.value.status == MEDIA_REQUEST_FAILED
    assert m.status()["drives"][0]["user"] == ""


def test_a_drive_added_since_is_learnt_at_its_first_mount(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, ports, _ = world
    ports.drives[1]["name"] = "NEW.DRIVE"
    m.mount(4, "0000L6", "A00000L6", "NEW.DRIVE", "r")
    assert [d["name"] for d in m.status()["drives"]] == [DRIVES[0], "NEW.DRIVE"]


def test_learn_finds_loaded_cartridges_and_sends_them_home(lib: Library) -> None:
    """A restarted ltid: what a previous one left loaded is free and goes home after the
    delay."""
    VirtualChanger(lib).load(2, 1)
    ports, clock = Ports(lib), Clock()
    m = Mounter(ports, DELAY, logging.getLogger("test-ltid"), clock)
    m.learn()
    rec = m.status()["drives"][1]
    assert rec["barcode"] == "A00001L6" and rec["user"] == "" and rec["label"] == "-"
    assert sorted(ports.loaded) == [(DRIVES[0], ""), (DRIVES[1], "0001L6")]
    clock.now += DELAY + 1
    m.unload_due()
    assert where(lib, "A00001L6") == ("slot", 2)


def test_reset_frees_and_unloads_now(world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, _, _ = world
    m.mount(3, "0000L6", "A00000L6", "IBM.ULT3580-TD5.000", "w")
    m.set_state(0, "RESET")
    assert where(lib, "A00000L6") == ("slot", 1)
    assert m.status()["drives"][0]["user"] == ""


def test_avrd_reads_drives_ltid_did_not_mount(world: tuple[Mounter, Ports, Clock],
                                              lib: Library) -> None:
    m, _, _ = world
    label_cartridge(lib, 2, "0001L6")
    VirtualChanger(lib).load(2, 0)  # an operator's load
    m.sync(0)
    todo = m.avr_next()
    assert todo["name"] == "IBM.ULT3580-TD5.000" and todo["barcode"] == "A00001L6"
    assert m.avr_next() == {}  # handed out once
    assert todo["rn"] == 0
    label = robots.read_label(robots.drive(str(lib.home), todo["drnum"], todo["path"]))
    m.avr_label(todo["name"], todo["barcode"], label.record())
    rec = m.status()["drives"][0]
    assert rec["recmid"] == "0001L6" and rec["label"] == "Yes"
    assert m.avr_next() == {}


def test_pure_drive_rules() -> None:
    a = Drive(0, "a", "hcart", 0, 0, "/dev/nst0", barcode="X", unload_at=5.0)
    b = Drive(1, "b", "hcart", 0, 1, "/dev/nst1")
    c = Drive(2, "c", "dlt", -1, 0, "/dev/nst2", state="DOWN")
    assert due_unloads([a, b, c], 5.0) == [a] and due_unloads([a], 4.9) == []
    assert scan_candidate([a, b], 0.0, 60) is a
    a.scanning = 1.0
    assert scan_candidate([a, b], 30.0, 60) is None and scan_candidate([a], 62.0, 60) is a
    assert tpreq_drive([a, b, c], 0, "", set()) is b
    assert tpreq_drive([a, b, c], 0, "", {"b"}) is a
    assert tpreq_drive([a, b], 0, "dlt", set()) is None
    assert c.control() == "DOWN" and Drive(3, "d", "x", -1, 0, "").control() == "AVR"


def test_tldd_plan() -> None:
    inv = {"drives": [{"number": 0, "full": True, "barcode": "B", "source": 2},
                      {"number": 1, "full": False, "barcode": "", "source": None}],
           "slots": [{"number": 1, "full": True, "barcode": "A", "source": None},
                     {"number": 2, "full": False, "barcode": "", "source": None}]}
    assert plan(inv, 0, "B") == []
    assert plan(inv, 1, "A") == [("load", 1, 1)]
    assert plan(inv, 0, "A") == [("unload", 0, 0), ("load", 1, 0)]
    assert plan(inv, 1, "B") == [("unload", 0, 0), ("load", 2, 1)]
    with pytest.raises(NbuError) as e:
        plan(inv, 1, "C")
    assert e.value.status == MEDIA_REQUEST_FAILED


def test_read_label_blank_labelled_and_busy(lib: Library) -> None:
    VirtualChanger(lib).load(1, 0)
    d = robots.drive(str(lib.home), 0, "")
    assert robots.read_label(d) == robots.Label("", True, False, False)
    w = VirtualDrive(lib, 0)
    w.open(True)
    w.write(tapefmt.encode_mh(tapefmt.MediaHeader("ABC123", 1)))
    with pytest.raises(NbuError) as e:  # open elsewhere: never touched
        robots.read_label(robots.drive(str(lib.home), 0, ""))
    assert e.value.status == MEDIA_IN_USE
    w.close()
    assert robots.read_label(d).recmid == "ABC123"


def test_withdraw_refuses_a_held_drive_then_sends_cartridges_home_and_forgets(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    """nbemmcmd -deletealldevices' begin and end (ltid_withdraw): 97 while a job holds a
    drive, nothing marked; then the idle loaded drives are emptied and forgotten, learn()
    leaves them out during the hold, and a mount of one is refused (227) without a move."""
    m, ports, _ = world
    m.mount(7, "0000L6", "A00000L6", DRIVES[0], "w")
    m.mount(8, "0001L6", "A00001L6", DRIVES[1], "w")
    m.unmount(8, DRIVES[1])
    with pytest.raises(NbuError) as e:
        ltid_withdraw.begin(m, list(DRIVES))
    assert e.value.status == MEDIA_IN_USE and "job 7" in str(e.value)
    assert m.deleting == {} and sorted(m.drives) == list(DRIVES)
    assert where(lib, "A00001L6") == ("drive", 1)  # nothing moved on a refusal
    m.unmount(7, DRIVES[0])
    out = ltid_withdraw.begin(m, list(DRIVES))
    assert out == [{"drive": DRIVES[0], "media_id": "0000L6", "barcode": "A00000L6",
                    "home": True},
                   {"drive": DRIVES[1], "media_id": "0001L6", "barcode": "A00001L6",
                    "home": True}]
    assert where(lib, "A00000L6") == ("slot", 1) and where(lib, "A00001L6") == ("slot", 2)
    assert m.drives == {} and m.status() == {"drives": [], "pending": []}
    m.learn()  # nbemm still lists them (its delete runs now): left out
    assert m.drives == {}
    moves = ports.moves
    with pytest.raises(NbuError) as e:
        m.mount(9, "0000L6", "A00000L6", DRIVES[0], "r")
    assert e.value.status == NO_ENTITY and ports.moves == moves
    ports.drives = []  # nbemm deleted them
    ltid_withdraw.end(m, list(DRIVES))
    assert m.deleting == {} and m.drives == {}
    with pytest.raises(NbuError) as e:
        m.mount(9, "0000L6", "A00000L6", DRIVES[0], "r")
    assert e.value.status == NO_ENTITY and "not configured on this host" in str(e.value)


def test_withdraw_puts_everything_back_when_a_move_fails(
        world: tuple[Mounter, Ports, Clock], lib: Library) -> None:
    m, ports, _ = world
    m.mount(7, "0000L6", "A00000L6", DRIVES[0], "w")
    m.unmount(7, DRIVES[0])

    def broken(rn: int, drnum: int) -> None:
        raise NbuError(MEDIA_REQUEST_FAILED, "the robot is jammed")

    ports.robot_unmount = broken  # type: ignore[method-assign]
    with pytest.raises(NbuError) as e:
        ltid_withdraw.begin(m, list(DRIVES))
    assert e.value.status == MEDIA_REQUEST_FAILED
    assert m.deleting == {} and sorted(m.drives) == list(DRIVES)
    assert where(lib, "A00000L6") == ("drive", 0)
    ltid_withdraw.end(m, list(DRIVES))  # nbemm deleted nothing: the drives stay
    assert sorted(m.drives) == list(DRIVES)
