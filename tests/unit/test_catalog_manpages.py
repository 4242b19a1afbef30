"""The man pages of the catalog's programs: every section there, rendered without warnings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parents[2] / "man"
SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES",
            "SEE ALSO")


@pytest.mark.parametrize("name", ["bpdbm", "nbproxy", "bpimagelist", "bplist"])
def test_man_page_has_every_section_and_renders_cleanly(name: str) -> None:
    page = MAN / f"{name}.8"
    headings = [line[4:].strip('"') for line in page.read_text().splitlines()
                if line.startswith(".SH ")]
    assert headings == list(SECTIONS)
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"), timeout=60)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.split()[0] == f"{name.upper()}(8)"
