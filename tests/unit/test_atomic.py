"""nbcli.atomic on a real filesystem: replace whole or not at all, leave no temp files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbcli import atomic


def test_write_bytes_replaces_the_file_with_its_mode_and_leaves_nothing_else(
        tmp_path: Path) -> None:
    target = tmp_path / "bp.toml"
    target.write_bytes(b"old")
    atomic.write_bytes(target, b"new contents", mode=0o600)
    assert target.read_bytes() == b"new contents"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bp.toml"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "policy.toml"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic.write_bytes(target, 12345)  # type: ignore[arg-type]  # not bytes: fails mid-way
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.toml"]


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep")
    link = tmp_path / "conf"
    link.symlink_to(elsewhere)
    atomic.write_text(link, "mine")
    assert not link.is_symlink() and link.read_text() == "mine"
    assert elsewhere.read_text() == "keep"


def test_temp_names_do_not_collide(tmp_path: Path) -> None:
    target = tmp_path / "f"
    for i in range(200):
        atomic.write_text(target, str(i))
    assert target.read_text() == "199" and os.listdir(tmp_path) == ["f"]


def test_a_write_that_need_not_be_durable_syncs_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    target = tmp_path / "needed"
    atomic.write_text(target, "one\n", durable=False)
    assert synced == [] and target.read_text() == "one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["needed"]
    atomic.write_text(target, "two\n")
    assert len(synced) == 2 and target.read_text() == "two\n"  # the file, then the folder
