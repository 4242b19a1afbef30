"""A client's exclude and include lists (nbcli.exclude_lists): where each lives, which one a
backup uses (NetBackup Administrator's Guide: "If more than one exclude or include list exists
for a client, NetBackup uses only the most specific one"), and the walk's include exceptions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbcli import config, exclude_lists
from nbcli.client.scan import Walker
from nbcli.status import NbuError


def test_the_most_specific_list_wins_and_an_empty_one_counts(tmp_path: Path) -> None:
    cfg = config.init_root(tmp_path / "r", name="c1", port=15000)
    assert exclude_lists.effective(cfg, "exclude", "p", "full") == []
    exclude_lists.write(cfg, "exclude", ["*.log", "", "# note"])
    assert config.load(cfg.root).data["EXCLUDE"] == ["*.log"]  # patterns only, in bp.toml
    exclude_lists.write(cfg, "exclude", ["# tmp only", "*.tmp"], "p")
    exclude_lists.write(cfg, "exclude", [], "p", "full")
    assert (cfg.paths.netbackup / "exclude_list.p").read_text() == "# tmp only\n*.tmp\n"
    assert (cfg.paths.netbackup / "exclude_list.p.full").read_text() == ""
    assert exclude_lists.effective(cfg, "exclude", None, None) == ["*.log"]
    assert exclude_lists.effective(cfg, "exclude", "q", "full") == ["*.log"]
    assert exclude_lists.effective(cfg, "exclude", "p", "incr") == ["*.tmp"]
    assert exclude_lists.effective(cfg, "exclude", "p", "full") == []
    assert exclude_lists.effective(cfg, "include", "p", "full") == []
    assert exclude_lists.read(cfg, "include", "p") is None
    exclude_lists.write(cfg, "exclude", [])
    assert "EXCLUDE" not in config.load(cfg.root).data


@pytest.mark.parametrize("kind,policy,schedule", [
    ("bogus", None, None), ("exclude", None, "full"), ("exclude", "../p", None),
    ("exclude", ".hidden", None), ("include", "p", "a/b"), ("exclude", "", None)])
def test_bad_names_are_20(tmp_path: Path, kind: str, policy: str | None,
                          schedule: str | None) -> None:
    cfg = config.init_root(tmp_path / "r", name="c1", port=15000)
    with pytest.raises(NbuError) as e:
        exclude_lists.write(cfg, kind, ["x"], policy, schedule)
    assert e.value.status == 20
    assert sorted(p.name for p in cfg.paths.netbackup.glob("*_list*")) == []


def test_an_include_pattern_rescues_an_excluded_path(tmp_path: Path) -> None:
    for name in ("a.log", "keep.log", "b.dat", "logs/x.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    walker = Walker(lambda *a: None, exclude=["*.log"], include=["keep.log"])
    root = os.fsencode(tmp_path)
    got = sorted(p[len(root):] for p, _ in walker.walk([root]))
    assert got == [b"", b"/b.dat", b"/keep.log", b"/logs"]


def test_bpsetconfig_u_rewrites_the_users_bp_conf(tmp_path: Path, monkeypatch) -> None:
    import pwd
    from types import SimpleNamespace

    from nbcli.commands import bpsetconfig

    monkeypatch.setattr(pwd, "getpwnam", lambda name: SimpleNamespace(pw_dir=str(tmp_path)))
    (tmp_path / "bp.conf").write_text("SERVER = m1\nVERBOSE = 1\n")
    bpsetconfig.set_user_config("u1", "SERVER = m2\nSERVER = m3\n", add=False, remove=False)
    assert (tmp_path / "bp.conf").read_text() == "SERVER = m2\nSERVER = m3\nVERBOSE = 1\n"
    bpsetconfig.set_user_config("u1", "SERVER = m4\n", add=True, remove=False)
    assert (tmp_path / "bp.conf").read_text().splitlines()[:3] == \
        ["SERVER = m2", "SERVER = m3", "SERVER = m4"]
