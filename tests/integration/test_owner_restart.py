"""A job owner's start ends the jobs its previous run left, and only those (nbcli.daemons.recover),
as real processes."""

from __future__ import annotations

import time
from collections.abc import Callable

from nbcli import kinds
from nbcli.net import client
from tests.conftest import Host, wait_for


def test_a_job_opened_while_nbjm_waits_for_bpjobd_is_not_ended(
        daemons: Callable[..., Host]) -> None:
    # nbjm up before bpjobd: its look at what a previous run left waits for bpjobd (a retry a
    # second), and a job opened meanwhile by another ADMIN caller is nobody's leftover
    host = daemons("nbjm")
    # bpjobd keeps whole seconds: a job opened in the second of nbjm's start counts as
    # before it (a leftover of a run that died that second must not be missed)
    second = int(time.time())
    wait_for(lambda: int(time.time()) > second, 5, "the next second")
    daemons("bpjobd")
    jobid = client.call(host.cfg, host.name, "bpjobd", "job_create", jobtype=kinds.JOB_BACKUP,
                        state=kinds.ACTIVE, client=host.name, policy="p",
                        backupid=f"{host.name}_1800000000")["jobid"]
    wait_for(lambda: "open jobs looked at" in host.log("nbjm"), 30,
             "nbjm's look at the open jobs")
    job = next(j for j in client.call(host.cfg, host.name, "bpjobd", "job_list")["jobs"]
               if j["jobid"] == jobid)
    assert (job["state"], job["status"], job["closed"]) == (kinds.ACTIVE, None, False)
    assert "open jobs looked at: 0 left by a previous nbjm" in host.log("nbjm")
