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

    r = aio.run("bpimage", "-cleanup", "-allclients", check=False)
    assert r.returncode == 0, r.stderr
    jobs = client.call(aio.cfg, aio.name, "bpjobd", "job_list")["jobs"]
    cleanup = job(aio, next(j["jobid"] for j in jobs if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP))
    assert (cleanup["state"], cleanup["status"]) == (kinds.DONE, 0)

    # the old orphan is gone; the fresh one, the real image and the catalog are as they were
    left = image_files(stu)
    assert not set(old_files) & set(left)
    assert set(left) == set(kept) | set(fresh_files)
    assert {n: left[n] for n in kept} == kept
    assert catalog_files(aio) == catalog
    assert aio.run("bpimagelist", "-backupid", real, "-l").returncode == 0

    details = aio.run("bpdbjobs", "-jobid", str(cleanup["jobid"]), "-all_columns").stdout
    assert f"removed orphaned image {old} from storage unit disk1" in details
    assert "2 file(s) no catalog entry owns" in details
    assert f"image {fresh} on {aio.name}:{stu} has no catalog entry" in details
    assert real not in details  # the real image is no orphan
    errors = wait_for(lambda: [line for line in aio.run("bperror", "-all", "-hoursago", "1")
                               .stdout.splitlines() if f"orphaned image {old}" in line],
                      30, "the removal in the error log")
    assert len(errors) == 1 and fresh not in errors[0]

    # the next cleanup finds nothing more to remove and leaves the fresh one again
    aio.run("bpimage", "-cleanup", "-allclients")
    assert set(image_files(stu)) == set(kept) | set(fresh_files)
