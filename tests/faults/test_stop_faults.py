"""`netbackup stop` (bp.kill_all) in the middle of a backup or a restore: the job ends with
150 (an administrator's stop), its image and temporary files go, its resources are released,
and the user's waiting `bpbackup -w` / `bprestore -w` is not killed but exits with 150."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nbcli import kinds
from tests.conftest import wait_for
from tests.faults.faultkit import (
    BIG,
    POLICY,
    Site,
    _argv,
    check_after,
    forget_images,
    image_of_big_source,
    job,
    restart,
    sized,
    start_restore,
)
from tests.faults.faultkit import _newest_restore as newest_restore

CANCELED = 150


def _newest_backup(site: Site) -> int | None:
    jobs = site.call("bpjobd", "job_list", open=True)["jobs"]
    found = [j["jobid"] for j in jobs if j["jobtype"] == kinds.JOB_BACKUP]
    return max(found) if found else None


def test_stop_during_a_backup(site: Site) -> None:
    sized(site, BIG)
    cmd = subprocess.Popen(_argv("bpbackup", "-i", "-p", POLICY, "-s", "full", "-w"),
                           env=site.host.env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    jobid = int(wait_for(lambda: _newest_backup(site), 60, "the backup job"))
    backupid = wait_for(lambda: job(site, jobid).get("backupid"), 60, "the image")
    wait_for(lambda: any(f.stat().st_size for f in site.stu.glob(f"{backupid}_C1_F*")), 60,
             "data to reach the storage unit")
    site.host.stop()
    out, err = cmd.communicate(timeout=60)
    assert cmd.returncode == CANCELED, (out, err)
    assert site.host.processes() == []  # the waiting command was not what kept the host
    restart(site)
    done = check_after(site, jobid)
    assert done["status"] == CANCELED


def test_stop_during_a_restore(site: Site, tmp_path: Path) -> None:
    image_of_big_source(site)
    cmd, dest = start_restore(site, tmp_path)
    jobid = newest_restore(site)
    assert jobid is not None
    site.host.stop()
    out, err = cmd.communicate(timeout=60)
    assert cmd.returncode == CANCELED, (out, err)
    restart(site)
    done = check_after(site, jobid, dest=dest)
    assert done["status"] == CANCELED
    forget_images(site)
