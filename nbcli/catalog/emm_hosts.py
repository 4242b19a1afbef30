"""Changes to the EMM database's host records beyond add and delete: update their attributes,
rename a host, and keep a host's aliases (nbemmcmd -updatehost, -renamehost, -machinealias).

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
               os_name: str | None) -> None:
        """Set the attributes given (None leaves one as it is); 227 for an unknown host."""
        changes = {k: v for k, v in (("master", master), ("version", version),
                                     ("os", os_name)) if v is not None}
        with self.db.tx() as c:
            self._exists(c, name, kind)
            for column, value in changes.items():
                c.execute(f"UPDATE hosts SET {column} = ? WHERE name = ? AND machinetype = ?",
                          (value, name, kind))

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
