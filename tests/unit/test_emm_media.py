"""The EMM's media rules on a real SQLite file: pools and the scratch pool, robots, drives and
media, the choice of a drive and a medium for a tape job, spanning, the media error threshold
(with the clock passed in) and unassigning expired media."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli.catalog import emm_media, emmdb
from nbcli.catalog.emm_media import FROZEN, FULL, SUSPENDED
from nbcli.catalog.emmdb import EmmDB
from nbcli.status import NbuError
from tests.unit.test_emm_db import at_once

HOME = "/nb/volmgr/vtl"
NOW = 1_700_000_000
HOUR = 3600


@pytest.fixture
def db(tmp_path: Path) -> Iterator[EmmDB]:
    """A master with media server media1, a TLD robot 0 with two hcart drives (drnum 0 and
    1) and one TAPE storage unit (4 concurrent jobs) using them."""
    d = EmmDB(tmp_path / "emm" / "emm.db")
    d.add_host("media1", "media")
    d.media.robot_add(0, "tld", "media1", HOME)
    for n in (0, 1):
        d.media.drive_add(f"drive{n}", "media1", "hcart", 0, n, f"{HOME}:{n}")
    d.add_stu(emmdb.check_stu("TAPE", "media1", "", 4, None, 2, 0, "tld", 0, "hcart"))
    yield d
    d.close()


def add(d: EmmDB, media_id: str, slot: int, pool: str = "NetBackup", mtype: str = "hcart",
        rn: int = 0) -> None:
    d.media.media_add(media_id, mtype, NOW, barcode=f"{media_id}L6", pool=pool, rt="tld",
                      rn=rn, slot=slot)


def rec(d: EmmDB, media_id: str) -> dict[str, Any]:
    (found,) = d.media.media(media_id)
    return found


def backup(d: EmmDB, jobid: int, pool: str = "NetBackup", rl: int = 1,
           now: int = NOW) -> dict[str, Any]:
    unit: dict[str, Any] = d.allocate(jobid, "backup", "TAPE", None, now, pool=pool,
                                      rl=rl)["stu"]
    return unit


def status_of(fn: Callable[..., object], *args: Any, **kwargs: Any) -> int:
    with pytest.raises(NbuError) as e:
        fn(*args, **kwargs)
    return e.value.status


# --- pools ----------------------------------------------------------------------------------

def test_default_pools_then_user_pools_numbered_next(db: EmmDB) -> None:
    assert [(p["number"], p["name"]) for p in db.media.pools()] == \
        [(0, "None"), (1, "NetBackup"), (2, "DataStore"), (3, "CatalogBackup")]
    assert db.media.pool_add("Weekly", "weekly fulls") == 4
    assert db.media.pool_add("Scratch") == 5
    weekly = db.media.pools()[4]
    assert weekly == {"number": 4, "name": "Weekly", "description": "weekly fulls",
                      "host": "ANYHOST", "user": "ANY", "group": "NONE", "scratch": False}
    assert status_of(db.media.pool_add, "Weekly") == 226
    assert status_of(db.media.pool_delete, "NetBackup") == 133
    db.media.pool_delete("Weekly")
    assert status_of(db.media.pool_delete, "Weekly") == 167


def test_one_scratch_pool_never_netbackup_or_datastore(db: EmmDB) -> None:
    db.media.pool_add("Scratch")
    db.media.pool_add("Other")
    assert status_of(db.media.pool_scratch, "NetBackup", True) == 133
    assert status_of(db.media.pool_scratch, "DataStore", True) == 133
    db.media.pool_scratch("Scratch", True)
    assert status_of(db.media.pool_scratch, "Other", True) == 226
    assert [p["name"] for p in db.media.pools() if p["scratch"]] == ["Scratch"]
    db.media.pool_scratch("Scratch", False)
    db.media.pool_scratch("Other", True)
    assert [p["name"] for p in db.media.pools() if p["scratch"]] == ["Other"]


# --- robots, drives, media ------------------------------------------------------------------

def test_drives_get_the_lowest_free_index_and_robot_checks(db: EmmDB) -> None:
    assert [(d["index"], d["name"], d["drnum"], d["state"], d["jobid"], d["media_id"])
            for d in db.media.drives()] == [(0, "drive0", 0, "UP", 0, ""),
                                            (1, "drive1", 1, "UP", 0, "")]
    assert status_of(db.media.drive_add, "drive0", "media1", "hcart", 0, 5, "/x") == 226
    assert status_of(db.media.drive_add, "d9", "media1", "hcart", 0, 1, "/x") == 226
    assert status_of(db.media.drive_add, "d9", "media1", "hcart", 7, 3, "/x") == 227
    assert status_of(db.media.drive_add, "d9", "media1", "lto", 0, 3, "/x") == 20
    db.media.drive_delete("drive0", "media1")
    assert db.media.drive_add("drive9", "media1", "hcart", 0, 9, f"{HOME}:9") == 0
    assert status_of(db.media.robot_delete, 0) == 133  # drives first
    assert status_of(db.media.robot_add, 0, "tld", "media1", HOME) == 226
    assert status_of(db.media.robot_add, 1, "acs", "media1", HOME) == 20
    assert db.media.robots() == [{"rn": 0, "rt": "tld", "host": "media1", "device": HOME}]


def test_a_robot_moves_with_its_virtual_drives_but_not_while_one_is_in_use(db: EmmDB) -> None:
    """tpconfig -update -robot N -robpath P: the robot's path, and the drive paths under its
    old one (HOME:N); a drive path of its own stays; refused while a job holds a drive."""
    db.media.drive_update("drive1", "media1", path="/dev/nst1")
    assert db.media.robot_update(0, "/nb/moved/vtl") == 1
    assert db.media.robots()[0]["device"] == "/nb/moved/vtl"
    assert [d["path"] for d in db.media.drives()] == ["/nb/moved/vtl:0", "/dev/nst1"]
    assert status_of(db.media.robot_update, 0, "relative/vtl") == 141
    assert status_of(db.media.robot_update, 5, "/nb/x") == 227
    add(db, "A00001", 1)
    backup(db, 1)  # holds a drive of robot 0
    assert status_of(db.media.robot_update, 0, "/dev/sg5") == 97
    assert db.media.robots()[0]["device"] == "/nb/moved/vtl"


def test_media_add_checks_and_record_keys(db: EmmDB) -> None:
    add(db, "A00001", 1)
    r = rec(db, "a00001")
    assert {k: r[k] for k in ("media_id", "type", "barcode", "pool", "pool_number", "rt", "rn",
                              "slot", "host", "state", "assigned", "rl", "jobid", "density",
                              "created")} == \
        {"media_id": "A00001", "type": "hcart", "barcode": "A00001L6", "pool": "NetBackup",
         "pool_number": 1, "rt": "tld", "rn": 0, "slot": 1, "host": "media1", "state": 0,
         "assigned": 0, "rl": -1, "jobid": 0, "density": "hcart", "created": NOW}
    keys = {"media_id", "type", "barcode", "pool", "pool_number", "rt", "rn", "slot", "host",
            "state", "assigned", "expiration", "last_written", "last_read", "kbytes", "images",
            "vimages", "rl", "mounts", "max_mounts", "errors", "created", "first_mount",
            "last_mount", "description", "jobid"}
    assert keys <= set(r)
    assert status_of(add, db, "A00001", 2) == 226
    assert status_of(add, db, "A00002", 1) == 226  # slot taken
    assert status_of(add, db, "A0000003", 3) == 171
    assert status_of(add, db, "A00003", 3, pool="NoSuch") == 167
    assert status_of(add, db, "A00003", 3, pool="9" * 30) == 167
    assert status_of(add, db, "A00003", 3, rn=4) == 227
    assert status_of(add, db, "A00003", 3, mtype="floppy") == 20
    db.media.media_add("S00001", "hcart", NOW)  # standalone
    assert (rec(db, "S00001")["rt"], rec(db, "S00001")["rn"]) == ("none", -1)
    db.media.media_change("A00001", slot=5)
    assert rec(db, "A00001")["slot"] == 5
    db.media.media_delete("A00001")
    assert status_of(db.media.media, "A00001") == 227


# --- tape allocation ------------------------------------------------------------------------

def test_grant_names_unit_drive_and_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    g = backup(db, 10)
    assert (g["label"], g["stype"], g["library"], g["drive"], g["drive_name"], g["barcode"],
            g["media_id"], g["pool"], g["density"]) == \
        ("TAPE", 2, HOME, 0, "drive0", "A00001L6", "A00001", "NetBackup", "hcart")
    r = rec(db, "A00001")
    assert (r["assigned"], r["rl"], r["jobid"]) == (NOW, 1, 10)
    assert db.media.drives()[0]["jobid"] == 10
    assert backup(db, 10) == g  # asking again: the same grant
    db.release(10)
    assert rec(db, "A00001")["jobid"] == 0 and db.media.drives()[0]["jobid"] == 0
    assert rec(db, "A00001")["assigned"] == NOW  # released, still assigned


def test_assigned_same_retention_first_then_unassigned(db: EmmDB) -> None:
    for n, slot in (("A00001", 1), ("A00002", 2), ("A00003", 3)):
        add(db, n, slot)
    db.media.media_written("A00002", 500, 1, False, 3, NOW + 10, NOW)  # assigned, rl 3
    db.media.media_written("A00003", 900, 1, False, 1, NOW + 10, NOW)  # assigned, rl 1
    assert backup(db, 1, rl=1)["media_id"] == "A00003"
    assert backup(db, 2, rl=2)["media_id"] == "A00001"  # no rl-2 medium: an unassigned one
    db.release(1)
    db.release(2)
    assert backup(db, 3, rl=3)["media_id"] == "A00002"


def test_scratch_medium_moves_to_the_requested_pool(db: EmmDB) -> None:
    db.media.pool_add("Weekly")
    db.media.pool_add("Scratch")
    db.media.pool_scratch("Scratch", True)
    add(db, "S00001", 1, pool="Scratch")
    add(db, "N00001", 2)  # another pool's: never taken
    g = backup(db, 1, pool="Weekly")
    assert (g["media_id"], g["pool"]) == ("S00001", "Weekly")
    assert rec(db, "S00001")["pool_number"] == 4
    assert rec(db, "S00001")["prev_pool_name"] == "Scratch"  # vmquery's previous pool
    assert rec(db, "N00001")["prev_pool_name"] is None  # never moved
    assert status_of(backup, db, 2, pool="Weekly") in (2000, 2001)
    assert status_of(backup, db, 3, pool="NoSuch") == 167


def test_busy_drives_then_down_drives_then_no_media(db: EmmDB) -> None:
    for n, slot in (("A00001", 1), ("A00002", 2), ("A00003", 3)):
        add(db, n, slot)
    backup(db, 1)
    backup(db, 2)
    # Both drives are held: the unit's job slots allow it, the drives do not.
    assert status_of(backup, db, 3) == 2001
    db.release(2)
    db.media.drive_update("drive1", "media1", state="DOWN")
    assert status_of(backup, db, 3) == 2001  # the UP one is busy
    db.release(1)
    db.media.drive_update("drive0", "media1", state="DOWN")
    assert status_of(backup, db, 3) == 2009
    db.media.drive_update("drive0", "media1", state="UP")
    g = backup(db, 3)
    assert g["drive_name"] == "drive0"  # DOWN drive1 never used
    db.release(3)
    for m in ("A00001", "A00002", "A00003"):
        db.media.media_written(m, 1, 1, True, 1, NOW, NOW)  # all FULL
    assert status_of(backup, db, 4) == 2000
    assert db.allocations() == []


def test_drive_holding_the_medium_is_preferred(db: EmmDB) -> None:
    add(db, "A00001", 1)
    db.media.drive_loaded("drive1", "media1", "A00001", NOW)
    g = backup(db, 1)
    assert (g["media_id"], g["drive_name"]) == ("A00001", "drive1")
    assert rec(db, "A00001")["mounts"] == 1


def test_medium_in_a_down_drive_is_not_chosen(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    db.media.media_written("A00001", 100, 1, False, 1, NOW, NOW)
    db.media.drive_loaded("drive1", "media1", "A00001", NOW)
    db.media.drive_update("drive1", "media1", state="DOWN")
    assert backup(db, 1)["media_id"] == "A00002"


def test_restore_names_its_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    db.media.media_written("A00002", 100, 1, False, 1, NOW, NOW)
    db.media.drive_loaded("drive1", "media1", "A00002", NOW)
    g = db.allocate(2, "restore", emmdb.ANY, "media1", NOW, media_id="A00002")["stu"]
    assert (g["label"], g["media_id"], g["drive_name"], g["drive"]) == \
        ("TAPE", "A00002", "drive1", 1)
    assert db.allocations()[0]["media_id"] == "A00002"
    assert rec(db, "A00002")["assigned"] == NOW  # a restore assigns nothing new
    assert rec(db, "A00001")["assigned"] == 0
    # A restore from tape must name its medium; a disk restore goes to disk units only.
    assert status_of(db.allocate, 3, "restore", "TAPE", "media1", NOW) == 219


def test_restore_waits_for_a_medium_in_use_and_reads_a_frozen_one(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    assert backup(db, 1)["media_id"] == "A00001"
    assert status_of(db.allocate, 2, "restore", emmdb.ANY, "media1", NOW,
                     media_id="A00001") == 97
    db.media.media_written("A00002", 100, 1, False, 1, NOW, NOW)
    db.media.media_state("A00002", "freeze")
    g = db.allocate(2, "restore", emmdb.ANY, "media1", NOW, media_id="A00002")["stu"]
    assert (g["media_id"], g["drive_name"]) == ("A00002", "drive1")
    assert status_of(db.allocate, 3, "restore", emmdb.ANY, "media1", NOW,
                     media_id="A00002") == 2001  # both drives busy
    db.release(1)
    assert status_of(db.allocate, 3, "restore", emmdb.ANY, "media1", NOW,
                     media_id="A00002") == 97
    assert status_of(db.allocate, 3, "restore", emmdb.ANY, "media1", NOW,
                     media_id="NOSUCH") == 227


def test_span_marks_full_and_keeps_the_drive(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    g = backup(db, 1)
    db.media.drive_loaded(g["drive_name"], "media1", g["media_id"], NOW)
    nxt = db.span(1, "A00001", NOW + 5)["stu"]
    assert (nxt["media_id"], nxt["drive_name"]) == ("A00002", g["drive_name"])
    assert rec(db, "A00001")["state"] & FULL and rec(db, "A00001")["jobid"] == 0
    assert (rec(db, "A00002")["jobid"], rec(db, "A00002")["rl"]) == (1, 1)
    assert status_of(db.span, 1, "A00002", NOW) == 96
    add(db, "A00003", 3)
    db.media.drive_loaded("drive1", "media1", "A00003", NOW)  # idle drive: can be moved
    assert db.span(1, "A00002", NOW)["stu"]["media_id"] == "A00003"
    assert status_of(db.span, 9, "A00002", NOW) == 227


def test_a_medium_that_could_not_be_mounted_is_left_out_not_marked(db: EmmDB) -> None:
    """span(full=False): the job's medium could not be mounted for writing; another one of the
    pool in the same drive, the refused ones (`avoid`) left out and not marked FULL."""
    for n in (1, 2, 3):
        add(db, f"A0000{n}", n)
    g = backup(db, 1)
    nxt = db.span(1, g["media_id"], NOW, full=False, avoid=[g["media_id"]])["stu"]
    assert nxt["media_id"] != g["media_id"] and nxt["drive_name"] == g["drive_name"]
    assert not rec(db, g["media_id"])["state"] & FULL and rec(db, g["media_id"])["jobid"] == 0
    refused = [g["media_id"], nxt["media_id"]]
    last = db.span(1, nxt["media_id"], NOW, full=False, avoid=refused)["stu"]["media_id"]
    assert last not in refused
    assert status_of(db.span, 1, last, NOW, full=False, avoid=[*refused, last]) == 96


def test_a_medium_taken_unassigned_is_relabelled_an_assigned_one_appended_to(
        db: EmmDB) -> None:
    """The grant says `relabel` when the backup took the medium unassigned (new, or its
    images expired): what is on the tape is no image's any more. Asked again, the same."""
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    g = backup(db, 1)
    assert (g["media_id"], g["relabel"]) == ("A00001", True)
    assert backup(db, 1) == g
    db.media.media_written("A00001", 500, 1, False, 1, NOW + 10, NOW)
    db.release(1)
    again = backup(db, 2)
    assert (again["media_id"], again["relabel"]) == ("A00001", False)
    assert db.span(2, "A00001", NOW)["stu"]["relabel"] is True  # on to unassigned A00002
    db.release(2)
    assert db.media.media_unassign("A00001")  # their last images expired
    assert db.media.media_unassign("A00002")
    third = backup(db, 3)
    assert (third["media_id"], third["relabel"]) == ("A00001", True)


