"""Backups to tape on a real all-in-one host with a virtual library of 2 drives and 10 slots
(8 MiB cartridges, so tapes fill): three policies to one volume pool until an image spans two
tapes; a pool with no media (the wait, then 96); write errors up to the threshold (the medium
frozen or suspended, the job retried on another); a DOWN drive never used; a killed bptm
leaving no drive or medium held."""

from __future__ import annotations

import io
import os
import random
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli import clock, config, kinds
from nbcli.media.bptm_tape import RESELECT_MAX
from nbcli.net import client
from nbcli.status import (
    MEDIA_DOWN,
    MEDIA_OPEN_ERROR,
    MEDIA_PROTECTED,
    MEDIA_READ_ERROR,
    MEDIA_WRITE_ERROR,
)
from nbcli.vtl.library import Library, VirtualChanger
from tests.conftest import Host, wait_for
from tests.flowkit import job, last_jobid, rename_file, steps
from tests.storage.backends import tape_files
from tests.test_schedule_helpers import jobs, local_midnight_in_a_year, wake

DAY = 86400
BARCODES = [f"A{n:05d}L6" for n in range(10)]
FULL, FROZEN, SUSPENDED = 0x8, 0x1, 0x2


def emm(h: Host, op: str, **fields: Any) -> Any:
    return client.call(h.cfg, h.name, "nbemm", op, **fields)


def media(h: Host) -> dict[str, dict[str, Any]]:
    return {m["media_id"]: m for m in emm(h, "media_list")["media"]}


@pytest.fixture
def tape(aio_root: Host) -> Iterator[Host]:
    """The all-in-one host with its library as robot 0, drives DRV0 and DRV1, volume pool
    "tapes" and the tape storage unit "tape1" (MEDIA_WAIT 6 s), configured with the
    commands; no media in EMM yet."""
    yield from running_library(aio_root)


def running_library(h: Host, capacity: str = "8M", speed: str | None = None
                    ) -> Iterator[Host]:
    """The tape fixtures' body: the library created, the host started and configured;
    stopped after, leaving no process."""
    create_library(h, capacity, speed)
    h.start()
    try:
        configure(h)
        yield h
    finally:
        h.stop()
    assert h.processes() == []


def create_library(h: Host, capacity: str = "8M", speed: str | None = None) -> None:
    """A library of 2 drives and 10 slots (drives streaming at `speed`, else unpaced);
    MEDIA_WAIT 6 s."""
    h.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--capacity", capacity,
          "--move-time", "0", *(["--speed", speed] if speed else []))
    cfg = config.load(h.root)
    cfg.data["MEDIA_WAIT"] = 6
    cfg.save()


def configure(h: Host) -> None:
    """Robot 0, drives DRV0 and DRV1, pool "tapes" and storage unit "tape1", as an
    administrator adds them (the host running)."""
    h.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld")
    for n in (0, 1):
        h.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
              "tld", "-robdrnum", str(n), "-asciiname", f"DRV{n}")
    h.run("vmpool", "-add", "tapes", "the tests' pool", "ANYHOST", "ANY", "NONE")
    h.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
          "hcart", "-host", h.name, "-cj", "2")


def add_media(h: Host, *slots: int, pool: str = "tapes") -> None:
    number = {p["name"]: p["number"] for p in emm(h, "pool_list")["pools"]}[pool]
    for slot in slots:
        code = BARCODES[slot - 1]
        h.run("vmadd", "-m", code[:6], "-mt", "hcart", "-b", code, "-rt", "tld", "-rn", "0",
              "-rc1", str(slot), "-p", str(number))


def tape_policy(h: Host, name: str, data: Path, pool: str = "tapes",
                schedule: list[str] | None = None) -> None:
    h.run("bppolicynew", name)
    h.run("bpplinfo", name, "-modify", "-residence", "tape1", "-pool", pool)
    h.run("bpplclients", name, "-add", h.name, "Linux", "Debian")
    h.run("bpplinclude", name, "-add", str(data))
    h.run("bpplsched", name, "-add", "full", "-st", "FULL", *(schedule or []))


def data_dir(base: Path, name: str, mib: float, seed: int) -> Path:
    d = base / name
    d.mkdir(parents=True)
    rnd = random.Random(seed)
    for i in range(3):
        (d / f"f{i}.bin").write_bytes(rnd.randbytes(int(mib * (1 << 20) / 3)))
    return d


