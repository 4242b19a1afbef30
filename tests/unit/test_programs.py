import os
import subprocess
import sys
import tomllib
from pathlib import Path

from nbcli import programs


def test_every_program_is_a_console_script_and_back() -> None:
    # Daemons and agents start on their own target; commands start through the launcher,
    # which runs programs.COMMANDS' target (nbcmdd's fork, or here), from a script of ours.
    project = tomllib.loads(Path("pyproject.toml").read_text())
    assert project["project"]["scripts"] == {**programs.DAEMONS, **programs.AGENTS}
    assert project["tool"]["setuptools"]["script-files"] == \
        [f"bin/{name}" for name in sorted({*programs.COMMANDS, *programs.TOOLS})]
    for name in programs.TOOLS:  # standalone: they must run where nbcli cannot
        script = Path("bin") / name
        assert os.access(script, os.X_OK), script
        assert "nbcli" not in "".join(line for line in script.read_text().splitlines()
                                      if line.lstrip().startswith(("import", "from")))
    for name in programs.COMMANDS:
        script = Path("bin") / name
        assert os.access(script, os.X_OK), script
        # the installation puts its own interpreter there (test below)
        assert script.read_text().splitlines()[0] == "#!/usr/bin/env python3"
        assert script.read_text().endswith(f'from nbcli.launcher import main\n\nmain("{name}")\n')


def test_the_installed_command_scripts_are_ours_and_import_no_re() -> None:
    # what `pip install -e .` put beside the interpreter: our script, its first line the
    # interpreter's; started, it has not imported re (pip's wrapper's ~6 ms) by the time the
    # launcher runs
    for name in ("bpdbjobs", "bprestore", "netbackup"):
        installed = programs.argv_for(name)
        assert len(installed) == 1, f"{name} is not installed as a script"
        body = Path(installed[0]).read_text().splitlines()
        assert body[0] == f"#!{sys.executable}" or Path(body[0][2:]).resolve() == \
            Path(sys.executable).resolve()
        assert body[1:] == (Path("bin") / name).read_text().splitlines()[1:]
    # started: re (pip's wrapper imports it first, ~6 ms) comes after the launcher, if at all
    r = subprocess.run([sys.executable, "-X", "importtime", programs.argv_for("bpdbjobs")[0],
                        "--help"], capture_output=True, text=True, timeout=60)
    imported = [line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:") and "|" in line]
    assert "nbcli.launcher" in imported, r.stderr[-2000:]
    assert "re" not in imported[:imported.index("nbcli.launcher")]


def test_role_daemons_start_pbx_first() -> None:
    assert programs.daemons_for(["client"]) == ["pbx_exchange", "bpcd", "nbcmdd"]
    master = programs.daemons_for(["master"])
    assert master[:2] == ["pbx_exchange", "bpcd"] and "nbjm" in master and "ltid" not in master
    assert programs.daemons_for(["media"]) == ["pbx_exchange", "bpcd", "tldcd", "tldd", "avrd",
                                               "ltid", "nbcmdd"]
    assert "vmd" in master and "tldd" not in master
