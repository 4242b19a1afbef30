"""Restores from tape through the seed's restore steps 1-17, on a real all-in-one host with a
virtual library of 2 drives and 10 slots of 8 MiB cartridges (`nbvtl create`): the neededimage
file and the bprd and bpbrm children while a restore runs, byte-identical data, positioning
to one file in the middle of a full tape, an image spanning two tapes mounted in order, and
killed processes leaving nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli import multihost, programs
from nbcli.net import client
from nbcli.pidfile import read_pidfile
from nbcli.status import MEDIA_DOWN
from nbcli.vtl.library import Library
from tests.conftest import Host, wait_for
from tests.flowkit import Step, add_policy, job, last_jobid, rename_file, steps
from tests.integration.test_flow import assert_steps
from tests.treegen import assert_same_tree, make_hard_tree

BLOCK = 65536
DRIVES = ("HP.ULTRIUM.000", "HP.ULTRIUM.001")
TAPE_ACTORS = {1: {"bprd@aio"}, 2: {"bprd@aio"}, 3: {"bprd@aio"},
               4: {"bprd@aio", "bprd child@aio"}, 5: {"bprd child@aio"}, 6: {"bpbrm@aio"},
               7: {"bptm@aio"}, 8: {"bpbrm child@aio"}, 9: {"nbjm@aio"}, 10: {"nbrb@aio"},
               11: {"nbjm@aio", "nbrb@aio"}, 12: {"bptm@aio"}, 13: {"bptm@aio"},
               14: {"bptm@aio", "bptm child@aio", "tar-restore@dest"}, 15: {"bptm@aio"},
               16: {"nbjm@aio", "nbrb@aio"}, 17: {"bpbrm@aio", "bprd child@aio"}}
READ = re.compile(r"\((\d+) bytes read from tape; (\d+) bytes of cartridge read; media "
                  r"mounted in order: ([^)]*)\)")


def emm(h: Host, op: str, /, **fields: Any) -> dict[str, Any]:
    return client.call(h.cfg, h.name, "nbemm", op, **fields)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, Path]]:
    """The host with its library in EMM, a tape storage unit, and the images the tests read:
    four images that fill most of tape 1 (each a 1.5 MiB file and a 1 KiB one), one that
    spans from tape 1 to tape 2, and a tree of every kind of file that spans tapes 2 and 3."""
    base = tmp_path_factory.mktemp("tape")
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    (host,) = [Host(s) for s in multihost.create(base / "hosts", layout=[
        ("aio", "127.0.0.1", ["master", "media", "client"])])]
    cfg = host.cfg
    cfg.data.update({"MEDIA_UNMOUNT_DELAY": 1, "SIZE_DATA_BUFFERS": BLOCK})
    cfg.save()
    host.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--capacity", "8M",
             "--move-time", "0")
    try:
        host.start()
        home = str(host.root / "volmgr" / "vtl")
        host.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld", "-robpath", home)
        for n, name in enumerate(DRIVES):
            host.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0",
                     "-robtype", "tld", "-robdrnum", str(n), "-asciiname", name)
        for n in range(10):
            emm(host, "media_add", media_id=f"A{n:05d}", type="hcart", barcode=f"A{n:05d}L6",
                rt="tld", rn=0, slot=n + 1)
        client.call(host.cfg, "aio", "ltid", "learn")
        host.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
                 "hcart", "-host", "aio", "-cj", "2")
        for n in range(1, 5):
            folder = base / "data" / f"fill{n}"
            folder.mkdir(parents=True)
            (folder / "big.bin").write_bytes(os.urandom(3 << 19))
            (folder / "zz_small.txt").write_bytes(os.urandom(1024))
            backup(host, f"fill{n}", [folder])
        span = base / "data" / "span"
        span.mkdir()
        (span / "big.bin").write_bytes(os.urandom(3 << 20))
        backup(host, "span", [span])
        tree = make_hard_tree(base / "data" / "tree")  # 9 MiB: it spans too
        backup(host, "tree", [tree])
        yield host, base
    finally:
        host.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)
        assert host.processes() == []


def backup(host: Host, policy: str, includes: list[Path]) -> str:
    add_policy(host, policy, "tape1", ["aio"], [str(p) for p in includes])
    r = host.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w", check=False)
    done = job(host, last_jobid(host))
    assert (r.returncode, done["status"]) == (0, 0), (r.stdout, r.stderr, done)
    return str(done["backupid"])


def fragments(host: Host, client_name: str, policy: str) -> list[tuple[str, int]]:
    """(media id, tape file) of the newest image of `policy`, in fragment order."""
    out = host.run("bpimagelist", "-client", client_name, "-policy", policy, "-l").stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == "FRAG":
            found.append((int(words[2]), words[8], int(words[7])))
    return [(m, f) for _, m, f in sorted(found)]


def as_of(host: Host, policy: str) -> list[str]:
    """bprestore's -s/-e for the state as of `policy`'s image (a later full backup of the
    client would hide it otherwise)."""
    out = host.run("bpimagelist", "-client", "aio", "-policy", policy, "-l").stdout
    (backupid,) = [w.split()[5] for w in out.splitlines() if w.startswith("IMAGE ")]
    when = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(int(backupid.split("_")[-1])))
    return ["-s", when, "-e", when]


def restore(host: Host, tmp: Path, src: Path, dest: Path, *paths: Path,
            policy: str = "") -> tuple[int, list[Step]]:
    ren = rename_file(tmp / f"ren_{dest.name}", [(src, dest)])
    r = host.run("bprestore", "-C", "aio", "-R", str(ren), "-w",
                 *(as_of(host, policy) if policy else []),
                 *[str(p) for p in (paths or (src,))], check=False)
    jobid = last_jobid(host)
    assert r.returncode == 0, (r.stdout, r.stderr, job(host, jobid))
    return jobid, steps(host, jobid)


def read_counts(found: list[Step]) -> tuple[int, int, list[str]]:
    (last,) = [s for s in found if s.step == 15 and s.process == "bptm"]
    m = READ.search(last.msg)
    assert m, last.msg
    return int(m[1]), int(m[2]), [x.strip() for x in m[3].split(",")]


def library(host: Host) -> Library:
    return Library(host.root / "volmgr" / "vtl")


def all_home(host: Host) -> bool:
    return all(c.location == "slot" for c in library(host).state().cartridges.values())


def slow_robot(host: Host, seconds: float) -> None:
    """Each robot move takes `seconds` from now (once every cartridge is home, so that the
    next restore's mount is a move)."""
    wait_for(lambda: all_home(host), timeout=30, what="every cartridge back in its slot")
    with library(host).update() as s:
        s.geometry.move_time = seconds


def children(host: Host) -> tuple[list[str], list[str]]:
    lines = host.run("bpps", "-x").stdout.splitlines()
    return ([x for x in lines if re.search(r"\bbprd -child -jobid \d+", x)],
            [x for x in lines if re.search(r"\bbpbrm -child -jobid \d+", x)])


def nothing_held(host: Host) -> bool:
    """No allocation in nbemm, no drive reserved there or in ltid."""
    ltid = client.call(host.cfg, "aio", "ltid", "drive_status")["drives"]
    return not emm(host, "allocations")["allocations"] and \
        not any(d["jobid"] for d in emm(host, "drive_list")["drives"]) and \
        not any(d["jobid"] for d in ltid)


def start_restore(host: Host, tmp: Path, src: Path, dest: Path,
                  policy: str = "") -> subprocess.Popen[str]:
    ren = rename_file(tmp / f"ren_{dest.name}", [(src, dest)])
    return subprocess.Popen(programs.argv_for("bprestore") + [
        "-C", "aio", "-R", str(ren), "-w", *(as_of(host, policy) if policy else []), str(src)],
                            env=host.env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_restore_from_tape_runs_the_seed_steps_with_a_bprd_child(site, tmp_path: Path) -> None:
    host, base = site
    tree = base / "data" / "tree"
    dest = base / "restored_tree"
    needed = host.cfg.paths.neededimage
    slow_robot(host, 2.0)
    try:
        proc = start_restore(host, tmp_path, tree, dest)
        # while it runs (the robot moves the cartridge): the file and both children
        files = wait_for(lambda: neededimages(needed), timeout=30, what="a neededimage file")
        jobid = int(files[0].name)
        lines = files[0].read_text().splitlines()
        assert lines[0].startswith("# media_id backupid copy fragment file_num")
        media, backupid, copy, frag, file_num, block, size, server, density = lines[1].split()
        frags = fragments(host, "aio", "tree")
        assert (media, int(file_num), copy, frag, size, server, density) == \
            (frags[0][0], frags[0][1], "1", "1", str(BLOCK), "aio", "hcart")
        assert [line.split()[0] for line in lines[1:]] == [m for m, _ in frags]
        assert backupid.startswith("aio_")
        assert int(file_num) >= 1 and int(block) > int(file_num)  # records and marks before
        bprd_child, bpbrm_child = wait_for(lambda: all(children(host)) and children(host),
                                           timeout=30, what="bprd and bpbrm children in bpps")
        assert f"-jobid {jobid}" in bprd_child[0] and f"-jobid {jobid}" in bpbrm_child[0]
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
    finally:
        with library(host).update() as s:
            s.geometry.move_time = 0
    assert_same_tree(tree, dest)
    # afterwards: no file, no child, nothing held
    assert not list(needed.iterdir())
    wait_for(lambda: children(host) == ([], []), timeout=10, what="the children gone")
    wait_for(lambda: nothing_held(host), timeout=15, what="drive and medium released")
    found = steps(host, jobid)
    assert_steps(found, TAPE_ACTORS, dest="aio",
                 required={"4:bprd child", "5:bprd child", "17:bprd child", "8:bpbrm child",
                           "12:bptm", "13:bptm", "14:tar-restore"})
    s12 = [s for s in found if s.step == 12][0]
    assert "ltid mounted" in s12.msg and frags[0][0] in s12.msg
    assert read_counts(found)[2] == list(dict.fromkeys(m for m, _ in frags))
    assert "neededimage file" in [s for s in found if s.step == 2][0].msg


def test_one_file_from_the_middle_of_a_full_tape_reads_a_few_blocks(site, tmp_path) -> None:
    host, base = site
    src = base / "data" / "fill3"
    ((media, file_num),) = fragments(host, "aio", "fill3")
    assert media == "A00000" and file_num > 6  # after the tree and two other images
    jobid, found = restore(host, tmp_path, src, base / "one_file", src / "zz_small.txt",
                           policy="fill3")
    assert (base / "one_file" / "zz_small.txt").read_bytes() == \
        (src / "zz_small.txt").read_bytes()
    assert not (base / "one_file" / "big.bin").exists()
    data, cartridge, mounted = read_counts(found)
    (s13,) = [s for s in found if s.step == 13]
    at = int(re.search(r"logical block (\d+)", s13.msg)[1])
    assert f"tape file {file_num}" in s13.msg and at > 3 * (3 << 19) // BLOCK
    # the file's block, and the media header, backup header and CRC record: not the tape
    assert mounted == ["A00000"]
    assert 0 < data <= 2 * BLOCK, data
    assert cartridge < data + 16 * 1024, cartridge
    assert job(host, jobid)["status"] == 0


def test_an_image_spanning_two_tapes_restores_mounting_them_in_order(site, tmp_path) -> None:
    host, base = site
    src = base / "data" / "span"
    frags = fragments(host, "aio", "span")
    media = list(dict.fromkeys(m for m, _ in frags))
    assert len(media) == 2, frags  # it did not fit on the first tape
    jobid, found = restore(host, tmp_path, src, base / "span_back", policy="span")
    assert (base / "span_back" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    data, cartridge, mounted = read_counts(found)
    assert mounted == media
    assert data >= 3 << 20
    needed = host.cfg.paths.neededimage
    assert not list(needed.iterdir())
    wait_for(lambda: nothing_held(host), timeout=15, what="drive and media released")
    assert_steps(found, TAPE_ACTORS, dest="aio")  # the second mount: log lines, not steps
    assert media[0] in [s for s in found if s.step == 12][0].msg


def neededimages(folder: Path) -> list[Path]:
    """The neededimage files, named by job id (not the temporary files they are written as)."""
    return [f for f in folder.iterdir() if f.name.isdigit()]


@pytest.mark.parametrize("victim,status", [("bprd child", 40), ("bptm", 82), ("cancel", 150)])
def test_killing_the_bprd_child_or_bptm_mid_restore(site, tmp_path, victim, status) -> None:
    """Killed, or the job canceled (bpdbjobs -cancel), while the robot mounts the tape."""
    host, base = site
    src = base / "data" / "fill1"
    dest = base / f"killed_{victim.replace(' ', '_')}"
    needed = host.cfg.paths.neededimage
    slow_robot(host, 3.0)
    try:
        proc = start_restore(host, tmp_path, src, dest, policy="fill1")
        (named, *_) = wait_for(lambda: neededimages(needed), timeout=30,
                               what="a neededimage file")
        jobid = int(named.name)

        def target() -> list[psutil.Process]:
            if victim in ("bprd child", "cancel"):
                return [p.proc for p in host.processes(spares=False) if p.program == "bprd"
                        and "-child" in p.proc.cmdline()]
            # bptm once it asked ltid for the mount (the robot is moving)
            if not [s for s in steps(host, jobid) if s.step == 11]:
                return []
            return [p.proc for p in host.processes(spares=False) if p.program == "bptm"]

        (victim_proc, *_) = wait_for(target, timeout=30, what=f"{victim} running")
        if victim == "cancel":
            wait_for(lambda: [s for s in steps(host, jobid) if s.step == 11], timeout=30,
                     what="the medium allocated")
            host.run("bpdbjobs", "-cancel", str(jobid))
        else:
            victim_proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        with library(host).update() as s:
            s.geometry.move_time = 0
    done = wait_for(lambda: job(host, jobid)["closed"] and job(host, jobid), timeout=60,
                    what="the job ended")
    assert done["status"] == status, done
    assert not list(needed.iterdir())
    wait_for(lambda: nothing_held(host), timeout=30, what="drive and medium released")
    wait_for(lambda: children(host) == ([], []), timeout=10, what="the children gone")
    # and the next restore runs
    jobid, _ = restore(host, tmp_path, src, base / f"after_{victim.replace(' ', '_')}",
                       policy="fill1")
    assert (base / f"after_{victim.replace(' ', '_')}" / "zz_small.txt").read_bytes() == \
        (src / "zz_small.txt").read_bytes()


def test_bprd_at_start_removes_the_neededimage_files_of_closed_jobs(site) -> None:
    host, _ = site
    needed = host.cfg.paths.neededimage
    ended = last_jobid(host)  # a restore that has ended
    assert job(host, ended)["closed"]
    for jobid in (ended, 99999):  # and one bpjobd never knew
        (needed / str(jobid)).write_text("# left by a bprd child that died with its bprd\n")
    bprd = read_pidfile(host.cfg.paths, "bprd")
    assert bprd is not None
    bprd.send_signal(signal.SIGTERM)
    bprd.wait(30)
    host.run("netbackup", "start")
    wait_for(lambda: not list(needed.iterdir()), timeout=30, what="the leftovers removed")


def test_netbackup_stop_mid_restore_ends_it_and_leaves_nothing(site, tmp_path) -> None:
    host, base = site
    src = base / "data" / "fill2"
    needed = host.cfg.paths.neededimage
    slow_robot(host, 3.0)
    try:
        proc = start_restore(host, tmp_path, src, base / "stopped", policy="fill2")
        wait_for(lambda: all(children(host)), timeout=30, what="the restore's children")
        jobid = int(neededimages(needed)[0].name)
        host.stop()
        assert host.processes() == []
        proc.communicate(timeout=120)
    finally:
        with library(host).update() as s:
            s.geometry.move_time = 0
    host.start()
    done = wait_for(lambda: job(host, jobid)["closed"] and job(host, jobid), timeout=60,
                    what="the job closed")
    assert done["status"] not in (0, None), done
    wait_for(lambda: not list(needed.iterdir()), timeout=90, what="no neededimage left")
    wait_for(lambda: nothing_held(host), timeout=30, what="drive and medium released")
    jobid, _ = restore(host, tmp_path, src, base / "after_stop", policy="fill2")
    assert (base / "after_stop" / "zz_small.txt").read_bytes() == \
        (src / "zz_small.txt").read_bytes()


def test_a_spanned_image_whose_second_tape_is_gone_names_it_and_leaves_nothing(
        site, tmp_path: Path) -> None:
    """The image spans two tapes and the second was exported: the restore ends with bptm's
    reason (98, the cartridge is not in the robot), not tar-restore's cut stream (183); the
    file it could not finish is not left in the destination; nothing stays held. (Last in
    the module: it moves a cartridge, and puts it back.)"""
    host, base = site
    src = base / "data" / "span"
    (*_, (second, _)) = fragments(host, "aio", "span")
    wait_for(lambda: all_home(host), timeout=60, what="every cartridge back in its slot")
    slot = library(host).state().cartridges[f"{second}L6"].element
    host.run("nbvtl", "export", f"{second}L6")
    try:
        dest = base / "span_without_its_second_tape"
        ren = rename_file(tmp_path / "ren", [(src, dest)])
        r = host.run("bprestore", "-C", "aio", "-R", str(ren), "-w", *as_of(host, "span"),
                     str(src), check=False, timeout=200)
        assert r.returncode == 98, (r.stderr, job(host, last_jobid(host)))
        details = host.run("bpdbjobs", "-jobid", str(last_jobid(host)), "-all_columns").stdout
        assert f"cartridge {second}L6 is not in a slot of the robot" in details, details
        assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]
        wait_for(lambda: nothing_held(host), timeout=30, what="drive and medium released")
    finally:
        host.run("nbvtl", "import", f"{second}L6", "--slot", str(slot))


def test_a_drive_that_fails_under_a_restore_goes_down_and_the_rerun_uses_the_other(
        site, tmp_path) -> None:
    """The robot cannot load into DRV0 (it failed, empty): the restore ends 164 saying the
    drive is DOWN now, leaves nothing held and no file; run again, it restores in the other
    drive, byte-identical."""
    host, base = site
    src = base / "data" / "fill2"
    wait_for(lambda: all_home(host), timeout=30, what="every cartridge back in its slot")
    host.run("nbvtl", "fault", "drive_down", "0")
    try:
        dest = base / "drive_failed"
        ren = rename_file(tmp_path / "ren_failed", [(src, dest)])
        r = host.run("bprestore", "-C", "aio", "-R", str(ren), "-w",
                     *as_of(host, "fill2"), str(src), check=False)
        failed = job(host, last_jobid(host))
        assert r.returncode == failed["status"] == MEDIA_DOWN, (r.stderr, failed)
        details = host.run("bpdbjobs", "-jobid", str(failed["jobid"]), "-all_columns").stdout
        assert f"drive {DRIVES[0]} is not available to the robot and is DOWN now" in details
        wait_for(lambda: nothing_held(host), timeout=30, what="nothing held")
        assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]
        jobid, found = restore(host, tmp_path, src, base / "drive_failed_rerun",
                               policy="fill2")
        for f in src.iterdir():
            assert (base / "drive_failed_rerun" / f.name).read_bytes() == f.read_bytes()
        (s12,) = [s for s in found if s.step == 12 and s.process == "bptm"]
        assert f"in {DRIVES[1]}" in s12.msg, s12.msg
    finally:
        host.run("nbvtl", "fault", "clear")
        host.run("vmoprcmd", "-up", "0")


def test_restores_count_on_the_medium_and_read_errors_reach_its_threshold(
        site, tmp_path) -> None:
    """Each restore that reads a tape counts in bpmedialist (restores, last read). A read
    error ends the restore 85 and counts toward the medium's error threshold, as a write
    error does: the third in the window suspends the assigned tape, which bpmedialist
    shows. A suspended tape is still read: once the fault is gone the image restores
    byte-identical."""
    host, base = site
    src = base / "data" / "fill4"
    ((medium, _),) = fragments(host, "aio", "fill4")
    before = emm(host, "media_list", media_id=medium)["media"][0]
    jobid, found = restore(host, tmp_path, src, base / "counted", policy="fill4")
    after = emm(host, "media_list", media_id=medium)["media"][0]
    assert after["restores"] == before["restores"] + 1 and after["last_read"] >= \
        job(host, jobid)["started"], after
    first = host.run("bpmedialist", "-m", medium).stdout.splitlines()[6].split()
    assert (first[0], first[-1]) == (medium, str(after["restores"])), first
    (s13,) = [s for s in found if s.step == 13]
    block = int(re.search(r"logical block (\d+)", s13.msg)[1])  # the image's first block
    wait_for(lambda: all_home(host), timeout=30, what="every cartridge back in its slot")
    host.run("nbvtl", "fault", "read_error", f"{medium}L6", str(block))
    try:
        for n in range(3):
            dest = base / f"read_error_{n}"
            ren = rename_file(tmp_path / f"ren_re{n}", [(src, dest)])
            r = host.run("bprestore", "-C", "aio", "-R", str(ren), "-w",
                         *as_of(host, "fill4"), str(src), check=False)
            failed = job(host, last_jobid(host))
            assert r.returncode == failed["status"] == 85, (r.stderr, failed)
            wait_for(lambda: nothing_held(host), timeout=30, what="nothing held")
        details = host.run("bpdbjobs", "-jobid", str(failed["jobid"]), "-all_columns").stdout
        assert f"read error on media {medium}" in details and "is now SUSPENDED" in details
        rec = emm(host, "media_list", media_id=medium)["media"][0]
        assert rec["state"] & 0x2 and rec["errors"] >= 3, rec
        assert "SUSPENDED" in host.run("bpmedialist", "-m", medium).stdout
    finally:
        host.run("nbvtl", "fault", "clear")
    restore(host, tmp_path, src, base / "from_suspended", policy="fill4")
    for f in src.iterdir():
        assert (base / "from_suspended" / f.name).read_bytes() == f.read_bytes()
    host.run("bpmedia", "-unsuspend", "-m", medium)


def test_a_restore_of_a_tape_left_in_a_failed_drive_waits_then_runs_in_the_other(
        aio_root: Host, tmp_path: Path) -> None:
    """The drive holding the image's tape fails: the restore that mounts there ends 83 and
    the drive goes DOWN with the tape still in it. The next restore waits, saying why (2009:
    the drives are down but the medium is available), until ltid's unload delay sends the
    tape home, then mounts it in the other drive and restores byte-identical: nothing
    stays stuck on the broken drive."""
    h = aio_root
    h.run("nbvtl", "create", "--drives", "2", "--slots", "4", "--capacity", "8M",
          "--move-time", "0")
    cfg = h.cfg
    cfg.data["MEDIA_UNMOUNT_DELAY"] = 3
    cfg.save()
    h.start()
    try:
        h.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld")
        for n, name in enumerate(DRIVES):
            h.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
                  "tld", "-robdrnum", str(n), "-asciiname", name)
        h.run("vmupdate", "-rt", "tld", "-rn", "0")
        h.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
              "hcart", "-host", "aio")
        data = tmp_path / "data"
        data.mkdir()
        (data / "f.bin").write_bytes(os.urandom(300 << 10))
        backup(h, "p", [data])
        wait_for(lambda: nothing_held(h), timeout=30, what="the backup's drive free")
        assert library(h).state().at("drive", 0) is not None  # the tape waits in DRV0
        h.run("nbvtl", "fault", "drive_down", "0")
        ren = rename_file(tmp_path / "ren_failed", [(data, tmp_path / "failed")])
        r = h.run("bprestore", "-C", "aio", "-R", str(ren), "-w", str(data), check=False)
        assert r.returncode == 83, r.stderr
        jobid, found = restore(h, tmp_path, data, tmp_path / "after")
        assert (tmp_path / "after" / "f.bin").read_bytes() == (data / "f.bin").read_bytes()
        details = h.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
        assert "All compatible drive paths are down but media is available" in details
        (s12,) = [s for s in found if s.step == 12 and s.process == "bptm"]
        assert f"in {DRIVES[1]}" in s12.msg, s12.msg
    finally:
        h.stop()
    assert h.processes() == []


