"""Retention and expiration for real: images made by bpbackup on three hosts, the master's clock
moved by the test clock, and bpimagelist, bplist, bprestore, bpexpdate, bpimage and bpdbjobs run
as commands against them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import clock, kinds
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, rename_file

DAY, WEEK = 86400, 7 * 86400
POLICIES = {"week": "0", "month": "3", "forever": "9"}  # policy -> retention level


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Host], Path]]:
    base = tmp_path_factory.mktemp("expiry")
    master = three_hosts["master"]
    data = base / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\n")
    (data / "b.txt").write_text("beta\n")
    add_stu(master, "disk1", base / "stu")
    for name, level in POLICIES.items():
        add_policy(master, name, "disk1", ["client"], [str(data)])
        master.run("bpplschedrep", name, "full", "-rl", level)
    yield three_hosts, base
    for h in three_hosts.values():
        (h.root / "var" / "run" / "testclock").unlink(missing_ok=True)


def at(hosts: dict[str, Host], when: int) -> None:
    """Every host's clock stands at `when`."""
    for h in hosts.values():
        clock.set_test_clock(h.root, fixed=when)


def backup(master: Host, policy: str) -> str:
    """A full backup of `policy` through the whole flow; its backup id."""
    r = master.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w", check=False)
    assert r.returncode == 0, r.stderr
    return str(newest(master, kinds.JOB_BACKUP)["backupid"])


def newest(master: Host, jobtype: int) -> dict:
    """The newest job of a type: with the clock moved, a periodic Image Cleanup job may
    have started since, so the newest job of all may not be the one the test ran."""
    jobs = client.call(master.cfg, master.name, "bpjobd", "job_list")["jobs"]
    return job(master, next(j["jobid"] for j in jobs if j["jobtype"] == jobtype))


def listed(master: Host, backupid: str) -> bool:
    r = master.run("bpimagelist", "-backupid", backupid, "-l", check=False)
    assert r.returncode in (0, 227), r.stderr
    return r.returncode == 0


def expiration(master: Host, backupid: str) -> int:
    return int(master.run("bpimagelist", "-backupid", backupid, "-l").stdout.split()[15])


def disk_files(base: Path, backupid: str) -> list[str]:
    return sorted(p.name for p in (base / "stu").glob(f"{backupid}_C1_*"))


def catalog_files(master: Host, backupid: str) -> list[str]:
    """The image's files in the master's catalog, hidden ones (tombstones) included."""
    ctime = backupid.rsplit("_", 1)[1]
    return sorted(p.name for p in (master.root / "netbackup/db/images/client").rglob("*")
                  if f"_{ctime}_" in p.name)


def cleanup(master: Host, expect: int = 0) -> dict:
    """`bpimage -cleanup -allclients` as a command; the Image Cleanup job it ran."""
    r = master.run("bpimage", "-cleanup", "-allclients", check=False)
    assert r.returncode == expect, r.stderr
    return cleanup_jobs(master)[0]


def cleanup_jobs(master: Host) -> list[dict]:
    """Image Cleanup jobs, newest first."""
    jobs = client.call(master.cfg, master.name, "bpjobd", "job_list")["jobs"]
    return [j for j in jobs if j["jobtype"] == kinds.JOB_IMAGE_CLEANUP]


def details(master: Host, jobid: int) -> str:
    return master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout


def test_a_week_retention_image_expires_exactly_at_its_expiration(site, tmp_path: Path) -> None:
    hosts, base = site
    master = hosts["master"]
    t = int(time.time())
    at(hosts, t)
    week = backup(master, "week")
    month, forever = backup(master, "month"), backup(master, "forever")
    expires = expiration(master, week)
    backup_time = int(week.rsplit("_", 1)[1])
    assert expires == backup_time + WEEK
    assert expiration(master, forever) == kinds.INFINITY
    frags = disk_files(base, week)
    assert frags and len(catalog_files(master, week)) == 2

    # one second before: everything is there, and a cleanup leaves it alone
    at(hosts, expires - 1)
    first = cleanup(master)
    assert (first["state"], first["status"]) == (kinds.DONE, 0)
    assert listed(master, week)
    assert str(base / "data" / "a.txt") in master.run("bplist", "-C", "client", "-R",
                                                      str(base / "data")).stdout

    # at the expiration: no listing, no restore - before any cleanup has run
    at(hosts, expires)
    assert not listed(master, week)
    r = master.run("bplist", "-C", "client", "-k", "week", "-R", str(base / "data"),
                   check=False)
    assert r.returncode == 227, r.stdout + r.stderr
    r = master.run("bprestore", "-C", "client", "-t", "0", "-s",
                   time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(backup_time)), "-e",
                   time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(backup_time)), "-w",
                   str(base / "data" / "a.txt"), check=False)
    assert r.returncode == 227, r.stderr
    assert disk_files(base, week) == frags and len(catalog_files(master, week)) == 2

    # the cleanup job removes fragments and catalog files, and says so
    done = cleanup(master)
    assert (done["state"], done["status"], done["closed"]) == (kinds.DONE, 0, True)
    assert disk_files(base, week) == [] and catalog_files(master, week) == []
    assert f"removed image {week}" in details(master, done["jobid"])
    assert f"removed image {month}" not in details(master, done["jobid"])
    report = master.run("bpdbjobs").stdout.splitlines()
    row = next(line for line in report if line.split()[0] == str(done["jobid"]))
    assert "Image Cleanup" in row and "Done" in row
    for other in (month, forever):
        assert listed(master, other) and disk_files(base, other)

    # a month on, the month image goes; a never-expiring one stays even past 2038
    at(hosts, expires + 31 * DAY)
    cleanup(master)
    assert not listed(master, month) and disk_files(base, month) == []
    at(hosts, kinds.INFINITY + DAY)
    cleanup(master)
    assert listed(master, forever) and disk_files(base, forever)
    assert len(catalog_files(master, forever)) == 2


