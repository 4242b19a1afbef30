"""Expiration in the image store: what counts as expired, new expirations, removal that a crash
leaves whole or gone (real image files written by the store, no daemon)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from nbcli import kinds
from nbcli.catalog import expire
from nbcli.catalog.images import ImageStore
from nbcli.daemons.bpdbm import create_fields
from nbcli.status import NbuError
from tests.unit.test_catalog_plan import FULL_SPEC, T0, make_image

WEEK = 7 * 86400


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", logging.getLogger("test"))


def files_of(store: ImageStore, backupid: str) -> list[str]:
    """Every file of an image in the catalog, hidden ones included."""
    ctime = backupid.rsplit("_", 1)[1]
    return sorted(p.name for p in store.root.rglob("*") if p.is_file() and ctime in p.name)


def test_expired_means_at_or_before_now_and_infinity_is_never() -> None:
    assert expire.is_expired({"expiration": T0}, T0)
    assert expire.is_expired({"expiration": T0}, T0 + 1)
    assert not expire.is_expired({"expiration": T0}, T0 - 1)
    assert not expire.is_expired({"expiration": kinds.INFINITY}, kinds.INFINITY + 10 ** 6)


def test_level_9_never_expires_whatever_the_request_says() -> None:
    fields = {"client": "c1", "policy": "p", "sched_type": 0, "backup_time": T0}
    assert create_fields({**fields, "retention_level": 0})["expiration"] == T0 + WEEK
    assert create_fields({**fields, "retention_level": 9})["expiration"] == kinds.INFINITY
    assert create_fields({**fields, "retention_level": 9,
                          "expiration": T0 + 5})["expiration"] == kinds.INFINITY
    # a period configured on the master (bpretlevel) is the one used
    assert create_fields({**fields, "retention_level": 3},
                         lambda level: 3600)["expiration"] == T0 + 3600
    for bad in (-1, kinds.INFINITY + 1):
        with pytest.raises(NbuError) as e:
            create_fields({**fields, "expiration": bad})
        assert e.value.status == 20


def test_find_leaves_out_what_has_expired_only_when_asked(store: ImageStore) -> None:
    old = make_image(store, T0, 0, FULL_SPEC)  # level 1 by default: two weeks
    assert old["expiration"] == T0 + 2 * WEEK
    assert [h["backupid"] for h in store.find("c1")] == [old["backupid"]]
    assert store.find("c1", live_at=T0 + 2 * WEEK - 1)
    assert store.find("c1", live_at=T0 + 2 * WEEK) == []


def test_set_expiration_replaces_the_header_and_nothing_else(store: ImageStore) -> None:
    h = make_image(store, T0, 0, FULL_SPEC)
    before = files_of(store, h["backupid"])
    (stored,) = store.find(backupid=h["backupid"])  # with the fields a header read adds
    changed = store.set_expiration(h["backupid"], T0 + 99)
    assert changed["expiration"] == T0 + 99
    (again,) = store.find(backupid=h["backupid"])
    assert again == {**stored, "expiration": T0 + 99}
    assert files_of(store, h["backupid"]) == before  # no temp file left behind
    with pytest.raises(NbuError) as e:
        store.set_expiration("c1_123", T0)
    assert e.value.status == 227


def test_remove_deletes_header_and_files_file_of_an_expired_image(store: ImageStore) -> None:
    keep = make_image(store, T0 + 5, 0, FULL_SPEC)
    h = make_image(store, T0, 0, FULL_SPEC)
    store.remove(h["backupid"], now=h["expiration"])
    assert files_of(store, h["backupid"]) == []
    assert [x["backupid"] for x in store.find("c1")] == [keep["backupid"]]
    assert len(files_of(store, keep["backupid"])) == 2


def test_remove_refuses_an_image_that_has_not_expired(store: ImageStore) -> None:
    h = make_image(store, T0, 0, FULL_SPEC)
    with pytest.raises(NbuError) as e:
        store.remove(h["backupid"], now=h["expiration"] - 1)
    assert e.value.status == 228
    assert len(files_of(store, h["backupid"])) == 2
    never = make_image(store, T0 + 1, 0, FULL_SPEC)
    store.set_expiration(never["backupid"], kinds.INFINITY)
    with pytest.raises(NbuError):
        store.remove(never["backupid"], now=kinds.INFINITY + 1)


def test_a_crash_mid_removal_leaves_the_image_gone_and_sweep_finishes(tmp_path: Path,
                                                                      store: ImageStore) -> None:
    h = make_image(store, T0, 0, FULL_SPEC)
    (hdr,) = [p for p in store.root.rglob("*") if p.name.endswith("_FULL")]
    # the first act of remove(): the header becomes a tombstone; the .f is still there
    os.replace(hdr, hdr.with_name(expire.tombstone_name(hdr.name)))
    assert store.find("c1") == []
    assert sorted(files_of(store, h["backupid"])) == [expire.tombstone_name(hdr.name),
                                                       hdr.name + ".f"]
    again = ImageStore(tmp_path / "images", logging.getLogger("test"))
    assert again.sweep() == 1
    assert files_of(again, h["backupid"]) == []
    assert again.sweep() == 0


def test_sweep_never_takes_the_files_file_of_a_live_image(tmp_path: Path,
                                                          store: ImageStore) -> None:
    h = make_image(store, T0, 0, FULL_SPEC)
    (hdr,) = [p for p in store.root.rglob("*") if p.name.endswith("_FULL")]
    hdr.with_name(expire.tombstone_name(hdr.name)).write_text("stale\n")
    assert store.sweep() == 1
    assert store.find("c1")[0]["backupid"] == h["backupid"]
    assert sorted(files_of(store, h["backupid"])) == [hdr.name, hdr.name + ".f"]


def test_tombstone_names_round_trip() -> None:
    name = expire.tombstone_name("pol_1700000000_FULL")
    assert name.startswith(".") and expire.header_of_tombstone(name) == "pol_1700000000_FULL"
    for other in ("pol_1700000000_FULL", ".pol_1700000000_FULL.x.tmp", ".deleted"):
        assert expire.header_of_tombstone(other) is None


def test_in_progress_lists_the_images_a_crash_may_leave(store: ImageStore,
                                                        tmp_path: Path) -> None:
    """bpdbm's reaper asks bpjobd about these: (backup id, job id) of each image in progress,
    also after a restart of bpdbm; a complete or aborted image is not one."""
    done = make_image(store, T0, 0, FULL_SPEC)
    left = store.create(create_fields({"client": "c1", "policy": "p", "sched_type": 0,
                                       "backup_time": T0 + 10, "jobid": 7}))
    gone = store.create(create_fields({"client": "c2", "policy": "p", "sched_type": 0,
                                       "backup_time": T0 + 20, "jobid": 8}))
    store.abort(gone["backupid"])
    again = ImageStore(tmp_path / "images", logging.getLogger("test"))
    assert again.in_progress() == [(left["backupid"], 7)]
    again.abort(left["backupid"])
    assert again.in_progress() == [] and files_of(again, left["backupid"]) == []
    assert [h["backupid"] for h in again.find("c1")] == [done["backupid"]]
