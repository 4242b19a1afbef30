"""The jobs database's file system fills while a job runs: bpjobd refuses the job's end (220),
nbjm keeps the end and sends it again until bpjobd takes it, so the job does not stay Active
for good and `bpbackup -w` ends with the job's own status; bpjobd tells the error log.

Real parts only: a tmpfs under db/jobs filled by a real file, a real backup whose bpbkar is
stopped and killed, the commands run as processes."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nbcli import kinds, programs
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, last_jobid, steps


@pytest.fixture
def small_jobs_fs(aio_root: Host) -> Iterator[Path]:
    """db/jobs on a 1 MiB tmpfs, the host started on it."""
    where = aio_root.cfg.paths.jobs
    where.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs permission to mount a 1 MiB tmpfs (run as root)")
    try:
        aio_root.start()
        try:
            yield where
        finally:
            aio_root.stop()
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def disk_unit(h: Host, tmp_path: Path) -> None:
    """Disk storage unit "disk" on the host, in a folder of `tmp_path`."""
    stu = tmp_path / "stu"
    stu.mkdir()
    add_stu(h, "disk", stu, media=h.name)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of `folder`'s file system."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def end_refused(h: Host, jobs_fs: Path, command: list[str], victim: str,
                owner: str) -> tuple[int, int]:
    """Run `command` (a -w backup or restore) until `victim` runs; stop it, fill the jobs
    database's file system, kill it: the job fails, and its end is refused. Once `owner`
    has tried the kept end again (the database still full) and the command still waits,
    make room; (the job id, the command's exit status)."""
    with subprocess.Popen(programs.argv_for(command[0]) + command[1:], env=h.env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as waiter:
        try:
            procs: list[psutil.Process] = wait_for(  # type: ignore[assignment]
                lambda: [p.proc for p in h.processes(spares=False) if p.program == victim],
                60, f"{victim} to run")
            jobid = last_jobid(h)
            for p in procs:
                p.send_signal(signal.SIGSTOP)
            filler = fill(jobs_fs)
            for p in procs:
                p.kill()  # the job fails: its end is what bpjobd cannot write
            wait_for(lambda: "bpjobd still cannot record its end" in h.log(owner), 60,
                     f"{owner} to try the kept end again")
            assert job(h, jobid)["state"] != kinds.DONE
            assert waiter.poll() is None  # the command still waits
            os.unlink(filler)
            return jobid, waiter.wait(60)
        finally:
            if waiter.poll() is None:
                waiter.kill()


def test_a_job_end_the_full_jobs_database_refused_is_recorded_once_there_is_room(
        aio_root: Host, small_jobs_fs: Path, tmp_path: Path) -> None:
    h = aio_root
    h.run("bpconfig", "-tries", "1")
    disk_unit(h, tmp_path)
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "sparse.img", "wb") as f:
        f.truncate(8 << 30)  # long enough to be caught running
    add_policy(h, "hog", "disk", [h.name], [str(big)])
    jobid, status = end_refused(h, small_jobs_fs, ["bpbackup", "-i", "-p", "hog", "-s", "full",
                                                   "-w"], "bpbkar", "nbjm")
    ended = job(h, jobid)
    assert ended["state"] == kinds.DONE and ended["status"] == status != 0, (ended, status)
    assert f"job {jobid}: its end is recorded in bpjobd now" in h.log("nbjm")
    wait_for(lambda: client.call(h.cfg, h.name, "nbemm", "allocations")["allocations"] == [],
             30, "the allocation to go")
    # the error log has the database's refusal, and its recovery
    errors = h.run("bperror", "-all", "-hoursago", "1").stdout
    assert "the jobs database refuses writes" in errors, errors
    assert "the jobs database takes writes again" in errors, errors
    # and the next backup runs and is recorded as any other
    small = tmp_path / "small"
    small.mkdir()
    (small / "f").write_bytes(os.urandom(4096))
    add_policy(h, "fits", "disk", [h.name], [str(small)])
    h.run("bpbackup", "-i", "-p", "fits", "-s", "full", "-w")
    assert job(h, last_jobid(h))["status"] == 0


def test_a_restore_end_the_full_jobs_database_refused_is_recorded_once_there_is_room(
        aio_root: Host, small_jobs_fs: Path, tmp_path: Path) -> None:
    """The same for bprd: a restore whose tar-restore is stopped while the file system
    fills, then killed; bprd keeps the restore's end until bpjobd takes it."""
    h = aio_root
    disk_unit(h, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(os.urandom(4 << 20))
    add_policy(h, "data", "disk", [h.name], [str(src)])
    h.run("bpbackup", "-i", "-p", "data", "-s", "full", "-w")
    dest = tmp_path / "restored"
    renames = tmp_path / "renames"
    renames.write_text(f"change {src} to {dest}\n")
    jobid, status = end_refused(h, small_jobs_fs, ["bprestore", "-C", h.name, "-R",
                                                   str(renames), "-w", str(src)],
                                "tar-restore", "bprd")
    ended = job(h, jobid)
    assert ended["jobtype"] == kinds.JOB_RESTORE
    assert ended["state"] == kinds.DONE and ended["status"] == status != 0, (ended, status)
    assert f"job {jobid}: its end is recorded in bpjobd now" in h.log("bprd")


def test_a_backup_runs_on_while_the_jobs_database_is_full_and_its_details_follow(
        aio_root: Host, small_jobs_fs: Path, tmp_path: Path) -> None:
    """The file system fills as bpbkar starts and the backup goes on (not killed): the
    lines of its details bpjobd refuses do not fail it - each process holds them (bpbrm
    hands its own to nbjm with its "done") - so the job ends 0 once there is room, its
    details list seed steps 1-17 in order, and its image restores."""
    h = aio_root
    disk_unit(h, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(8 << 20))
    add_policy(h, "goes_on", "disk", [h.name], [str(src)])
    with subprocess.Popen(programs.argv_for("bpbackup") + ["-i", "-p", "goes_on", "-s", "full",
                                                           "-w"],
                          env=h.env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as waiter:
        procs: list[psutil.Process] = wait_for(  # type: ignore[assignment]
            lambda: [p.proc for p in h.processes(spares=False) if p.program == "bpbkar"],
            60, "bpbkar to run")
        jobid = last_jobid(h)
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        filler = fill(small_jobs_fs)
        try:
            for p in procs:
                p.send_signal(signal.SIGCONT)
            wait_for(lambda: "bpjobd still cannot record its end" in h.log("nbjm"), 60,
                     "the job's end to be kept")
            assert waiter.poll() is None  # the job is not recorded as ended yet
        finally:
            os.unlink(filler)
            try:
                _, err = waiter.communicate(timeout=120)
            finally:
                if waiter.poll() is None:
                    waiter.kill()
        assert waiter.returncode == 0, err
    assert job(h, jobid)["status"] == 0
    numbers = [s.step for s in steps(h, jobid)]
    assert sorted(set(numbers)) == list(range(1, 18)) and numbers == sorted(numbers), numbers
    assert "line(s) of job details bpjobd could not take are lost" not in h.log("bpbrm")
    dest = tmp_path / "restored"
    renames = tmp_path / "renames"
    renames.write_text(f"change {src} to {dest}\n")
    h.run("bprestore", "-C", h.name, "-R", str(renames), "-w", str(src))
    assert (dest / "data").read_bytes() == (src / "data").read_bytes()
