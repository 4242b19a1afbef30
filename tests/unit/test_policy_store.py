"""The policy store and model: TOML round trip, create/rename/delete, locking, statuses."""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from nbcli.catalog import policies
from nbcli.catalog.policy_model import (
    Client,
    Copy,
    Policy,
    Schedule,
    Weekday,
    Window,
    from_toml,
    to_toml,
)
from nbcli.config import Paths
from nbcli.status import NbuError
from tests.conftest import wait_for


def full_policy(name: str = "p1") -> Policy:
    """A policy where every field differs from its default."""
    sched = Schedule(
        "monthly", sched_type=4, frequency=3600, calendar=2, max_mpx=4, synthetic=True,
        copies=[Copy(3, "stu1", "pool1", True, "sg1"), Copy(8, "stu2", "", False, "")],
        included_dates=[datetime.date(2030, 12, 25)],
        excluded_dates=[datetime.date(2031, 1, 1), datetime.date(2031, 1, 2)],
        weekdays=[Weekday(1, 2), Weekday(5, 0)], days_of_month=[1, 15], last_day_of_month=True,
        windows=[Window(d * 100, d * 1000) for d in range(7)])
    return Policy(
        name, policy_type=13, active=False, effective_date=1700000000, residence="stu9",
        volume_pool="pool9", max_jobs=7, priority=42, collect_tir=2, keyword="two words",
        compress=True, encrypt=True, follow_nfs=True, cross_mount_points=True,
        block_incremental=True, multiple_streams=True, checkpoint=True, checkpoint_interval=30,
        data_classification="gold", server_group="*NONE*", generation=9,
        clients=[Client("c1", "Linux", "RedHat", 3), Client("c2", "Solaris", "Solaris10")],
        includes=["/etc", "/with space", "NEW_STREAM", "/etc"],
        schedules=[sched, Schedule("daily", sched_type=1)])


def test_toml_round_trips_every_field() -> None:
    p = full_policy()
    assert from_toml("p1", to_toml(p)) == p
    # and the defaults survive too
    assert from_toml("d", to_toml(Policy("d"))) == Policy("d")


def test_toml_is_readable_by_an_admin() -> None:
    text = to_toml(full_policy())
    assert 'policy_type = "MS-Windows"' in text and 'type = "CINC"' in text
    assert "2030-12-25" in text and '{ day = "Monday", week = 2 }' in text


@pytest.mark.parametrize("text", ["not toml [", 'policy_type = "Nonsense"', "active = 3",
                                  'schedules = [{ label = "x", type = "WEEKLY" }]',
                                  'schedules = [{ label = "x", windows = [] , copies = [] }]',
                                  "version = 99"])
def test_damaged_policy_file_is_status_238(text: str) -> None:
    with pytest.raises(NbuError) as e:
        from_toml("p", text)
    assert e.value.status == 238


@pytest.fixture
def paths(fs: FakeFilesystem) -> Paths:
    p = Paths(Path("/openv"))
    fs.create_dir(p.policies)
    return p


def test_store_round_trip_on_disk(paths: Paths) -> None:
    policies.create(paths, "p1")
    policies.save(paths, full_policy())
    loaded = policies.load(paths, "p1")
    expected = full_policy()
    expected.generation = 10  # save counts
    assert loaded == expected
    assert (paths.policies / "p1" / "policy.toml").is_file()


def test_create_list_rename_delete(paths: Paths) -> None:
    created = policies.create(paths, "b")
    assert created.volume_pool == "NetBackup" and created.server_group == "*ANY*"
    assert created.active and created.max_jobs == 0 and created.policy_type == 0
    policies.create(paths, "a", sameas="b")
    assert policies.list_names(paths) == ["a", "b"]
    policies.rename(paths, "b", "c")
    assert policies.list_names(paths) == ["a", "c"]
    assert policies.load(paths, "c").name == "c"
    policies.delete(paths, "a")
    assert policies.list_names(paths) == ["c"]
    assert [p.name for p in policies.load_all(paths)] == ["c"]


def test_sameas_copies_everything_but_the_name(paths: Paths) -> None:
    policies.create(paths, "src")
    policies.save(paths, full_policy("src"))
    copy = policies.create(paths, "dst", sameas="src")
    assert copy.clients == full_policy().clients and copy.schedules == full_policy().schedules
    assert policies.load(paths, "dst").name == "dst"