def backup(h: Host, policy: str, check: bool = True) -> dict[str, Any]:
    r = h.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w", check=False, timeout=300)
    done = job(h, last_jobid(h))
    if check:
        assert r.returncode == 0 and done["status"] == 0, (r.stderr, done)
    return done


def image(h: Host, backupid: str) -> dict[str, Any]:
    (im,) = client.call(h.cfg, h.name, "bpdbm", "image_list", backupid=backupid)["images"]
    return dict(im)


def image_bytes(h: Host, im: dict[str, Any]) -> bytes:
    """The image's stream, read straight from the cartridges: each fragment's data file."""
    out = io.BytesIO()
    for f in sorted(im["fragments"], key=lambda f: f["num"]):
        unit = {"library": str(h.root / "volmgr" / "vtl"), "barcode": f"{f['media_id']}L6"}
        out.write(b"".join(tape_files(unit)[f["file_num"] + 1]))
    return out.getvalue()


def assert_image_holds(h: Host, im: dict[str, Any], data: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(image_bytes(h, im))) as tar:
        for f in data.iterdir():
            member = tar.extractfile(str(f).lstrip("/"))
            assert member is not None and member.read() == f.read_bytes(), f


def backup_lands_on(h: Host, policy: str, data: Path, medium: str) -> dict[str, Any]:
    """A backup of `policy` (over `data`) ends 0, its image whole on `medium` alone."""
    done = backup(h, policy)
    im = image(h, done["backupid"])
    assert {f["media_id"] for f in im["fragments"]} == {medium}
    assert_image_holds(h, im, data)
    return done


def allocations(h: Host) -> list[dict[str, Any]]:
    return list(emm(h, "allocations")["allocations"])


def test_three_policies_fill_a_tape_and_an_image_spans_two(tape: Host, tmp_path: Path) -> None:
    h = tape
    add_media(h, 1, 2, 3)
    # DRV0 DOWN from the start: every job runs in DRV1, none ever loads DRV0
    h.run("vmoprcmd", "-downbyname", "DRV0")
    dirs = {p: data_dir(tmp_path, p, 3, seed) for seed, p in enumerate(("p1", "p2", "p3"))}
    for p, d in dirs.items():
        tape_policy(h, p, d)
    done = {p: backup(h, p) for p in dirs}
    images = {p: image(h, j["backupid"]) for p, j in done.items()}
    on = {p: [f["media_id"] for f in im["fragments"]] for p, im in images.items()}
    assert on["p1"][0] == on["p2"][0] == on["p3"][0] == "A00000"
    spanned = on["p3"]
    assert spanned[-1] != "A00000" and spanned == sorted(spanned), on
    for p, im in images.items():
        for f in im["fragments"]:
            assert f["file_num"] >= 1 and f["block_offset"] >= 4 and f["density"] == 6
            assert f["block_size"] == 1 << 20
        assert_image_holds(h, im, dirs[p])
    # bpimagelist -l: FRAG media_type 2, density 6, file number, media id, block offset
    frags = [ln.split() for ln in h.run("bpimagelist", "-backupid", done["p3"]["backupid"],
                                        "-l").stdout.splitlines() if ln.startswith("FRAG")]
    assert [(f[5], f[6], f[8]) for f in frags] == [
        ("2", "6", fr["media_id"]) for fr in images["p3"]["fragments"]]
    assert [int(f[7]) for f in frags] == [fr["file_num"] for fr in images["p3"]["fragments"]]
    # EMM: the first tape FULL with three images, the second holds the rest of p3
    m = media(h)
    assert m["A00000"]["state"] & FULL and m["A00000"]["images"] == 3
    assert m[spanned[-1]]["images"] == 1 and m[spanned[-1]]["kbytes"] > 0
    assert m[spanned[-1]]["pool"] == "tapes" and m[spanned[-1]]["assigned"]
    # job details name drive and media; the spanning is there too
    details = h.run("bpdbjobs", "-jobid", str(done["p3"]["jobid"]), "-all_columns").stdout
    assert "DRV1" in details and "A00000" in details and spanned[-1] in details
    assert "is full: the image goes on to media" in details
    assert [s.step for s in steps(h, done["p3"]["jobid"])][-1] == 17
    for p in dirs:
        assert "DRV0" not in h.run("bpdbjobs", "-jobid", str(done[p]["jobid"]),
                                   "-all_columns").stdout
    lib = Library(str(h.root / "volmgr" / "vtl"))
    assert lib.state().drives[0].offset == 0 and lib.state().at("drive", 0) is None
    assert allocations(h) == []
    # every image restores byte-identical through bprestore (bprd child, neededimage); the
    # spanned one mounts its two tapes in the order they were written
    for p, d in dirs.items():
        dest = tmp_path / f"restored_{p}"
        ren = rename_file(tmp_path / f"ren_{p}", [(d, dest)])
        when = time.strftime("%m/%d/%Y %H:%M:%S",  # as of p's image (later fulls hide it)
                             time.localtime(int(done[p]["backupid"].split("_")[-1])))
        r = h.run("bprestore", "-C", h.name, "-R", str(ren), "-s", when, "-e", when, "-w",
                  str(d), check=False, timeout=300)
        assert r.returncode == 0, (r.stderr, job(h, last_jobid(h)))
        for f in d.iterdir():
            assert (dest / f.name).read_bytes() == f.read_bytes(), f
        (last,) = [x for x in steps(h, last_jobid(h)) if x.step == 15 and x.process == "bptm"]
        mounted = [m for m in dict.fromkeys(spanned) if m in last.msg]
        assert mounted == list(dict.fromkeys(on[p])), (p, last.msg)
        if p == "p3":
            assert last.msg.index(spanned[0]) < last.msg.index(spanned[-1]), last.msg
    assert not list(h.cfg.paths.neededimage.iterdir())
    wait_for(lambda: allocations(h) == [], timeout=15, what="restores' resources released")