def test_bpexpdate_changes_dates_and_d0_removes_at_once(site) -> None:
    hosts, base = site
    master = hosts["master"]
    at(hosts, int(time.time()))
    bid = backup(master, "week")

    later = "12/25/2031 10:30:00"
    master.run("bpexpdate", "-backupid", bid, "-d", *later.split(), "-force")
    assert expiration(master, bid) == int(time.mktime(time.strptime(later,
                                                                    "%m/%d/%Y %H:%M:%S")))
    master.run("bpexpdate", "-backupid", bid, "-client", "client", "-d", "infinity", "-force")
    assert expiration(master, bid) == kinds.INFINITY

    # asked, and not confirmed: nothing changes
    for answer in ("n\n", "", "maybe\n"):
        r = master.run("bpexpdate", "-backupid", bid, "-d", "0", input=answer, check=False)
        assert r.returncode == 150, r.stderr
        assert r.stdout.startswith(f"Are you SURE you want to delete {bid} y/n (n)?")
        assert "EXIT STATUS 150" in r.stderr
        assert listed(master, bid) and expiration(master, bid) == kinds.INFINITY
        assert disk_files(base, bid) and len(catalog_files(master, bid)) == 2

    r = master.run("bpexpdate", "-backupid", bid, "-d", "0", input="y\n")
    assert not listed(master, bid)
    assert disk_files(base, bid) == [] and catalog_files(master, bid) == []
    done = cleanup_jobs(master)[0]
    assert (done["state"], done["status"]) == (kinds.DONE, 0)
    assert f"removed image {bid}" in details(master, done["jobid"])

    # bad requests: NetBackup's statuses, nothing touched
    for argv, status in ((["-backupid", bid, "-d", "0", "-force"], 227),
                         (["-backupid", "client_12345", "-d", "0", "-force"], 227),
                         (["-backupid", bid, "-d", "13/45/2030", "-force"], 109),
                         (["-d", "0", "-force"], 20),
                         (["-backupid", bid, "-policy", "week", "-d", "0"], 20)):
        r = master.run("bpexpdate", *argv, check=False)
        assert r.returncode == status, (argv, r.stderr)
        assert f"EXIT STATUS {status}" in r.stderr and "Traceback" not in r.stderr


def test_bpexpdate_policy_and_client_expire_every_image_of_them(site) -> None:
    hosts, base = site
    master = hosts["master"]
    at(hosts, int(time.time()))
    ids = [backup(master, "month"), backup(master, "month")]
    keep = backup(master, "week")
    r = master.run("bpexpdate", "-policy", "month", "-client", "nobody", "-d", "0", "-force",
                   check=False)
    assert r.returncode == 227
    r = master.run("bpexpdate", "-policy", "month", "-client", "client", "-d", "0",
                   input="n\n", check=False)
    assert r.returncode == 150
    assert "the 2 image(s) of policy month and client client" in r.stdout
    master.run("bpexpdate", "-policy", "month", "-client", "client", "-d", "0", "-force")
    for bid in ids:
        assert not listed(master, bid) and disk_files(base, bid) == []
        assert catalog_files(master, bid) == []
    assert listed(master, keep) and disk_files(base, keep)


