"""User backups and archives from a client host, as cron runs them: only inside a user
schedule's window, the job's status as the exit status with -w."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nbcli import clock
from nbcli.net import client
from tests.conftest import Host
from tests.flowkit import add_stu, job, last_jobid

DAY = 86400


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host], tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("usersite")
    master = three_hosts["master"]
    add_stu(master, "disk1", base / "stu")
    master.run("bppolicynew", "users")
    master.run("bpplinfo", "users", "-modify", "-residence", "disk1")
    master.run("bpplclients", "users", "-add", "client", "Linux", "Debian")
    master.run("bpplinclude", "users", "-add", "/")  # selections are the user's own
    for label, st in (("ubak", "UBAK"), ("uarc", "UARC")):
        master.run("bpplsched", "users", "-add", label, "-st", st, "-window", "0", str(DAY))
    master.run("bppolicynew", "nightonly")
    master.run("bpplinfo", "nightonly", "-modify", "-residence", "disk1")
    master.run("bpplclients", "nightonly", "-add", "client", "Linux", "Debian")
    master.run("bpplinclude", "nightonly", "-add", "/")
    master.run("bpplsched", "nightonly", "-add", "late", "-st", "UBAK", "-window",
               str(23 * 3600), "60")  # 23:00-23:01 only
    return three_hosts, base


def test_user_backup_from_the_client_with_wait(site, tmp_path: Path) -> None:
    hosts, _ = site
    files = tmp_path / "mine"
    files.mkdir()
    (files / "notes.txt").write_text("user data")
    log = tmp_path / "progress.log"
    r = hosts["client"].run("bpbackup", "-w", "-L", str(log), str(files))
    assert r.returncode == 0, r.stderr
    master = hosts["master"]
    done = job(master, last_jobid(master))
    assert (done["schedule"], done["subtype"], done["status"]) == ("ubak", 2, 0)
    assert str(files / "notes.txt") in master.run("bplist", "-C", "client", "-R",
                                                  str(files)).stdout
    text = log.read_text()
    assert "Backup Job Id=" in text and text.rstrip().endswith(
        "EXIT STATUS 0: the requested operation was successfully completed")


def test_user_backup_outside_its_window_is_refused(site, tmp_path: Path) -> None:
    hosts, _ = site
    master = hosts["master"]
    t = time.localtime()
    noon = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 12, 0, 0, 0, 0, -1))
    clock.set_test_clock(master.root, fixed=noon)
    try:
        r = hosts["client"].run("bpbackup", "-p", "nightonly", "-s", "late", "-w",
                                str(tmp_path), check=False)
        assert r.returncode == 199
        assert "EXIT STATUS 199: operation not allowed during this time period" in r.stderr
    finally:
        (master.root / "var" / "run" / "testclock").unlink()


def test_a_host_without_user_schedules_gets_198(site, tmp_path: Path) -> None:
    hosts, _ = site
    r = hosts["media"].run("bpbackup", "-w", str(tmp_path), check=False)
    assert r.returncode == 198, r.stderr


def test_archive_deletes_the_files_once_they_are_safe(site, tmp_path: Path) -> None:
    hosts, _ = site
    old = tmp_path / "old"
    old.mkdir()
    for i in range(5):
        (old / f"report{i}.txt").write_text(f"report {i}")
    r = hosts["client"].run("bparchive", "-w", str(old))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in old.iterdir()) == []  # archived, then deleted
    master = hosts["master"]
    done = job(master, last_jobid(master))
    assert (done["schedule"], done["jobtype"], done["status"]) == ("uarc", 1, 0)
    listed = master.run("bplist", "-C", "client", "-R", str(old)).stdout.split()
    assert sorted(listed) == sorted(str(old / f"report{i}.txt") for i in range(5))
    images = client.call(master.cfg, "master", "bpdbm", "image_list", client="client",
                         policy="users")["images"]
    assert any(i["sched_type"] == 3 for i in images)


def test_a_client_restores_only_its_own_files_to_itself(site, tmp_path: Path) -> None:
    hosts, _ = site
    for args in (["-C", "master"], ["-C", "client", "-D", "media"]):
        r = hosts["client"].run("bprestore", *args, "-w", str(tmp_path), check=False)
        assert r.returncode == 135, r.stderr
        assert "EXIT STATUS 135: client is not validated to perform the requested " \
               "operation" in r.stderr
