import tomllib
from pathlib import Path

from nbcli import programs


def test_every_program_is_a_console_script_and_back() -> None:
    scripts = tomllib.loads(Path("pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == programs.ALL


def test_role_daemons_start_pbx_first() -> None:
    assert programs.daemons_for(["client"]) == ["pbx_exchange", "bpcd"]
    master = programs.daemons_for(["master"])
    assert master[:2] == ["pbx_exchange", "bpcd"] and "nbjm" in master and "ltid" not in master
    assert programs.daemons_for(["media"]) == ["pbx_exchange", "bpcd", "ltid"]
