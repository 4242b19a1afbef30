"""A process of the backup flow dies mid-backup (kill -9); after `netbackup start` the job is
closed with a status, nothing is held, nothing partial stays, the next backup ends 0. Each
scenario runs on all-in-one and on three hosts (the victim killed on the host it runs on)."""

from __future__ import annotations

import pytest

from nbcli import kinds
from tests.conftest import wait_for
from tests.faults.faultkit import (
    Site,
    check_after,
    full_only,
    held,
    job,
    kill,
    restart,
    start_backup,
    waited,
)
from tests.faults.matrix import matrix, scenario_name

# (victim, the host it is killed on when it runs on each, whether the job may still end 0:
# processes off the data path)
BACKUP = [("bpbkar", "", False), ("bptm", "", False), ("bptm child", "", False),
          ("bpbrm", "", False), ("nbjm", "", False), ("nbrb", "", True), ("nbemm", "", True),
          ("bpjobd", "", True), ("bpdbm", "", False), ("nbproxy", "", True),
          ("pbx_exchange", "master", True), ("pbx_exchange", "media", True),
          ("pbx_exchange", "client", True)]
CI = {"aio-nbjm", "aio-bpjobd", "three-pbx_exchange@media", "three-bptm_child"}
# the scenarios outside the matrix run on the all-in-one site the matrix uses
AIO = pytest.mark.parametrize("site", ["aio"], indirect=True)


@AIO
def test_cancel_of_a_job_whose_nbjm_died(site: Site) -> None:
    """`bpdbjobs -cancel` of a job nobody runs (its nbjm killed, not restarted): bpjobd ends
    it (150), its image goes and nbrb and nbemm release it before nbjm is back."""
    jobid, cmd = start_backup(site)
    kill(site, "nbjm")
    r = site.host.run("bpdbjobs", "-cancel", str(jobid))
    assert r.stdout == "1 job(s) canceled\n"
    done = job(site, jobid)
    assert (done["state"], done["status"], done["closed"]) == (kinds.DONE, 150, True)
    waited(cmd, done)
    wait_for(lambda: not held(site, jobid), 30, "nbrb and nbemm to release the job")
    restart(site)
    check_after(site, jobid)


@full_only
@AIO
def test_an_orphan_canceled_while_the_catalog_is_down(site: Site) -> None:
    """nbjm, nbproxy and bpdbm die; the orphan is canceled (its image cannot be removed now);
    at its start bpdbm finds the image in progress of a closed job and removes it."""
    jobid, cmd = start_backup(site)
    for victim in ("nbjm", "nbproxy", "bpdbm"):
        kill(site, victim)
    site.host.run("bpdbjobs", "-cancel", str(jobid))
    waited(cmd, job(site, jobid))
    assert list(site.host.cfg.paths.images.rglob("*.inprogress"))  # left for bpdbm
    restart(site)
    done = check_after(site, jobid)
    assert done["status"] == 150


@full_only
@AIO
def test_a_waiting_bpbackup_ends_when_the_master_stays_away(site: Site) -> None:
    """bpjobd dies and is not started again: `bpbackup -w` does not hang; after MASTER_GONE
    (60 s) it ends with the status that says how the master was lost."""
    jobid, cmd = start_backup(site)
    kill(site, "bpjobd")
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode in (25, 40), (cmd.returncode, out, err)
    assert "went away" in err
    restart(site)
    check_after(site, jobid, may_succeed=True)


@matrix(BACKUP)
def test_kill_during_backup(site: Site, victim: str, on: str, may_succeed: bool) -> None:
    jobid, cmd = start_backup(site)
    kill(site, victim, on)
    restart(site)
    done = check_after(site, jobid, may_succeed=may_succeed,
                       scenario=scenario_name(victim, on, "backup"))
    waited(cmd, done)
