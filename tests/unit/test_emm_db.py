"""The EMM database on a real SQLite file: host and storage unit rules, allocation decisions,
atomic allocation under many threads, state kept across a reopen."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli.catalog import emmdb
from nbcli.catalog.emmdb import ANY, EmmDB
from nbcli.status import NbuError


@pytest.fixture
def db(tmp_path: Path) -> Iterator[EmmDB]:
    d = EmmDB(tmp_path / "emm" / "emm.db")
    d.add_host("master1", "master")
    d.add_host("media1", "media", master="master1")
    d.add_host("media2", "media", master="master1")
    yield d
    d.close()


def stu(label: str, host: str = "media1", path: str | None = None, cj: int = 1,
        odo: int = 0, mfs: int = emmdb.MFS_DEFAULT) -> dict[str, Any]:
    return emmdb.check_stu(label, host, path or f"/disk/{label}", cj, mfs, emmdb.BASIC_DISK, odo)


def status_of(fn: Callable[..., object], *args: Any, **kwargs: Any) -> int:
    with pytest.raises(NbuError) as e:
        fn(*args, **kwargs)
    return e.value.status


def test_hosts_add_list_filter_delete(db: EmmDB) -> None:
    assert [(h["name"], h["machinetype"]) for h in db.hosts()] == \
        [("master1", "master"), ("media1", "media"), ("media2", "media")]
    assert status_of(db.add_host, "media1", "media") == 226
    assert db.add_host("media1", "mediaserver", exist_ok=True) is False
    assert db.add_host("master1", "primary", exist_ok=True) is False  # alias of master
    db.add_host("nas1", "ndmp", version="10.1.1")
    assert db.hosts(machinetype="ndmp") == [{"name": "nas1", "machinetype": "ndmp",
                                             "master": "", "version": "10.1.1", "os": "",
                                             "state": 0}]
    assert [h["machinetype"] for h in db.hosts(name="media1")] == ["media"]
    db.delete_host("nas1", "ndmp")
    assert db.hosts(name="nas1") == []
    assert status_of(db.delete_host, "nas1", "ndmp") == 227


@pytest.mark.parametrize("args, status", [
    (("h1", "robot"), 20),                       # unknown machine type
    (("bad name", "media"), 20),                 # blanks would break raw lines
    (("-h", "media"), 20),                       # would read as an option
    (("h" * 129, "media"), 225),                 # too long
])
def test_bad_hosts_are_refused(db: EmmDB, args: tuple[str, str], status: int) -> None:
    assert status_of(db.add_host, *args) == status
    assert len(db.hosts()) == 3


def test_bad_version_or_master_is_refused(db: EmmDB) -> None:
    assert status_of(db.add_host, "h1", "media", version="ten") == 20
    assert status_of(db.add_host, "h1", "media", master="a b") == 20
    assert db.hosts(name="h1") == []


def test_storage_unit_add_list_delete(db: EmmDB) -> None:
    db.add_stu(stu("b", path="/disk/b/", cj=3))
    db.add_stu(stu("a", host="media2", odo=1, mfs=1024))
    units = db.stus()
    assert [u["label"] for u in units] == ["a", "b"]
    assert units[1] == {"label": "b", "stype": 1, "host": "media1", "path": "/disk/b", "cj": 3,
                        "mfs_mb": 524288, "odo": 0, "jobs": 0, "rt": None, "rn": None,
                        "density": None}
    assert db.stus("a")[0]["mfs_mb"] == 1024 and db.stus("a")[0]["odo"] == 1
    assert status_of(db.stus, "zz") == 227
    db.delete_stu("a")
    assert status_of(db.delete_stu, "a") == 227
    assert [u["label"] for u in db.stus()] == ["b"]


def test_storage_unit_conflicts(db: EmmDB) -> None:
    db.add_stu(stu("a"))
    assert status_of(db.add_stu, stu("a", path="/other")) == 226          # same label
    assert status_of(db.add_stu, stu("b", path="/disk/a")) == 226         # same destination
    db.add_stu(stu("c", host="media2", path="/disk/a"))                   # other host: fine
    assert status_of(db.add_stu, stu("d", host="master1")) == 2101        # not a media host
    assert status_of(db.add_stu, stu("e", host="ghost")) == 2101
    assert [u["label"] for u in db.stus()] == ["a", "c"]


@pytest.mark.parametrize("kwargs, status", [
    ({"path": "relative/dir"}, 141),
    ({"path": '/with"quote'}, 20),
    ({"path": "/new\nline"}, 20),
    ({"cj": -1}, 20),
    ({"mfs_mb": 19}, 20),
    ({"mfs_mb": 524289}, 20),
    ({"stype": 6}, 20),
    ({"odo": 2}, 20),
    ({"label": "two words"}, 20),
    ({"label": "x" * 200}, 225),
])
def test_bad_storage_unit_values(kwargs: dict[str, Any], status: int) -> None:
    values = {"label": "s", "host": "media1", "path": "/d", "cj": 1, "mfs_mb": 100,
              "stype": 1, "odo": 0, **kwargs}
    assert status_of(emmdb.check_stu, **values) == status


def test_named_backup_allocation_counts_to_cj_and_release_frees(db: EmmDB) -> None:
    db.add_stu(stu("a", cj=2))
    first = db.allocate(1, "backup", "a", None, 100)
    assert first["host"] == "media1" and first["stu"]["label"] == "a"
    assert first["stu"]["jobs"] == 1
    db.allocate(2, "backup", "a", None, 101)
    assert status_of(db.allocate, 3, "backup", "a", None, 102) == 2040
    assert db.stus("a")[0]["jobs"] == 2
    assert [(a["jobid"], a["stu"], a["kind"], a["host"], a["time"]) for a in db.allocations()] \
        == [(1, "a", "backup", "media1", 100), (2, "a", "backup", "media1", 101)]
    assert db.release(1) is True
    assert db.release(1) is False  # idempotent
    assert db.allocate(3, "backup", "a", None, 103)["stu"]["label"] == "a"


def test_a_job_asking_again_gets_the_allocation_it_holds(db: EmmDB) -> None:
    db.add_stu(stu("a", cj=1))
    db.allocate(7, "backup", "a", None, 1)
    again = db.allocate(7, "backup", "a", None, 2)
    assert again["stu"]["jobs"] == 1 and len(db.allocations()) == 1


def test_any_picks_the_unit_with_fewest_jobs_and_skips_on_demand_only(db: EmmDB) -> None:
    assert status_of(db.allocate, 1, "backup", ANY, None, 1) == 213
    db.add_stu(stu("odo", cj=5, odo=1))
    assert status_of(db.allocate, 1, "backup", ANY, None, 1) == 2111
    db.add_stu(stu("a", cj=2))
    db.add_stu(stu("b", host="media2", cj=2))
    picked = [db.allocate(j, "backup", ANY, None, j)["stu"]["label"] for j in range(1, 5)]
    assert picked == ["a", "b", "a", "b"]
    assert status_of(db.allocate, 5, "backup", ANY, None, 5) == 2040
    db.release(2)
    assert db.allocate(5, "backup", ANY, None, 5)["stu"]["label"] == "b"
    # a unit that is on demand only is still used when named
    assert db.allocate(6, "backup", "odo", None, 6)["stu"]["label"] == "odo"


def test_unusable_units(db: EmmDB) -> None:
    db.add_stu(stu("zero", cj=0))
    assert status_of(db.allocate, 1, "backup", "zero", None, 1) == 2045
    assert status_of(db.allocate, 1, "backup", ANY, None, 1) == 2045
    assert status_of(db.allocate, 1, "backup", "nope", None, 1) == 219
    db.add_stu(stu("m2", host="media2"))
    db.delete_host("media2", "media")
    assert status_of(db.allocate, 1, "backup", "m2", None, 1) == 2101
    assert status_of(db.allocate, 1, "copy", "m2", None, 1) == 20
    assert db.allocations() == []


def test_restore_needs_a_unit_on_the_media_server_of_the_image(db: EmmDB) -> None:
    db.add_stu(stu("a", cj=1))
    db.add_stu(stu("b", host="media2", cj=1))
    assert status_of(db.allocate, 1, "restore", ANY, "ghost", 1) == 2101
    assert status_of(db.allocate, 1, "restore", ANY, None, 1) == 2101
    assert status_of(db.allocate, 1, "restore", "a", "media2", 1) == 219
    got = db.allocate(1, "restore", ANY, "media2", 1)
    assert (got["stu"]["label"], got["host"]) == ("b", "media2")
    assert status_of(db.allocate, 2, "restore", "b", "media2", 2) == 2040
    assert status_of(db.allocate, 2, "restore", ANY, "master1", 2) == 2101
    db.add_host("media3", "media")
    assert status_of(db.allocate, 2, "restore", ANY, "media3", 2) == 219
    assert db.allocations()[0]["kind"] == "restore"


def at_once(count: int, ask: Callable[[int, Callable[[], object]], str]) -> dict[int, object]:
    """Run ask(jobid, ready) for jobids 1..count, each on its own thread; each calls ready()
    just before its request, which lets them all go at the same moment. Returns, per jobid,
    the label granted or the status refused."""
    barrier = threading.Barrier(count)
    results: dict[int, object] = {}

    def run(jobid: int) -> None:
        try:
            results[jobid] = ask(jobid, barrier.wait)
        except NbuError as e:
            results[jobid] = e.status

    threads = [threading.Thread(target=run, args=(j,)) for j in range(1, count + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_many_threads_never_get_more_than_cj(db: EmmDB) -> None:
    db.add_stu(stu("a", cj=3))

    def ask(jobid: int, ready: Callable[[], object]) -> str:
        ready()
        return str(db.allocate(jobid, "backup", "a", None, jobid)["stu"]["label"])

    results = at_once(40, ask)
    granted = sorted(j for j, r in results.items() if r == "a")
    assert len(results) == 40 and len(granted) == 3
    assert sorted(set(results.values()), key=str) == [2040, "a"]
    assert [a["jobid"] for a in db.allocations()] == granted
    db.release(granted[0])
    assert db.allocate(99, "backup", "a", None, 99)["stu"]["jobs"] == 3


def test_state_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "emm.db"
    first = EmmDB(path)
    first.add_host("m", "media")
    first.add_stu(stu("a", host="m", cj=2))
    first.allocate(5, "restore", "a", "m", 50)
    first.close()
    again = EmmDB(path)
    try:
        assert again.stus("a")[0]["jobs"] == 1
        assert again.allocations() == [{"jobid": 5, "stu": "a", "kind": "restore", "host": "m",
                                         "time": 50, "drive": None, "media_id": None}]
        assert again.hosts() == [{"name": "m", "machinetype": "media", "master": "",
                                  "version": "", "os": "", "state": 0}]
    finally:
        again.close()


def test_a_failing_database_is_status_220(db: EmmDB) -> None:
    # The shared database layer (sqlitedb) says 220 for any SQLite failure: a full disk, a
    # file it may not write (here).
    db.db.conn.execute("PRAGMA query_only=ON")
    assert status_of(db.add_stu, stu("full")) == 220
    db.db.conn.execute("PRAGMA query_only=OFF")
    assert [s["label"] for s in db.stus()] == []


def test_update_rename_and_aliases(db: EmmDB) -> None:
    edits = db.host_edits
    edits.update("media1", "media", None, "10.2", "Linux")
    assert db.hosts(name="media1")[0] == {"name": "media1", "machinetype": "media",
                                          "master": "master1", "version": "10.2", "os": "Linux",
                                          "state": 0}
    assert status_of(edits.update, "ghost", "media", "m", None, None) == 227
    db.add_stu(stu("d1"))
    edits.add_alias("media1", "media", "m1")
    assert status_of(edits.add_alias, "media2", "media", "m1") == 226  # another's alias
    assert status_of(edits.add_alias, "media2", "media", "media1") == 226  # a host's name
    # NetBackup refuses a name in use: a host of any type, or an alias.
    assert status_of(edits.rename, "media1", "media2", "media") == 226
    assert status_of(edits.rename, "media1", "master1", "media") == 226
    assert status_of(edits.rename, "media2", "m1", "media") == 226
    assert status_of(edits.rename, "ghost", "new", "media") == 227
    edits.rename("media1", "media1.lan", "media")
    assert [h["name"] for h in db.hosts(machinetype="media")] == ["media1.lan", "media2"]
    assert db.stus("d1")[0]["host"] == "media1.lan"  # its storage unit follows
    assert edits.aliases("media1.lan", "media") == ["m1"]
    assert status_of(edits.delete_alias, "media1.lan", "media", "nope") == 227
    edits.delete_alias("media1.lan", "media", "m1")
    assert edits.aliases("media1.lan", "media") == []
    edits.add_alias("media2", "media", "m2")
    db.delete_host("media2", "media")
    db.add_host("media2", "media")
    assert edits.aliases("media2", "media") == []  # deleting a host deletes its aliases


def test_hosts_table_gains_os_column(tmp_path: Path) -> None:
    path = tmp_path / "emm.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE hosts (name TEXT NOT NULL, machinetype TEXT NOT NULL, "
                "master TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '', "
                "PRIMARY KEY (name, machinetype))")
    old.execute("INSERT INTO hosts VALUES ('m', 'master', '', '9.1')")
    old.commit()
    old.close()
    d = EmmDB(path)
    try:
        assert d.hosts() == [{"name": "m", "machinetype": "master", "master": "",
                              "version": "9.1", "os": "", "state": 0}]
    finally:
        d.close()


# --- machine states (nbemmcmd -updatehost -machinestateop) ------------------------------------

def test_paused_or_disabled_media_server_gets_no_new_allocation(db: EmmDB) -> None:
    db.add_stu(stu("D1", "media1", cj=4))
    db.add_stu(stu("D2", "media2", cj=4))
    assert db.allocate(1, "backup", "D1", None, 0)["host"] == "media1"
    assert db.host_edits.update("media1", "media", None, None, None, "set_admin_pause") == 1
    # the running job keeps its allocation; a new one on media1 waits (2104), *ANY* goes on
    assert [a["jobid"] for a in db.allocations()] == [1]
    assert status_of(db.allocate, 2, "backup", "D1", None, 0) == 2104
    assert db.allocate(3, "backup", ANY, None, 0)["host"] == "media2"
    assert db.host_edits.update("media1", "media", None, None, None, "set_disabled") == 5
    assert db.host_edits.update("media1", "media", None, None, None, "clr_admin_pause") == 4
    assert status_of(db.allocate, 2, "backup", "D1", None, 0) == 2104
    assert db.host_edits.update("media1", "media", None, None, None, "reset_all") == 0
    assert db.allocate(2, "backup", "D1", None, 0)["host"] == "media1"


def test_machine_state_persists_and_refusals_change_nothing(db: EmmDB, tmp_path: Path) -> None:
    db.host_edits.update("media2", "media", None, None, None, "set_master_pause")
    assert status_of(db.host_edits.update, "master1", "master", None, None, None,
                     "set_admin_pause") == 20
    assert status_of(db.host_edits.update, "media1", "media", None, None, None, "pause") == 20
    assert status_of(db.host_edits.update, "nohost", "media", None, None, None,
                     "set_disabled") == 227
    db.close()
    again = EmmDB(tmp_path / "emm" / "emm.db")
    try:
        assert {h["name"]: h["state"] for h in again.hosts()} == \
            {"master1": 0, "media1": 0, "media2": 2}
    finally:
        again.close()


def test_old_database_gains_the_state_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE hosts (name TEXT NOT NULL, machinetype TEXT NOT NULL, "
                  "master TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '', "
                  "PRIMARY KEY (name, machinetype))")
        c.execute("INSERT INTO hosts (name, machinetype) VALUES ('m1', 'media')")
    c.close()
    d = EmmDB(path)
    try:
        assert d.hosts()[0]["state"] == 0 and d.hosts()[0]["os"] == ""
    finally:
        d.close()