def test_a_medium_taken_unassigned_and_refused_goes_back_where_it_came_from(
        db: EmmDB) -> None:
    """span(full=False) of a medium the job took unassigned (from the scratch pool here):
    nothing was written on it, so it is unassigned again, in its pool; one that was
    assigned before the job stays assigned."""
    db.media.pool_add("Scratch")
    db.media.pool_scratch("Scratch", True)
    for n in (1, 2, 3):
        add(db, f"S0000{n}", n, pool="Scratch")
    g = backup(db, 1)
    assert (g["media_id"], g["pool"]) == ("S00001", "NetBackup")
    nxt = db.span(1, "S00001", NOW, full=False, avoid=["S00001"])["stu"]
    back = rec(db, "S00001")
    assert (back["assigned"], back["rl"], back["pool"]) == (0, -1, "Scratch"), back
    assert (nxt["media_id"], nxt["relabel"]) == ("S00002", True)
    db.media.media_written("S00002", 500, 1, False, 1, NOW + 10, NOW)
    db.release(1)
    assert backup(db, 2)["media_id"] == "S00002"  # assigned now: refused, it stays so
    db.span(2, "S00002", NOW, full=False, avoid=["S00002"])
    kept = rec(db, "S00002")
    assert (kept["assigned"], kept["pool"], kept["images"]) == (NOW, "NetBackup", 1), kept


