"""Orphaned fragments on a real all-in-one host: fragments a crash left on a disk storage unit
with no image in the catalog are removed by the Image Cleanup job (`bpimage -cleanup`) once
they are older than the grace period; a fresh one, a real image and the catalog stay whole.

The orphans are planted as a crash leaves them: a real backup's fragment (and header) copied
under backup ids the catalog never heard of, their times set with os.utime."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest

from nbcli import kinds
from nbcli.catalog.files import MAGIC
from nbcli.daemons.cleanup_orphans import GRACE
from nbcli.net import client
from nbcli.status import DATABASE_ERROR
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job


def image_files(stu: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(stu.iterdir())}


def catalog_files(host: Host) -> dict[str, bytes]:
    root = host.root / "netbackup" / "db" / "images"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def plant(stu: Path, source: str, backupid: str, age: float) -> list[str]:
    """Copies of image `source`'s pieces under `backupid`, last written `age` seconds ago."""
    names = []
    when = time.time() - age
    for p in sorted(stu.glob(f"{source}_C1_*")):
        copy = stu / p.name.replace(source, backupid, 1)
        shutil.copyfile(p, copy)
        os.utime(copy, (when, when))
        names.append(copy.name)
    return names


def test_cleanup_removes_old_orphans_only(aio: Host, tmp_path: Path) -> None:
    data, stu = tmp_path / "data", tmp_path / "stu"
    data.mkdir()
    (data / "a.bin").write_bytes(os.urandom(300_000))
    add_stu(aio, "disk1", stu, media=aio.name)
    add_policy(aio, "orph", "disk1", [aio.name], [str(data)])
    r = aio.run("bpbackup", "-i", "-p", "orph", "-s", "full", "-w", check=False)
    assert r.returncode == 0, r.stderr
    jobs = client.call(aio.cfg, aio.name, "bpjobd", "job_list")["jobs"]
    real = str(next(j for j in jobs if j["jobtype"] == kinds.JOB_BACKUP)["backupid"])
    ctime = int(real.rsplit("_", 1)[1])
    assert {n.rsplit("_", 1)[1] for n in image_files(stu)} == {"F1", "HDR"}

    kept = image_files(stu)
    catalog = catalog_files(aio)
    old = f"{aio.name}_{ctime - 7200}"      # committed never: fragment and header
    fresh = f"{aio.name}_{ctime - 3600}"    # still being written, as far as anyone knows
    old_files = plant(stu, real, old, age=GRACE + 600)
    fresh_files = [n for n in plant(stu, real, fresh, age=60) if "_F" in n]
    (stu / f"{fresh}_C1_HDR").unlink()  # a writer at work has no header yet
    assert len(old_files) == 2 and len(fresh_files) == 1
    # an old one whose id an open job holds (a job writing slowly): not an orphan either
    slow = f"{aio.name}_{ctime - 1800}"
    slow_files = plant(stu, real, slow, age=GRACE * 3)
    slow_job = client.call(aio.cfg, aio.name, "bpjobd", "job_create", jobtype=kinds.JOB_BACKUP,
                           state=kinds.ACTIVE, client=aio.name, policy="orph",
                           backupid=slow)["jobid"]

    r = aio.run("bpimage", "-cleanup", "-allclients", check=False)
    assert r.returncode == 0, r.stderr
    jobs = client.call(aio.cfg, aio.name, "bpjobd", "job_list")["jobs"]
    cleanup = job(aio, next(j["jobid"] for j in jobs if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP))
    assert (cleanup["state"], cleanup["status"]) == (kinds.DONE, 0)

    # the old orphan is gone; the fresh one, the real image and the catalog are as they were
    left = image_files(stu)
    assert not set(old_files) & set(left)
    assert set(left) == set(kept) | set(fresh_files) | set(slow_files)
    assert {n: left[n] for n in kept} == kept
    assert catalog_files(aio) == catalog
    assert aio.run("bpimagelist", "-backupid", real, "-l").returncode == 0

    details = aio.run("bpdbjobs", "-jobid", str(cleanup["jobid"]), "-all_columns").stdout
    assert f"removed orphaned image {old} from storage unit disk1" in details
    assert "2 file(s) no catalog entry owns" in details
    assert f"image {fresh} on {aio.name}:{stu} has no catalog entry" in details
    assert f"image {slow} on {aio.name}:{stu} has no catalog entry but an open job" in details
    assert real not in details  # the real image is no orphan
    errors = wait_for(lambda: [line for line in aio.run("bperror", "-all", "-hoursago", "1")
                               .stdout.splitlines() if f"orphaned image {old}" in line],
                      30, "the removal in the error log")
    assert len(errors) == 1 and fresh not in errors[0]

    # once the job is closed, its leftover is an orphan like any other
    client.call(aio.cfg, aio.name, "bpjobd", "job_update", jobid=slow_job, state=kinds.DONE,
                status=50)
    client.call(aio.cfg, aio.name, "bpjobd", "job_update", jobid=slow_job, closed=True)
    aio.run("bpimage", "-cleanup", "-allclients")
    assert set(image_files(stu)) == set(kept) | set(fresh_files)


