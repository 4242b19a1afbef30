"""Finding orphaned fragments: what a disk unit lists (disk.stored_images, DiskStorage.image_ids),
bpbrm's `list` answer, and which listed images the Image Cleanup takes for orphans
(cleanup_orphans). The whole flow, with real daemons: tests/integration/test_orphan_cleanup.py."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nbcli.catalog.images import ImageStore
from nbcli.daemons import cleanup
from nbcli.daemons.bpdbm import create_fields
from nbcli.daemons.cleanup_orphans import GRACE, Stored, Unit, disk_units, orphans, read_listing
from nbcli.media import disk, storage
from nbcli.media.bpbrm_list import listing
from nbcli.status import (
    CANNOT_CONNECT,
    INVALID_PARAMETER,
    INVALID_PROTOCOL,
    MEDIA_OPEN_ERROR,
    NbuError,
)


def touch(path: Path, mtime: float, data: bytes = b"x") -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_a_disk_unit_lists_each_image_with_its_newest_write(tmp_path: Path) -> None:
    touch(tmp_path / "client_100_C1_F1", 1000)
    touch(tmp_path / "client_100_C1_F2", 3000)
    touch(tmp_path / "client_100_C1_HDR", 2000)
    touch(tmp_path / "my.host-a_200_C1_F1", 5000)  # a partial image: fragments, no header
    touch(tmp_path / "c_300_C1_HDR", 7000)         # a header whose fragments are gone
    assert disk.stored_images(tmp_path) == {"client_100": 3000, "my.host-a_200": 5000,
                                            "c_300": 7000}


def test_files_that_are_not_image_pieces_are_not_listed(tmp_path: Path) -> None:
    for name in ("notes.txt", "client_100_C1_F0", "client_100_C2_F1", "client_C1_F1",
                 ".client_100_C1_HDR.tmp", "client_100_C1_Fx", "client_100_C1_HDR.bak",
                 "-x_100_C1_F1"):
        touch(tmp_path / name, 1000)
    (tmp_path / "dir_100_C1_F1").mkdir()  # a folder
    (tmp_path / "link_100_C1_F1").symlink_to(tmp_path / "notes.txt")  # a link: not ours
    assert disk.stored_images(tmp_path) == {}


def test_image_ids_of_a_unit_that_is_not_there_is_83(tmp_path: Path) -> None:
    unit = storage.open_unit({"stype": storage.BASIC_DISK, "label": "d",
                              "path": str(tmp_path / "unmounted")})
    with pytest.raises(NbuError) as e:
        unit.image_ids()
    assert e.value.status == MEDIA_OPEN_ERROR
    assert storage.open_unit({"label": "d", "path": str(tmp_path)}).image_ids() == {}


def test_bpbrm_lists_ids_with_written_time_and_age(tmp_path: Path) -> None:
    touch(tmp_path / "c_2_C1_F1", 2000)
    touch(tmp_path / "c_1_C1_F1", 1000)
    got = listing({"label": "d", "stype": 1, "path": str(tmp_path)}, now=5000.0)
    assert got == [{"backupid": "c_1", "written": 1000.0, "age": 4000.0},
                   {"backupid": "c_2", "written": 2000.0, "age": 3000.0}]
    # a write in the media server's future (a clock stepped back) is age 0, not negative
    assert listing({"path": str(tmp_path)}, now=1500.0)[0]["age"] == 500.0
    assert listing({"path": str(tmp_path)}, now=0.0)[1]["age"] == 0.0


@pytest.mark.parametrize("stu, status", [("d", INVALID_PARAMETER),
                                         ({"path": "relative"}, INVALID_PARAMETER),
                                         ({"stype": 99, "path": "/x"}, INVALID_PARAMETER),
                                         ({"path": "/no/such/folder"}, MEDIA_OPEN_ERROR)])
def test_bpbrm_list_of_a_bad_unit_is_a_status(stu: object, status: int) -> None:
    with pytest.raises(NbuError) as e:
        listing(stu, 0.0)
    assert e.value.status == status


def test_only_unknown_unwritten_old_images_are_orphans() -> None:
    stored = [Stored("c_1", GRACE * 5), Stored("c_2", GRACE * 5), Stored("c_3", GRACE * 5),
              Stored("c_4", GRACE - 1), Stored("c_5", GRACE)]
    old, fresh = orphans(stored, known={"c_1"}, writing={"c_2"})
    assert [s.backupid for s in old] == ["c_3", "c_5"]  # c_5: exactly the grace period old
    assert [s.backupid for s in fresh] == ["c_4"]
    assert orphans(stored, known={"c_1", "c_2", "c_3", "c_4", "c_5"}, writing=()) == ([], [])


def test_a_partial_image_has_no_grace_but_a_writer_or_an_entry_still_keeps_it() -> None:
    """An image whose entry in progress the cleanup removed (its job ended) goes at once;
    the partial set never overrides an entry in the catalog or an open job's id."""
    stored = [Stored("c_1", 1.0), Stored("c_2", 1.0), Stored("c_3", 1.0), Stored("c_4", 1.0)]
    old, fresh = orphans(stored, known={"c_2"}, writing={"c_3"}, partial={"c_1", "c_2", "c_3"})
    assert [s.backupid for s in old] == ["c_1"]
    assert [s.backupid for s in fresh] == ["c_4"]


