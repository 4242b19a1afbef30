"""Daemon.close_databases: netbackup/db made 0700; a daemon that may not (not the folder's
owner) goes on and says so in its log, rather than failing to start."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from nbcli.config import Paths
from nbcli.daemons.base import DATABASES_MODE, Daemon


def owner(root: Path, log: logging.Logger) -> SimpleNamespace:
    return SimpleNamespace(paths=Paths(root), log=log)


def test_an_open_folder_is_closed(tmp_path: Path) -> None:
    db = Paths(tmp_path).db
    db.mkdir(parents=True)
    db.chmod(0o755)
    Daemon.close_databases(owner(tmp_path, logging.getLogger("t")))  # type: ignore[arg-type]
    assert stat.S_IMODE(db.stat().st_mode) == DATABASES_MODE


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to be another user")
def test_a_daemon_that_may_not_change_it_goes_on(tmp_path: Path) -> None:
    db = Paths(tmp_path).db
    db.mkdir(parents=True)
    db.chmod(0o755)  # root's, and open
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # as nobody, as a daemon another user started would be
        os.close(r)
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            said: list[str] = []
            log = logging.getLogger("nobody")
            log.addHandler(type("H", (logging.Handler,), {
                "emit": lambda self, rec: said.append(rec.getMessage())})())
            Daemon.close_databases(owner(tmp_path, log))  # type: ignore[arg-type]
            os.write(w, "\n".join(said).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        said = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "close_databases raised"
    # (denied here already on the way: pytest's own folder is root's alone)
    assert f"cannot make {db} mode 700" in said
    assert stat.S_IMODE(db.stat().st_mode) == 0o755  # unchanged: not nobody's to change