@pytest.mark.parametrize("call,status", [
    (lambda p: policies.load(p, "nope"), 230),
    (lambda p: policies.delete(p, "nope"), 230),
    (lambda p: policies.rename(p, "nope", "other"), 230),
    (lambda p: policies.create(p, "new", sameas="nope"), 230),
    (lambda p: policies.create(p, "exists"), 226),
    (lambda p: policies.rename(p, "exists", "exists"), 226),
    (lambda p: policies.create(p, "a/b"), 20),
    (lambda p: policies.create(p, "-dash"), 20),
    (lambda p: policies.create(p, ".hidden"), 20),
    (lambda p: policies.create(p, "sp ace"), 20),
    (lambda p: policies.create(p, ""), 20),
    (lambda p: policies.create(p, "x" * 129), 225),
    (lambda p: policies.rename(p, "exists", "../up"), 20),
])
def test_bad_requests_get_netbackup_statuses(paths: Paths, call, status: int) -> None:
    policies.create(paths, "exists")
    with pytest.raises(NbuError) as e:
        call(paths)
    assert e.value.status == status
    assert policies.list_names(paths) == ["exists"]


def test_names_netbackup_accepts(paths: Paths) -> None:
    for name in ("a.b", "A+B", "x_y-z", "9lives", "x" * 128):
        policies.create(paths, name)
    assert len(policies.list_names(paths)) == 5


def test_modify_saves_only_on_success(paths: Paths) -> None:
    policies.create(paths, "p")
    with policies.modify(paths, "p") as p:
        p.priority = 5
    with pytest.raises(NbuError), policies.modify(paths, "p") as p:
        p.priority = 99
        p.find_client("ghost")
    after = policies.load(paths, "p")
    assert after.priority == 5 and after.generation == 2


def test_staging_leftovers_are_not_policies_and_get_cleaned(paths: Paths,
                                                            fs: FakeFilesystem) -> None:
    fs.create_file(paths.policies / ".new-dead" / "policy.toml", contents="")
    fs.create_dir(paths.policies / ".gone-dead")
    assert policies.list_names(paths) == []
    policies.create(paths, "p")
    assert sorted(os.listdir(paths.policies)) == [".lock", "p"]


def test_validation_helpers() -> None:
    p = full_policy()
    assert p.find_schedule("daily").sched_type == 1
    assert p.find_client("c2").os == "Solaris10"
    for call, status in ((lambda: p.find_schedule("x"), 197), (lambda: p.find_client("x"), 239),
                         (p.check_active, 247), (lambda: p.delete_include("/x"), 227),
                         (lambda: p.add_client(Client("c1", "a", "b")), 226),
                         (lambda: p.add_schedule(Schedule("daily")), 226)):
        with pytest.raises(NbuError) as e:
            call()
        assert e.value.status == status
    p.active = True
    p.check_active()


def test_includes_keep_order_and_duplicates() -> None:
    p = full_policy()
    p.modify_include("/etc", "/srv")
    assert p.includes == ["/srv", "/with space", "NEW_STREAM", "/srv"]
    p.delete_include("/srv")
    assert p.includes == ["/with space", "NEW_STREAM"]


def test_reset_attributes_keeps_lists() -> None:
    p = full_policy()
    p.reset_attributes(123)
    fresh = Policy("p1", effective_date=123, generation=9, clients=p.clients,
                   includes=p.includes, schedules=p.schedules)
    assert p == fresh and p.clients


def test_master_paths_needs_the_master_role(tmp_path: Path) -> None:
    from nbcli import config

    cfg = config.init_root(tmp_path / "c", name="cl", roles=["client"])
    with pytest.raises(NbuError) as e:
        policies.master_paths(cfg)
    assert e.value.status == 153


def test_concurrent_modify_loses_nothing(tmp_path: Path) -> None:
    """Threads of one process also serialize (flock is per open file); real processes are
    tested in tests/integration/test_policy_cmds.py."""
    paths = Paths(tmp_path)
    policies.create(paths, "p")

    def add(n: int) -> None:
        with policies.modify(paths, "p") as p:
            p.includes.append(f"/d{n}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = policies.load(paths, "p")
    assert sorted(final.includes) == sorted(f"/d{n}" for n in range(20))
    assert final.generation == 21


def test_edit_waiting_on_a_renamed_policy_fails_230(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    policies.create(paths, "old")
    entered, release = threading.Event(), threading.Event()
    result: list[int] = []

    def rename_slowly() -> None:
        with policies._policy_lock(paths, "old"):
            entered.set()
            release.wait(10)
            os.rename(paths.policies / "old", paths.policies / "new")

    t = threading.Thread(target=rename_slowly)
    t.start()
    entered.wait(10)

    def edit() -> None:
        try:
            with policies.modify(paths, "old") as p:
                p.priority = 1
        except NbuError as e:
            result.append(e.status)

    editor = threading.Thread(target=edit)
    editor.start()
    # /proc/locks marks a process blocked on a lock with "->": the editor waits on ours.
    wait_for(lambda: "->" in Path("/proc/locks").read_text(), 10, "the editor to block")
    release.set()
    t.join()
    editor.join()
    assert result == [230]
    assert policies.load(paths, "new").priority == 0
    assert policies.list_names(paths) == ["new"]