def test_disk_units_are_the_disk_ones_once_per_folder() -> None:
    stus = [{"label": "a", "stype": 1, "host": "m1", "path": "/stu/a"},
            {"label": "a2", "stype": 1, "host": "m1", "path": "/stu/a"},  # the same folder
            {"label": "b", "stype": 1, "host": "m2", "path": "/stu/a"},   # another server's
            {"label": "t", "stype": 2, "host": "m1", "path": ""}]         # tape: not asked
    assert disk_units(stus) == [Unit("m1", "a", "/stu/a"), Unit("m2", "b", "/stu/a")]


def test_a_listing_that_failed_or_cannot_be_read_is_an_error() -> None:
    assert read_listing({"op": "done", "status": 0, "images": [
        {"backupid": "c_1", "written": 1.0, "age": 7.5}]}) == [Stored("c_1", 7.5)]
    with pytest.raises(NbuError) as e:
        read_listing({"op": "done", "status": 83, "msg": "folder /x is not there"})
    assert e.value.status == MEDIA_OPEN_ERROR
    for garbage in ({"status": 0}, {"status": 0, "images": [{"backupid": "c_1"}]},
                    {"status": 0, "images": [{"backupid": "c_1", "age": "old"}]},
                    {"status": 0, "images": 5}):
        with pytest.raises(NbuError) as e:
            read_listing(garbage)
        assert e.value.status == INVALID_PROTOCOL


class FakeJob:
    jobid = 7

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def line(self, msg: str, severity: str = "Info") -> None:
        self.lines.append((severity, msg))


STUS = [{"label": "a", "stype": 1, "host": "m1", "path": "/a"},
        {"label": "b", "stype": 1, "host": "m2", "path": "/b"}]


def fake_sweep(monkeypatch: pytest.MonkeyPatch, listings: dict[str, object],
               jobs: object, failed: dict[str, str] | None = None
               ) -> tuple[int, FakeJob, list[tuple[str, list[str]]]]:
    """cleanup_orphans.sweep against fake nbemm, bpbrm listings (per host: images or an
    error) and bpjobd; what it asked bpbrm to delete."""
    from nbcli.daemons import cleanup_orphans as co

    def call(cfg: object, host: str, service: str, op: str, **kw: object) -> object:
        if service == "nbemm":
            return {"stus": STUS}
        if isinstance(jobs, NbuError):
            raise jobs
        return {"jobs": jobs}

    def list_unit(cfg: object, unit: Unit, jobid: int) -> list[Stored]:
        got = listings[unit.host]
        if isinstance(got, NbuError):
            raise got
        assert isinstance(got, list)
        return got

    asked: list[tuple[str, list[str]]] = []

    def delete(host: str, entries: list[dict], jobid: int) -> tuple[dict, dict]:
        asked.append((host, [e["backupid"] for e in entries]))
        bad = failed or {}
        return ({e["backupid"]: 2 for e in entries if e["backupid"] not in bad},
                {k: v for k, v in bad.items() if k in [e["backupid"] for e in entries]})

    monkeypatch.setattr(co.client, "call", call)
    monkeypatch.setattr(co, "list_unit", list_unit)
    monkeypatch.setattr(co.events, "send", lambda *a, **k: None)
    job = FakeJob()
    cfg = SimpleNamespace(client_name="master")
    stays = co.sweep(cfg, job, lambda: {"c_1"}, delete)  # type: ignore[arg-type]
    return stays, job, asked