def test_no_media_the_job_waits_with_the_reason_then_96(tape: Host, tmp_path: Path) -> None:
    h = tape
    h.run("vmpool", "-add", "empty", "no media", "ANYHOST", "ANY", "NONE")
    # the schedule's volume pool wins over the policy's
    tape_policy(h, "nomedia", data_dir(tmp_path, "d", 0.1, 1), pool="tapes",
                schedule=["-pool", "empty"])
    h.run("bpbackup", "-i", "-p", "nomedia", "-s", "full")
    jobid = wait_for(lambda: [j["jobid"] for j in jobs(h) if j["policy"] == "nomedia"], 30,
                     "the job")[0]
    waiting = wait_for(lambda: "Unable to allocate new media" in
                       (job(h, jobid).get("reasonstring") or ""), 30, "the reason")
    assert waiting
    line = h.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert "Volume Pool: empty" in line and "Unable to allocate new media" in line
    assert job(h, jobid)["state"] == kinds.QUEUED
    done = client.call(h.cfg, h.name, "bpjobd", "job_wait", jobid=jobid, timeout=60)["job"]
    assert (done["state"], done["status"]) == (kinds.DONE, 96)
    # an operator puts a new cartridge in the mail slot and runs vmupdate into the pool: the
    # robot takes it into a free slot, EMM knows it, and the next job runs
    lib = Library(str(h.root / "volmgr" / "vtl"))
    for action in ("export", "remove"):  # a full library: an unused tape leaves it first
        h.run("nbvtl", action, BARCODES[9])
    h.run("nbvtl", "insert", "NEW001L6")  # the operator's hand: the mail slot
    assert VirtualChanger(lib).inventory().find("NEW001L6").kind == "mailslot"
    out = h.run("vmupdate", "-rt", "tld", "-rn", "0", "-p", "empty", "-empty_map").stdout
    assert out.splitlines()[-1] == "Volume configuration successfully updated."
    m = media(h)
    assert m["W001L6"]["pool"] == "empty" and m["W001L6"]["barcode"] == "NEW001L6"
    again = backup(h, "nomedia")
    used = [f["media_id"] for f in image(h, again["backupid"])["fragments"]]
    assert used and all(media(h)[u]["pool"] == "empty" for u in used), used
    assert allocations(h) == []


