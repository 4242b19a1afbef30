"""bprd's side of a restore from tape without daemons: which restores need a neededimage
file, and how the bprd child groups the mounts by the media server that owns the media."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from nbcli import config
from nbcli.catalog.neededimage import Mount
from nbcli.daemons import bprd, bprd_child
from nbcli.status import INVALID_PARAMETER, NbuError

TAPE = {"num": 1, "path": "tape:A00001:1:3:65536:0000abcd", "host": "media1", "offset": 0,
        "bytes": 100}
DISK = {"num": 1, "path": "/stu/c_1_C1_F1", "host": "media1", "offset": 0, "bytes": 100}


def image(backupid: str, frag: dict[str, Any]) -> dict[str, Any]:
    return {"header": {"backupid": backupid}, "fragments": [frag], "block_size": 65536,
            "ranges": [[0, 10]]}


def test_only_tape_images_make_a_neededimage_plan() -> None:
    assert bprd._tape_plan([image("c_1", DISK)]) == []
    (entry,) = bprd._tape_plan([image("c_2", TAPE)])
    assert (entry.media_id, entry.backupid, entry.file_num, entry.server) == \
        ("A00001", "c_2", 1, "media1")
    with pytest.raises(NbuError) as e:
        bprd._tape_plan([image("c_1", DISK), image("c_2", TAPE)])
    assert e.value.status == INVALID_PARAMETER and "c_1" in e.value.detail


def test_the_child_launches_bpbrm_where_the_robot_of_the_media_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.init_root(tmp_path / "root", name="master")
    child = bprd_child.Child.__new__(bprd_child.Child)
    child.cfg, child.log = cfg, logging.getLogger("t")
    robots = {"A00001": "media2", "A00002": "media2", "A00003": ""}

    def call(cfg: Any, host: str, service: str, op: str, **f: Any) -> Any:
        assert (service, op) == ("nbemm", "media_list")
        if f["media_id"] == "A00004":
            raise NbuError(227, "no such media")
        return {"media": [{"media_id": f["media_id"], "host": robots[f["media_id"]]}]}

    monkeypatch.setattr(bprd_child.client, "call", call)
    mounts = [Mount(m, "media1", "hcart") for m in ("A00001", "A00002", "A00003", "A00004")]
    groups = child._by_server(mounts)
    # EMM's robot host; the catalog's media server when EMM names none or has no record
    assert [(host, [m.media_id for m in ms]) for host, ms in groups] == \
        [("media2", ["A00001", "A00002"]), ("media1", ["A00003", "A00004"])]


def test_the_child_refuses_to_run_by_hand(monkeypatch, capsys) -> None:
    """Only bprd starts it (its socketpair as stdin, NBCLI_CONTROL set): by hand, or with
    arguments, it says so and exits 20."""
    monkeypatch.delenv("NBCLI_CONTROL", raising=False)
    for argv in ([], ["-jobid", "7"]):
        with pytest.raises(SystemExit) as e:
            bprd_child.main(argv)
        assert e.value.code == 20
        assert "bprd starts it" in capsys.readouterr().err
