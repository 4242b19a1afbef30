"""Tape fragments in the catalog: TAPE_FRAGMENT header lines, image_complete's fields, FRAG
lines in NetBackup's positions, what the media server hears (restore stype, no delete)."""

from __future__ import annotations

import pytest

from nbcli.catalog.imagehdr import FIELDS, format_header, parse_header
from nbcli.commands import imagefmt
from nbcli.daemons import bprd
from nbcli.daemons.bpdbm import complete_fields
from nbcli.daemons.cleanup import media_requests, tape_media
from nbcli.media.bpbrm_delete import delete_image
from nbcli.media.storage import Fragment, StoredImage
from nbcli.status import NbuError

TAPE1 = {"num": 1, "offset": 0, "bytes": 3 * 262144, "host": "media1",
         "path": "tape:A00001:5:12:262144:0badf00d", "media_id": "A00001", "file_num": 5,
         "block_offset": 12, "block_size": 262144, "density": 6}
TAPE2 = {**TAPE1, "num": 2, "offset": 3 * 262144, "bytes": 1000,
         "path": "tape:A00002:1:4:262144:00c0ffee", "media_id": "A00002", "file_num": 1,
         "block_offset": 4}
DISK = {"num": 1, "offset": 0, "bytes": 1000, "host": "media1", "path": "/stu/a b/c_1_C1_F1"}


def header(*fragments: dict) -> dict:
    h = {name: (f"v_{name}" if kind is str else len(name)) for _, name, kind in FIELDS}
    h.update(backupid="c_1", client="c", block_size=65536, backup_time=1700000000,
             expiration=1702678400, retention_level=3)
    h["fragments"] = [dict(f) for f in fragments]
    return h


def test_tape_fragments_round_trip_as_tape_fragment_lines() -> None:
    h = header(TAPE1, TAPE2)
    text = format_header(h)
    assert parse_header(text) == h
    assert text.splitlines()[-2:] == [
        "TAPE_FRAGMENT 1 0 786432 media1 A00001 5 12 262144 6 "
        "tape:A00001:5:12:262144:0badf00d",
        "TAPE_FRAGMENT 2 786432 1000 media1 A00002 1 4 262144 6 "
        "tape:A00002:1:4:262144:00c0ffee"]


def test_disk_headers_read_and_write_as_before() -> None:
    h = header(DISK)
    text = format_header(h)
    assert text.splitlines()[-1] == "FRAGMENT 1 0 1000 media1 /stu/a b/c_1_C1_F1"
    assert parse_header(text)["fragments"] == [DISK]
    old = "BACKUP_ID c_1\nCLIENT_NAME c\nFRAGMENT 1 0 5 m /x y\n"  # a header from before tape
    assert parse_header(old)["fragments"] == [{"num": 1, "offset": 0, "bytes": 5, "host": "m",
                                               "path": "/x y"}]


@pytest.mark.parametrize("line", ["TAPE_FRAGMENT 1 0 5 m A1 1 2 3 tape:x",
                                  "TAPE_FRAGMENT 1 0 5 m A1 x 2 3 6 tape:x",
                                  "FRAGMENT 1 0 5 m"])
def test_a_damaged_fragment_line_is_status_220(line: str) -> None:
    with pytest.raises(NbuError) as e:
        parse_header(f"BACKUP_ID c_1\nCLIENT_NAME c\n{line}\n")
    assert e.value.status == 220


def complete(*fragments: dict) -> dict:
    return {"op": "image_complete", "backupid": "c_1", "kbytes": 1, "num_files": 0,
            "elapsed": 0, "checksum": "crc32:00000000", "block_size": 65536,
            "stream_bytes": 1, "fragments": list(fragments)}


def test_image_complete_keeps_tape_fields_and_leaves_disk_fragments_alone() -> None:
    from nbcli.daemons.image_ops import IMAGE_OPS
    from nbcli.wire import schema
    msg = schema.validate("image_complete", complete(TAPE1, DISK),
                          IMAGE_OPS["image_complete"])
    frags = complete_fields(msg)["fragments"]
    assert frags == [TAPE1, DISK]
    nowhere = schema.validate("image_complete", complete({**TAPE1, "block_size": 0}),
                              IMAGE_OPS["image_complete"])
    with pytest.raises(NbuError) as e:
        complete_fields(nowhere)
    assert e.value.status == 20
    with pytest.raises(NbuError) as e:  # a media id NetBackup cannot have
        schema.validate("image_complete", complete({**TAPE1, "media_id": "A000001"}),
                        IMAGE_OPS["image_complete"])
    assert e.value.status == 20