def test_write_errors_suspend_the_medium_and_the_job_goes_on_another(
        tape: Host, tmp_path: Path) -> None:
    h = tape
    t = local_midnight_in_a_year() + 12 * 3600
    clock.set_test_clock(h.root, fixed=t)
    add_media(h, 1, 2)
    h.run("nbvtl", "fault", "write_error", BARCODES[0], "6")  # a data block of image 1
    h.run("bpconfig", "-tries", "4", "-period", "12", "-wi", "1")
    tape_policy(h, "flaky", data_dir(tmp_path, "d", 2, 7),
                schedule=["-freq", str(DAY), "-window", "0", str(DAY)])
    wake(h)
    jobid = wait_for(lambda: [j["jobid"] for j in jobs(h) if j["policy"] == "flaky"], 30,
                     "the scheduled job")[0]
    for n in (1, 2, 3):  # three write errors on A00000: the third suspends it (assigned)
        wait_for(lambda n=n: (lambda j: j["state"] == kinds.REQUEUED and len(j["tries"]) == n)
                 (job(h, jobid)), 120, f"try {n} to fail")
        clock.set_test_clock(h.root, fixed=t + n * 61)
    done = client.call(h.cfg, h.name, "bpjobd", "job_wait", jobid=jobid, timeout=120)["job"]
    assert [tr["trystatus"] for tr in done["tries"]] == [84, 84, 84, 0]
    assert (done["state"], done["status"]) == (kinds.DONE, 0)
    m = media(h)
    assert m["A00000"]["state"] & (SUSPENDED | FROZEN) and m["A00000"]["errors"] >= 3
    assert [f["media_id"] for f in image(h, done["backupid"])["fragments"]] == ["A00001"]
    details = h.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert "media A00000 is now SUSPENDED" in details
    assert allocations(h) == []
    # as an operator sees it: bpmedialist's status word, and available_media's
    listed = h.run("bpmedialist", "-m", "A00000").stdout
    assert "SUSPENDED" in listed and "SUSPENDED" not in h.run("bpmedialist", "-m",
                                                              "A00001").stdout
    assert any(ln.split()[0] == "A00000" and ln.split()[-1] == "SUSPENDED"
               for ln in h.run("available_media").stdout.splitlines() if ln.strip())


def test_a_killed_bptm_leaves_no_drive_or_medium_held(tape: Host, tmp_path: Path) -> None:
    h = tape
    add_media(h, 1, 2, 3, 4, 5)  # 30 MiB spans four tapes: a kill lands in the middle
    tape_policy(h, "killme", data_dir(tmp_path, "big", 30, 3))
    cartridge = Library(str(h.root / "volmgr" / "vtl")).cartridge_path(BARCODES[0])
    h.run("bpbackup", "-i", "-p", "killme", "-s", "full")
    deadline = time.monotonic() + 120
    while not (cartridge.exists() and cartridge.stat().st_size > 1 << 20):  # mid-image
        assert time.monotonic() < deadline, "the backup never wrote 1 MiB"
        time.sleep(0.002)
    bptm = [p.proc for p in h.processes(spares=False) if p.program == "bptm"]
    for p in bptm:
        if p.ppid() not in {q.pid for q in bptm}:
            p.kill()  # SIGKILL: no abort, no unmount, a staged piece lost
    jobid = last_jobid(h)
    done = client.call(h.cfg, h.name, "bpjobd", "job_wait", jobid=jobid, timeout=120)["job"]
    assert done["status"] not in (0, 1)
    wait_for(lambda: allocations(h) == [], 30, "the allocation to go")
    drives = emm(h, "drive_list", host=h.name)["drives"]
    assert all(d["jobid"] == 0 for d in drives), drives
    assert all(m["jobid"] == 0 for m in media(h).values())
    status = client.call(h.cfg, h.name, "ltid", "drive_status")
    assert not status["pending"], status
    # the next job runs: on the medium the killed one was writing (assigned, not full), its
    # unfinished image giving way to the new one
    small = data_dir(tmp_path, "small", 1, 4)
    tape_policy(h, "small", small)
    again = backup(h, "small")
    im = image(h, again["backupid"])
    (medium,) = {f["media_id"] for f in im["fragments"]}
    assert not media(h)[medium]["state"] & FULL
    assert_image_holds(h, im, small)


