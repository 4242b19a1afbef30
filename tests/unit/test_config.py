import os
from pathlib import Path

import pytest

from nbcli import atomic, config
from nbcli.status import NbuError


def test_init_creates_layout_and_bp_toml(tmp_path: Path) -> None:
    cfg = config.init_root(tmp_path / "r", name="m1", port=15000)
    p = cfg.paths
    for d in (p.policies, p.images, p.jobs, p.emm, p.logs, p.run, p.volmgr, p.neededimage):
        assert d.is_dir()
    again = config.load(tmp_path / "r")
    assert again.client_name == "m1" and again.master == "m1"
    assert again.address_of("m1") == ("127.0.0.1", 15000)
    assert again.roles == ["master", "media", "client"]


def test_missing_root_is_status_110(tmp_path: Path) -> None:
    with pytest.raises(NbuError) as e:
        config.load(tmp_path / "none")
    assert e.value.status == 110


def test_default_root_follows_nb_root_then_platformdirs(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NB_ROOT", str(tmp_path / "x"))
    assert config.default_root() == tmp_path / "x"
    monkeypatch.delenv("NB_ROOT")
    assert str(config.default_root()).startswith(str(tmp_path / "xdg"))


def test_bpconf_round_trip(tmp_path: Path) -> None:
    cfg = config.init_root(tmp_path / "r", name="m1", servers=["m1", "med1"])
    lines = config.to_bpconf_lines(cfg)
    assert "SERVER = m1" in lines and "SERVER = med1" in lines
    assert lines.index("SERVER = m1") < lines.index("SERVER = med1")  # the master first
    parsed = config.parse_bpconf("\n".join(lines))
    assert parsed["SERVER"] == ["m1", "med1"] and parsed["VERBOSE"] == 0


def test_set_replaces_whole_list_add_and_remove_edit_it(tmp_path: Path) -> None:
    cfg = config.init_root(tmp_path / "r", name="m1", servers=["m1", "a", "b"])
    config.apply_settings(cfg, config.parse_bpconf("SERVER = m1\nSERVER = c\n"))
    assert cfg.servers == ["m1", "c"]
    config.apply_settings(cfg, {"SERVER": ["d", "c"]}, add=True)
    assert cfg.servers == ["m1", "c", "d"]
    config.apply_settings(cfg, {"SERVER": ["c"]}, remove=True)
    assert cfg.servers == ["m1", "d"]
    with pytest.raises(NbuError) as e:
        config.apply_settings(cfg, {"VERBOSE": 3}, add=True)
    assert e.value.status == 20


@pytest.mark.parametrize("text", ["no equals sign", "VERBOSE = lots", "= value"])
def test_bad_bpconf_lines(text: str) -> None:
    with pytest.raises(NbuError) as e:
        config.parse_bpconf(text)
    assert e.value.status == 20


def test_atomic_write_leaves_no_temp_files(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["f"]

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        atomic.write_text(target, "three")
    assert target.read_text() == "two"  # the old file, whole
    assert os.listdir(tmp_path) == ["f"]  # and no temp file left behind
