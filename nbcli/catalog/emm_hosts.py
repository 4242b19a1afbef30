"""Changes to the EMM database's host records beyond add and delete: update their attributes
and a media server's machine state, rename a host, and keep a host's aliases (nbemmcmd
-updatehost [-machinestateop], -renamehost, -machinealias).

Part of nbemm's database (emmdb.py owns the tables and opens the file); nbemm's handlers call
these methods, one transaction each. A new name or alias must not be in use by any host record
or alias, as NetBackup refuses to give two machines one name. Renaming a media server moves its
storage units, robots and drives with it, so none is left pointing at a name that is gone.

Imports nothing from nbcli but status, the SQLite helper and emmdb's checks (no net, no daemons).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from nbcli.catalog.sqlitedb import Database
from nbcli.status import ENTITY_EXISTS, INVALID_PARAMETER, NO_ENTITY, NbuError

# The tables whose `host` column names a media server (emmdb's and emm_media's).
MEDIA_SERVER_TABLES = ("stus", "robots", "drives")

# A media server's machine state (nbemmcmd -updatehost -machinestateop): bits of hosts.state.
# A paused or disabled media server is given no new allocations; running jobs go on.
ADMIN_PAUSE, MASTER_PAUSE, DISABLED = 1, 2, 4
STATE_OPS = {"set_admin_pause": (ADMIN_PAUSE, True), "clr_admin_pause": (ADMIN_PAUSE, False),
             "set_master_pause": (MASTER_PAUSE, True),
             "clr_master_pause": (MASTER_PAUSE, False),
             "set_disabled": (DISABLED, True), "clr_disabled": (DISABLED, False),
             "reset_all": (ADMIN_PAUSE | MASTER_PAUSE | DISABLED, False)}
STATE_WORDS = ((ADMIN_PAUSE, "administrative pause"), (MASTER_PAUSE, "master pause"),
               (DISABLED, "disabled"))


def state_words(state: int) -> str:
    """What -listhosts -verbose shows for a machine state: its flags' words, or "active"."""
    return ", ".join(word for bit, word in STATE_WORDS if state & bit) or "active"


def unavailable_media_servers(c: sqlite3.Connection) -> dict[str, int]:
    """The media servers that take no new allocations, with their state."""
    return {r["name"]: int(r["state"]) for r in c.execute(
        "SELECT name, state FROM hosts WHERE machinetype = 'media' AND state != 0")}


class HostDB:
    """The host-record edits of nbemm's database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _exists(c: sqlite3.Connection, name: str, kind: str) -> None:
        if c.execute("SELECT 1 FROM hosts WHERE name = ? AND machinetype = ?",
                     (name, kind)).fetchone() is None:
            raise NbuError(NO_ENTITY, f"host {name} ({kind}) is not in the EMM database")

    @staticmethod
    def _unused(c: sqlite3.Connection, name: str) -> None:
        if c.execute("SELECT 1 FROM hosts WHERE name = ?", (name,)).fetchone():
            raise NbuError(ENTITY_EXISTS, f"{name} is already a host in the EMM database")
        row = c.execute("SELECT name FROM host_aliases WHERE alias = ?", (name,)).fetchone()
        if row:
            raise NbuError(ENTITY_EXISTS, f"{name} is already an alias of {row['name']}")

    def update(self, name: str, kind: str, master: str | None, version: str | None,
               os_name: str | None, state_op: str | None = None) -> int:
        """Set the attributes given (None leaves one as it is) and apply the -machinestateop
        `state_op`, in one transaction; the host's machine state after. 227 for an unknown
        host, 20 for a state operation on a host that is not a media server."""
        changes = {k: v for k, v in (("master", master), ("version", version),
                                     ("os", os_name)) if v is not None}
        if state_op is not None:
            _check_state_op(state_op, kind)
        with self.db.tx() as c:
            self._exists(c, name, kind)
            for column, value in changes.items():
                c.execute(f"UPDATE hosts SET {column} = ? WHERE name = ? AND machinetype = ?",
                          (value, name, kind))
            state = int(c.execute("SELECT state FROM hosts WHERE name = ? AND machinetype = ?",
                                  (name, kind)).fetchone()["state"])
            if state_op is not None:
                bits, on = STATE_OPS[state_op]
                state = state | bits if on else state & ~bits
                c.execute("UPDATE hosts SET state = ? WHERE name = ? AND machinetype = ?",
                          (state, name, kind))
        return state

    def rename(self, old: str, new: str, kind: str) -> None:
        """Rename one host record (226 when `new` is a host or an alias already)."""
        if old == new:
            raise NbuError(INVALID_PARAMETER, "the new machine name is the old one")
        with self.db.tx() as c:
            self._exists(c, old, kind)
            self._unused(c, new)
            c.execute("UPDATE hosts SET name = ? WHERE name = ? AND machinetype = ?",
                      (new, old, kind))
            c.execute("UPDATE host_aliases SET name = ? WHERE name = ? AND machinetype = ?",
                      (new, old, kind))
            if kind == "media":
                for table in MEDIA_SERVER_TABLES:
                    c.execute(f"UPDATE {table} SET host = ? WHERE host = ?", (new, old))

    def add_alias(self, name: str, kind: str, alias: str) -> None:
        with self.db.tx() as c:
            self._exists(c, name, kind)
            self._unused(c, alias)
            c.execute("INSERT INTO host_aliases (alias, name, machinetype) VALUES (?, ?, ?)",
                      (alias, name, kind))

    def delete_alias(self, name: str, kind: str, alias: str) -> None:
        with self.db.tx() as c:
            self._exists(c, name, kind)
            cur = c.execute("DELETE FROM host_aliases WHERE alias = ? AND name = ? AND "
                            "machinetype = ?", (alias, name, kind))
        if cur.rowcount == 0:
            raise NbuError(NO_ENTITY, f"{alias} is not an alias of {name} ({kind})")

    def aliases(self, name: str, kind: str) -> list[str]:
        with self.db.tx() as c:
            self._exists(c, name, kind)
            rows: list[Any] = c.execute(
                "SELECT alias FROM host_aliases WHERE name = ? AND machinetype = ? "
                "ORDER BY rowid", (name, kind)).fetchall()
        return [r["alias"] for r in rows]


def _check_state_op(operation: str, kind: str) -> None:
    if operation not in STATE_OPS:
        raise NbuError(INVALID_PARAMETER, f"invalid machine state operation {operation!r} "
                                          f"(one of {', '.join(STATE_OPS)})")
    if kind != "media":
        raise NbuError(INVALID_PARAMETER, "-machinestateop applies to media servers "
                                          "(-machinetype media)")
