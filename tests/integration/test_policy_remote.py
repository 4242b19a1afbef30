"""Policy, client-attribute, global-attribute and retention commands from other hosts: they ask
bpdbm on the master (-M master, or the first SERVER of bp.toml) and print what it answers.

Four hosts, each its own root and loopback address, so every request crosses TCP and the
master tells callers apart by address: the master (127.0.0.1), a media server (127.0.0.2), a
client the master lists as a SERVER (127.0.0.3, an administration host as in NetBackup), and
an outsider (127.0.0.4) that names the master but that the master does not list. Only the
master runs daemons: the commands of the others need nothing of their own host.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config, multihost, programs
from nbcli.net import client as net
from nbcli.status import exit_line
from tests.conftest import Host
from tests.unit.test_catalog_plan import FULL_SPEC, entries_of

LAYOUT = [*multihost.LAYOUT, ("outsider", "127.0.0.4", ["client"])]
# What every host must print the same: each policy, client, global and retention listing.
LISTINGS = [["bppllist"], ["bppllist", "web", "-U"], ["bppllist", "-allpolicies", "-L"],
            ["bpplinfo", "web", "-L"], ["bpplinfo", "web", "-l"], ["bpplinclude", "web", "-U"],
            ["bpplclients", "web"], ["bpplsched", "web", "-L"], ["bpclient", "-All", "-L"],
            ["bpclient", "-client", "db01", "-l"], ["bpconfig", "-U"], ["bpconfig", "-l"],
            ["bpretlevel", "-L"]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    base = tmp_path_factory.mktemp("remote")
    hosts = {s.name: Host(s) for s in multihost.create(base, layout=LAYOUT)}
    master_cfg = config.load(hosts["master"].root)
    config.apply_settings(master_cfg, {"SERVER": ["client"]}, add=True)
    master_cfg.save()
    try:
        hosts["master"].start()
        # the other hosts run no daemon, but their commands reach the master in TLS
        multihost.enrol([h.spec for h in hosts.values()])
        yield hosts
    finally:
        hosts["master"].stop()
        assert hosts["master"].processes() == []


def policy_state(master: Host) -> dict[str, bytes]:
    """Every file bpdbm keeps for these commands, lock files aside."""
    db = master.cfg.paths.db
    return {str(p.relative_to(db)): p.read_bytes()
            for base in (db / "class", db / "client", db / "config")
            for p in sorted(base.rglob("*")) if p.is_file() and not p.name.endswith("lock")}


def test_commands_from_the_client_change_and_show_the_masters_policies(
        site: dict[str, Host]) -> None:
    master, admin, media = site["master"], site["client"], site["media"]
    admin.run("bppolicynew", "web", "-M", "master")
    admin.run("bppolicynew", "web2", "-sameas", "web", "-M", "master")
    admin.run("bpplinfo", "web", "-modify", "-priority", "7", "-keyword", "nightly", "-M", "master")
    admin.run("bpplclients", "web", "-add", "web01", "Linux", "RedHat", "-M", "master")
    admin.run("bpplinclude", "web", "-add", "/etc", "/var/www", "-M", "master")
    admin.run("bpplsched", "web", "-add", "full", "-st", "FULL", "-rl", "3", "-window", "3600",
              "7200", "-M", "master")
    admin.run("bpplschedrep", "web", "full", "-freq", "86400", "-M", "master")
    admin.run("bpclient", "-client", "db01", "-add", "-max_jobs", "4", "-M", "master")
    admin.run("bpclient", "-client", "db01", "-update", "-offline_backup", "-M", "master")
    admin.run("bpconfig", "-mj", "6", "-M", "master")
    admin.run("bpretlevel", "-r", "4", "-p", "40", "-M", "master")
    media.run("bpplinclude", "web", "-add", "/srv")  # the media server's first SERVER: master

    info = master.run("bpplinfo", "web", "-L").stdout
    assert "Policy Priority:        7" in info and "Keyword:                nightly" in info
    assert master.run("bpplinclude", "web", "-l").stdout.split("\n")[:-1] == \
        ["INCLUDE /etc", "INCLUDE /var/www", "INCLUDE /srv"]
    assert "Frequency:      1 day(s) (86400 seconds)" in master.run("bpplsched", "web",
                                                                     "-L").stdout
    for argv in LISTINGS:
        on_master = master.run(*argv).stdout
        assert on_master, argv
        assert admin.run(*argv, "-M", "master").stdout == on_master, argv
        assert admin.run(*argv).stdout == on_master, argv  # the first SERVER by default
        assert media.run(*argv).stdout == on_master, argv


def test_errors_come_back_with_the_masters_status(site: dict[str, Host]) -> None:
    admin = site["client"]
    admin.run("bppolicynew", "errs", "-M", "master")
    for status, argv in ((230, ["bpplinfo", "ghost", "-L"]), (226, ["bppolicynew", "errs"]),
                         (197, ["bpplsched", "errs", "-label", "none"]),
                         (227, ["bpplinclude", "errs", "-delete", "/nothing"]),
                         (227, ["bpclient", "-client", "nobody", "-L"]),
                         (20, ["bpretlevel", "-r", "9", "-p", "3"]),
                         (25, ["bppllist", "-M", "media"])):  # no bpdbm there
        r = admin.run(*argv, *([] if "-M" in argv else ["-M", "master"]), check=False)
        assert r.returncode == status and r.stderr.rstrip().endswith(exit_line(status)), \
            (argv, r.stderr)
        assert "Traceback" not in r.stderr


def test_concurrent_includes_from_two_hosts_all_land(site: dict[str, Host]) -> None:
    master, admin = site["master"], site["client"]
    admin.run("bppolicynew", "busy", "-M", "master")

    def add(host: Host, path: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(programs.argv_for("bpplinclude") + ["busy", "-add", path,
                                                                    "-M", "master"],
                                env=host.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    procs = [add(admin if n % 2 else master, f"/d{n}") for n in range(10)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    includes = master.run("bpplinclude", "busy", "-l").stdout.split()[1::2]
    assert sorted(includes) == sorted(f"/d{n}" for n in range(10))


def test_a_host_the_master_does_not_list_may_neither_read_nor_write(
        site: dict[str, Host]) -> None:
    """Policies are admin data (issue 12): a host outside SERVER gets 46 for reads too."""
    master, outsider = site["master"], site["outsider"]
    master.run("bppolicynew", "kept")
    before = policy_state(master)
    for argv in (["bppolicynew", "intruder"], ["bppolicynew", "kept", "-renameto", "gone"],
                 ["bpplinclude", "kept", "-add", "/etc/shadow"],
                 ["bpplinfo", "kept", "-modify", "-inactive"],
                 ["bpplclients", "kept", "-add", "evil", "Linux", "RedHat"],
                 ["bpplsched", "kept", "-add", "s"], ["bpclient", "-client", "x", "-add"],
                 ["bpconfig", "-mj", "9"], ["bpretlevel", "-r", "3", "-p", "1"]):
        r = outsider.run(*argv, "-M", "master", check=False)
        assert r.returncode == 46 and r.stderr.rstrip().endswith(exit_line(46)), \
            (argv, r.stderr)
    assert policy_state(master) == before
    r = outsider.run("bppllist", "-M", "master", check=False)
    assert r.returncode == 46 and r.stdout == "", r.stderr


def test_bpimagelist_names_the_configured_retention_period(site: dict[str, Host]) -> None:
    master, admin = site["master"], site["client"]
    admin.run("bpretlevel", "-r", "3", "-p", "45", "-M", "master")
    backupid = make_image(master, level=3)
    long = master.run("bpimagelist", "-backupid", backupid, "-L").stdout
    assert "Retention Level:   45 days (3)" in long
    assert admin.run("bpimagelist", "-backupid", backupid, "-L").stdout == long
    # The level keeps its name when its period is the default one.
    admin.run("bpretlevel", "-r", "3", "-p", "31", "-M", "master")
    assert "Retention Level:   1 month (3)" in \
        master.run("bpimagelist", "-backupid", backupid, "-L").stdout


def make_image(master: Host, level: int) -> str:
    """A complete image in the master's catalog, made as nbjm and bpbrm make one."""
    cfg = master.cfg
    when = int(time.time()) - 60
    backupid = net.call(cfg, "master", "bpdbm", "image_create", client="client", policy="web",
                        policy_type=0, sched_label="full", sched_type=0,
                        retention_level=level, backup_time=when, jobid=1, stu="disk1",
                        media_server="media", keyword="", tir=False)["backupid"]
    entries, end = entries_of(FULL_SPEC)
    net.call(cfg, "master", "bpdbm", "image_add_files", backupid=backupid, entries=entries)
    net.call(cfg, "master", "bpdbm", "image_complete", backupid=backupid,
             kbytes=end // 1024, num_files=len(entries), elapsed=3,
             fragments=[{"num": 1, "offset": 0, "bytes": end, "host": "media",
                         "path": str(Path("/stu") / "f1")}],
             checksum="crc32:89abcdef", block_size=65536, stream_bytes=end)
    return str(backupid)


def test_a_list_of_masters_runs_on_each_in_turn_and_stops_at_the_first_failure(
        site: dict[str, Host]) -> None:
    """NetBackup's -M master_server,...: each master in turn; the first failure ends it."""
    admin = site["client"]
    admin.run("bppolicynew", "multi", "-M", "master")
    names = admin.run("bppllist", "-M", "master").stdout
    assert admin.run("bppllist", "-M", "master,master").stdout == names * 2
    # media runs no bpdbm: master's listing is printed, then media's failure ends the command
    r = admin.run("bppllist", "-M", "master,media,master", check=False)
    assert r.returncode == 25 and r.stdout == names, r.stderr
    assert r.stderr.rstrip().endswith(exit_line(25)) and "Traceback" not in r.stderr
    r = admin.run("bpplinfo", "multi", "-modify", "-priority", "77", "-M", "master,media",
                  check=False)
    assert r.returncode == 25  # the change landed on master before media failed
    assert admin.run("bpplinfo", "multi", "-l", "-M", "master").stdout.split()[4] == "77"
