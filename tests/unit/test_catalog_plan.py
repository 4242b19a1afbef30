"""Point in time and restore plans over real image files written by the store (no daemon)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from nbcli.catalog.imagechain import Part, View, normalize, select_chain
from nbcli.catalog.images import ImageStore
from nbcli.catalog.plan import merge_ranges, restore_plan
from nbcli.daemons.bpdbm import create_fields
from nbcli.status import NbuError

T0 = 1_700_000_000
DAY = 86400

# A simple spec of an image: (path, type, size[, in_image[, link]]) in stream order.
Spec = list[tuple[Any, ...]]


def entries_of(spec: Spec) -> tuple[list[list[Any]], int]:
    """Wire entries with offsets laid out as bpbkar lays them out; and the stream's length."""
    out, offset = [], 0
    for path, kind, size, *rest in spec:
        in_image = rest[0] if rest else 1
        link = rest[1] if len(rest) > 1 else ""
        out.append([path, kind, 0o755 if kind == "5" else 0o644, 0, 0, "root", "root",
                    size if in_image else 0, (T0 + size) * 10**9, T0, offset if in_image else -1,
                    512, link, in_image])
        if in_image:
            offset += 512 + (size + 511) // 512 * 512
    return out, offset + 1024


def make_image(store: ImageStore, when: int, sched: int, spec: Spec, tir: bool = False,
               client: str = "c1", policy: str = "pol") -> dict[str, Any]:
    """Create, fill (two batches) and complete an image, as nbjm and bpbrm would."""
    h = store.create(create_fields({"client": client, "policy": policy, "sched_type": sched,
                                    "backup_time": when, "tir": tir}))
    entries, end = entries_of(spec)
    half = len(entries) // 2
    store.add_files(h["backupid"], entries[:half])
    store.add_files(h["backupid"], entries[half:])
    return store.complete(h["backupid"], {
        "kbytes": end // 1024, "num_files": len(entries), "elapsed": 2, "block_size": 65536,
        "fragments": [{"num": 1, "offset": 0, "bytes": end, "host": "m", "path": "/s/f"}],
        "checksum": "crc32:0123abcd", "stream_bytes": end})


def view_at(store: ImageStore, end: int, start: int = 0, client: str = "c1") -> View:
    chain = select_chain(store.find(client), start, end)
    return View([Part(h, store.files_file(h)) for h in chain])


def listed(view: View, path: str = "/", recursive: bool = True) -> dict[str, str]:
    """path -> backup id of the image its version comes from."""
    out = {}
    for seg in view.listing(path, recursive, 1 << 30):
        cols = view.gather(seg, ["path", "backupid"])
        out.update(zip(cols["path"], cols["backupid"], strict=True))
    return out


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", logging.getLogger("test"))


FULL_SPEC: Spec = [("/d", "5", 0), ("/d/a", "0", 100), ("/d/b", "0", 200), ("/d/c", "0", 300),
                   ("/d/sub", "5", 0), ("/d/sub/x", "0", 10)]


@pytest.fixture
def history(store: ImageStore) -> list[dict[str, Any]]:
    """FULL, then an INCR without TIR (a changed), then an INCR with TIR (b and sub deleted)."""
    return [make_image(store, T0, 0, FULL_SPEC),
            make_image(store, T0 + DAY, 1, [("/d", "5", 0), ("/d/a", "0", 111)]),
            make_image(store, T0 + 2 * DAY, 1, [("/d", "5", 0), ("/d/a", "0", 0, 0),
                                                ("/d/c", "0", 0, 0), ("/d/new", "0", 5)],
                       tir=True)]


def test_chain_is_newest_full_then_the_incrementals_after_it() -> None:
    hs = [{"backup_time": t, "sched_type": s} for t, s in
          [(1, 0), (2, 1), (3, 0), (4, 4), (5, 2), (6, 5), (7, 1), (9, 0)]]
    assert [h["backup_time"] for h in select_chain(hs, 0, 8)] == [3, 4, 5, 7]
    assert [h["backup_time"] for h in select_chain(hs, 0, 2)] == [1, 2]
    assert [h["backup_time"] for h in select_chain(hs, 4, 8)] == [4, 5, 7]  # no full in range
    assert select_chain(hs, 10, 20) == []


