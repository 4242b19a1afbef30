"""The Image Cleanup job's pieces: what each media server is asked to delete, how its answer is
read, what bpbrm deletes on a disk storage unit, and bpexpdate's -d values and prompt."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nbcli import kinds
from nbcli.commands.bpexpdate import parse_expiration, question
from nbcli.daemons.cleanup import media_requests, merge_reply
from nbcli.media.bpbrm_delete import delete_image
from nbcli.status import NbuError


def header(backupid: str, *fragments: tuple[str, str]) -> dict:
    return {"backupid": backupid, "fragments": [
        {"num": n, "host": host, "path": path, "offset": 0, "bytes": 1}
        for n, (host, path) in enumerate(fragments, 1)]}


def test_media_requests_group_by_server_and_folder() -> None:
    images = [header("c_1", ("m1", "/stu/a/c_1_C1_F1"), ("m1", "/stu/a/c_1_C1_F2")),
              header("c_2", ("m2", "/stu/b/c_2_C1_F1")),
              header("c_3", ("m1", "/stu/a/c_3_C1_F1"), ("m1", "/other/c_3_C1_F2"))]
    req = media_requests(images)
    assert sorted(req) == ["m1", "m2"]
    assert req["m1"] == [
        {"backupid": "c_1", "stype": 1, "path": "/stu/a",
         "fragments": ["/stu/a/c_1_C1_F1", "/stu/a/c_1_C1_F2"]},
        {"backupid": "c_3", "stype": 1, "path": "/stu/a", "fragments": ["/stu/a/c_3_C1_F1"]},
        {"backupid": "c_3", "stype": 1, "path": "/other", "fragments": ["/other/c_3_C1_F2"]}]
    assert req["m2"] == [{"backupid": "c_2", "stype": 1, "path": "/stu/b",
                          "fragments": ["/stu/b/c_2_C1_F1"]}]
    assert media_requests([header("c_4")]) == {}


def test_an_image_is_removed_only_when_bpbrm_says_so_for_every_folder() -> None:
    entries = [{"backupid": "c_1", "path": "/a"}, {"backupid": "c_3", "path": "/a"},
               {"backupid": "c_3", "path": "/b"}, {"backupid": "c_9", "path": "/a"}]
    reply = {"op": "done", "status": 1,
             "removed": [{"backupid": "c_1", "files": 3}, {"backupid": "c_3", "files": 2}],
             "failed": [{"backupid": "c_3", "status": 83, "msg": "folder /b is not there"}]}
    removed, failed = merge_reply(entries, reply)
    assert removed == {"c_1": 3}
    assert set(failed) == {"c_3", "c_9"}
    assert "folder /b" in failed["c_3"] and "status 83" in failed["c_3"]
    # bpbrm failing as a whole (no lists at all) keeps every image
    removed, failed = merge_reply(entries, {"op": "done", "status": 20, "msg": "bad request"})
    assert removed == {} and set(failed) == {"c_1", "c_3", "c_9"}
    # an answer that cannot be read keeps every image too
    for garbage in ({"removed": ["c_1"]}, {"removed": [{"backupid": "c_1", "files": "x"}]},
                    {"removed": 5}):
        removed, failed = merge_reply(entries, {"op": "done", "status": 0, **garbage})
        assert removed == {} and set(failed) == {"c_1", "c_3", "c_9"}


def test_bpbrm_deletes_exactly_the_image_files(tmp_path: Path) -> None:
    stu = tmp_path / "stu"
    stu.mkdir()
    for name in ("c_1_C1_F1", "c_1_C1_F2", "c_1_C1_HDR", "c_11_C1_F1", "c_1_C2_F1", "other"):
        (stu / name).write_bytes(b"x")
    image = {"backupid": "c_1", "path": str(stu),
             "fragments": [str(stu / "c_1_C1_F1"), str(stu / "c_1_C1_F2")]}
    assert delete_image(image) == 3
    assert sorted(p.name for p in stu.iterdir()) == ["c_11_C1_F1", "c_1_C2_F1", "other"]
    assert delete_image(image) == 0  # already gone is removed


@pytest.mark.parametrize("image, status", [
    ({"backupid": "*", "path": "/s", "fragments": []}, 20),
    ({"backupid": "c_[0-9]", "path": "/s", "fragments": []}, 20),
    ({"backupid": "c_1", "path": "relative", "fragments": []}, 20),
    ({"backupid": "c_1", "path": "/s", "fragments": "x"}, 20),
    ("c_1", 20),
])
def test_bpbrm_refuses_what_could_widen_the_deletion(image: object, status: int) -> None:
    with pytest.raises(NbuError) as e:
        delete_image(image)
    assert e.value.status == status


def test_a_missing_folder_or_a_fragment_left_keeps_the_image(tmp_path: Path) -> None:
    with pytest.raises(NbuError) as e:
        delete_image({"backupid": "c_1", "path": str(tmp_path / "unmounted"),
                      "fragments": [str(tmp_path / "unmounted" / "c_1_C1_F1")]})
    assert e.value.status == 83
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "c_1_C1_F2").write_bytes(b"x")
    with pytest.raises(NbuError) as e:
        delete_image({"backupid": "c_1", "path": str(tmp_path),
                      "fragments": [str(elsewhere / "c_1_C1_F2")]})
    assert e.value.status == 83 and (elsewhere / "c_1_C1_F2").exists()


def test_bpexpdate_dates() -> None:
    assert parse_expiration("0") == 0
    assert parse_expiration("infinity") == parse_expiration("INFINITY") == kinds.INFINITY
    when = int(time.mktime((2030, 12, 25, 10, 30, 0, 0, 0, -1)))
    assert parse_expiration("12/25/2030 10:30:00") == when
    for bad in ("13/45/2030", "tomorrow", "-1", "12/25/2040", ""):
        with pytest.raises(NbuError) as e:
            parse_expiration(bad)
        assert e.value.status == 109, bad


def test_bpexpdate_asks_netbackups_question() -> None:
    assert question(0, 1, "c_1", None, None) == \
        "Are you SURE you want to delete c_1 y/n (n)? "
    assert question(0, 2, None, "daily", "web1") == \
        "Are you SURE you want to delete the 2 image(s) of policy daily and client web1 y/n (n)? "
    assert question(kinds.INFINITY, 1, "c_1", None, None).endswith(" to infinity y/n (n)? ")
