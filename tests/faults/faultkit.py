"""The fault suite's kit: kill a process of the backup or restore flow mid-job, start the host
again, and check that nothing is stuck, held or left behind.

A scenario runs on a real all-in-one host (every daemon and agent a real process) with a real
slow source: a sparse file of several GiB, so the job is still moving data when its victim is
killed. After `netbackup start` (which restarts whatever died) `check_after` asserts:

- the job is Done and closed (never Active), with a non-zero status unless the victim's death
  did not hurt it (nbrb, nbemm and bpjobd are not on the data path: then status 0 and a
  complete image are as good);
- a failed job left no image: none listed, no `.inprogress` file in the catalog, no fragment of
  its backup id in the storage unit;
- a restore left no temporary file in its destination;
- no resource held: the job is in neither nbrb's `queue` nor nbemm's `allocations`;
- the next backup of the same policy ends 0 (the source is shrunk first, so it is quick).

Which scenarios run: tests marked `fault_full` run only with NBCLI_FAULTS=all (see README.md in
this folder); the others are the representative part CI runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nbcli import kinds, multihost
from nbcli.net import client
from nbcli.status import NbuError
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, rename_file

BIG = 2 << 30  # sparse: a backup or restore of it takes seconds, the window to kill in
SMALL = 1 << 20
POLICY = "faults"
FULL = os.environ.get("NBCLI_FAULTS") == "all"
full_only = pytest.mark.skipif(not FULL, reason="the full fault matrix: NBCLI_FAULTS=all")


@dataclass
class Site:
    host: Host
    base: Path

    @property
    def stu(self) -> Path:
        return self.base / "stu"

    @property
    def source(self) -> Path:
        return self.base / "data" / "big.img"

    def call(self, service: str, op: str, **fields: object) -> dict:
        return client.call(self.host.cfg, self.host.name, service, op, **fields)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A running all-in-one host with a disk storage unit and a policy over one big file."""
    base = tmp_path_factory.mktemp("faults")
    old = {k: os.environ.get(k) for k in ("NBCLI_TESTING",)}
    os.environ["NBCLI_TESTING"] = "1"
    (spec,) = multihost.create(base / "hosts", layout=[("aio", "127.0.0.1",
                                                        ["master", "media", "client"])])
    host = Host(spec)
    site = Site(host, base)
    try:
        host.start()
        add_stu(host, "faultstu", site.stu, media="aio")
        site.source.parent.mkdir()
        sized(site, BIG)
        add_policy(host, POLICY, "faultstu", ["aio"], [str(site.source.parent)])
        yield site
    finally:
        host.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
        leftovers = host.processes()
        assert leftovers == [], leftovers


def sized(site: Site, size: int) -> None:
    with open(site.source, "wb") as f:
        f.truncate(size)


def kill(site: Site, program: str) -> None:
    """SIGKILL every running process of `program` on the host (not spares)."""
    victims = [p.proc for p in site.host.processes(spares=False) if p.program == program]
    assert victims, f"no {program} running"
    for p in victims:
        p.send_signal(signal.SIGKILL)
    for p in victims:
        p.wait(10)


def job(site: Site, jobid: int) -> dict:
    return site.call("bpjobd", "job_get", jobid=jobid)["job"]


