"""A tape's counters in EMM (bpmedialist's kbytes, images, valid images, expiration) when they
part from the catalog, on a real all-in-one host: bptm's report of what it wrote never arrives
(nbemm killed while bptm writes: the backup ends 0 and says so, and the Image Cleanup counts
the image from the catalog, once, however often it runs); the catalog refuses an image bptm
wrote and reported (the recount leaves it out of the valid images)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli import programs
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import job, last_jobid, steps
from tests.integration.test_orphan_cleanup import in_progress, refused_at_step_15
from tests.integration.test_tape_backup import (
    add_media,
    allocations,
    assert_image_holds,
    backup,
    data_dir,
    emm,
    image,
    media,
    running_library,
    tape_policy,
)


@pytest.fixture
def slow_tape(aio_root: Host) -> Iterator[Host]:
    """The all-in-one host with a library whose drives write 4 MiB/s (so that a backup of
    8 MiB writes for two seconds); robot, drives, pool "tapes" and storage unit "tape1"."""
    yield from running_library(aio_root, "64M", "4M")


def first_image(h: Host, tmp_path: Path) -> tuple[dict[str, Any], str, Path]:
    """One medium in the library and a first backup of 1 MiB on it: (its job, the
    medium, its data)."""
    add_media(h, 1)
    data = data_dir(tmp_path, "d0", 1, 0)
    tape_policy(h, "p0", data)
    done = backup(h, "p0")
    (medium,) = {f["media_id"] for f in image(h, done["backupid"])["fragments"]}
    return done, medium, data


def bptms(h: Host) -> list[psutil.Process]:
    return [p.proc for p in h.processes(spares=False) if p.program == "bptm"]


def counters(h: Host, media_id: str) -> tuple[int, int, int, int]:
    """bpmedialist -l's kbytes, images, valid images and expiration of a medium."""
    line = h.run("bpmedialist", "-m", media_id, "-l").stdout.split()
    return int(line[8]), int(line[9]), int(line[10]), int(line[6])


def cleanup_lines(h: Host) -> str:
    r = h.run("bpimage", "-cleanup", "-allclients")
    assert r.returncode == 0, r.stderr
    return h.run("bpdbjobs", "-jobid", str(last_jobid(h)), "-all_columns").stdout


def test_a_report_nbemm_never_got_is_counted_by_the_cleanup_once(
        slow_tape: Host, tmp_path: Path) -> None:
    h = slow_tape
    first, medium, _ = first_image(h, tmp_path)
    before = counters(h, medium)
    assert before[1:3] == (1, 1)

    data = data_dir(tmp_path, "d1", 8, 1)
    tape_policy(h, "p1", data)
    with subprocess.Popen(programs.argv_for("bpbackup") + ["-i", "-p", "p1", "-s", "full",
                                                           "-w"],
                          env=h.env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as waiter:
        wait_for(lambda: bptms(h), 60, "bptm to run")
        jobid = last_jobid(h)
        # The medium is mounted and bptm writes for two seconds: hold it while nbemm dies.
        wait_for(lambda: any(s.step == 10 for s in steps(h, jobid)), 60, "the mount")
        held = bptms(h)
        for p in held:
            p.send_signal(signal.SIGSTOP)
        for p in h.processes(spares=False):
            if p.program == "nbemm":
                p.proc.kill()
                p.proc.wait(10)
        for p in held:
            p.send_signal(signal.SIGCONT)
        assert waiter.wait(timeout=180) == 0
    done = job(h, jobid)
    assert done["status"] == 0
    details = h.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert f"nbemm did not record what was written on media {medium}" in details
    im = image(h, done["backupid"])
    assert {f["media_id"] for f in im["fragments"]} == {medium}
    assert_image_holds(h, im, data)
    h.start()  # nbemm again
    assert counters(h, medium) == before  # the report is lost
    wait_for(lambda: allocations(h) == [], 90, "the job's allocation released")
    lines = cleanup_lines(h)
    assert f"media {medium}: counted 1 image(s) that bptm never reported: " \
           f"{done['backupid']}" in lines
    kbytes = sum((f["bytes"] + 1023) // 1024 for f in im["fragments"])
    after = (before[0] + kbytes, 2, 2, max(before[3], im["expiration"]))
    assert counters(h, medium) == after
    assert media(h)[medium]["assigned"]

    assert "never reported" not in cleanup_lines(h)  # counted once
    assert counters(h, medium) == after

    # bptm's report arrives after all (a report sent again): nbemm counts nothing, says why
    emm(h, "media_written", jobid=jobid, media_id=medium, kbytes=kbytes, images=1,
        full=False, rl=media(h)[medium]["rl"], expiration=im["expiration"],
        backupid=done["backupid"])
    assert counters(h, medium) == after
    assert f"media {medium}: image {done['backupid']} was counted on it already" \
        in h.log("nbemm")


def test_a_tape_image_the_catalog_refuses_stays_unused_and_is_not_counted_valid(
        slow_tape: Host, tmp_path: Path) -> None:
    """The catalog refuses a fully written tape image at step 15 (its files file damaged on
    the master's disk while the data flowed): the job ends 220 and says the image stays on
    the tape as unused data; nothing stays held; the next backup appends after it and every
    kept image restores; the cleanup's recount leaves the refused image out of the valid
    ones."""
    h = slow_tape
    first, medium, d0 = first_image(h, tmp_path)

    tape_policy(h, "p1", data_dir(tmp_path, "d1", 8, 1))
    jobid = client.call(h.cfg, h.name, "bprd", "backup", policy="p1",
                        schedule="full")["jobids"][0]
    backupid = str(wait_for(lambda: job(h, jobid).get("backupid"), 60, "the image"))
    (files,) = wait_for(lambda: [p for p in in_progress(h, backupid)
                                 if p.name.endswith(".f.inprogress")], 60, "its files file")
    wait_for(lambda: any(s.step == 12 for s in steps(h, jobid)), 60, "the data to flow")
    refused_at_step_15(h, jobid, files)
    details = h.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert f"image {backupid} stays on media {medium} as unused data" in details
    assert h.run("bpimagelist", "-backupid", backupid, check=False).returncode == 227
    wait_for(lambda: allocations(h) == [], 90, "the job's allocation released")
    assert media(h)[medium]["jobid"] == 0

    d2 = data_dir(tmp_path, "d2", 2, 2)
    tape_policy(h, "p2", d2)
    third = image(h, backup(h, "p2")["backupid"])
    assert {f["media_id"] for f in third["fragments"]} == {medium}
    assert_image_holds(h, third, d2)
    assert_image_holds(h, image(h, first["backupid"]), d0)
    assert counters(h, medium)[2] == 3  # bptm counted what it wrote, the refused image too
    # nbemm keeps whole seconds: a medium written in the second the catalog is read is left
    # for the next cleanup, so read it a second later
    last = media(h)[medium]["last_written"]
    wait_for(lambda: time.time() >= last + 1, 5, "the second after the last write")
    cleanup_lines(h)
    assert counters(h, medium)[1:3] == (3, 2)  # written 3, valid 2: the catalog's
