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


def spares(host: Host) -> dict[str, int]:
    found: dict[str, int] = {}
    for p in host.processes():
        if p.spare:
            assert p.program not in found, f"two spares of {p.program}"
            found[p.program] = p.proc.pid
    return found


def all_spares_waiting(host: Host) -> dict[str, int] | None:
    found = spares(host)
    return found if set(AGENTS) <= set(found) else None


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

    waiting = wait_for(lambda: all_spares_waiting(aio), 30, "a spare of each agent")
    out = aio.run("bpps", "-x").stdout
    # -x lists spares under their kind's heading (NetBackup has no heading of its own for
    # them); plain bpps leaves them out.
    nb_lines = section(out, "NB Processes")
    plain = " ".join(section(aio.run("bpps").stdout, "NB Processes"))
    for program, pid in waiting.items():
        assert any(line.split()[1] == str(pid) for line in nb_lines), program
        assert f" {pid} " not in plain, f"the {program} spare is listed by plain bpps"

    aio.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
    ran = {s.process: s.pid for s in steps(aio, last_jobid(aio))}
    for program in AGENTS:
        assert ran[program] == waiting[program], f"{program} did not come from its spare"

    # A spare whose owner dies exits: bpcd's bpbrm and bpbkar spares, and the bptm spare of
    # the bpbrm spare with them.
    fresh = wait_for(lambda: all_spares_waiting(aio), 30, "new spares after the job")
    bpcd = next(p.proc for p in aio.processes() if p.program == "bpcd")
    bpcd.send_signal(signal.SIGKILL)
    gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in fresh.values()], timeout=30)
    assert alive == [], f"spares outlived bpcd: {alive}"
