"""Image header files and names: round trip, escaping, damaged files, names on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbcli.catalog.imagehdr import (
    FIELDS,
    backupid_of,
    check_name,
    ctime_of_file,
    format_header,
    header_name,
    image_dir,
    parse_header,
    parse_name,
    split_backupid,
)
from nbcli.status import NbuError


def sample() -> dict:
    h = {name: (f"v_{name}" if kind is str else len(name)) for _, name, kind in FIELDS}
    h["keyword"] = "two words\nand a \\ newline"
    h["fragments"] = [{"num": 1, "offset": 0, "bytes": 1000, "host": "media1",
                       "path": "/stu/a dir/frag 1"},
                      {"num": 2, "offset": 1000, "bytes": 24, "host": "media1",
                       "path": "/stu/a dir/frag 2"}]
    return h


def test_header_round_trips_and_reads_as_key_value_lines() -> None:
    h = sample()
    text = format_header(h)
    assert parse_header(text) == h
    lines = text.splitlines()
    assert lines[0] == f"VERSION {len('version')}"
    assert "BACKUP_ID v_backupid" in lines and "CLASS_NAME v_policy" in lines
    assert "KEYWORD two words\\nand a \\\\ newline" in lines
    assert lines[-1] == "FRAGMENT 2 1000 24 media1 /stu/a dir/frag 2"


@pytest.mark.parametrize("text", ["BACKUP_ID x\nCLIENT_NAME y\nKBYTES lots\n",
                                  "BACKUP_ID x\nCLIENT_NAME y\nFRAGMENT 1 2\n",
                                  "VERSION 11\n", ""])
def test_a_damaged_header_is_status_220(text: str) -> None:
    with pytest.raises(NbuError) as e:
        parse_header(text, "hdr")
    assert e.value.status == 220


def test_names_and_layout_follow_netbackup() -> None:
    assert backupid_of("client1", 1273057676) == "client1_1273057676"
    assert split_backupid("userver178-204_1431205218") == ("userver178-204", 1431205218)
    assert split_backupid("my_client_1431205218") == ("my_client", 1431205218)
    assert header_name("regr1_gava", 949949902, 0) == "regr1_gava_949949902_FULL"
    assert parse_name("regr1_gava_949949902_CINC") == ("regr1_gava", 949949902, "CINC")
    assert image_dir(Path("/db/images"), "c", 1273057676) == Path("/db/images/c/1273000000")
    assert image_dir(Path("/i"), "c", 999_999) == Path("/i/c/0000000000")
    assert ctime_of_file("p.x_12_INCR.f.inprogress") == 12
    assert ctime_of_file("p_12_INCR.inprogress") == 12
    assert ctime_of_file(".p_12_INCR.abc_1.tmp") is None
    assert parse_name("p_12_FULL.f") is None and parse_name("p_x_FULL") is None


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x y", None, 5, "a" * 300])
def test_unsafe_client_names_and_backup_ids_are_status_20(bad: object) -> None:
    with pytest.raises(NbuError) as e:
        check_name("client", bad)
    assert e.value.status == 20
    with pytest.raises(NbuError) as e:
        split_backupid(f"{bad}_123" if isinstance(bad, str) and bad else bad)
    assert e.value.status == 20


def test_the_image_dte_mode_reads_off_in_a_header_written_before_it() -> None:
    """IMAGE_DTE_MODE: 1 when the image crossed encrypted; a header without the line (written
    before the field) reads 0, so its restore decides with the global and client modes."""
    h = sample()
    h["dte_mode"] = 1
    text = format_header(h)
    assert "IMAGE_DTE_MODE 1" in text.splitlines()
    assert parse_header(text)["dte_mode"] == 1
    old = "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith("IMAGE_DTE_MODE"))
    assert parse_header(old)["dte_mode"] == 0
