"""A process of the restore flow dies mid-restore (kill -9); after `netbackup start` the
restore is closed with a status, its waiting `bprestore -w` has ended, nothing is held, no
temporary file stays in the destination, and the next backup ends 0. Each scenario runs on
all-in-one and on three hosts (the victim killed on the host it runs on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.faults.faultkit import (
    Site,
    check_after,
    forget_images,
    full_only,
    held,
    image_of_big_source,
    kill,
    restart,
    start_restore,
)
from tests.faults.faultkit import _newest_restore as newest_restore
from tests.faults.matrix import matrix, scenario_name

RESTORE = [("bptm", "", False), ("bptm child", "", False), ("bpbrm", "", False),
           ("bpbrm child", "", False), ("tar-restore", "", False), ("bprd", "", False)]
CI = {"aio-bprd"}
# the scenarios outside the matrix run on the all-in-one site the matrix uses
AIO = pytest.mark.parametrize("site", ["aio"], indirect=True)


@full_only
@AIO
def test_cancel_of_a_restore_whose_bprd_died(site: Site, tmp_path: Path) -> None:
    """`bpdbjobs -cancel` of a restore nobody runs (bprd killed, not restarted): bpjobd ends
    it (150), its waiting `bprestore -w` exits 150, nbrb and nbemm let go."""
    image_of_big_source(site)
    cmd, dest = start_restore(site, tmp_path)
    jobid = newest_restore(site)
    assert jobid is not None
    kill(site, "bprd")
    assert site.host.run("bpdbjobs", "-cancel", str(jobid)).stdout == "1 job(s) canceled\n"
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 150, (out, err)
    wait_for(lambda: not held(site, jobid), 60, "nbrb and nbemm to let go")
    restart(site)
    assert check_after(site, jobid, dest=dest)["status"] == 150
    forget_images(site)


@matrix(RESTORE)
def test_kill_during_restore(site: Site, victim: str, on: str, may_succeed: bool,
                             tmp_path: Path) -> None:
    image_of_big_source(site)
    cmd, dest = start_restore(site, tmp_path)
    jobid = newest_restore(site)
    assert jobid is not None
    kill(site, victim, on)
    restart(site)
    done = check_after(site, jobid, dest=dest, may_succeed=may_succeed,
                       scenario=scenario_name(victim, on, "restore"))
    # the user's waiting command ended with the job's status, by itself
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == done["status"] % 256, (out, err)
    forget_images(site)
