"""Spares: agents started ahead of need run the next job, stay out of bpps' NB Processes, and
never outlive the daemon that started them."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nbcli import kinds
from nbcli.net import spare
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, last_jobid, steps
from tests.integration.test_tape_backup import add_media, running_library, tape_policy

pytestmark = pytest.mark.skipif(not spare.AVAILABLE,
                                reason="spares need util-linux's chrt and leave to reset "
                                       "a spare's scheduling (CAP_SYS_NICE or RLIMIT_NICE)")

AGENTS = ("bpbrm", "bptm", "bpbkar")


def spares(host: Host) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for p in host.processes():
        if p.spare:
            found.setdefault(p.program, []).append(p.proc.pid)
    for program, pids in found.items():  # bounded: bpcd keeps KEEP of each, and each
        assert len(pids) <= spare.KEEP, f"{len(pids)} spares of {program}"  # bpbrm one bptm
    return found


def all_spares_waiting(host: Host, each: int = 1) -> dict[str, list[int]] | None:
    found = spares(host)
    return found if all(len(found.get(a, [])) >= each for a in AGENTS) else None


def section(out: str, title: str) -> list[str]:
    """The lines of one bpps section."""
    lines = out.splitlines()
    start = lines.index(title) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_a_spare_runs_the_next_job_and_dies_with_its_owner(aio: Host, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(os.urandom(4096))
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    add_policy(aio, "p", "disk1", [aio.name], [str(data)])
    aio.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")

    # all KEEP of each: with one seen, the next job may take the other (the older one)
    waiting = wait_for(lambda: all_spares_waiting(aio, spare.KEEP), 30,
                       "the spares of each agent")
    out = aio.run("bpps", "-x").stdout
    # -x lists spares under their kind's heading (NetBackup has no heading of its own for
    # them); plain bpps leaves them out.
    nb_lines = section(out, "NB Processes")
    plain = " ".join(section(aio.run("bpps").stdout, "NB Processes"))
    for program, pids in waiting.items():
        for pid in pids:
            assert any(line.split()[1] == str(pid) for line in nb_lines), program
            assert f" {pid} " not in plain, f"the {program} spare is listed by plain bpps"

    aio.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
    ran = {s.process: s.pid for s in steps(aio, last_jobid(aio))}
    for program in AGENTS:
        assert ran[program] in waiting[program], f"{program} did not come from its spare"

    # A spare whose owner dies exits: bpcd's bpbrm and bpbkar spares, and the bptm spare of
    # each bpbrm spare with them.
    fresh = wait_for(lambda: all_spares_waiting(aio, spare.KEEP), 30,
                     "new spares after the job")
    bpcd = next(p.proc for p in aio.processes() if p.program == "bpcd")
    bpcd.send_signal(signal.SIGKILL)
    pids = [pid for program in AGENTS for pid in fresh[program]]
    gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids], timeout=30)
    assert alive == [], f"spares outlived bpcd: {alive}"
    assert not any(p.spare for p in aio.processes() if p.program in AGENTS)


def test_two_jobs_back_to_back_both_run_on_spares(aio: Host, tmp_path: Path) -> None:
    """bpcd keeps KEEP spares of each agent: the second of two jobs started one right after
    the other takes a spare that was waiting before the first began, not one still
    importing or a new process."""
    assert spare.KEEP >= 2
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(os.urandom(4096))
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name, cj="2")
    add_policy(aio, "p", "disk1", [aio.name], [str(data)])
    aio.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
    waiting = wait_for(lambda: all_spares_waiting(aio, spare.KEEP), 30,
                       f"{spare.KEEP} spares of each agent")
    jobs = []
    for _ in range(2):
        aio.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
        jobs.append(last_jobid(aio))
    assert jobs[0] != jobs[1]
    ran = [{s.process: s.pid for s in steps(aio, jobid)} for jobid in jobs]
    for program in AGENTS:
        pids = [r[program] for r in ran]
        assert len(set(pids)) == 2 and set(pids) <= set(waiting[program]), \
            f"{program}: ran as {pids}, the spares waiting before were {waiting[program]}"


@pytest.fixture
def slow_tape(aio_root: Host) -> Iterator[Host]:
    """The all-in-one host with a library whose drives stream 4 MiB/s (test_tape_backup)."""
    yield from running_library(aio_root, capacity="64M", speed="4M")


def test_a_long_job_has_the_spares_it_took_replaced_while_it_streams(
        slow_tape: Host, tmp_path: Path) -> None:
    """Once launches stop for QUIET seconds, the spares a job took are replaced while it
    still runs (its data streaming to a drive): a job that comes right after it finds its
    spares ready and nothing importing beside it. (Before, they were replaced only once the
    job's agents had ended, and imported beside whatever came next.)"""
    h = slow_tape
    add_media(h, 1, 2)
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    (small / "f").write_bytes(os.urandom(4096))
    with open(large / "f", "wb") as f:
        for _ in range(16):  # 16 MiB: 4 s to the drive
            f.write(os.urandom(1 << 20))
    tape_policy(h, "small", small)
    tape_policy(h, "large", large)
    h.run("bpbackup", "-i", "-p", "small", "-s", "full", "-w")  # each agent launched once

    def settled() -> dict[str, list[int]] | None:
        # KEEP of each, counted without spares()'s bound: once in CI a third bpbrm spare
        # was seen for a moment right after the first job (not understood yet; see the
        # stop's note); a third that stayed would keep this from ever being true
        found: dict[str, list[int]] = {}
        for p in h.processes():
            if p.spare:
                found.setdefault(p.program, []).append(p.proc.pid)
        return found if all(len(found.get(a, [])) == spare.KEEP for a in AGENTS) else None

    before = wait_for(settled, 30, f"exactly {spare.KEEP} spares of each agent")

    h.run("bpbackup", "-i", "-p", "large", "-s", "full")
    jobid = last_jobid(h)

    def replaced() -> dict[str, list[int]] | None:
        now = all_spares_waiting(h, spare.KEEP)
        return now if now and all(set(now[a]) - set(before[a]) for a in AGENTS) else None

    now = wait_for(replaced, 60, "the spares the large backup took, replaced")
    assert job(h, jobid)["state"] != kinds.DONE, \
        "the spares were replaced only once the job had ended"
    ran = wait_for(lambda: job(h, jobid)["state"] == kinds.DONE and job(h, jobid), 60,
                   "the large backup's end")
    assert ran["status"] == 0
    took = {s.process: s.pid for s in steps(h, jobid)}
    for program in AGENTS:
        assert took[program] in before[program], f"{program} did not come from a spare"
        assert took[program] not in now[program]
