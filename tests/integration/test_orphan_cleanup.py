"""Orphaned fragments on a real all-in-one host: fragments a crash left on a disk storage unit
with no image in the catalog are removed by the Image Cleanup job (`bpimage -cleanup`) once
they are older than the grace period; a fresh one, a real image and the catalog stay whole.

The orphans are planted as a crash leaves them: a real backup's fragment (and header) copied
under backup ids the catalog never heard of, their times set with os.utime."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from nbcli import kinds
from nbcli.daemons.cleanup_orphans import GRACE
from nbcli.net import client
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
