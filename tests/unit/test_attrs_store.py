"""The master's attribute stores: global attributes, client attributes, retention levels, and
the TOML-document helper under them. Pure tests on a fake file system (pyfakefs), except the
lock test, which needs real flock(2)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from nbcli import kinds
from nbcli.catalog import clientattrs, retention, tomldoc
from nbcli.catalog.clientattrs import ClientAttrs
from nbcli.catalog.globals import Globals, load_globals, modify_globals, save_globals
from nbcli.config import Paths
from nbcli.status import NbuError

DAY = kinds.DAY


@pytest.fixture
def paths(fs: FakeFilesystem) -> Paths:
    p = Paths(Path("/openv"))
    fs.create_dir(p.db_config)
    return p


def status_of(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(NbuError) as e:
        call()
    return e.value.status


# --- global attributes -----------------------------------------------------------------------

def test_globals_default_to_netbackups(paths: Paths) -> None:
    g = load_globals(paths)
    assert g == Globals()
    assert (g.tries, g.period_hours, g.job_retry_delay_minutes, g.max_jobs_per_client,
            g.cleanup_interval_hours, g.keep_logs_days) == (2, 12, 10, 1, 12, 28)
    assert (g.policy_update_minutes, g.keep_tir_days, g.compress_after_seconds,
            g.max_copies, g.admin_mail) == (10, 1, 0, 2, "")
    assert not (paths.db_config / "bpconfig.toml").exists()  # reading writes nothing


def test_globals_round_trip_every_field(paths: Paths) -> None:
    g = Globals(admin_mail="ops@example.com", job_retry_delay_minutes=60, tries=5,
                period_hours=48, max_jobs_per_client=32767, keep_logs_days=3,
                compress_after_seconds=86400, media_mount_timeout_seconds=1800,
                shared_mount_timeout_seconds=600, display_reports_hours=72, keep_tir_days=0,
                prep_hours=48, max_copies=10, cleanup_interval_hours=6,
                cleanup_wait_minutes=30, policy_update_minutes=1440)
    assert all(getattr(g, f.name) != getattr(Globals(), f.name) for f in fields(Globals))
    save_globals(paths, g)
    assert load_globals(paths) == g
    text = (paths.db_config / "bpconfig.toml").read_text()
    assert "job_retry_delay_minutes = 60" in text and 'admin_mail = "ops@example.com"' in text


@pytest.mark.parametrize("attr, value", [
    ("job_retry_delay_minutes", 0), ("job_retry_delay_minutes", 61), ("tries", 0),
    ("period_hours", 0), ("max_jobs_per_client", 0), ("max_jobs_per_client", 32768),
    ("compress_after_seconds", 86399), ("compress_after_seconds", -1),
    ("compress_after_seconds", 2147472001), ("prep_hours", 49), ("max_copies", 1),
    ("max_copies", 11), ("policy_update_minutes", 1441), ("media_mount_timeout_seconds", -1),
    ("admin_mail", "two words"), ("admin_mail", " lead")])
def test_out_of_range_globals_are_20_and_not_written(paths: Paths, attr: str,
                                                     value: object) -> None:
    save_globals(paths, Globals(tries=3))
    before = (paths.db_config / "bpconfig.toml").read_bytes()
    assert status_of(lambda: save_globals(paths, Globals(**{attr: value}))) == 20

    def change() -> None:
        with modify_globals(paths) as g:
            setattr(g, attr, value)

    assert status_of(change) == 20
    assert (paths.db_config / "bpconfig.toml").read_bytes() == before


def test_modify_globals_keeps_other_attributes(paths: Paths) -> None:
    with modify_globals(paths) as g:
        g.tries = 4
    with modify_globals(paths) as g:
        g.max_jobs_per_client = 7
    assert (load_globals(paths).tries, load_globals(paths).max_jobs_per_client) == (4, 7)


def test_failed_block_writes_nothing(paths: Paths) -> None:
    with pytest.raises(RuntimeError), modify_globals(paths) as g:
        g.tries = 9
        raise RuntimeError("changed my mind")
    assert load_globals(paths).tries == 2


@pytest.mark.parametrize("text", ["tries = [", "tries = true", 'tries = "2"', "version = 2",
                                  "period_hours = 1.5"])
def test_damaged_globals_file_is_238(paths: Paths, fs: FakeFilesystem, text: str) -> None:
    fs.create_file(paths.db_config / "bpconfig.toml", contents=text)
    assert status_of(lambda: load_globals(paths)) == 238


def test_unknown_keys_are_ignored(paths: Paths, fs: FakeFilesystem) -> None:
    fs.create_file(paths.db_config / "bpconfig.toml", contents="tries = 3\nfuture_knob = 1\n")
    assert load_globals(paths) == Globals(tries=3)


# --- client attributes ------------------------------------------------------------------------

def test_client_round_trip_every_field(paths: Paths) -> None:
    c = ClientAttrs("web01", max_jobs=99, current_host="web01-b", ip_address="10.0.0.5",
                    port=13782, dynamic_address=True, free_browse=2, list_restore=3,
                    connect_options=[0, 1, 2], offline_backup=True, offline_restore=True)
    assert all(getattr(c, f.name) != getattr(ClientAttrs("x"), f.name)
               for f in fields(ClientAttrs))
    clientattrs.save_client(paths, c)
    assert clientattrs.load_client(paths, "web01") == c
    text = (paths.db / "client" / "web01" / "client.toml").read_text()
    assert "max_jobs = 99" in text and "name" not in text  # the folder names the client


def test_client_defaults_and_unset_max_jobs(paths: Paths) -> None:
    assert clientattrs.load_client(paths, "nobody") is None
    assert clientattrs.list_clients(paths) == []
    clientattrs.add_client(paths, ClientAttrs("c1"))
    c = clientattrs.load_client(paths, "c1")
    assert c == ClientAttrs("c1") and c.max_jobs is None and c.hostname == "c1"
    assert "max_jobs" not in (paths.db / "client" / "c1" / "client.toml").read_text()


def test_add_list_update_delete(paths: Paths) -> None:
    for name in ("zeta", "alpha", "mid"):
        clientattrs.add_client(paths, ClientAttrs(name, max_jobs=2))
    assert [c.name for c in clientattrs.list_clients(paths)] == ["alpha", "mid", "zeta"]
    assert status_of(lambda: clientattrs.add_client(paths, ClientAttrs("mid"))) == 226
    with clientattrs.modify_client(paths, "mid") as c:
        c.max_jobs = 5
    assert clientattrs.load_client(paths, "mid").max_jobs == 5  # type: ignore[union-attr]
    clientattrs.delete_client(paths, "mid")
    assert [c.name for c in clientattrs.list_clients(paths)] == ["alpha", "zeta"]
    assert not (paths.db / "client" / "mid").exists()
    assert status_of(lambda: clientattrs.delete_client(paths, "mid")) == 227

    def update_missing() -> None:
        with clientattrs.modify_client(paths, "mid"):
            pass

    assert status_of(update_missing) == 227


@pytest.mark.parametrize("attrs, status", [
    (ClientAttrs("c", max_jobs=0), 20), (ClientAttrs("c", max_jobs=100), 20),
    (ClientAttrs("c", free_browse=3), 20), (ClientAttrs("c", list_restore=4), 20),
    (ClientAttrs("c", connect_options=[2, 2]), 20),
    (ClientAttrs("c", connect_options=[3, 2, 3]), 20),
    (ClientAttrs("c", port=70000), 20), (ClientAttrs("bad name"), 20),
    (ClientAttrs("-lead"), 20), (ClientAttrs("c" * 129), 225)])
def test_bad_client_values(paths: Paths, attrs: ClientAttrs, status: int) -> None:
    assert status_of(lambda: clientattrs.add_client(paths, attrs)) == status
    assert clientattrs.list_clients(paths) == []


def test_a_folder_without_its_file_is_no_client(paths: Paths, fs: FakeFilesystem) -> None:
    fs.create_dir(paths.db / "client" / "halfway")
    fs.create_dir(paths.db / "client" / ".gone-dead")
    fs.create_dir(paths.db / "client" / "made by hand")
    assert clientattrs.list_clients(paths) == []
    clientattrs.add_client(paths, ClientAttrs("halfway"))  # not "already exists"
    assert [c.name for c in clientattrs.list_clients(paths)] == ["halfway"]


def test_damaged_client_file_is_238(paths: Paths, fs: FakeFilesystem) -> None:
    fs.create_file(paths.db / "client" / "c" / "client.toml", contents="max_jobs = 'x'")
    assert status_of(lambda: clientattrs.load_client(paths, "c")) == 238


# --- retention levels -------------------------------------------------------------------------

def test_default_levels_are_netbackups(paths: Paths) -> None:
    table = dict(retention.levels(paths))
    assert list(table) == list(range(101))
    assert table[0] == 7 * DAY and table[1] == 14 * DAY and table[8] == 365 * DAY
    assert table[9] is None and table[25] == 0
    assert all(table[n] is None for n in [*range(10, 25), *range(26, 101)])
    assert all(retention.retention_seconds(paths, n) == table[n] for n in range(101))


def test_set_level_round_trips(paths: Paths) -> None:
    retention.set_level(paths, 3, 45 * DAY)
    retention.set_level(paths, 12, 90 * DAY)
    retention.set_level(paths, 0, None)
    retention.set_level(paths, 30, 0)
    assert retention.retention_seconds(paths, 3) == 45 * DAY
    assert retention.retention_seconds(paths, 12) == 90 * DAY
    assert retention.retention_seconds(paths, 0) is None
    assert retention.retention_seconds(paths, 30) == 0
    assert retention.retention_seconds(paths, 4) == 62 * DAY  # untouched
    text = (paths.db_config / "retention.toml").read_text()
    assert '0 = "infinity"' in text and "3 = 3888000" in text


@pytest.mark.parametrize("level, seconds", [(9, DAY), (9, None), (25, DAY), (25, 0),
                                            (-1, DAY), (101, DAY), (3, -1),
                                            (3, kinds.INFINITY)])
def test_fixed_levels_and_bad_periods_are_20(paths: Paths, level: int,
                                             seconds: int | None) -> None:
    retention.set_level(paths, 5, DAY)
    before = (paths.db_config / "retention.toml").read_bytes()
    assert status_of(lambda: retention.set_level(paths, level, seconds)) == 20
    assert (paths.db_config / "retention.toml").read_bytes() == before


def test_fixed_levels_hold_whatever_the_file_says(paths: Paths, fs: FakeFilesystem) -> None:
    fs.create_file(paths.db_config / "retention.toml",
                   contents='[levels]\n9 = 60\n25 = "infinity"\n')
    assert retention.retention_seconds(paths, 9) is None
    assert retention.retention_seconds(paths, 25) == 0


@pytest.mark.parametrize("text", ["[levels]\n200 = 5", "[levels]\nx = 5", "[levels]\n3 = -4",
                                  '[levels]\n3 = "forever"', "[levels]\n3 = true",
                                  "levels = 3"])
def test_damaged_retention_file_is_238(paths: Paths, fs: FakeFilesystem, text: str) -> None:
    fs.create_file(paths.db_config / "retention.toml", contents=text)
    assert status_of(lambda: retention.retention_seconds(paths, 1)) == 238
    assert status_of(lambda: retention.set_level(paths, 1, DAY)) == 238


@pytest.mark.parametrize("seconds, text", [
    (None, "infinity"), (0, "expires immediately"), (7 * DAY, "1 week"),
    (14 * DAY, "2 weeks"), (31 * DAY, "1 month"), (92 * DAY, "3 months"), (365 * DAY, "1 year"),
    (730 * DAY, "2 years"), (28 * DAY, "4 weeks"), (45 * DAY, "45 days"), (DAY, "1 day"),
    (36 * 3600, "36 hours"), (3600, "1 hour"), (90, "90 seconds")])
def test_period_text(seconds: int | None, text: str) -> None:
    assert retention.period_text(seconds) == text


# --- the TOML-document helper -----------------------------------------------------------------

@dataclass
class Sample:
    name: str
    count: int = 0
    flag: bool = False
    limit: int | None = None
    items: list[int] = field(default_factory=list)


@pytest.mark.parametrize("table", [{"count": True}, {"flag": 1}, {"limit": "3"},
                                   {"items": [1, "2"]}, {"items": 3}, {"count": 1.0}])
def test_from_table_checks_types(table: dict[str, object]) -> None:
    assert status_of(lambda: tomldoc.from_table(Sample, table, "sample", name="s")) == 238


def test_table_round_trip_leaves_out_none() -> None:
    s = Sample("s", count=3, flag=True, items=[1, 2])
    table = tomldoc.to_table(s)
    assert "limit" not in table
    assert tomldoc.from_table(Sample, table, "sample") == s
    assert tomldoc.from_table(Sample, {"limit": 4}, "sample", name="t").limit == 4


def test_concurrent_modify_loses_nothing(tmp_path: Path) -> None:
    """Threads of one process serialize too (flock is per open file); real processes are
    tested in tests/integration/test_attr_cmds.py."""
    doc = tmp_path / "config" / "doc.toml"

    def bump(n: int) -> None:
        with tomldoc.modify(doc) as data:
            data[f"k{n}"] = n
            data["count"] = data.get("count", 0) + 1

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = tomldoc.read(doc)
    assert data is not None and data["count"] == 20
    assert all(data[f"k{n}"] == n for n in range(20))