def test_the_master_has_a_media_servers_orphans_removed(three_hosts: dict[str, Host],
                                                        tmp_path: Path) -> None:
    """Three hosts: bpdbm on the master lists the unit through bpbrm on the media server and
    has it delete the orphan there; the client's data and the real image stay."""
    master = three_hosts["master"]
    data, stu = tmp_path / "data", tmp_path / "stu"
    data.mkdir()
    (data / "b.bin").write_bytes(os.urandom(100_000))
    add_stu(master, "mdisk", stu)  # on the host named "media"
    add_policy(master, "orph3", "mdisk", ["client"], [str(data)])
    r = master.run("bpbackup", "-i", "-p", "orph3", "-s", "full", "-w", check=False)
    assert r.returncode == 0, r.stderr
    real = next(p.name for p in stu.iterdir()).rsplit("_C1_", 1)[0]
    kept = image_files(stu)
    old = f"client_{int(real.rsplit('_', 1)[1]) - 7200}"
    planted = plant(stu, real, old, age=GRACE * 2)
    r = master.run("bpimage", "-cleanup", "-allclients", check=False)
    assert r.returncode == 0, r.stderr
    assert image_files(stu) == kept
    assert not any((stu / n).exists() for n in planted)
    jobs = client.call(master.cfg, master.name, "bpjobd", "job_list")["jobs"]
    jobid = next(j["jobid"] for j in jobs if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP)
    details = master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert f"removed orphaned image {old} from storage unit mdisk (media:{stu})" in details


# --- partial images: in progress in the catalog, their job closed -----------------------------

def kill(*where: tuple[Host, tuple[str, ...]]) -> None:
    """All of them killed as at once: none lives to clean up after another. Each is stopped
    first (SIGSTOP), then killed: a SIGKILL at a time let bpbrm, on a loaded machine, see
    bptm die and remove its fragments before its own SIGKILL came."""
    victims = [p.proc for host, programs in where for p in host.processes(spares=False)
               if p.program in programs]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in victims:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass  # gone with another victim (a bptm child dies with its parent)
    for p in victims:
        try:
            p.wait(10)
        except psutil.NoSuchProcess:
            pass


def in_progress(master: Host, backupid: str) -> list[Path]:
    ctime = backupid.rsplit("_", 1)[1]
    return [p for p in master.cfg.paths.images.rglob(f"*{ctime}*.inprogress")]