def test_expiring_the_last_image_of_a_medium_unassigns_it(tape: Host, tmp_path: Path) -> None:
    h = tape
    h.run("vmpool", "-add", "scratch", "the scratch pool", "ANYHOST", "ANY", "NONE")
    h.run("vmpool", "-set_scratch", "scratch")
    add_media(h, 1, 2, pool="scratch")  # taken from scratch into "tapes" when written
    for p in ("e1", "e2"):
        tape_policy(h, p, data_dir(tmp_path, p, 0.5, 11))
    one, two = backup(h, "e1"), backup(h, "e2")
    m = media(h)["A00000"]
    assert m["assigned"] and m["pool"] == "tapes" and m["images"] == 2
    # bpdbm lists the images on a medium itself (bpexpdate -m, -deassignempty)
    on = [i["backupid"] for i in client.call(h.cfg, h.name, "bpdbm", "image_list",
                                             media_id="a00000")["images"]]
    assert sorted(on) == sorted([one["backupid"], two["backupid"]])
    assert client.call(h.cfg, h.name, "bpdbm", "image_list", media_id="A00001")["images"] \
        == []
    h.run("bpexpdate", "-backupid", one["backupid"], "-d", "0", "-force")
    m = media(h)["A00000"]
    assert m["assigned"] and m["pool"] == "tapes"  # one valid image left on it
    h.run("bpexpdate", "-backupid", two["backupid"], "-d", "0", "-force")
    m = media(h)["A00000"]
    assert not m["assigned"] and m["pool"] == "scratch", m  # back to the scratch pool
    cleanup = max(j["jobid"] for j in jobs(h) if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP)
    text = h.run("bpdbjobs", "-jobid", str(cleanup), "-all_columns").stdout
    assert "media A00000 has no valid image left: unassigned" in text
    # the expiry of a frozen medium's last image keeps it assigned
    three = backup(h, "e1")
    assert [f["media_id"] for f in image(h, three["backupid"])["fragments"]] == ["A00000"]
    emm(h, "media_state", media_id="A00000", action="freeze")
    # the cleanup recounts a medium written in an earlier second than its catalog read
    last = media(h)["A00000"]["last_written"]
    wait_for(lambda: time.time() >= last + 1, 5, "the second after the last write")
    h.run("bpexpdate", "-backupid", three["backupid"], "-d", "0", "-force")
    m = media(h)["A00000"]
    assert m["assigned"] and m["state"] & FROZEN and m["pool"] == "tapes", m
    assert (m["vimages"], m["expiration"]) == (0, 0), m  # recounted: no valid image left
    # bpexpdate -m's op: a whole medium at once, whatever its state (NetBackup: "regardless
    # of the media's previous state")
    four = backup(h, "e2")
    assert [f["media_id"] for f in image(h, four["backupid"])["fragments"]] == ["A00001"]
    emm(h, "media_state", media_id="A00001", action="freeze")
    reply = client.call(h.cfg, h.name, "bpdbm", "expire_media", media_id="a00001")
    assert reply["images"] == [four["backupid"]] and reply["unassigned"] is True
    assert client.call(h.cfg, h.name, "bpdbm", "image_list",
                       backupid=four["backupid"])["images"] == []
    m = media(h)["A00001"]
    assert (m["assigned"], m["state"], m["pool"]) == (0, 0, "scratch"), m
    h.run("bpexpdate", "-m", "A00000", "-d", "0", "-force")
    m = media(h)["A00000"]
    assert (m["assigned"], m["state"], m["pool"]) == (0, 0, "scratch"), m
    reply = client.call(h.cfg, h.name, "bpdbm", "expire_media", media_id="A00000")
    assert (reply["media_id"], reply["images"], reply["unassigned"]) == ("A00000", [], True)


def test_a_full_tape_whose_images_expired_is_labelled_again_and_reused(
        tape: Host, tmp_path: Path) -> None:
    """Recycling: an image fills A00000 and spans to A00001; once `bpexpdate -m` expired
    both media they are unassigned, and the next backup takes A00000 again, labelled anew
    from the start of the tape (its image at tape file 1), not refused as full."""
    h = tape
    add_media(h, 1, 2, 3)
    tape_policy(h, "big", data_dir(tmp_path, "big", 10, 41))
    first = backup(h, "big")
    assert [f["media_id"] for f in image(h, first["backupid"])["fragments"]][:2] == \
        ["A00000", "A00001"]
    assert media(h)["A00000"]["state"] & FULL
    for medium in ("A00000", "A00001"):
        h.run("bpexpdate", "-m", medium, "-d", "0", "-force")
    assert not any(media(h)[m]["assigned"] for m in ("A00000", "A00001"))
    small = data_dir(tmp_path, "small", 1, 42)
    tape_policy(h, "small", small)
    done = backup_lands_on(h, "small", small, "A00000")
    im = image(h, done["backupid"])
    assert [f["file_num"] for f in im["fragments"]] == [1]
    m = media(h)["A00000"]
    assert m["assigned"] and not m["state"] & FULL and m["images"] == 1, m
    unit = {"library": str(h.root / "volmgr" / "vtl"), "barcode": BARCODES[0]}
    assert len(tape_files(unit)) == 6  # MH * BH * data * CRCS * EH *: the rest is gone
    details = h.run("bpdbjobs", "-jobid", str(done["jobid"]), "-all_columns").stdout
    assert "media A00000 (A00000L6) in drive" in details
    assert "labelled again (unassigned: what it held expired)" in details, details
    dest = tmp_path / "restored"
    ren = rename_file(tmp_path / "ren", [(small, dest)])
    r = h.run("bprestore", "-C", h.name, "-R", str(ren), "-w", str(small), check=False,
              timeout=120)
    assert r.returncode == 0, (r.stderr, job(h, last_jobid(h)))
    for f in small.iterdir():
        assert (dest / f.name).read_bytes() == f.read_bytes(), f