def test_many_jobs_at_once_never_share_a_drive_or_a_medium(db: EmmDB) -> None:
    for n in range(1, 7):
        add(db, f"A0000{n}", n)

    def ask(jobid: int, ready: Callable[[], object]) -> str:
        ready()
        grant = backup(db, jobid)
        return f"{grant['drive_name']}/{grant['media_id']}"

    results = at_once(12, ask)
    granted = [r for r in results.values() if isinstance(r, str)]
    assert len(granted) == 2 and len({g.split("/")[0] for g in granted}) == 2
    assert len({g.split("/")[1] for g in granted}) == 2
    assert [r for r in results.values() if not isinstance(r, str)] == [2001] * 10
    assert sorted(a["jobid"] for a in db.allocations()) == \
        sorted(j for j, r in results.items() if isinstance(r, str))


# --- the media error threshold ------------------------------------------------------------

def test_third_error_in_the_window_freezes_an_unassigned_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    m = db.media
    assert m.media_error(1, "A00001", "drive0", "write", NOW) == "none"
    assert m.media_error(1, "A00001", "drive0", "write", NOW + HOUR) == "none"
    assert m.media_error(1, "A00001", "drive0", "write", NOW + 2 * HOUR) == "frozen"
    assert rec(db, "A00001")["state"] & FROZEN and rec(db, "A00001")["errors"] == 3


