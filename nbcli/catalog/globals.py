"""The master's global attributes (bpconfig): db/config/bpconfig.toml.

NetBackup keeps these in its configuration database on the master; nbcli keeps one TOML
document (nbcli.catalog.tomldoc) that only bpconfig writes and the schedulers read whenever
they need a value (nbpem: tries per period, job retry delay; nbrb and nbpem: max jobs per
client), so a change applies without a restart. A missing file means NetBackup's defaults
(reference/netbackup-cli.md §4.2). The TOML keys are the field names of `Globals`.

Ranges are NetBackup's where its documentation gives one (job retry delay 1-60 minutes,
policy update interval 1-1440 minutes, -cd 0 or 86400-2147472000 seconds, -prep 0-48 hours,
maximum backup copies 2-10); elsewhere they only keep a value a positive or non-negative
32-bit number. `check` is the one place that applies them, so bpconfig and a direct
`save_globals` refuse the same values (status 20).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbcli.catalog import tomldoc
from nbcli.config import Paths
from nbcli.model.globals import INT_MAX, MIN_COMPRESS, PREP_DEFAULT, RANGES, Globals, check

FILE = "bpconfig.toml"
__all__ = ["INT_MAX", "MIN_COMPRESS", "PREP_DEFAULT", "RANGES", "Globals", "check",
           "load_globals", "modify_globals", "path", "save_globals"]


def path(paths: Paths) -> Path:
    return paths.db_config / FILE


def _from(data: dict[str, object] | None) -> Globals:
    return tomldoc.from_table(Globals, data or {}, FILE)


def load_globals(paths: Paths) -> Globals:
    """The global attributes; NetBackup's defaults when bpconfig never set any (238 if the
    file is damaged)."""
    return _from(tomldoc.read(path(paths)))


def save_globals(paths: Paths, g: Globals) -> None:
    """Replace every global attribute with `g` (checked: status 20), atomically, under the
    lock; last writer wins (bpconfig uses `modify_globals`)."""
    check(g)
    with modify_globals(paths) as current:
        vars(current).update(vars(g))


@contextmanager
def modify_globals(paths: Paths) -> Iterator[Globals]:
    """Read-modify-write under the lock: `with modify_globals(p) as g: g.tries = 3`. Written
    only if the block ends without an exception and the result passes `check`."""
    with tomldoc.modify(path(paths)) as data:
        g = _from(data)
        yield g
        check(g)
        data.clear()
        data.update(tomldoc.to_table(g))
