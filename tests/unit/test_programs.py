import tomllib
from pathlib import Path

from nbcli import launcher, programs


def test_every_program_is_a_console_script_and_back() -> None:
    scripts = tomllib.loads(Path("pyproject.toml").read_text())["project"]["scripts"]
    # Commands start through the launcher, which runs programs.COMMANDS' target (nbcmdd's
    # fork, or here); daemons and agents start on their own target.
    assert {name: target for name, target in scripts.items() if name not in programs.COMMANDS} \
        == {**programs.DAEMONS, **programs.AGENTS}
    assert {name: target for name, target in scripts.items() if name in programs.COMMANDS} \
        == {name: f"nbcli.launcher:{name}" for name in programs.COMMANDS}
    assert callable(launcher.bpdbjobs)  # type: ignore[attr-defined]


def test_role_daemons_start_pbx_first() -> None:
    assert programs.daemons_for(["client"]) == ["pbx_exchange", "bpcd", "nbcmdd"]
    master = programs.daemons_for(["master"])
    assert master[:2] == ["pbx_exchange", "bpcd"] and "nbjm" in master and "ltid" not in master
    assert programs.daemons_for(["media"]) == ["pbx_exchange", "bpcd", "tldcd", "tldd", "avrd",
                                               "ltid", "nbcmdd"]
    assert "vmd" in master and "tldd" not in master
