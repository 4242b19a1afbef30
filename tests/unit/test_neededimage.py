"""The neededimage file: its lines, which fragments a plan needs, and the mount order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbcli.catalog import neededimage
from nbcli.catalog.neededimage import Needed
from nbcli.status import INVALID_ENTRY, NbuError

BS = 262144


def frag(num: int, offset: int, nbytes: int, media: str, file_num: int, block: int,
         host: str = "media", **extra: Any) -> dict[str, Any]:
    path = f"tape:{media}:{file_num}:{block}:{BS}:0000abcd" if media else f"/stu/x_F{num}"
    return {"num": num, "path": path, "host": host, "offset": offset, "bytes": nbytes, **extra}


def image(backupid: str, fragments: list[dict[str, Any]],
          ranges: list[list[int]]) -> dict[str, Any]:
    return {"header": {"backupid": backupid}, "fragments": fragments, "block_size": BS,
            "ranges": ranges}


def test_lines_round_trip_and_header() -> None:
    entries = [Needed("A00001", "client_100", 1, 1, 1, 3, BS, "media", "hcart"),
               Needed("A00002", "client_100", 1, 2, 1, 3, BS, "media2", "-")]
    text = neededimage.format_lines(entries)
    assert text.splitlines()[0] == neededimage.HEADER
    assert text.splitlines()[1] == f"A00001 client_100 1 1 1 3 {BS} media hcart"
    assert neededimage.parse(text) == entries


@pytest.mark.parametrize("line", ["A00001 client_100 1 1 1 3 262144 media",       # 8 fields
                                  "A00001 client_100 1 x 1 3 262144 media hcart",  # not a number
                                  "A00001 client_100 1 0 1 3 262144 media hcart",  # fragment 0
                                  "A00001 client_100 1 1 1 3 0 media hcart"])      # block size 0
def test_a_bad_line_is_223_naming_it(line: str) -> None:
    with pytest.raises(NbuError) as e:
        neededimage.parse(f"# comment\n{line}\n")
    assert e.value.status == INVALID_ENTRY
    assert "line 2" in str(e.value)


def test_tape_fields_from_the_locator_or_the_catalog_fields() -> None:
    assert neededimage.tape_fields(frag(1, 0, 10, "A00001", 4, 11)) == ("A00001", 4, 11, BS)
    own = {"path": "", "media_id": "B00002", "file_num": 7, "block_offset": 20,
           "block_size": 65536}
    assert neededimage.tape_fields(own) == ("B00002", 7, 20, 65536)
    assert neededimage.tape_fields(frag(1, 0, 10, "", 0, 0)) is None
    with pytest.raises(NbuError):
        neededimage.tape_fields({"path": "tape:A00001:x"})


def test_only_fragments_holding_requested_bytes_in_read_order() -> None:
    # image 1 spans two media: fragment 1 (bytes 0..1000) on A, fragment 2 on B
    one = image("c_1", [frag(2, 1000, 500, "B00002", 1, 3), frag(1, 0, 1000, "A00001", 1, 3)],
                ranges=[[900, 200]])
    # image 2 on A after image 1's first fragment; only its second fragment is wanted
    two = image("c_2", [frag(1, 0, 1000, "A00001", 4, 11), frag(2, 1000, 1000, "A00001", 7, 19)],
                ranges=[[1500, 10]])
    disk = image("c_3", [frag(1, 0, 1000, "", 0, 0)], ranges=[[0, 10]])
    assert neededimage.on_tape([disk]) is False
    assert neededimage.on_tape([disk, one]) is True
    got = neededimage.from_plan([one, two, disk])
    assert [(e.backupid, e.fragment, e.media_id, e.file_num) for e in got] == \
        [("c_1", 1, "A00001", 1), ("c_1", 2, "B00002", 1), ("c_2", 2, "A00001", 7)]
    assert {e.server for e in got} == {"media"}
    assert {e.density for e in got} == {"-"}
    two["fragments"][1]["density"] = 6  # the catalog's code
    assert neededimage.from_plan([two])[0].density == "hcart"


def test_mounts_group_consecutive_fragments_of_a_medium_in_file_order() -> None:
    e = [Needed("A", "c_1", 1, 1, 4, 11, BS, "m"), Needed("A", "c_1", 1, 2, 1, 3, BS, "m"),
         Needed("B", "c_1", 1, 3, 1, 3, BS, "m"), Needed("A", "c_2", 1, 1, 7, 19, BS, "m")]
    mounts = neededimage.mount_order(e)
    assert [m.media_id for m in mounts] == ["A", "B", "A"]  # image order kept across media
    assert [f.file_num for f in mounts[0].fragments] == [1, 4]
    assert mounts[1].as_dict()["fragments"][0]["fragment"] == 3


def test_file_write_read_remove(tmp_path: Path) -> None:
    folder = tmp_path / "db" / "neededimage"
    entries = [Needed("A00001", "c_1", 1, 1, 1, 3, BS, "media", "hcart")]
    path = neededimage.write(folder, 12, entries)
    assert path == folder / "12" and neededimage.read(folder, 12) == entries
    (folder / ".12.abc.tmp").write_text("")  # a write in progress is no job's file
    assert neededimage.jobs_with_files(folder) == [12]
    assert neededimage.remove(folder, 12) is True
    assert neededimage.remove(folder, 12) is False
    with pytest.raises(NbuError):
        neededimage.read(folder, 12)
    assert neededimage.jobs_with_files(tmp_path / "none") == []