@pytest.mark.parametrize("victim", ["ltid", "tldcd"])
def test_killing_a_media_manager_daemon_mid_backup_holds_nothing(tape: Host, tmp_path: Path,
                                                                 victim: str) -> None:
    """ltid or the robot control daemon killed while a backup writes (it spans: a later
    mount needs them): the job ends with a status, `netbackup start` brings the daemon
    back, no drive or medium stays reserved and the next job runs."""
    h = tape
    add_media(h, 1, 2, 3, 4, 5)
    tape_policy(h, "spans", data_dir(tmp_path, "big", 30, 5))
    cartridge = Library(str(h.root / "volmgr" / "vtl")).cartridge_path(BARCODES[0])
    h.run("bpbackup", "-i", "-p", "spans", "-s", "full")
    deadline = time.monotonic() + 120
    while not (cartridge.exists() and cartridge.stat().st_size > 1 << 20):
        assert time.monotonic() < deadline, "the backup never wrote 1 MiB"
        time.sleep(0.002)
    for p in h.processes(spares=False):
        if p.program == victim:
            p.proc.kill()
    jobid = last_jobid(h)
    done = client.call(h.cfg, h.name, "bpjobd", "job_wait", jobid=jobid, timeout=180)["job"]
    assert done["state"] == kinds.DONE  # ended, with whatever status the loss caused
    h.run("netbackup", "start")  # as an administrator (or a watchdog) would
    wait_for(lambda: allocations(h) == [], 30, "the allocation to go")
    drives = emm(h, "drive_list", host=h.name)["drives"]
    assert all(d["jobid"] == 0 for d in drives), drives
    assert all(m["jobid"] == 0 for m in media(h).values())
    status = wait_for(lambda: client.call(h.cfg, h.name, "ltid", "drive_status"), 30, "ltid")
    assert not status["pending"], status
    small = data_dir(tmp_path, "small", 1, 6)
    tape_policy(h, "small", small)
    again = backup(h, "small")
    assert_image_holds(h, image(h, again["backupid"]), small)


def test_a_full_file_system_under_the_library_is_a_write_error_not_full_tapes(
        aio_root: Host, tmp_path: Path) -> None:
    """The cartridges' file system fills (a 6 MiB tmpfs under 8 MiB cartridges): that is the
    drive failing to write (84), not the end of the tape - no medium is marked FULL, no image
    spans onto the other tapes, nothing stays held, and once there is room the next backup
    writes that same tape."""
    h = aio_root
    cartridges = h.root / "volmgr" / "vtl" / "cartridges"
    cartridges.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs",
                              str(cartridges)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("needs permission to mount a 6 MiB tmpfs (run as root)")
    try:
        create_library(h)
        h.start()
        try:
            configure(h)
            h.run("bpconfig", "-tries", "1")
            add_media(h, 1, 2, 3)
            tape_policy(h, "fills", data_dir(tmp_path, "big", 7, 21))
            done = backup(h, "fills", check=False)
            assert done["status"] == MEDIA_WRITE_ERROR, done
            details = h.run("bpdbjobs", "-jobid", str(done["jobid"]), "-all_columns").stdout
            assert "the file system holding the cartridge A00000L6 is full" in details, details
            m = media(h)
            assert not any(x["state"] & FULL for x in m.values()), m
            assert not any(x["images"] for x in m.values()), m
            assert client.call(h.cfg, h.name, "bpdbm", "image_list",
                               policy="fills")["images"] == []
            wait_for(lambda: allocations(h) == [], 30, "the allocation to go")
            # room again: the next backup writes the same tape, from its start
            small = data_dir(tmp_path, "small", 1, 22)
            tape_policy(h, "fits", small)
            backup_lands_on(h, "fits", small, "A00000")
        finally:
            h.stop()
    finally:
        subprocess.run(["umount", "-l", str(cartridges)], check=False)


