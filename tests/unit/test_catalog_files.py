"""The .f format: what goes in comes out, whatever the names; torn and damaged files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nbcli.catalog.fcatwrite import FilesWriter, scan
from nbcli.catalog.files import ENTRY_FIELDS, FilesFile, split_path
from nbcli.status import NbuError


def entry(path: str, kind: str = "0", offset: int = 0, size: int = 10, link: str = "",
          in_image: int = 1, uid: int = 1000, uname: str = "alice") -> list[Any]:
    return [path, kind, 0o640, uid, 50, uname, "staff", size, 1_700_000_000_987_654_321,
            1_699_999_999, offset, 1024, link, in_image]


def write(path: Path, *batches: list[list[Any]]) -> FilesFile:
    w = FilesWriter.create(path)
    for b in batches:
        w.add(b)
    w.finish()
    w.close()
    return FilesFile(path)


def read_all(ff: FilesFile) -> list[list[Any]]:
    rows = []
    for block in ff.blocks():
        cols = [ff.column(block, name) for name in ENTRY_FIELDS]
        rows += [list(r) for r in zip(*cols, strict=True)]
    return rows


ODD = ["/", "/data", "/data/with space", "/data/new\nline", "/data/\udcff\udcfebytes",
       "/data/ünïcödé", "/data/tab\there"]


def test_entries_round_trip_with_odd_names_links_and_owners(tmp_path: Path) -> None:
    entries = [entry("/", "5", size=0), entry("/data", "5", 1024, 0)]
    entries += [entry(p, offset=2048 + 2048 * i, uid=i, uname=f"u{i}")
                for i, p in enumerate(ODD[2:])]
    entries += [entry("/data/sym", "2", 20000, 0, link="../tab\there"),
                entry("/data/hard", "1", 21024, 0, link="/data/with space"),
                entry("/data/gone", "0", -1, 0, in_image=0)]
    ff = write(tmp_path / "x.f", entries)
    assert read_all(ff) == entries
    assert ff.count == len(entries)
    assert ff.users == {1000: "alice", 0: "u0", 1: "u1", 2: "u2", 3: "u3", 4: "u4"}
    assert ff.groups == {50: "staff"}
    assert sorted(ff.by_dir) == ["", "/", "/data"]


def test_a_folder_split_over_batches_has_several_blocks_read_in_order(tmp_path: Path) -> None:
    first = [entry("/a", "5", 0, 0)] + [entry(f"/a/f{i}", offset=1024 * i) for i in range(1, 4)]
    second = [entry(f"/a/f{i}", offset=1024 * i) for i in range(4, 7)] + [
        entry("/a/sub", "5", 7168, 0), entry("/a/sub/x", offset=8192)]
    ff = write(tmp_path / "x.f", first, second)
    blocks = ff.blocks_of("/a")
    assert len(blocks) == 2
    assert [p for b in blocks for p in b.paths()] == [f"/a/f{i}" for i in range(1, 7)] + ["/a/sub"]
    assert [b.paths() for b in ff.blocks_of("/a/sub")] == [["/a/sub/x"]]
    assert ff.blocks_of("/nowhere") == []


def test_split_path_puts_root_in_a_pseudo_folder() -> None:
    assert split_path("/") == ("", "/")
    assert split_path("/etc") == ("/", "etc")
    assert split_path("/etc/hosts") == ("/etc", "hosts")


@pytest.mark.parametrize("bad", [
    "not a list", [["/x", "0"]], [entry("relative/x")], [entry("/x/")], [entry("/x//y")],
    [entry("/x", kind="9")], [entry("/x", uname=None)], [entry("/x", uid=-1)],
    [entry("/x", size=1 << 70)], [entry("/x", offset=-5)], [entry("/x\0y")],
    [[*entry("/x")[:2], 0o17777, *entry("/x")[3:]]], [[*entry("/x")[:7], 1.5, *entry("/x")[8:]]],
])
def test_malformed_entries_are_223_and_leave_nothing_behind(tmp_path: Path, bad: Any) -> None:
    w = FilesWriter.create(tmp_path / "x.f")
    w.add([entry("/ok")])
    size = os.path.getsize(tmp_path / "x.f")
    with pytest.raises(NbuError) as e:
        w.add(bad)
    assert e.value.status == 223
    assert os.path.getsize(tmp_path / "x.f") == size
    assert w.count == 1


def test_scan_rebuilds_an_in_progress_file_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "x.f.inprogress"
    w = FilesWriter.create(path)
    w.add([entry("/a", "5", 0, 0), entry("/a/b", offset=1024, size=5000, uid=7, uname="bob")])
    good = os.path.getsize(path)
    w.close()
    with open(path, "ab") as f:
        f.write(b"DIRB\x05\x00\x00\x00garbage")  # a crash in the middle of an append
    w = scan(path)
    assert (w.count, w.data_end, w.max_end) == (2, good, 1024 + 1024 + 5120)
    assert w.users == {1000: "alice", 7: "bob"}
    w.add([entry("/a/c", offset=8192)])
    w.finish()
    w.finish()  # a retried completion replaces the index, it does not add a second one
    w.close()
    ff = FilesFile(path)
    assert [r[0] for r in read_all(ff)] == ["/a", "/a/b", "/a/c"]
    assert ff.users[7] == "bob"


def test_a_file_without_index_or_with_damage_is_status_220(tmp_path: Path) -> None:
    path = tmp_path / "x.f"
    w = FilesWriter.create(path)
    w.add([entry("/a")])
    with pytest.raises(NbuError) as e:
        FilesFile(path)  # in progress: no trailer yet
    assert e.value.status == 220
    w.finish()
    w.close()
    data = bytearray(path.read_bytes())
    data[-30:-20] = b"\xff" * 10  # the index's end and the trailer
    path.write_bytes(bytes(data))
    with pytest.raises(NbuError) as e:
        FilesFile(path)
    assert e.value.status == 220
    (tmp_path / "empty.f").write_bytes(b"")
    with pytest.raises(NbuError) as e:
        FilesFile(tmp_path / "empty.f")
    assert e.value.status == 220