def test_an_unreachable_media_server_keeps_the_catalog_entry(site) -> None:
    hosts, base = site
    master, media = hosts["master"], hosts["media"]
    t = int(time.time())
    at(hosts, t)
    cleanup(master)  # the interval counts from here: no periodic job before the one we ask
    bid, now = backup(master, "week"), backup(master, "forever")
    media.stop()
    try:
        r = master.run("bpexpdate", "-backupid", now, "-d", "0", "-force", check=False)
        assert r.returncode == 1 and "EXIT STATUS 1" in r.stderr, r.stderr
        assert not listed(master, now) and len(catalog_files(master, now)) == 2
        at(hosts, t + WEEK + DAY)
        assert not listed(master, bid)
        r = master.run("bpimage", "-cleanup", "-allclients", check=False)
        assert r.returncode == 1 and "image cleanup job" in r.stderr, r.stderr
        failed = cleanup_jobs(master)[0]
        assert (failed["state"], failed["status"]) == (kinds.DONE, 1)
        text = details(master, failed["jobid"])
        assert f"image {bid} stays in the catalog" in text and "media" in text
        for image in (bid, now):
            assert len(catalog_files(master, image)) == 2 and disk_files(base, image)
    finally:
        media.start()
    done = cleanup(master)
    assert done["status"] == 0
    for image in (bid, now):
        assert f"removed image {image}" in details(master, done["jobid"])
        assert catalog_files(master, image) == [] and disk_files(base, image) == []


def test_the_cleanup_runs_by_itself_every_interval_of_the_clock(site) -> None:
    hosts, base = site
    master = hosts["master"]
    t = int(time.time())
    at(hosts, t)
    cleanup(master)  # the last cleanup was at t
    bid = backup(master, "week")
    at(hosts, t + WEEK + DAY)  # more than an interval (12 hours by default) later
    wait_for(lambda: catalog_files(master, bid) == [], what="the periodic cleanup")
    assert disk_files(base, bid) == []
    job_ = next(j for j in cleanup_jobs(master) if f"removed image {bid}"
                in details(master, j["jobid"]))
    # The files go before the job ends: wait for its status, not just its work.
    wait_for(lambda: job(master, job_["jobid"])["state"] == kinds.DONE, what="the job's end")
    job_ = job(master, job_["jobid"])
    assert job_["started"] == t + WEEK + DAY and job_["status"] == 0


def test_the_interval_is_bpconfigs_cleanup_interval(site) -> None:
    hosts, base = site
    master = hosts["master"]
    t = int(time.time())
    at(hosts, t)
    bid = backup(master, "week")
    # nbjm keeps a client's backup times unique: after a quick earlier test, this one's may
    # be a second or two past t. The margins below are a second: count from the image's.
    t = int(bid.rsplit("_", 1)[1])
    at(hosts, t + WEEK - 3600)
    cleanup(master)  # the last cleanup: one hour before the image expires
    master.run("bpconfig", "-cleanup_int", "1")
    try:
        at(hosts, t + WEEK + 1)  # an hour and a second later: one interval of 1 hour
        wait_for(lambda: catalog_files(master, bid) == [], what="the periodic cleanup")
    finally:
        master.run("bpconfig", "-cleanup_int", "12")
    assert disk_files(base, bid) == []


def test_only_a_server_may_expire_images(site) -> None:
    hosts, _ = site
    master, other = hosts["master"], hosts["client"]
    at(hosts, int(time.time()))
    bid = backup(master, "week")
    for argv in (["bpexpdate", "-backupid", bid, "-d", "0", "-force", "-M", "master"],
                 ["bpimage", "-cleanup", "-allclients", "-M", "master"]):
        r = other.run(*argv, check=False)
        assert r.returncode == 46, r.stderr
    assert listed(master, bid)


def test_a_backup_in_the_same_second_as_the_last_restores_at_once(site, tmp_path: Path) -> None:
    """Backup IDs are unique, so the second backup within one second of a client is given the
    next second - a moment the clock has not reached. A restore as of now must still find it."""
    hosts, base = site
    master = hosts["master"]
    at(hosts, int(time.time()) + 30 * DAY)
    (base / "data" / "a.txt").write_text("as in the first backup\n")
    backup(master, "forever")
    (base / "data" / "a.txt").write_text("alpha\n")
    backup(master, "forever")
    listed = json.loads(master.run("bpimagelist", "-policy", "forever", "-json").stdout)
    second, first = (int(h["backup_time"]) for h in listed["images"][:2])
    assert second == first + 1
    (base / "data" / "a.txt").write_text("changed after both backups\n")
    dest = tmp_path / "same_second"
    ren = rename_file(tmp_path / "ren", [(base / "data", dest)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(base / "data"),
                   check=False)
    (base / "data" / "a.txt").write_text("alpha\n")
    assert r.returncode == 0, r.stderr
    assert newest(master, kinds.JOB_RESTORE)["status"] == 0
    assert (dest / "a.txt").read_text() == "alpha\n"