def test_tapcat_reads_a_spanned_image_back_without_nbcli(site, tmp_path) -> None:
    """Emergency read: bin/tapcat (Python's standard library only, run with -I so that not
    even the installed nbcli could be imported) copies each fragment's data file, FILE+1 of
    bpimagelist -l, out of the cartridge files; GNU tar restores the image from them."""
    host, base = site
    frags = fragments(host, "aio", "span")
    assert len({m for m, _ in frags}) == 2  # it spans two tapes
    tapcat = [sys.executable, "-I", str(Path(__file__).parents[2] / "bin" / "tapcat")]
    home = host.root / "volmgr" / "vtl" / "cartridges"
    stream = b"".join(subprocess.run([*tapcat, str(home / f"{media}L6.tap"), str(num + 1)],
                                     capture_output=True, check=True).stdout
                      for media, num in frags)
    out = tmp_path / "rescued"
    out.mkdir()
    subprocess.run(["tar", "-xf", "-", "-C", str(out)], input=stream, check=True)
    src = base / "data" / "span" / "big.bin"
    assert (out / str(src).lstrip("/")).read_bytes() == src.read_bytes()
    listing = subprocess.run([*tapcat, "-l", str(home / "A00000L6.tap")], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert listing[0].split() == ["file", "records", "bytes", "first", "bytes"]
    assert listing[1].split()[0] == "0"  # the media header
    missing = subprocess.run([*tapcat, str(home / "A00000L6.tap"), "9999"],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no data record" in missing.stderr
