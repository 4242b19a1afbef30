"""The error log for real: jobs on an all-in-one host, nbevtmgr recording their ends and failed
tries, bperror run as a process and read as runbooks read it; the log across a restart of the
master's daemons; old days aged out by bpconfig -kl.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import programs
from nbcli.net import client
from tests.conftest import Host, _make, wait_for
from tests.flowkit import add_policy, add_stu

BIN = str(Path(programs.argv_for("bperror")[0]).parent)
DAY = 86400


def shell(host: Host, script: str) -> str:
    env = host.env(PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True,
                          check=True, timeout=60).stdout


def backup(host: Host, policy: str) -> int:
    return int(client.call(host.cfg, host.name, "bprd", "backup", policy=policy,
                           schedule="full")["jobids"][0])


def wait_done(host: Host, jobid: int) -> dict:
    return client.call(host.cfg, host.name, "bpjobd", "job_wait", jobid=jobid,
                       timeout=120)["job"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, dict[str, int]]]:
    """An all-in-one host that ran a good backup, one of a missing path (status 71) and one
    whose bpbkar was killed (status 50)."""
    base = tmp_path_factory.mktemp("errlog")
    os.environ["NBCLI_TESTING"] = "1"
    (h,) = _make(base / "hosts", [("aio", "127.0.0.1", ["master", "media", "client"])])
    h.start()
    try:
        good, big = base / "good", base / "big"
        good.mkdir()
        big.mkdir()
        (good / "f").write_bytes(b"x" * 4096)
        with open(big / "sparse.img", "wb") as f:  # long enough to be running when killed
            f.truncate(4 << 30)
        add_stu(h, "disk1", base / "stu", media=h.name)
        add_policy(h, "Good_Policy", "disk1", [h.name], [str(good)])
        add_policy(h, "Missing_Files_Policy_Long", "disk1", [h.name], [str(base / "nothere")])
        add_policy(h, "Killed", "disk1", [h.name], [str(big)])
        jobs = {"good": backup(h, "Good_Policy")}
        assert wait_done(h, jobs["good"])["status"] == 0
        jobs["missing"] = backup(h, "Missing_Files_Policy_Long")
        jobs["missing_status"] = wait_done(h, jobs["missing"])["status"]
        jobs["killed"] = backup(h, "Killed")
        victims = wait_for(lambda: [p.proc for p in h.processes(spares=False)
                                    if p.program == "bpbkar"], 60, "bpbkar to run")
        time.sleep(0.5)
        for p in victims:
            p.send_signal(signal.SIGKILL)
        jobs["killed_status"] = wait_done(h, jobs["killed"])["status"]
        yield h, jobs
    finally:
        h.stop()


def backstat_rows(host: Host, *args: str) -> list[str]:
    out = host.run("bperror", "-U", "-backstat", *args).stdout.splitlines()
    assert out[0] == "STATUS CLIENT        POLICY           SCHED      SERVER      TIME COMPLETED"
    return out[1:]


def test_backstat_lists_the_jobs_with_their_statuses(site: tuple[Host, dict[str, int]]) -> None:
    host, jobs = site
    rows = backstat_rows(host, "-hoursago", "24")
    by_policy = {row.split()[2]: row for row in rows}
    assert by_policy["Good_Policy"].split()[0] == "0"
    # the policy column cuts at 16 characters, the schedule at 10 (checkmk plugin sample)
    assert by_policy["Missing_Files_Po"].split()[0] == str(jobs["missing_status"])
    assert by_policy["Killed"].split()[0] == str(jobs["killed_status"]) != "0"
    row = by_policy["Good_Policy"]
    assert row[7:7 + len(host.name)] == host.name and row[21:32] == "Good_Policy"
    assert re.search(r" \d\d/\d\d/\d{4} \d\d:\d\d:\d\d$", row)
    # runbook: bperror -U -backstat -hoursago 24 | grep Full | awk '$1 > "1"' (failed jobs)
    failed = shell(host, "bperror -U -backstat -hoursago 24 | awk 'NR > 1 && $1 > \"1\"'")
    assert sorted(line.split()[2] for line in failed.splitlines()) == ["Killed",
                                                                       "Missing_Files_Po"]


def test_problems_show_a_failed_try_and_the_killed_agent(site: tuple[Host,
                                                                      dict[str, int]]) -> None:
    host, jobs = site
    raw = host.run("bperror", "-problems", "-hoursago", "1").stdout.splitlines()
    # raw fields (bperror scripts): $5 server, $6 job id, $9 client, $10 who, $11.. message
    fields = [line.split(" ", 10) for line in raw]
    assert all(f[1] == "1" and int(f[3]) >= 8 for f in fields)
    missing = [f for f in fields if f[5] == str(jobs["missing"])]
    assert any(f"exited with status {jobs['missing_status']}" in f[10] for f in missing)
    killed = [f for f in fields if f[5] == str(jobs["killed"])]
    assert any(f"exited with status {jobs['killed_status']}" in f[10] for f in killed)
    assert all(f[8] == host.name for f in missing + killed)
    assert not [f for f in fields if f[5] == str(jobs["good"])]
    one = host.run("bperror", "-problems", "-jobid", str(jobs["killed"]), "-L").stdout
    assert f"Job ID: {jobs['killed']}" in one and "Severity: Error" in one


def test_all_lists_daemon_starts_and_dates_filter(site: tuple[Host, dict[str, int]]) -> None:
    host, _ = site
    raw = host.run("bperror", "-all", "-hoursago", "1").stdout.splitlines()
    whos = {line.split()[9] for line in raw}
    assert {"nbevtmgr", "bpjobd", "nbjm"} <= whos
    today = time.strftime("%m/%d/%Y")
    same = host.run("bperror", "-all", "-d", today, "00:00:00", "-e", today, "23:59:59")
    assert set(raw) <= set(same.stdout.splitlines())
    future = time.strftime("%m/%d/%Y", time.localtime(time.time() + 2 * DAY))
    assert host.run("bperror", "-all", "-d", future).stdout == ""


def test_a_waiter_is_answered_once_the_jobs_backstat_is_logged(
        site: tuple[Host, dict[str, int]]) -> None:
    """`bpbackup -w; bperror -backstat` (a runbook's check) must find the job: bpjobd answers a
    waiter only after the job's entries reached nbevtmgr. nbevtmgr is stopped while the job
    closes, so an answer that does not wait for it comes while it is stopped."""
    host, _ = site
    (evtmgr,) = [p.proc for p in host.processes() if p.program == "nbevtmgr"]
    before = sum(r.split()[2] == "Good_Policy" for r in backstat_rows(host, "-hoursago", "24"))
    evtmgr.send_signal(signal.SIGSTOP)
    answer: list[dict] = []
    try:
        jobid = backup(host, "Good_Policy")
        waiter = threading.Thread(target=lambda: answer.append(wait_done(host, jobid)))
        waiter.start()
        wait_for(lambda: client.call(host.cfg, host.name, "bpjobd", "job_get",
                                     jobid=jobid)["job"]["closed"], 60, "the job to close")
        waiter.join(0.5)  # a wrong answer comes within milliseconds of the close
        assert waiter.is_alive() and not answer
    finally:
        evtmgr.send_signal(signal.SIGCONT)
    waiter.join(30)
    assert answer and answer[0]["status"] == 0
    after = sum(r.split()[2] == "Good_Policy" for r in backstat_rows(host, "-hoursago", "24"))
    assert after == before + 1


def test_status_and_recommendation() -> None:
    env = dict(os.environ)
    r = subprocess.run(programs.argv_for("bperror") + ["-S", "71"], env=env, text=True,
                       capture_output=True, check=True)
    assert r.stdout == "none of the files in the file list exist\n"
    r = subprocess.run(programs.argv_for("bperror") + ["-S", "71", "-r"], env=env, text=True,
                       capture_output=True, check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "none of the files in the file list exist" and "bpplinclude" in r.stdout


def test_the_log_survives_a_restart_and_ages_out(site: tuple[Host, dict[str, int]]) -> None:
    host, jobs = site
    before = host.run("bperror", "-backstat", "-hoursago", "1").stdout
    folder = host.root / "netbackup" / "db" / "error"
    old_day = int(time.mktime(time.localtime(time.time() - 3 * DAY)[:3] + (0, 0, 0, 0, 0, -1)))
    old = folder / f"log_{old_day}"
    old.write_text(f"{old_day + 60} 1 2 4 aio 0 0 0 *NULL* test an old entry\n")
    assert "an old entry" in host.run("bperror", "-all", "-hoursago", "100").stdout
    host.run("bpconfig", "-kl", "1")
    host.stop()
    host.start()
    wait_for(lambda: not old.exists(), 30, "the old day to age out")
    after = host.run("bperror", "-backstat", "-hoursago", "1").stdout
    assert before and set(before.splitlines()) <= set(after.splitlines())
    assert any(f.name.startswith("log_") for f in folder.iterdir())
