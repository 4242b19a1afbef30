"""bpdbjobs' whole synopsis against a real bpjobd: each flag run as a process, its output read
the way the scripts named beside each check read it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from nbcli import clock, kinds, programs
from tests.conftest import Host
from tests.integration.test_jobs import call, new_job, run_backup
from tests.unit.test_jobs_fmt import split_fields


@pytest.fixture
def jobd(daemons: Callable[..., Host]) -> Host:
    return daemons("bpjobd")


def read_block(proc: subprocess.Popen[str]) -> list[str]:
    """One -stay_alive block: `C<n>`, then n lines (NBU::Job's reader)."""
    assert proc.stdout is not None
    head = proc.stdout.readline()
    assert head.startswith("C"), head
    return [proc.stdout.readline().rstrip("\n") for _ in range(int(head[1:]))]


def test_stay_alive_driven_through_stdin(jobd: Host) -> None:
    # NBU::Job (CPAN "NBU") runs `bpdbjobs -report -all_columns -stay_alive`, reads C<n> and n
    # rows, writes "refresh" for changes; "-<jobid>" rows are jobs that left the database.
    first, second = new_job(jobd), new_job(jobd)
    run_backup(jobd, first)
    argv = programs.argv_for("bpdbjobs") + ["-report", "-all_columns", "-stay_alive"]
    with subprocess.Popen(argv, env=jobd.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None
        try:
            rows = read_block(proc)
            assert [int(split_fields(r)[0]) for r in rows] == [second, first]
            proc.stdin.write("refresh\n")
            proc.stdin.flush()
            assert read_block(proc) == []  # nothing changed
            third = new_job(jobd)
            call(jobd, "job_update", jobid=second, new_try=True, state=kinds.ACTIVE)
            assert jobd.run("bpdbjobs", "-delete", str(first)).stdout == "1 job(s) deleted\n"
            proc.stdin.write("refresh\n")
            proc.stdin.flush()
            changed = read_block(proc)
            assert [int(split_fields(r)[0]) for r in changed[:-1]] == [third, second]
            assert split_fields(changed[1])[2] == str(kinds.ACTIVE)
            assert changed[-1] == f"-{first}"
            proc.stdin.close()
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_listing_flags(jobd: Host) -> None:
    parent = new_job(jobd)
    child = new_job(jobd, parentjob=parent)
    run_backup(jobd, child)
    # -M master (MARS collectors pass the master), -fast, -mastertime, -verbose: same table
    plain = jobd.run("bpdbjobs").stdout
    assert jobd.run("bpdbjobs", "-M", jobd.name, "-fast").stdout == plain
    assert jobd.run("bpdbjobs", "-report", "-mastertime", "-verbose").stdout == plain
    # -ignore_parent_jobs drops the parent
    ids = [line.split()[0] for line in
           jobd.run("bpdbjobs", "-ignore_parent_jobs", "-noheader").stdout.splitlines()]
    assert ids == [str(child)]
    # -t "MM/dd/yyyy hh:mm:ss" (NetBackupPS Get-NetBackupJob) and its two-word form
    later = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(time.time() + 3600))
    assert [line.split(",")[0] for line in jobd.run(
        "bpdbjobs", "-most_columns", "-t", *later.split()).stdout.splitlines()] == [str(parent)]
    # (job ids only: the queued parent's elapsed time may tick between the two listings)
    assert [line.split(",")[0] for line in jobd.run(
        "bpdbjobs", "-most_columns", "-t", later).stdout.splitlines()] == [str(parent)]
    # -vault: nbcli runs no vault jobs - a header only; -lvault: no lines
    assert len(jobd.run("bpdbjobs", "-vault").stdout.splitlines()) == 1
    assert jobd.run("bpdbjobs", "-lvault").stdout == ""


def test_summary_l_as_mars_reads_it(jobd: Host) -> None:
    parent = new_job(jobd)
    child = new_job(jobd, parentjob=parent)
    run_backup(jobd, child)
    out = jobd.run("bpdbjobs", "-summary", "-l").stdout
    # MARS collector regexes: ^Queued:\s+(\d+) ... ^Total:\s+(\d+)
    import re
    counts = dict(re.findall(r"^([A-Za-z -]+):\s+(\d+)$", out, re.M))
    assert counts["Queued"] == "1" and counts["Partially Successful"] == "1"
    assert counts["Total"] == "2"
    assert jobd.run("bpdbjobs", "-summary", "-L").stdout == out
    alone = jobd.run("bpdbjobs", "-summary", "-l", "-ignore_parent_jobs").stdout
    assert re.search(r"^Total:\s+1$", alone, re.M) and re.search(r"^Queued:\s+0$", alone, re.M)


def test_actions(jobd: Host) -> None:
    queued = [new_job(jobd), new_job(jobd)]
    done = new_job(jobd)
    run_backup(jobd, done)
    # priorities: -all_columns field 24 is the priority
    jobd.run("bpdbjobs", "-set_priority", "-priority", "50", "-jobid", str(queued[0]))
    jobd.run("bpdbjobs", "-change_priority_by", "-priority", "-20", "-jobid", str(queued[0]))
    f = split_fields(jobd.run("bpdbjobs", "-all_columns", "-jobid", str(queued[0])).stdout)
    assert f[23] == "30"
    bad = jobd.run("bpdbjobs", "-set_priority", "-priority", "5", "-jobid", str(done),
                   check=False)
    assert bad.returncode == 133
    # nbcli's jobs take no checkpoints: suspend and resume say so (133)
    r = jobd.run("bpdbjobs", "-suspend", str(queued[0]), check=False)
    assert r.returncode == 133 and "not suspendable" in r.stderr
    assert jobd.run("bpdbjobs", "-resume", "type=all").stdout == "0 job(s) resumed\n"
    r = jobd.run("bpdbjobs", "-restart", str(queued[0]), check=False)
    assert r.returncode == 133 and "only a done job" in r.stderr
    r = jobd.run("bpdbjobs", "-delete", str(queued[0]), check=False)
    assert r.returncode == 133
    # -cancel_all with a reason (written to the admin log)
    r = jobd.run("bpdbjobs", "-cancel_all", "-reason", "maintenance window")
    assert r.stdout == "2 job(s) canceled\n"
    log = "".join(p.read_text() for p in (jobd.root / "netbackup" / "logs" / "admin").iterdir())
    assert "maintenance window" in log
    states = {j["jobid"]: (j["state"], j["status"]) for j in call(jobd, "job_list")["jobs"]}
    assert states[queued[0]] == (kinds.DONE, 150) and states[queued[1]] == (kinds.DONE, 150)


def test_clean_keeps_what_it_is_told(jobd: Host) -> None:
    ok, partial = new_job(jobd), new_job(jobd)
    call(jobd, "job_update", jobid=ok, state=kinds.DONE, status=0, closed=True)
    run_backup(jobd, partial)  # status 1
    running = new_job(jobd)
    # runbooks: bpdbjobs -clean -keep_days 15 -keep_successful_days 15 (cnblogs yihr)
    jobd.run("bpdbjobs", "-clean", "-keep_days", "15", "-keep_successful_days", "15")
    assert len(call(jobd, "job_list")["jobs"]) == 3
    clock.set_test_clock(jobd.root, fixed=time.time() + 5 * 86400)
    r = jobd.run("bpdbjobs", "-clean", "-keep_days", "3", "-keep_successful_days", "10",
                 "-verbose")
    assert r.stdout == f"{jobd.name}: 1 job(s) deleted\n"
    left = sorted(j["jobid"] for j in call(jobd, "job_list")["jobs"])
    assert left == [ok, running]
    r = jobd.run("bpdbjobs", "-clean", "-keep_hours", "1", "-keep_days", "1", check=False)
    assert r.returncode == 20
