"""A process of the backup flow dies mid-backup (kill -9); after `netbackup start` the job is
closed with a status, nothing is held, nothing partial stays, the next backup ends 0."""

from __future__ import annotations

import pytest

from tests.faults.faultkit import Site, check_after, full_only, kill, restart, start_backup

# (victim, whether the job may still end 0: processes off the data path)
CI = [("nbjm", False), ("bpjobd", True)]
FULL = [("nbrb", True), ("nbemm", True), ("bpdbm", False), ("nbproxy", True),
        ("pbx_exchange", True)]


def _scenario(site: Site, victim: str, may_succeed: bool) -> None:
    jobid, _ = start_backup(site)
    kill(site, victim)
    restart(site)
    check_after(site, jobid, may_succeed=may_succeed)


@pytest.mark.parametrize("victim,may_succeed", CI)
def test_kill_during_backup(site: Site, victim: str, may_succeed: bool) -> None:
    _scenario(site, victim, may_succeed)


@full_only
@pytest.mark.parametrize("victim,may_succeed", FULL)
def test_kill_during_backup_full(site: Site, victim: str, may_succeed: bool) -> None:
    _scenario(site, victim, may_succeed)
