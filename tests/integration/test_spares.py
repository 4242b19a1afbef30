"""Spares: agents started ahead of need run the next job, stay out of bpps' NB Processes, and
never outlive the daemon that started them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from nbcli.net import spare
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, last_jobid, steps

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