def test_a_corrupt_block_on_tape_fails_the_restore_and_writes_nothing_half(
        tape: Host, tmp_path: Path) -> None:
    """A byte of an image's data changed on the cartridge (bit rot, a bad drive): the restore
    ends with bptm's status (85, the block failing its checksum, in the details), the damaged
    file is not left half written (nor under a temporary
    name) in the destination, and nothing stays held."""
    h = tape
    add_media(h, 1)
    data = tmp_path / "rot"
    data.mkdir()
    victim = os.urandom(200 << 10)
    (data / "victim.bin").write_bytes(victim)
    tape_policy(h, "rot", data)
    backup(h, "rot")
    wait_for(lambda: allocations(h) == [], 30, "the backup's allocation to go")
    cartridge = Library(str(h.root / "volmgr" / "vtl")).cartridge_path(BARCODES[0])
    raw = bytearray(cartridge.read_bytes())
    at = raw.find(victim[:64])
    assert at > 0 and raw.find(victim[:64], at + 1) < 0
    raw[at + 1000] ^= 0x40
    cartridge.write_bytes(bytes(raw))
    dest = tmp_path / "restored"
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    r = h.run("bprestore", "-C", h.name, "-R", str(ren), "-w", str(data), check=False,
              timeout=120)
    done = job(h, last_jobid(h))
    # bptm's word, not tar-restore's "no data": the block failed its checksum on the media
    assert r.returncode == done["status"] == MEDIA_READ_ERROR, (r.stderr, done)
    details = h.run("bpdbjobs", "-jobid", str(done["jobid"]), "-all_columns").stdout
    assert "fails its checksum" in details, details
    left = sorted(p.name for p in dest.rglob("*")) if dest.exists() else []
    assert not [n for n in left if n.startswith(".nbtr")], left
    if (dest / "victim.bin").exists():
        assert (dest / "victim.bin").read_bytes() == victim
    wait_for(lambda: allocations(h) == [], 30, "the restore's allocation to go")


@pytest.mark.parametrize("fault", ["write protected", "will not load"])
def test_a_medium_that_cannot_be_mounted_is_given_up_for_another(
        tape: Host, tmp_path: Path, fault: str) -> None:
    """NetBackup cancels a backup's mount of a write-protected (or otherwise unmountable)
    medium and selects other media: the job ends 0 on the next medium, says why in its
    details, and the refused medium is neither FULL nor written, and goes back to the
    scratch pool it was taken from, unassigned."""
    h = tape
    h.run("vmpool", "-add", "scratch", "the scratch pool", "ANYHOST", "ANY", "NONE")
    h.run("vmpool", "-set_scratch", "scratch")
    add_media(h, 1, 2, pool="scratch")
    if fault == "write protected":
        h.run("nbvtl", "protect", BARCODES[0], "on")
    else:
        h.run("nbvtl", "fault", "load_fail", BARCODES[0])
    data = data_dir(tmp_path, "d", 0.5, 31)
    tape_policy(h, "refused", data)
    done = backup_lands_on(h, "refused", data, "A00001")
    details = h.run("bpdbjobs", "-jobid", str(done["jobid"]), "-all_columns").stdout
    assert "media A00000 cannot be mounted in DRV0 for writing" in details, details
    assert "selecting other media" in details
    m = media(h)["A00000"]
    assert not m["state"] & FULL and m["images"] == 0, m
    assert (m["assigned"], m["pool"]) == (0, "scratch"), m
    assert media(h)["A00001"]["pool"] == "tapes"
    wait_for(lambda: allocations(h) == [], 30, "the allocation to go")


def test_media_refused_in_turn_end_the_job_with_the_mounts_status(
        tape: Host, tmp_path: Path) -> None:
    """Every medium of the pool write protected: the job gives up after RESELECT_MAX of them
    with the mount's own status (168), not 96, and holds nothing."""
    h = tape
    add_media(h, 1, 2, 3, 4, 5)
    for code in BARCODES[:5]:
        h.run("nbvtl", "protect", code, "on")
    tape_policy(h, "allro", data_dir(tmp_path, "d", 0.2, 32))
    done = backup(h, "allro", check=False)
    assert done["status"] == MEDIA_PROTECTED, done
    details = h.run("bpdbjobs", "-jobid", str(done["jobid"]), "-all_columns").stdout
    assert details.count("selecting other media") == RESELECT_MAX, details
    assert not any(x["state"] & FULL for x in media(h).values())
    wait_for(lambda: allocations(h) == [], 30, "the allocation to go")


