"""A daemon's SQLite database that fails (a full file system, a file it may not write) is
NetBackup's status 220 for the caller - not a logic error with a traceback - and nothing of
the failed transaction stays; the database serves again once there is room."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.catalog.sqlitedb import Database
from nbcli.status import DATABASE_ERROR, NbuError

SCHEMA = "CREATE TABLE IF NOT EXISTS t (x BLOB)"


def rows(db: Database) -> int:
    return int(db.query("SELECT COUNT(*) FROM t")[0][0])


def test_a_write_the_database_refuses_is_220_and_changes_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "jobs.db", SCHEMA)
    try:
        db.conn.execute("PRAGMA query_only=ON")
        with pytest.raises(NbuError) as e, db.tx() as c:
            c.execute("INSERT INTO t VALUES (x'00')")
        assert e.value.status == DATABASE_ERROR and "jobs.db" in str(e.value)
        db.conn.execute("PRAGMA query_only=OFF")
        assert rows(db) == 0
        with db.tx() as c:
            c.execute("INSERT INTO t VALUES (x'01')")
        assert rows(db) == 1
    finally:
        db.close()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "fs"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs permission to mount a 256 KiB tmpfs (run as root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_full_file_system_is_220_and_the_database_serves_again(small_fs: Path) -> None:
    db = Database(small_fs / "jobs.db", SCHEMA)
    try:
        with pytest.raises(NbuError) as e:
            for _ in range(1000):  # 8 KiB a row: the file system fills long before
                with db.tx() as c:
                    c.execute("INSERT INTO t VALUES (zeroblob(8192))")
        assert e.value.status == DATABASE_ERROR and "full" in str(e.value)
        kept = rows(db)  # the reads go on, and the failed row is not among them
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_fs)], check=True)
        with db.tx() as c:
            c.execute("INSERT INTO t VALUES (zeroblob(8192))")
        assert rows(db) == kept + 1
    finally:
        db.close()
