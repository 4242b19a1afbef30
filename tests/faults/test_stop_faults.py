"""`netbackup stop` (bp.kill_all) in the middle of a backup or a restore: the job ends with
150 (an administrator's stop), its image and temporary files go, its resources are released,
and the user's waiting `bpbackup -w` / `bprestore -w` is not killed but exits with 150."""

from __future__ import annotations

from pathlib import Path

from tests.faults.faultkit import (
    Site,
    check_after,
    forget_images,
    image_of_big_source,
    restart,
    start_backup,
    start_restore,
)
from tests.faults.faultkit import _newest_restore as newest_restore

CANCELED = 150


def test_stop_during_a_backup(site: Site) -> None:
    jobid, cmd = start_backup(site)
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