def refused_at_step_15(master: Host, jobid: int, files: Path) -> None:
    """Damage the files file of a job's image in progress, as a disk that loses a sector
    does, while its data flows: the catalog refuses the image at step 15, and the job ends
    220."""
    fd = os.open(files, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\0" * len(MAGIC), 0)
    finally:
        os.close(fd)
    done = client.call(master.cfg, master.name, "bpjobd", "job_wait", jobid=jobid,
                       timeout=300)["job"]
    assert (done["state"], done["status"]) == (kinds.DONE, DATABASE_ERROR)


def moving(master: Host, stu: Path, policy: str) -> tuple[int, str]:
    """A backup of `policy` (a big sparse source), once its data reaches the storage unit:
    (jobid, backup id)."""
    jobid = client.call(master.cfg, master.name, "bprd", "backup", policy=policy,
                        schedule="full")["jobids"][0]
    backupid = str(wait_for(lambda: job(master, jobid).get("backupid"), 60, "the image"))
    wait_for(lambda: any(f.stat().st_size for f in stu.glob(f"{backupid}_C1_F*")), 60,
             "data to reach the storage unit")
    return jobid, backupid


def sparse_source(folder: Path, size: int) -> Path:
    folder.mkdir()
    with open(folder / "big.img", "wb") as f:
        f.truncate(size)
    return folder


@pytest.mark.parametrize("layout", ["aio", "three"])
def test_a_partial_image_of_a_closed_job_goes_with_its_fragments(layout: str,
                                                                 request: pytest.FixtureRequest,
                                                                 tmp_path: Path) -> None:
    """A crash leaves an image in progress: nbjm, nbproxy and bpdbm (the master) and bptm and
    bpbrm (the media server) killed mid-backup, the job canceled while the catalog is down:
    its `.inprogress` entry stays in the catalog and its fragment on the unit. Once the
    master is back, an Image Cleanup job (`bpimage -cleanup` on all-in-one; bpdbm's own look
    at start on three hosts) removes the entry and the fragment, while a backup running
    meanwhile keeps its entry and fragment and ends 0."""
    if layout == "aio":
        aio = request.getfixturevalue("aio")
        hosts = {"master": aio, "media": aio, "client": aio}
    else:
        hosts = request.getfixturevalue("three_hosts")
    master, media = hosts["master"], hosts["media"]
    stu = tmp_path / "stu"
    add_stu(master, "pdisk", stu, media=media.name)
    add_policy(master, "partial", "pdisk", [hosts["client"].name],
               [str(sparse_source(tmp_path / "a", 2 << 30))])
    add_policy(master, "live", "pdisk", [hosts["client"].name],
               [str(sparse_source(tmp_path / "b", 2 << 30))])
    dead_job, dead = moving(master, stu, "partial")
    kill((master, ("nbjm", "nbproxy", "bpdbm")), (media, ("bptm", "bpbrm")))
    assert master.run("bpdbjobs", "-cancel", str(dead_job)).stdout == "1 job(s) canceled\n"
    assert in_progress(master, dead) and list(stu.glob(f"{dead}_C1_F*"))  # what a crash left

    master.start()
    live_job, live = moving(master, stu, "live")
    if layout == "aio":
        r = master.run("bpimage", "-cleanup", "-allclients", check=False)
        assert r.returncode == 0, r.stderr
    wait_for(lambda: not in_progress(master, dead), 60, "the entry in progress to go")
    wait_for(lambda: not list(stu.glob(f"{dead}_*")), 60, "its fragment to go")
    if not job(master, live_job)["closed"]:  # still writing: its entry and fragment stay
        assert in_progress(master, live) and list(stu.glob(f"{live}_C1_F*"))
    done = client.call(master.cfg, master.name, "bpjobd", "job_wait", jobid=live_job,
                       timeout=300)["job"]
    assert done["status"] == 0, done
    assert master.run("bpimagelist", "-backupid", live).returncode == 0
    assert {p.name.rsplit("_", 1)[1] for p in stu.glob(f"{live}_*")} == {"F1", "HDR"}

    jobs = client.call(master.cfg, master.name, "bpjobd", "job_list")["jobs"]
    details = "".join(master.run("bpdbjobs", "-jobid", str(j["jobid"]), "-all_columns").stdout
                      for j in jobs if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP)
    assert (f"removed image {dead} from the catalog: it was in progress and its job "
            f"{dead_job} ended without it") in details
    assert f"removed partial image {dead} from storage unit pdisk ({media.name}:{stu})" \
        in details
    assert live not in details
    master.run("bpexpdate", "-policy", "live", "-d", "0", "-force")  # 2 GiB on the unit


def test_an_image_the_catalog_refuses_leaves_no_fragment(aio: Host, tmp_path: Path) -> None:
    """The catalog refuses a fully written image at step 15 (its files file was damaged on
    the master's disk while the data flowed: bpdbm's check reads it back and says 220): nbjm
    removes the entry in progress and has bpbrm delete the image's fragments and header from
    the storage unit. The job ends 220, says why, and nothing of the image is left."""
    stu = tmp_path / "stu"
    add_stu(aio, "rdisk", stu, media=aio.name)
    add_policy(aio, "refused", "rdisk", [aio.name], [str(sparse_source(tmp_path / "a", 2 << 30))])
    jobid, backupid = moving(aio, stu, "refused")
    (files,) = [p for p in in_progress(aio, backupid) if p.name.endswith(".f.inprogress")]
    refused_at_step_15(aio, jobid, files)
    details = aio.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert f"image {backupid} failed verification" in details
    assert f"fragments of image {backupid} removed from storage unit rdisk" in details
    assert list(stu.iterdir()) == []
    assert in_progress(aio, backupid) == []
    r = aio.run("bpimagelist", "-backupid", backupid, check=False)
    assert r.returncode == 227, r  # no entity: no image left in the catalog
