"""nbpem runs the site by itself: due times, windows, levels, point-in-time restores."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nbcli import clock
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_stu, rename_file
from tests.test_schedule_helpers import jobs, local_midnight_in_a_year, wake
from tests.treegen import snapshot

DAY = 86400


def run_due_job(host: Host, after: int) -> dict:
    """nbpem starts the one job that is due (its tick may beat our wake); wait for it."""
    wake(host)
    # backups only: moving the clock also brings bpdbm's Image Cleanup jobs
    new = wait_for(lambda: [j for j in jobs(host) if j["jobid"] > after and j["jobtype"] == 0],
                   30, "the due job")
    assert len(new) == 1, new
    return client.call(host.cfg, host.name, "bpjobd", "job_wait", jobid=new[0]["jobid"],
                       timeout=120)["job"]


def policy(host: Host, name: str, tree: Path, *scheds: tuple[str, str, int],
           tir: bool = False, window: tuple[int, int] = (0, DAY)) -> None:
    host.run("bppolicynew", name)
    host.run("bpplinfo", name, "-modify", "-residence", "disk1",
             *(["-collect_tir_info", "1"] if tir else []))
    host.run("bpplclients", name, "-add", host.name, "Linux", "Debian")
    host.run("bpplinclude", name, "-add", str(tree))
    for label, st, freq in scheds:  # retention 1 month: nothing expires during a test
        host.run("bpplsched", name, "-add", label, "-st", st, "-freq", str(freq), "-rl", "3",
                 "-window", str(window[0]), str(window[1]))


def touch(path: Path, data: bytes, when: float) -> None:
    path.write_bytes(data)
    os.utime(path, (when, when))


def test_weekly_full_daily_incr_over_14_days(aio: Host, tmp_path: Path) -> None:
    t0 = local_midnight_in_a_year() + 2 * 3600
    clock.set_test_clock(aio.root, fixed=t0)
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    for i in range(10):
        touch(tree / "docs" / f"f{i}", f"day 0 file {i}".encode(), t0 - 3600)
    policy(aio, "p14", tree, ("weekly", "FULL", 7 * DAY), ("daily", "INCR", DAY), tir=True)
    states: dict[int, dict] = {}
    kinds = []
    last = 0
    for day in range(14):
        now = t0 + day * DAY
        clock.set_test_clock(aio.root, fixed=now)
        if day:  # the day's changes: a new file, a changed one, sometimes a deletion
            touch(tree / "docs" / f"new{day}", f"new on day {day}".encode(), now - 60)
            touch(tree / "docs" / f"f{day % 10}", f"changed on day {day}".encode(), now - 60)
            if day in (3, 9):
                os.unlink(tree / "docs" / ("f1" if day == 3 else "new5"))
            os.utime(tree / "docs", (now - 30, now - 30))
        states[day] = snapshot(tree)
        done = run_due_job(aio, after=last)
        last = done["jobid"]
        assert done["status"] == 0, done
        kinds.append(done["schedule"])
    assert kinds == ["weekly"] + ["daily"] * 6 + ["weekly"] + ["daily"] * 6
    images = client.call(aio.cfg, aio.name, "bpdbm", "image_list", policy="p14")["images"]
    assert sorted((i["backup_time"] - t0) // DAY for i in images) == list(range(14))
    assert sorted(i["sched_type"] for i in images) == [0, 0] + [1] * 12
    # an incremental holds the data of what changed that day; with TIR it lists the rest
    day4 = next(i for i in images if i["backup_time"] - t0 == 4 * DAY)
    entries = client.call(aio.cfg, aio.name, "bpdbm", "file_list", client=aio.name,
                          path=str(tree), recursive=True, backupid=day4["backupid"])["entries"]
    with_data = sorted(e[0] for e in entries if e[13] and e[1] != "5")
    assert with_data == [str(tree / "docs" / "f4"), str(tree / "docs" / "new4")]
    assert day4["num_files"] > len(entries)  # + the TIR entries of the unchanged files

    clock.set_test_clock(aio.root, fixed=t0 + 13 * DAY + 12 * 3600)
    for day in (5, 12):  # as of day 5 and day 12: the tree as it was then, deletions included
        dest = tmp_path / f"as_of_day{day}"
        ren = rename_file(tmp_path / f"ren{day}", [(tree, dest)])
        r = aio.run("bprestore", "-C", aio.name, "-e", date(t0 + day * DAY + 3600),
                    "-R", str(ren), "-w", str(tree))
        assert r.returncode == 0
        assert snapshot(dest) == states[day], f"day {day}"
    assert not (tmp_path / "as_of_day5" / "docs" / "f1").exists()  # deleted on day 3
    assert (tmp_path / "as_of_day5" / "docs" / "new5").exists()
    assert not (tmp_path / "as_of_day12" / "docs" / "new5").exists()  # deleted on day 9


def date(epoch: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(epoch))


def test_a_due_job_waits_for_its_window(aio: Host, tmp_path: Path) -> None:
    midnight = local_midnight_in_a_year()
    clock.set_test_clock(aio.root, fixed=midnight + 10 * 3600)  # 10:00
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    tree = tmp_path / "data"
    tree.mkdir()
    (tree / "f").write_bytes(b"x")
    policy(aio, "night", tree, ("full", "FULL", DAY), window=(22 * 3600, 3600))  # 22:00-23:00
    wake(aio)
    assert [j for j in jobs(aio) if j["jobtype"] == 0] == []  # the window is closed: no job
    due = aio.run("nbpemreq", "-due").stdout
    assert "night" not in due
    clock.set_test_clock(aio.root, fixed=midnight + 22 * 3600 + 60)  # 22:01: open
    done = run_due_job(aio, after=0)
    assert (done["policy"], done["status"]) == ("night", 0)


def test_real_time_new_policy_runs_within_a_minute(aio: Host, tmp_path: Path) -> None:
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    tree = tmp_path / "data"
    tree.mkdir()
    (tree / "f").write_bytes(b"real time")
    t = time.monotonic()
    policy(aio, "fresh", tree, ("full", "FULL", DAY))  # its window is open all day
    job = wait_for(lambda: [j for j in jobs(aio) if j["policy"] == "fresh"], 60,
                   "nbpem to start the new policy's first job")[0]
    assert time.monotonic() - t < 60
    assert job["subtype"] == 1  # scheduled, not manual
    done = client.call(aio.cfg, aio.name, "bpjobd", "job_wait", jobid=job["jobid"],
                       timeout=120)["job"]
    assert done["status"] == 0


@pytest.fixture(autouse=True)
def _no_leftover_clock(aio_root: Host):
    yield
    try:
        (aio_root.root / "var" / "run" / "testclock").unlink()
    except FileNotFoundError:
        pass
