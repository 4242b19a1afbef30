"""Retries NetBackup's way, a window that closes on a queued job (196), and every job limit
at once - checked against the jobs' own history in bpjobd."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import clock, config, kinds
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, stopped_backup
from tests.test_schedule_helpers import jobs, local_midnight_in_a_year, wake

DAY = 86400


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_failing_client_is_retried_then_reported_failed(aio: Host, tmp_path: Path) -> None:
    t = local_midnight_in_a_year() + 12 * 3600
    clock.set_test_clock(aio.root, fixed=t)
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    # a client nobody answers for
    aio.run("bpsetconfig", "--add", input=f"HOSTS = ghost 127.0.0.1:{closed_port()}\n")
    aio.run("bpconfig", "-tries", "3", "-period", "12", "-wi", "1")  # retry after 1 minute
    aio.run("bppolicynew", "flaky")
    aio.run("bpplinfo", "flaky", "-modify", "-residence", "disk1")
    aio.run("bpplclients", "flaky", "-add", "ghost", "Linux", "Debian")
    aio.run("bpplinclude", "flaky", "-add", str(tmp_path))
    aio.run("bpplsched", "flaky", "-add", "full", "-st", "FULL", "-freq", str(DAY),
            "-window", "0", str(DAY))
    wake(aio)
    jobid = wait_for(lambda: [j["jobid"] for j in jobs(aio) if j["policy"] == "flaky"], 30,
                     "the scheduled job")[0]
    for n in (1, 2):  # each failed try waits, Re-Queued, for the retry delay on the clock
        wait_for(lambda n=n: (lambda j: j["state"] == kinds.REQUEUED and len(j["tries"]) == n)
                 (job(aio, jobid)), 60, f"try {n} to fail")
        clock.set_test_clock(aio.root, fixed=t + n * 61)
    done = client.call(aio.cfg, aio.name, "bpjobd", "job_wait", jobid=jobid,
                       timeout=120)["job"]
    assert (done["state"], done["status"]) == (kinds.DONE, 58)  # can't connect to client
    assert [tr["trystatus"] for tr in done["tries"]] == [58, 58, 58]
    starts = [tr["trystarted"] for tr in done["tries"]]
    assert starts[1] - starts[0] >= 60 and starts[2] - starts[1] >= 60
    line = aio.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert line.split(",")[2] == "3"  # Done
    # three tries in 12 hours were the schedule's lot: no new job until the period is over
    wake(aio)
    assert [j["jobid"] for j in jobs(aio) if j["policy"] == "flaky"] == [jobid]


def test_a_queued_job_whose_window_closes_ends_with_196(aio: Host, tmp_path: Path) -> None:
    midnight = local_midnight_in_a_year()
    clock.set_test_clock(aio.root, fixed=midnight + 22 * 3600 + 5 * 60)  # 22:05
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    # the long backup holds the client's one job slot
    with stopped_backup(aio, tmp_path, "disk1", max_jobs=1):
        small = tmp_path / "small"
        small.mkdir()
        (small / "f").write_bytes(b"x")
        aio.run("bppolicynew", "win")
        aio.run("bpplinfo", "win", "-modify", "-residence", "disk1")
        aio.run("bpplclients", "win", "-add", aio.name, "Linux", "Debian")
        aio.run("bpplinclude", "win", "-add", str(small))
        aio.run("bpplsched", "win", "-add", "full", "-st", "FULL", "-freq", str(DAY),
                "-window", str(22 * 3600), str(30 * 60))  # 22:00-22:30
        wake(aio)
        jobid = wait_for(lambda: [j["jobid"] for j in jobs(aio) if j["policy"] == "win"],
                         30, "the scheduled job")[0]
        wait_for(lambda: "NBU_CLIENT.MAXJOBS" in job(aio, jobid)["reasonstring"], 30,
                 "the job to wait for the client")
        assert job(aio, jobid)["state"] == kinds.QUEUED
        clock.set_test_clock(aio.root, fixed=midnight + 22 * 3600 + 31 * 60)  # 22:31
        done = client.call(aio.cfg, aio.name, "bpjobd", "job_wait", jobid=jobid,
                           timeout=60)["job"]
        assert (done["state"], done["status"]) == (kinds.DONE, 196)


@pytest.fixture
def aliased(aio_root: Host) -> Iterator[tuple[Host, list[str]]]:
    """The all-in-one host with 20 more names of its own (aliases in [hosts]), set before it
    starts so that the certificate nbwmc issues it carries them: a connection to c07 checks
    that the host answering is c07, as to any host."""
    names = [f"c{i:02d}" for i in range(1, 21)]
    cfg = config.load(aio_root.root)
    own = cfg.hosts[cfg.client_name]
    config.apply_settings(cfg, {"HOSTS": [f"{n} {own}" for n in names]}, add=True)
    cfg.save()
    aio_root.start()
    yield aio_root, names
    aio_root.stop()
    assert aio_root.processes() == []


def test_every_limit_at_once_and_all_jobs_finish(aliased: tuple[Host, list[str]],
                                                 tmp_path: Path) -> None:
    aio, names = aliased
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name, cj="3")
    aio.run("bpconfig", "-mj", "1")
    data = tmp_path / "data"
    data.mkdir()
    for i in range(200):
        (data / f"f{i}").write_bytes(b"y" * 4096)
    for pol, clients in (("pa", names[:10]), ("pb", names[10:])):
        add_policy(aio, pol, "disk1", clients, [str(data)])
        aio.run("bpplinfo", pol, "-modify", "-policyjobs", "2")
    ids = []
    for pol in ("pa", "pb"):
        ids += client.call(aio.cfg, aio.name, "bprd", "backup", policy=pol,
                           schedule="full")["jobids"]
    assert len(ids) == 20
    finished = [client.call(aio.cfg, aio.name, "bpjobd", "job_wait", jobid=j,
                            timeout=300)["job"] for j in ids]
    assert [f["status"] for f in finished] == [0] * 20
    # nbrb records each grant and release under its lock: replaying them in bpjobd's order
    events = sorted((s["seq"], s["step"], f["policy"], f["client"]) for f in finished
                    for s in f["steps"] if s["process"] == "nbrb" and s["step"] in (5, 16))
    held: list[tuple[str, str]] = []
    peak = {"total": 0, "policy": 0, "client": 0}
    for _, step, pol, cl in events:
        if step == 5:
            held.append((pol, cl))
        else:
            held.remove((pol, cl))
        peak["total"] = max(peak["total"], len(held))
        peak["policy"] = max(peak["policy"], max(sum(p == q for p, _ in held)
                                                 for q in ("pa", "pb")))
        peak["client"] = max(peak["client"], max((sum(c == n for _, c in held)
                                                  for n in names), default=0))
    assert len(events) == 40
    assert peak["total"] <= 3 and peak["policy"] <= 2 and peak["client"] <= 1, peak
    assert peak["total"] >= 2  # the limits were reached, not merely unused
    waited = [line for f in finished for tr in f["tries"] for line in tr["trystatuslines"]
              if "Waiting for resources" in line]
    assert waited and all("Reason:" in line for line in waited)