def test_sweep_deletes_per_unit_and_a_unit_that_cannot_be_listed_is_a_warning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    old = GRACE * 2
    stays, job, asked = fake_sweep(
        monkeypatch, {"m1": [Stored("c_1", old), Stored("c_2", old), Stored("c_3", old)],
                      "m2": NbuError(MEDIA_OPEN_ERROR, "folder /b is not there")},
        jobs=[{"jobid": 5, "backupid": "c_3"}, {"jobid": 6}])
    assert stays == 0
    assert asked == [("m1", ["c_2"])]  # c_1 in the catalog, c_3 an open job's
    assert any(s == "Warning" and "not looked for on m2:/b" in m and "is not there" in m
               for s, m in job.lines)
    assert any(m.startswith("removed orphaned image c_2 from storage unit a (m1:/a)")
               for _, m in job.lines)


def test_sweep_removes_nothing_when_the_jobs_cannot_be_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stays, job, asked = fake_sweep(monkeypatch, {"m1": [Stored("c_2", GRACE * 2)], "m2": []},
                                   jobs=NbuError(CANNOT_CONNECT, "bpjobd is down"))
    assert (stays, asked) == (0, [])
    assert any(s == "Warning" and "not removed" in m for s, m in job.lines)


def test_an_orphan_bpbrm_did_not_remove_counts_as_staying(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stays, job, asked = fake_sweep(
        monkeypatch, {"m1": [Stored("c_2", GRACE * 2), Stored("c_4", GRACE * 2)], "m2": []},
        jobs=[], failed={"c_4": "permission denied (status 11)"})
    assert stays == 1 and asked == [("m1", ["c_2", "c_4"])]
    assert ("Error", "orphaned image c_4 on m1:/a stays: permission denied (status 11)") \
        in job.lines


def test_partial_images_are_those_of_closed_jobs_and_of_unknown_ones_an_hour_old(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images in progress against bpjobd's answer: job 1 closed (partial), job 2 open (kept),
    job 3 unknown to bpjobd but written a minute ago (kept: a request made by hand may still
    be adding files), job 4 unknown and untouched for more than GRACE (partial); nothing at
    all while bpjobd cannot answer."""
    store = ImageStore(tmp_path / "images", logging.getLogger("test"))
    ids = {}
    for jobid in (1, 2, 3, 4):
        h = store.create(create_fields({"client": "c", "policy": "p", "sched_type": 0,
                                        "backup_time": 1_700_000_000 + jobid, "jobid": jobid}))
        ids[jobid] = h["backupid"]
    old = time.time() - GRACE - 60
    for p in store.root.rglob(f"*{ids[4].rsplit('_', 1)[1]}*"):
        os.utime(p, (old, old))
    bpjobd: dict[str, Any] = {"jobs": [{"jobid": 1, "closed": True},
                                       {"jobid": 2, "closed": False}]}

    def call(cfg: object, host: object, service: str, op: str, **fields: Any) -> dict:
        assert (service, op, fields["jobids"]) == ("bpjobd", "job_list", [1, 2, 3, 4])
        if isinstance(bpjobd, NbuError):
            raise bpjobd
        return bpjobd

    monkeypatch.setattr(cleanup.client, "call", call)
    cfg = SimpleNamespace(client_name="m")
    job_cleanup = cleanup.Cleanup(lambda: cfg, store, logging.getLogger("test"))  # type: ignore
    assert job_cleanup.partial_images() == {ids[1]: 1, ids[4]: 4}
    bpjobd = NbuError(25, "bpjobd is down")  # type: ignore[assignment]
    assert job_cleanup.partial_images() is None