def start_backup(site: Site) -> tuple[int, subprocess.Popen[str]]:
    """`bpbackup -i -w` of the big source, once its data reaches the storage unit:
    (jobid, the waiting command)."""
    sized(site, BIG)
    cmd = subprocess.Popen(_argv("bpbackup", "-i", "-p", POLICY, "-s", "full", "-w"),
                           env=site.host.env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    jobid = int(wait_for(lambda: _newest_open(site, kinds.JOB_BACKUP), 60, "the backup job"))
    backupid = wait_for(lambda: job(site, jobid).get("backupid"), 60, "the image")
    wait_for(lambda: any(f.stat().st_size for f in site.stu.glob(f"{backupid}_C1_F*")), 60,
             "data to reach the storage unit")
    return jobid, cmd


def waited(cmd: subprocess.Popen[str], done: dict) -> None:
    """The user's waiting command ended by itself, with the job's status."""
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == done["status"] % 256, (cmd.returncode, out, err)


def image_of_big_source(site: Site) -> str:
    """A complete backup of the big source (a restore's image); its backup id."""
    sized(site, BIG)
    jobid = int(site.call("bprd", "backup", policy=POLICY, schedule="full")["jobids"][0])
    done = site.call("bpjobd", "job_wait", jobid=jobid, timeout=300)["job"]
    assert done["status"] == 0, done
    return str(done["backupid"])


def start_restore(site: Site, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """`bprestore -w` of the big file into a new folder, once data is flowing:
    (the waiting command, the destination folder)."""
    dest = tmp_path / "restored"
    dest.mkdir()
    ren = rename_file(tmp_path / "ren", [(site.source.parent, dest)])
    cmd = subprocess.Popen(_argv("bprestore", "-C", "aio", "-R", str(ren), "-w",
                                 str(site.source)),
                           env=site.host.env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    jobid = int(wait_for(lambda: _newest_restore(site), 60, "the restore job"))
    wait_for(lambda: any(s["process"] == "tar-restore" for s in job(site, jobid)["steps"])
             or _written(dest), 60, "data to flow to tar-restore")
    time.sleep(0.5)
    return cmd, dest


def _argv(*argv: str) -> list[str]:
    from nbcli import programs

    return programs.argv_for(argv[0]) + list(argv[1:])


def _newest_open(site: Site, jobtype: int) -> int | None:
    jobs = site.call("bpjobd", "job_list", open=True)["jobs"]
    found = [j["jobid"] for j in jobs if j["jobtype"] == jobtype]
    return max(found) if found else None


def _newest_restore(site: Site) -> int | None:
    return _newest_open(site, kinds.JOB_RESTORE)


def _written(dest: Path) -> bool:
    return any(p.is_file() for p in dest.rglob("*"))


def restart(site: Site) -> None:
    """`netbackup start`: what died is started again."""
    site.host.start()


def closed_job(site: Site, jobid: int, timeout: float = 150) -> dict:
    """The job once its owner (or a reconciliation) closed it."""

    def get() -> dict | None:
        try:
            found = job(site, jobid)
        except NbuError:
            return None  # bpjobd still starting
        return found if found["closed"] else None

    return dict(wait_for(get, timeout, f"job {jobid} to be closed"))  # type: ignore[arg-type]


def check_after(site: Site, jobid: int, *, may_succeed: bool = False,
                dest: Path | None = None) -> dict:
    """The assertions every scenario ends with (module docstring); the closed job."""
    done = closed_job(site, jobid)
    assert done["state"] == kinds.DONE, done
    if not may_succeed:
        assert done["status"] != 0, done
    backupid = str(done.get("backupid") or "")
    if done["jobtype"] != kinds.JOB_RESTORE and backupid:
        listed = [i["backupid"] for i in site.call("bpdbm", "image_list", client="aio",
                                                   policy=POLICY)["images"]]
        if done["status"] == 0:
            assert backupid in listed
        else:
            assert backupid not in listed
            wait_for(lambda: not list(site.stu.glob(f"{backupid}_*")), 60,
                     f"the fragments of {backupid} to be removed")
    images = site.host.cfg.paths.images
    wait_for(lambda: not list(images.rglob("*.inprogress")), 60,
             "no image in progress in the catalog")
    if dest is not None:
        assert not [p for p in dest.rglob(".nbtr*")], list(dest.rglob("*"))
    wait_for(lambda: not held(site, jobid), 60, f"job {jobid}'s resources to be released")
    next_backup_ends_0(site)
    forget_images(site)
    return done


def forget_images(site: Site) -> None:
    """Expire the policy's images (a full one holds BIG bytes in the storage unit)."""
    site.host.run("bpexpdate", "-policy", POLICY, "-d", "0", "-force", check=False)


def held(site: Site, jobid: int) -> bool:
    q = site.call("nbrb", "queue")
    held = site.call("nbemm", "allocations")["allocations"]
    return jobid in q["active"] or jobid in [r["jobid"] for r in q["queued"]] \
        or jobid in [a["jobid"] for a in held]


def next_backup_ends_0(site: Site) -> None:
    sized(site, SMALL)
    jobid = int(site.call("bprd", "backup", policy=POLICY, schedule="full")["jobids"][0])
    done = site.call("bpjobd", "job_wait", jobid=jobid, timeout=120)["job"]
    assert (done["state"], done["status"]) == (kinds.DONE, 0), done
