"""Every console script has a man page (man/<name>.8) with the sections a runbook reader expects,
and `man -l` renders it without warnings.

The list of programs comes from pyproject.toml: [project.scripts] (daemons, agents) and the
commands' scripts under [tool.setuptools] script-files, so a new program without a page fails
here. The rendering check runs `man` as an administrator would (MANWIDTH=80) and
needs man-db; it is skipped where `man` is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"
_PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SCRIPTS = sorted([*_PROJECT["project"]["scripts"],
                  *(Path(f).name for f in _PROJECT["tool"]["setuptools"]["script-files"])])
REQUIRED = ("NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES")


def page(name: str) -> Path:
    return MAN / f"{name}.8"


def sections(text: str) -> list[str]:
    """The .SH headings of a page, unquoted: `.SH "EXIT STATUS"` counts as `.SH EXIT STATUS`."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\.SH\s+(.*)$", line)
        if m:
            out.append(m.group(1).strip().strip('"').strip())
    return out


def name_line(text: str) -> str:
    """The first text line after `.SH NAME`, with troff's escaped hyphens made plain."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r'\.SH\s+"?NAME"?\s*$', line):
            for following in lines[i + 1:]:
                if following.strip() and not following.startswith(('.\\"', "'\\\"")):
                    return following.replace("\\-", "-").replace("\\&", "")
    return ""


@pytest.mark.parametrize("name", SCRIPTS)
def test_page_exists_with_sections(name: str) -> None:
    path = page(name)
    assert path.is_file(), f"no man page {path.relative_to(REPO)} for console script {name}"
    text = path.read_text(encoding="utf-8")
    found = sections(text)
    missing = [s for s in REQUIRED if s not in found]
    assert not missing, f"{path.name}: missing .SH {', '.join(missing)} (has {found})"
    line = name_line(text)
    assert re.match(rf"{re.escape(name)}(\s|,)", line), \
        f"{path.name}: the NAME line should start with {name!r}, not {line!r}"


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
@pytest.mark.parametrize("name", SCRIPTS)
def test_page_renders_without_warnings(name: str) -> None:
    path = page(name)
    if not path.is_file():
        pytest.fail(f"no man page {path.relative_to(REPO)} for console script {name}")
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    r = subprocess.run(["man", "-l", str(path)], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.stderr == "", f"{path.name}: man -l printed warnings:\n{r.stderr}"
    assert r.returncode == 0, f"{path.name}: man -l exited {r.returncode}"


# Commands whose every option must have its line in the man page (issue 13: runbook
# compatibility); the others follow as their pages are brought up to date.
EVERY_FLAG = ("bpdbjobs", "bpimagelist", "bplist", "bpstulist", "bpgetconfig", "bpps",
              "nbemmcmd", "bpexpdate", "bperror", "bpclntcmd", "vmquery", "bpmedialist",
              "bpmedia", "bplabel", "available_media", "tpconfig", "vmadd", "vmchange",
              "vmupdate", "vmdelete", "vmpool", "vmoprcmd", "tpreq", "tpunmount", "robtest")


@pytest.mark.parametrize("name", EVERY_FLAG)
def test_every_option_has_a_line_in_the_page(name: str) -> None:
    import importlib

    from nbcli import programs

    module = importlib.import_module(programs.COMMANDS[name].partition(":")[0])
    text = page(name).read_text(encoding="utf-8").replace("\\-", "-")
    missing = [opt for param in module.cli.params for opt in getattr(param, "opts", [])
               if opt.startswith("-") and not opt.startswith("--") and opt != "-root"
               and not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text)]
    assert not missing, f"{name}.8 does not mention {', '.join(missing)}"