def test_point_in_time_without_and_with_tir(store: ImageStore, history: list[dict]) -> None:
    full, incr, tir = (h["backupid"] for h in history)
    assert listed(view_at(store, T0 + 10)) == {
        "/d": full, "/d/a": full, "/d/b": full, "/d/c": full, "/d/sub": full, "/d/sub/x": full}
    # an incremental without TIR: a's new version, nothing deleted
    assert listed(view_at(store, T0 + DAY + 10)) == {
        "/d": incr, "/d/a": incr, "/d/b": full, "/d/c": full, "/d/sub": full, "/d/sub/x": full}
    # the TIR image lists what existed: b and sub (with x) are gone, a and c keep their versions
    assert listed(view_at(store, T0 + 3 * DAY)) == {
        "/d": tir, "/d/a": incr, "/d/c": full, "/d/new": tir}
    assert listed(view_at(store, T0 + 3 * DAY), "/d", recursive=False) == {
        "/d/a": incr, "/d/c": full, "/d/new": tir}
    # a single file is listed as itself; a deleted one is not there
    assert listed(view_at(store, T0 + 3 * DAY), "/d/c", recursive=False) == {"/d/c": full}
    assert listed(view_at(store, T0 + 3 * DAY), "/d/b", recursive=False) == {}


def test_restore_plan_takes_each_path_from_its_image_oldest_first(store: ImageStore,
                                                                   history: list[dict]) -> None:
    plan = restore_plan(view_at(store, T0 + 3 * DAY), ["/d"])
    assert [i["header"]["backupid"] for i in plan["images"]] == [h["backupid"] for h in history]
    full_entries, _ = entries_of(FULL_SPEC)
    c = full_entries[3]
    assert plan["images"][0]["ranges"] == [[c[10], 512 + 512]] and plan["images"][0]["files"] == 1
    assert plan["images"][1]["files"] == 1  # a
    assert plan["images"][2]["files"] == 2  # /d itself and new
    assert plan["missing"] == [] and plan["renames"] == []


def test_one_small_file_of_a_big_image_is_one_small_range(store: ImageStore) -> None:
    spec: Spec = [("/big", "5", 0)] + [(f"/big/f{i:03d}", "0", 4 << 20) for i in range(128)]
    spec.insert(60, ("/big/small", "0", 1024))
    h = make_image(store, T0, 0, spec)
    assert h["stream_bytes"] > 512 << 20
    entries, _ = entries_of(spec)
    small = next(e for e in entries if e[0] == "/big/small")
    plan = restore_plan(view_at(store, T0 + 1), ["/big/small"])
    (image,) = plan["images"]
    # the file's member alone (512 + 1024 bytes): the folders above it are not restored
    assert image["ranges"] == [[small[10], 512 + 1024]]
    assert image["files"] == 1 and image["fragments"] == h["fragments"]
    assert plan["selected"] == [["/big/small", False]]
    assert image["checksum"] == "crc32:0123abcd" and image["block_size"] == 65536


def test_hard_link_without_its_target_reads_the_target_and_renames(store: ImageStore) -> None:
    make_image(store, T0, 0, [("/h", "5", 0), ("/h/data", "0", 2048),
                              ("/h/l1", "1", 0, 1, "/h/data"), ("/h/l2", "1", 0, 1, "/h/data"),
                              ("/h/dangling", "1", 0, 1, "/h/none")])
    entries, _ = entries_of([("/h", "5", 0), ("/h/data", "0", 2048)])
    view = view_at(store, T0 + 1)
    plan = restore_plan(view, ["/h/l1", "/h/l2", "/h/dangling", "/h/absent"])
    assert plan["renames"] == [["/h/data", "/h/l1"]]
    assert sorted(plan["missing"]) == ["/h/absent", "/h/dangling"]
    (image,) = plan["images"]
    # data (read for l1, renamed to it); l1's own header is skipped; l2's is read
    data_at = entries[1][10]
    assert image["files"] == 2
    assert image["ranges"] == [[data_at, 512 + 2048], [data_at + 512 + 2048 + 512, 512]]
    # asking for the target too keeps both links as links
    plan = restore_plan(view, ["/h"])
    assert plan["renames"] == [] and plan["images"][0]["files"] == 5


def test_nothing_found_is_227_and_bad_paths_are_20(store: ImageStore) -> None:
    make_image(store, T0, 0, [("/x", "0", 1)])
    with pytest.raises(NbuError) as e:
        restore_plan(view_at(store, T0 + 1), ["/nope", "/also/not"])
    assert e.value.status == 227
    for bad in ("relative", "", None, 7, "/a\0b"):
        with pytest.raises(NbuError) as e:
            normalize(bad)
        assert e.value.status == 20
    assert normalize("//a//b/") == "/a/b" and normalize("/") == "/"


def test_merge_ranges_joins_touching_and_overlapping_ones() -> None:
    assert merge_ranges([(1024, 512), (0, 512), (512, 512), (4096, 10), (4100, 100)]) == [
        [0, 1536], [4096, 104]]
    assert merge_ranges([]) == []