def test_third_error_suspends_a_medium_its_job_just_chose(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    backup(db, 1)  # the allocation assigns it: nothing written yet, it is assigned
    m = db.media
    for t in (0, 1):
        assert m.media_error(1, "A00001", 0, "write", NOW + t * HOUR) == "none"
    assert m.media_error(1, "A00001", 0, "write", NOW + 2 * HOUR) == "suspended"
    db.release(1)
    assert backup(db, 2)["media_id"] == "A00002"  # the retry takes another medium


def test_third_error_suspends_an_assigned_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    backup(db, 1)
    db.media.media_written("A00001", 64, 1, False, 1, NOW + 99, NOW)
    m = db.media
    for t in (0, 1):
        assert m.media_error(1, "A00001", 0, "write", NOW + t * HOUR) == "none"
    assert m.media_error(1, "A00001", 0, "read", NOW + 2 * HOUR) == "suspended"
    assert rec(db, "A00001")["state"] & SUSPENDED


def test_errors_outside_the_window_do_not_count_and_settings_change_it(db: EmmDB) -> None:
    add(db, "A00001", 1)
    m = db.media
    assert m.media_error(1, "A00001", 0, "write", NOW) == "none"
    assert m.media_error(1, "A00001", 0, "write", NOW + 13 * HOUR) == "none"
    assert m.media_error(1, "A00001", 0, "write", NOW + 14 * HOUR) == "none"  # 2 in window
    assert m.settings(threshold=1, window=24) == {"media_error_threshold": 1,
                                                  "drive_error_threshold": 2,
                                                  "time_window": 24}
    assert m.media_error(1, "A00001", 0, "write", NOW + 15 * HOUR) == "frozen"


def test_a_drive_erring_on_different_media_goes_down_at_the_third_error(db: EmmDB) -> None:
    """NetBackup's drive error threshold (2): the third error of one drive in the window,
    on more than one medium, downs the drive; no medium is blamed for it."""
    for n in (1, 2, 3):
        add(db, f"A0000{n}", n)
    m = db.media
    assert m.media_error(1, "A00001", "drive1", "write", NOW) == "none"
    assert m.media_error(2, "A00002", "drive1", "position", NOW + 60) == "none"
    assert m.drives()[1]["state"] == "UP"
    assert m.media_error(3, "A00003", "drive1", "write", NOW + 120) == "drive_down"
    assert m.drives()[1]["state"] == "DOWN"
    assert [rec(db, f"A0000{n}")["state"] for n in (1, 2, 3)] == [0, 0, 0]


def test_one_medium_erring_in_one_drive_is_the_mediums_fault(db: EmmDB) -> None:
    """Three errors of one medium in one drive: the medium's threshold acts, the drive stays
    UP; the drive threshold is a setting of its own."""
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    m = db.media
    for minute in (0, 1):
        assert m.media_error(1, "A00001", "drive0", "write", NOW + 60 * minute) == "none"
    assert m.media_error(1, "A00001", "drive0", "write", NOW + 120) == "frozen"
    assert m.drives()[0]["state"] == "UP"
    assert m.settings(drive_threshold=0)["drive_error_threshold"] == 0
    assert m.media_error(2, "A00002", "drive0", "read", NOW + 180) == "drive_down"


# --- unassign -------------------------------------------------------------------------------

def test_unassign_clears_and_returns_to_scratch(db: EmmDB) -> None:
    db.media.pool_add("Scratch")
    db.media.pool_scratch("Scratch", True)
    add(db, "A00001", 1)
    db.media.media_written("A00001", 100, 2, True, 1, NOW + 99, NOW)
    assert db.media.media_unassign("A00001") is True
    r = rec(db, "A00001")
    assert (r["assigned"], r["rl"], r["kbytes"], r["images"], r["vimages"], r["state"],
            r["pool"], r["prev_pool_name"]) == (0, -1, 0, 0, 0, 0, "Scratch", "NetBackup")
    db.media.media_change("A00001", pool="NetBackup")  # vmchange -p
    assert rec(db, "A00001")["prev_pool_name"] == "Scratch"
    db.media.media_change("A00001", description="same pool")
    assert rec(db, "A00001")["prev_pool_name"] == "Scratch"  # not a move


# --- each image counted once: bptm's report and the catalog's recount ---------------------

def image(backupid: str, kbytes: int = 100, expiration: int = NOW + 99,
          written: int = NOW) -> dict[str, Any]:
    return {"backupid": backupid, "kbytes": kbytes, "expiration": expiration, "rl": 1,
            "written": written}


def counters(d: EmmDB, media_id: str) -> tuple[int, int, int, int]:
    r = rec(d, media_id)
    return r["kbytes"], r["images"], r["vimages"], r["expiration"]


def test_a_report_sent_again_is_not_counted_twice(db: EmmDB) -> None:
    add(db, "A00001", 1)
    assert db.media.media_written("A00001", 100, 1, False, 1, NOW + 99, NOW, "c_1") is True
    assert db.media.media_written("A00001", 100, 1, False, 1, NOW + 99, NOW, "c_1") is False
    assert db.media.media_written("A00001", 50, 1, True, 1, NOW + 9, NOW, "c_2") is True
    assert counters(db, "A00001") == (150, 2, 2, NOW + 99)
    assert rec(db, "A00001")["state"] & FULL


def test_the_recount_counts_what_no_report_did_once(db: EmmDB) -> None:
    """bptm reported c_1 and never c_2 (killed after the commit, nbemm refusing writes):
    the recount counts c_2 alone, and a second recount nothing."""
    add(db, "A00001", 1)
    db.media.media_written("A00001", 100, 1, False, 1, NOW + 99, NOW, "c_1")
    listed = [image("c_1"), image("c_2", kbytes=30, expiration=NOW + 500)]
    assert db.media.media_recount("A00001", listed, NOW + 60, NOW + 60) == \
        {"counted": ["c_2"], "set": True}
    assert counters(db, "A00001") == (130, 2, 2, NOW + 500)
    assert db.media.media_recount("A00001", listed, NOW + 70, NOW + 70)["counted"] == []
    assert counters(db, "A00001") == (130, 2, 2, NOW + 500)
    # c_2's report arrives after all (sent again): still counted once
    assert db.media.media_written("A00001", 30, 1, False, 1, NOW + 500, NOW, "c_2") is False
    assert counters(db, "A00001")[:2] == (130, 2)


def test_the_recount_follows_expired_and_moved_expirations(db: EmmDB) -> None:
    add(db, "A00001", 1)
    for n in (1, 2, 3):
        db.media.media_written("A00001", 10, 1, False, 1, NOW + 100 * n, NOW, f"c_{n}")
    assert counters(db, "A00001") == (30, 3, 3, NOW + 300)
    # c_3 expired (bpexpdate -d 0): two valid images are left, the latest expiring at +200
    db.media.media_recount("A00001", [image("c_1", 10, NOW + 100), image("c_2", 10, NOW + 200)],
                           NOW + 60, NOW + 60)
    assert counters(db, "A00001") == (30, 3, 2, NOW + 200)  # images written stay 3


def test_the_recount_leaves_a_medium_written_since_or_in_use(db: EmmDB) -> None:
    add(db, "A00001", 1)
    db.media.media_written("A00001", 10, 1, False, 1, NOW + 99, NOW + 100, "c_1")
    # the catalog was read at NOW + 50, before c_1 was reported: its valid images stay
    assert db.media.media_recount("A00001", [], NOW + 50, NOW + 60) == \
        {"counted": [], "set": False}
    assert counters(db, "A00001") == (10, 1, 1, NOW + 99)
    # ...but an image it lists that no report counted is counted, as its report would have
    assert db.media.media_recount("A00001", [image("c_0", 5, NOW + 300)], NOW + 100,
                                  NOW + 110) == {"counted": ["c_0"], "set": False}
    assert counters(db, "A00001") == (15, 2, 2, NOW + 300)
    backup(db, 7)  # job 7 writes A00001 now
    assert rec(db, "A00001")["jobid"] == 7
    assert db.media.media_recount("A00001", [image("c_9")], NOW + 200, NOW + 200) == \
        {"counted": [], "set": False}
    assert counters(db, "A00001") == (15, 2, 2, NOW + 300)


def test_a_tape_of_many_images_is_recounted_in_parts(db: EmmDB) -> None:
    """Each part counts its own missing images; the totals of the whole list set the valid
    images and expiration, whatever part comes last."""
    add(db, "A00001", 1)
    first = [image(f"c_{n}", 1, NOW + n) for n in range(3)]
    second = [image(f"c_{n}", 1, NOW + n) for n in range(3, 5)]
    for part in (first, second):
        db.media.media_recount("A00001", part, NOW + 60, NOW + 60, (5, NOW + 4))
    assert counters(db, "A00001") == (5, 5, 5, NOW + 4)


def test_the_cleanup_sends_a_tape_in_parts_with_the_whole_lists_totals(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nbcli.daemons import media_recount

    sent: list[dict[str, Any]] = []

    def call(cfg: Any, host: str, service: str, op: str, **fields: Any) -> dict[str, Any]:
        sent.append(fields)
        return {"counted": [i["backupid"] for i in fields["images"][:1]], "set": True}

    class Cfg:
        client_name = "master"

    class Job:
        lines: list[str] = []

        def line(self, msg: str, severity: str = "Info") -> None:
            self.lines.append(msg)

    monkeypatch.setattr(media_recount.client, "call", call)
    monkeypatch.setattr(media_recount, "PART", 4)
    headers = [{"backupid": f"c_{n}", "expiration": NOW + 10 + n, "backup_time": NOW,
                "retention_level": 1,
                "fragments": [{"media_id": "a00001", "bytes": 2048}]} for n in range(10)]
    job = Job()
    media_recount.recount(Cfg(), job, headers, NOW, touched={"B00002"})  # type: ignore[arg-type]
    assert [(f["media_id"], len(f["images"]), f["valid"], f["expiration"]) for f in sent] == [
        ("A00001", 4, 10, NOW + 19), ("A00001", 4, 10, NOW + 19), ("A00001", 2, 10, NOW + 19),
        ("B00002", 0, 0, 0)]
    assert sent[0]["images"][0] == {"backupid": "c_0", "kbytes": 2, "expiration": NOW + 10,
                                    "rl": 1, "written": NOW}
    assert job.lines == ["media A00001: counted 3 image(s) that bptm never reported: "
                         "c_0, c_4, c_8"]
    assert media_recount.named([f"c_{n}" for n in range(23)]).endswith("c_19 and 3 more")


def test_the_recount_assigns_an_unassigned_medium_holding_valid_images(db: EmmDB) -> None:
    add(db, "A00001", 1)
    db.media.media_recount("A00001", [image("c_1", written=NOW - 5)], NOW, NOW + 1)
    r = rec(db, "A00001")
    assert (r["assigned"], r["rl"], r["images"], r["last_written"]) == (NOW + 1, 1, 1, NOW - 5)


def test_unassigning_forgets_the_counted_images(db: EmmDB) -> None:
    add(db, "A00001", 1)
    db.media.media_written("A00001", 10, 1, False, 1, NOW, NOW, "c_1")
    assert db.media.media_unassign("A00001") is True
    # relabelled and written again: an image of the same name counts on the new tape
    assert db.media.media_written("A00001", 10, 1, False, 1, NOW, NOW, "c_1") is True
    assert counters(db, "A00001")[:2] == (10, 1)


def test_media_counted_before_the_images_were_kept_are_not_counted_again(
        tmp_path: Path) -> None:
    """A database made before media_images: its written media are recounted for their valid
    images and expiration only, never added to; a medium never written is counted."""
    path = tmp_path / "emm.db"
    d = EmmDB(path)
    d.media.media_add("A00001", "hcart", NOW)
    d.media.media_add("A00002", "hcart", NOW)
    d.media.media_written("A00001", 100, 2, False, 1, NOW + 99, NOW)
    d.close()
    as_older_code_left_it(path, "DROP TABLE media_images")
    d = EmmDB(path)
    try:
        both = [image("c_1", 50, NOW + 10), image("c_2", 50, NOW + 20)]
        assert d.media.media_recount("A00001", both, NOW + 60, NOW + 60)["counted"] == []
        assert counters(d, "A00001") == (100, 2, 2, NOW + 20)
        assert d.media.media_recount("A00002", [image("c_3")], NOW + 60, NOW + 60)[
            "counted"] == ["c_3"]
    finally:
        d.close()


def test_each_restore_read_counts_and_dates_the_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    assert (rec(db, "A00001")["restores"], rec(db, "A00001")["last_read"]) == (0, 0)
    db.media.media_read("a00001", NOW)
    db.media.media_read("A00001", NOW + 60)
    assert (rec(db, "A00001")["restores"], rec(db, "A00001")["last_read"]) == (2, NOW + 60)
    assert status_of(db.media.media_read, "A00009", NOW) == 227


def test_unassign_keeps_frozen_and_in_use_media(db: EmmDB) -> None:
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    db.media.media_written("A00001", 100, 2, False, 1, NOW, NOW)
    db.media.media_state("A00001", "freeze")
    assert db.media.media_unassign("A00001") is False
    assert rec(db, "A00001")["assigned"] == NOW
    backup(db, 1)  # takes A00002 (A00001 is frozen)
    assert rec(db, "A00002")["jobid"] == 1
    assert db.media.media_unassign("A00002") is False
    assert db.media.media_unassign("A00002", any_state=True) is False  # in use: never


def test_unassign_whatever_the_state_clears_frozen_and_suspended(db: EmmDB) -> None:
    """bpexpdate -m ID -d 0: NetBackup removes the media record "regardless of the media's
    previous state"; the medium comes back unassigned, its FROZEN or SUSPENDED cleared."""
    for n, action in ((1, "freeze"), (2, "suspend")):
        add(db, f"A0000{n}", n)
        db.media.media_written(f"A0000{n}", 100, 1, True, 1, NOW, NOW)
        db.media.media_state(f"A0000{n}", action)
        assert db.media.media_unassign(f"A0000{n}", any_state=True) is True
        r = rec(db, f"A0000{n}")
        assert (r["assigned"], r["images"], r["state"]) == (0, 0, 0), r


def test_unassign_keeps_a_medium_a_running_job_filled_and_spanned_from(db: EmmDB) -> None:
    """Job 1 filled A00001 and writes on A00002: the image's first fragments on A00001 are
    in no catalog entry yet, so the expiry of A00001's last older image must not give it
    back (the next backup would label it again) until the job has ended."""
    for n in (1, 2, 3):
        add(db, f"A0000{n}", n)
    db.media.media_written("A00001", 100, 1, False, 1, NOW, NOW)  # an older image
    assert backup(db, 1)["media_id"] == "A00001"
    assert db.span(1, "A00001", NOW)["stu"]["media_id"] == "A00002"
    assert db.span(1, "A00002", NOW)["stu"]["media_id"] == "A00003"
    assert rec(db, "A00001")["jobid"] == 0  # no longer the job's medium
    assert db.media.media_unassign("A00001") is False
    assert db.media.media_unassign("A00002") is False
    assert rec(db, "A00001")["assigned"] == NOW
    db.release(1)
    assert db.media.media_unassign("A00001") is True
    db.release(1)
    assert db.media.media_unassign("A00002") is True
    assert rec(db, "A00002")["pool"] == "NetBackup"  # no scratch pool: stays


def test_freeze_needs_an_assigned_medium(db: EmmDB) -> None:
    add(db, "A00001", 1)
    assert status_of(db.media.media_state, "A00001", "suspend") == 95
    assert status_of(db.media.media_delete, "NOSUCH") == 227
    db.media.media_written("A00001", 1, 1, False, 1, NOW, NOW)
    assert status_of(db.media.media_delete, "A00001") == 168
    assert status_of(db.media.media_change, "A00001", pool="None") == 168


# --- storage units and old databases --------------------------------------------------------

def test_tape_storage_unit_rules(db: EmmDB) -> None:
    def tape(**kw: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"label": "T", "host": "media1", "path": "", "cj": 1,
                                "mfs_mb": None, "stype": 2, "odo": 0, "rt": "tld", "rn": 1,
                                "density": "hcart"}
        args.update(kw)
        return emmdb.check_stu(**args)
    assert tape()["mfs_mb"] == emmdb.TAPE_MFS_MAX
    assert status_of(tape, path="/x") == 20
    assert status_of(tape, rt=None) == 20
    assert status_of(tape, density="lto9") == 20
    assert status_of(tape, rn=40000) == 20
    assert status_of(db.add_stu, tape(label="T2", rn=0)) == 226  # robot 0 hcart is TAPE's


def as_older_code_left_it(path: Path, *statements: str) -> None:
    """Run SQL on the database file with no EmmDB open: what an older nbcli left there."""
    old = sqlite3.connect(path)
    for statement in statements:
        old.executescript(statement)
    old.commit()
    old.close()


def test_old_database_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "emm.db"
    as_older_code_left_it(path, emmdb.SCHEMA,
                          "INSERT INTO stus VALUES ('d', 1, 'm', '/d', 1, 20, 0)",
                          "INSERT INTO allocations VALUES (4, 'd', 'backup', 'm', 1)")
    d = EmmDB(path)
    try:
        assert d.allocations() == [{"jobid": 4, "stu": "d", "kind": "backup", "host": "m",
                                    "time": 1, "drive": None, "media_id": None}]
        assert d.stus("d")[0]["density"] is None
        assert emm_media.DEFAULT_SETTINGS == d.media.settings()
    finally:
        d.close()


def test_old_media_table_gains_restores_and_previous_pool(tmp_path: Path) -> None:
    """A media table made before `restores` and `prev_pool`: EmmDB adds them (and the
    trigger that keeps the previous pool) without losing a row."""
    path = tmp_path / "emm.db"
    d = EmmDB(path)
    d.media.media_add("A00001", "hcart", NOW)
    d.close()
    as_older_code_left_it(path, "DROP TRIGGER media_prev_pool",
                          "ALTER TABLE media DROP COLUMN restores",
                          "ALTER TABLE media DROP COLUMN prev_pool")
    d = EmmDB(path)
    try:
        assert (rec(d, "A00001")["restores"], rec(d, "A00001")["prev_pool_name"]) == (0, None)
        d.media.media_read("A00001", NOW)
        d.media.media_change("A00001", pool="DataStore")
        assert (rec(d, "A00001")["restores"], rec(d, "A00001")["prev_pool_name"]) == \
            (1, "NetBackup")
    finally:
        d.close()


# --- the ops, fed well-formed nonsense --------------------------------------------------------

def test_media_ops_answer_well_formed_nonsense_with_a_status(db: EmmDB) -> None:
    """Values of the declared types and bounds that make no sense reach the handlers: each
    answers or refuses with a NetBackup status, never an exception of another kind."""
    import logging
    import random

    from nbcli.daemons.nbemm_media import MediaOps
    from nbcli.wire.schema import Field

    add(db, "A00001", 1)
    ops = MediaOps(lambda: db, logging.getLogger("test"))
    strings = ["", "x", "A00001", "drive0", "NetBackup", "9" * 40, "\x00\x7f", "../x", "tld",
               "hcart", "UP", "DOWN", "freeze", "write", "-1", " ", "é" * 10]
    rng = random.Random(14)

    def value(spec: Field) -> Any:
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        kind = rng.choice(kinds)
        if spec.choices:
            return rng.choice(sorted(spec.choices))
        if kind is bool:
            return rng.random() < 0.5
        if kind is list and spec.items is not None:
            return [value(spec.items) for _ in range(rng.randint(0, 3))]
        if kind is dict and spec.fields is not None:
            return {f: value(s) for f, s in spec.fields.items()}
        if kind is int:
            lo = spec.lo if spec.lo is not None else -(2**63)
            hi = spec.hi if spec.hi is not None else 2**63 - 1
            return rng.choice([lo, hi, 0, 1, -1, 7, 32767])
        return rng.choice(strings)

    class Peer:
        peer = "test"

    for name, entry in sorted(ops.ops().items()):
        for _ in range(60):
            msg = {"op": name, **{f: value(s) for f, s in entry.fields.items()
                                  if s.required or rng.random() < 0.5}}
            try:
                checked = entry.validate(name, msg)
                entry.handler(checked, Peer())  # type: ignore[arg-type]
            except NbuError:
                pass


def test_a_restore_allocation_and_every_release_are_not_synced_a_backup_allocation_is(
        db: EmmDB) -> None:
    """The restore's row and the release commit at synchronous=NORMAL (an OS crash ends
    their jobs; reconcile redoes a lost release); a backup's, which may assign a medium, at
    FULL."""
    add(db, "A00001", 1)
    add(db, "A00002", 2)
    db.media.media_written("A00002", 100, 1, False, 1, NOW, NOW)
    modes: list[str] = []
    db.db.conn.set_trace_callback(
        lambda sql: modes.append(sql.split("=")[1]) if sql.startswith("PRAGMA synchronous=")
        else None)
    db.allocate(2, "restore", emmdb.ANY, "media1", NOW, media_id="A00002")
    assert modes == ["NORMAL", "FULL"]
    assert db.release(2) and modes == ["NORMAL", "FULL"] * 2
    backup(db, 3)
    assert modes == ["NORMAL", "FULL"] * 2  # the backup's: no switch, synced
    (held,) = db.allocations()
    assert held["jobid"] == 3 and rec(db, held["media_id"])["assigned"] == NOW
    db.db.conn.set_trace_callback(None)


# --- nbemmcmd -deletealldevices -------------------------------------------------------------

def test_delete_all_devices_of_a_host(db: EmmDB) -> None:
    db.add_host("media2", "media")
    db.media.drive_add("other", "media2", "hcart", -1, -1, "/dev/other")
    add(db, "A00001", 1)
    assert db.media.delete_host_devices("media1", "media", False) == (2, 0)
    assert [d["name"] for d in db.media.drives()] == ["other"]
    assert [r["rn"] for r in db.media.robots()] == [0]
    assert db.media.delete_host_devices("media1", "media", True) == (0, 1)
    assert db.media.robots() == []
    assert rec(db, "A00001")["rn"] == -1  # its media are standalone now
    assert status_of(db.media.delete_host_devices, "nohost", "media", False) == 227


def test_delete_all_devices_refused_while_a_drive_is_in_use(db: EmmDB) -> None:
    add(db, "A00001", 1)
    backup(db, 7)  # holds a drive
    assert status_of(db.media.delete_host_devices, "media1", "media", True) == 97
    assert len(db.media.drives()) == 2 and len(db.media.robots()) == 1
    db.release(7)
    db.add_host("media2", "media")
    db.media.drive_add("d2", "media2", "hcart", 0, 5, "/dev/d2")  # in media1's robot
    assert status_of(db.media.delete_host_devices, "media1", "media", True) == 133
    assert len(db.media.drives()) == 3 and len(db.media.robots()) == 1  # nothing deleted
    assert db.media.delete_host_devices("media1", "media", False) == (2, 0)