def test_write_errors_on_three_media_in_one_drive_set_it_down(tape: Host, tmp_path: Path
                                                              ) -> None:
    """NetBackup's drive error threshold (2): three write errors in one drive within the
    window, each on another medium (three pools of one tape each, so no medium is picked
    twice), down the drive - the third job's details say so, vmoprcmd shows it DOWN - and
    no medium is frozen or suspended for it."""
    h = tape
    h.run("bpconfig", "-tries", "1")  # each failure ends its job: one error a job
    h.run("vmoprcmd", "-down", "1")  # every job writes in DRV0
    number = {}
    for n in (1, 2, 3):
        h.run("vmpool", "-add", f"p{n}", f"pool {n}", "ANYHOST", "ANY", "NONE")
        add_media(h, n, pool=f"p{n}")
        h.run("nbvtl", "fault", "write_error", BARCODES[n - 1], "6")
        tape_policy(h, f"err{n}", data_dir(tmp_path, f"d{n}", 2, 50 + n), pool=f"p{n}")
        done = backup(h, f"err{n}", check=False)
        assert done["status"] == MEDIA_WRITE_ERROR, done
        number[n] = done["jobid"]
        status = h.run("vmoprcmd", "-d", "ds").stdout.splitlines()
        (drv0,) = [ln.split() for ln in status if ln.split()[:1] == ["0"]]
        assert (drv0[2] == "DOWN-TLD") == (n == 3), (n, status)
    details = h.run("bpdbjobs", "-jobid", str(number[3]), "-all_columns").stdout
    assert "write error on media A00002 in DRV0: drive DRV0 is now DOWN" in details, details
    assert not any(m["state"] & (FROZEN | SUSPENDED) for m in media(h).values())
    wait_for(lambda: allocations(h) == [], 30, "the allocations to go")


@pytest.mark.parametrize("where", ["holding the medium", "empty"])
def test_a_drive_that_fails_is_set_down_and_the_next_job_uses_the_other(
        tape: Host, tmp_path: Path, where: str) -> None:
    """DRV0 fails. Holding A00000, it cannot even be opened (83); empty, the robot cannot
    load into it (164). Either way the backup that mounts there ends with that status and
    says the drive is DOWN now, vmoprcmd shows it DOWN, and the next backup runs in the
    other drive, rather than every job failing on the broken drive while the other idles."""
    h = tape
    add_media(h, 1, 2)
    data = data_dir(tmp_path, "d", 0.5, 61)
    tape_policy(h, "p", data)
    backup_lands_on(h, "p", data, "A00000")
    wait_for(lambda: allocations(h) == [], 30, "the allocation to go")
    lib = Library(str(h.root / "volmgr" / "vtl"))
    assert lib.state().at("drive", 0) == BARCODES[0]
    if where == "empty":
        h.run("vmoprcmd", "-resetdrive", "0")  # A00000 goes home now
        assert lib.state().at("drive", 0) is None
    h.run("nbvtl", "fault", "drive_down", "0")
    failed = backup(h, "p", check=False)
    what = "could not be opened" if where != "empty" else "is not available to the robot"
    assert failed["status"] == (MEDIA_OPEN_ERROR if where != "empty" else MEDIA_DOWN), failed
    details = h.run("bpdbjobs", "-jobid", str(failed["jobid"]), "-all_columns").stdout
    assert f"drive DRV0 {what} and is DOWN now" in details, details
    status = h.run("vmoprcmd", "-d", "ds").stdout.splitlines()
    (drv0,) = [ln.split() for ln in status if ln.split()[:1] == ["0"]]
    assert drv0[2] == "DOWN-TLD", status
    done = backup(h, "p")
    assert "in drive 1 of" in h.run("bpdbjobs", "-jobid", str(done["jobid"]),
                                    "-all_columns").stdout
    assert_image_holds(h, image(h, done["backupid"]), data)
    wait_for(lambda: allocations(h) == [], 30, "the allocations to go")