def test_frag_lines_show_tape_fragments_in_netbackup_positions() -> None:
    h = header(TAPE1, TAPE2)
    g = imagefmt.frag_line(h, h["fragments"][1]).split()
    assert len(g) == 36
    # copy, frag, KB, remainder, media_type, density, file_num, id, host, block_size, offset
    assert g[1:12] == ["1", "2", "0", "1000", "2", "6", "1", "A00002", "media1", "262144", "4"]
    d = imagefmt.frag_line(header(DISK), DISK).split()
    assert d[5:12] == ["0", "0", "0", "/stu/a_b/c_1_C1_F1", "media1", "65536", "0"]
    long = imagefmt.long_lines(h)
    assert " Media Type:       Removable Media (2)" in long
    assert " Density:          hcart (6)" in long and " File Num:         5" in long
    assert " ID:               A00001" in long and " Offset:           12" in long


def test_fragments_carry_tape_fields_from_bptm_to_bptm() -> None:
    f = Fragment(2, "tape:A00002:1:4:262144:00c0ffee", 786432, 1000, "A00002", 1, 4, 262144, 6)
    assert f.as_dict("media1") == TAPE2
    assert Fragment(1, "/x", 0, 5).as_dict("m") == {"num": 1, "path": "/x", "host": "m",
                                                     "offset": 0, "bytes": 5}
    im = StoredImage.from_request({"backupid": "c_1", "fragments": [TAPE2, TAPE1],
                                   "checksum": "crc32:00000000", "block_size": 262144,
                                   "stream_bytes": 3 * 262144 + 1000})
    assert [(x.media_id, x.file_num, x.block_offset, x.density) for x in im.fragments] == \
        [("A00001", 5, 12, 6), ("A00002", 1, 4, 6)]


def test_restore_and_delete_requests_name_the_storage_unit_type() -> None:
    plan = {"header": {"backupid": "c_1", "stu": "tape1", "stream_bytes": 1},
            "fragments": [TAPE1], "checksum": "crc32:0", "block_size": 262144, "ranges": []}
    assert bprd._for_bptm(plan)["stu"] == {"label": "tape1", "stype": 2, "path": ""}
    disk = {**plan, "fragments": [DISK]}
    assert bprd._for_bptm(disk)["stu"] == {"label": "tape1", "stype": 1, "path": "/stu/a b"}
    images = [header(TAPE1, TAPE2), {**header(DISK), "backupid": "c_2"}]
    assert media_requests(images) == {"media1": [{"backupid": "c_2", "stype": 1,
                                                  "path": "/stu/a b",
                                                  "fragments": ["/stu/a b/c_1_C1_F1"]}]}
    assert tape_media(images) == {"A00001": {"c_1"}, "A00002": {"c_1"}}
    # a tape delete entry removes nothing (the tape keeps the image) and does not fail
    assert delete_image({"backupid": "c_1", "stype": 2, "label": "tape1", "path": "",
                         "fragments": [TAPE1["path"]]}) == 0


def test_valid_images_are_counted_per_medium() -> None:
    from nbcli.catalog.expire import media_of, valid_images_on
    a = {**header(TAPE1, TAPE2), "expiration": 100}
    b = {**header({**TAPE1, "media_id": "a00001"}), "backupid": "c_2", "expiration": 300}
    disk = {**header(DISK), "backupid": "c_3", "expiration": 300}
    assert media_of(a) == {"A00001", "A00002"} and media_of(disk) == set()
    assert media_of(b) == {"A00001"}  # EMM's ids are upper case
    assert valid_images_on([a, b, disk], {"A00001", "A00002"}, 50) == {"A00001": 2,
                                                                       "A00002": 1}
    assert valid_images_on([a, b, disk], {"A00001", "A00002"}, 100) == {"A00001": 1,
                                                                        "A00002": 0}
    assert valid_images_on([b], {"A00009"}, 0) == {"A00009": 0}
