"""Kills at random moments, several tape jobs at once: rounds of three backups on two drives
(one job waits for a drive), every other round with one process of the flow SIGKILLed at a
random moment - an agent (bptm, bpbrm, bpbkar) or a Media Manager daemon (ltid, which
`netbackup start` brings back; tldd, tldcd or avrd, which ltid starts again by itself). A
killed round's jobs end with a status, and all three end 0 when the victim was one of the
daemons ltid starts again (a mount in flight waits for it); the next round's three backups
all end 0; nothing stays allocated; every image whose job ended 0 holds its data byte for
byte, read from the cartridges.

The matrix (test_tape_faults.py) kills each victim at one chosen point of one job. The
probes these rounds grew from found what it could not: a bptm killed after its job ended but
before its unmount, a bptm still writing its empty header after nbjm let go of its failed
job's drive, and two jobs given drives crosswise after ltid restarted - each made the next
job end 97. tests/unit/test_ltid.py pins each of those; whether a seed here meets such a
race depends on timing, so this is a net for what nobody has thought of yet (the old code
passed these eight seeds in one run).

Seeded, so a failure can be run again: CI runs one seed, NBCLI_FAULTS=all eight.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli import programs
from tests.conftest import Host, wait_for
from tests.faults.faultkit import FULL
from tests.flowkit import job
from tests.integration.test_tape_backup import (
    add_media,
    allocations,
    assert_image_holds,
    configure,
    create_library,
    data_dir,
    image,
    tape_policy,
)

SEEDS = range(1, 9) if FULL else range(1, 2)
VICTIMS = ("bptm", "bpbrm", "bpbkar", "ltid", "tldd", "tldcd", "avrd")
OUTLIVED = frozenset({"tldd", "tldcd", "avrd"})  # ltid starts them again: jobs end 0
JOBS = 3
ROUNDS = 6
SPEED = "4M"  # a 2.5 MiB backup streams for about 0.6 s: the window to kill in


@pytest.fixture
def tape(aio_root: Host) -> Iterator[Host]:
    """The all-in-one host with a library of 2 drives streaming at SPEED, robot, drives,
    pool "tapes" and unit "tape1" configured, six media; one try a job, four jobs a
    client."""
    h = aio_root
    create_library(h, "32M", SPEED)
    h.start()
    try:
        configure(h)
        h.run("bpconfig", "-tries", "1")
        h.run("bpclient", "-client", h.name, "-add", "-max_jobs", "4")
        add_media(h, 1, 2, 3, 4, 5, 6)
        yield h
    finally:
        h.stop()


def start(h: Host, policy: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(programs.argv_for("bpbackup") +
                            ["-i", "-p", policy, "-s", "full", "-w"], env=h.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_one(h: Host, rnd: random.Random, waiters: list[subprocess.Popen[bytes]]) -> str:
    """SIGKILL one running process of a victim chosen by `rnd`, after a random delay; ""
    when the round's jobs all ended before one was seen (a bpbkar streams ~0.6 s, and a
    loaded host's process list can take longer than that to read): a clean round."""
    victim = rnd.choice(VICTIMS)

    def running() -> list[psutil.Process] | str:
        found = [p.proc for p in h.processes(spares=False) if p.program == victim]
        return found or ("ended" if all(w.poll() is not None for w in waiters) else [])

    procs = wait_for(running, 60, f"{victim} to run")
    if procs == "ended":
        return ""
    assert isinstance(procs, list)
    target = rnd.choice(procs)
    time.sleep(rnd.uniform(0, 0.8))  # a random moment of the job is the point: no condition
    try:
        target.send_signal(signal.SIGKILL)
    except psutil.Error:
        pass  # it ended first: the round is a clean one
    if victim == "ltid":
        wait_for(lambda: not target.is_running(), 10, f"{victim} to die")
        h.start()
    return victim


def new_jobs(h: Host, seen: set[int]) -> list[dict[str, Any]]:
    out = h.run("bpdbjobs", "-all_columns").stdout.splitlines()
    found = [job(h, int(line.split(",")[0])) for line in out if line]
    return [j for j in found if j["jobid"] not in seen]


@pytest.mark.parametrize("seed", SEEDS)
def test_rounds_of_tape_backups_with_a_process_killed(tape: Host, tmp_path: Path,
                                                      seed: int) -> None:
    h, rnd = tape, random.Random(seed)
    data = {f"p{i}": data_dir(tmp_path, f"d{i}", 2.5, i) for i in range(JOBS)}
    for policy, folder in data.items():
        tape_policy(h, policy, folder)
    seen: set[int] = set()
    for n in range(ROUNDS):
        waiters = [start(h, policy) for policy in data]
        victim = kill_one(h, rnd, waiters) if n % 2 == 0 else ""
        codes = [w.wait(180) for w in waiters]
        ended = new_jobs(h, seen)
        seen.update(j["jobid"] for j in ended)
        assert len(ended) == JOBS and sorted(j["status"] for j in ended) == sorted(codes)
        if not victim or victim in OUTLIVED:
            assert codes == [0] * JOBS, (n, victim, ended)
        wait_for(lambda: allocations(h) == [], 60, f"round {n}'s allocations to go")
        for j in ended:
            if j["status"] == 0:
                assert_image_holds(h, image(h, j["backupid"]), data[j["policy"]])
