"""nbpemreq as a real process against real nbpem and bpdbm daemons on an all-in-one host.

Policies are made with the policy commands, catalog images through bpdbm's own ops, and the
host's clock is fixed (NBCLI_TESTING=1), so nbpem's answers are known: a weekly full and a
daily incremental open 18:00 to 06:00 every day, two clients.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nbcli import clock, timefmt
from nbcli.net import client as net
from nbcli.status import NbuError, exit_line
from tests.conftest import Host

NOW = timefmt.parse("06/03/2024 10:00:00")  # a Monday morning: every window is closed


def make_daily(host: Host) -> None:
    host.run("bppolicynew", "daily")
    host.run("bpplclients", "daily", "-add", "c1", "Linux", "RedHat", "c2", "Linux", "Debian")
    host.run("bpplinclude", "daily", "-add", "/etc")
    host.run("bpplsched", "daily", "-add", "full", "-st", "FULL", "-freq", "604800",
             "-window", "64800", "43200")
    host.run("bpplsched", "daily", "-add", "incr", "-st", "INCR", "-freq", "86400",
             "-window", "64800", "43200")


@pytest.fixture
def master(daemons: Callable[..., Host]) -> Host:
    host = daemons("nbpem", "bpdbm")
    clock.set_test_clock(host.root, fixed=NOW)  # before the policy: its effective date
    make_daily(host)
    return host


def backed_up(host: Host, client_name: str, policy: str, label: str, sched_type: int,
              when: str) -> None:
    """A complete (empty) image in the catalog, as a successful job leaves one."""
    cfg = host.cfg
    backupid = net.call(cfg, host.name, "bpdbm", "image_create", client=client_name,
                        policy=policy, sched_label=label, sched_type=sched_type,
                        backup_time=timefmt.parse(when))["backupid"]
    net.call(cfg, host.name, "bpdbm", "image_complete", backupid=backupid, kbytes=0,
             num_files=0, elapsed=1, fragments=[], checksum="crc32:00000000",
             block_size=65536, stream_bytes=0)


def rows(out: str, word: str) -> list[list[str]]:
    """The job lines of an nbpemreq listing, split on whitespace as scripts do."""
    return [line.split() for line in out.splitlines() if line.startswith(word)]


def jobs(out: str, word: str) -> list[tuple[str, ...]]:
    """(type, client, policy, schedule, due date, due time) of each job line."""
    return [(r[1], r[2], r[3], r[4], r[6], r[7]) for r in rows(out, word)]


def test_predict_a_weekly_full_then_daily_incrementals(master: Host) -> None:
    out = master.run("nbpemreq", "-predict", "-date", "06/05/2024", "23:59:59").stdout
    assert out.splitlines()[0] == \
        "Predicted jobs from 06/03/2024 10:00:00 to 06/05/2024 23:59:59:"
    assert jobs(out, "PRED") == [
        ("FULL", "c1", "daily", "full", "06/03/2024", "18:00:00"),
        ("FULL", "c2", "daily", "full", "06/03/2024", "18:00:00"),
        ("INCR", "c1", "daily", "incr", "06/04/2024", "18:00:00"),
        ("INCR", "c2", "daily", "incr", "06/04/2024", "18:00:00"),
        ("INCR", "c1", "daily", "incr", "06/05/2024", "18:00:00"),
        ("INCR", "c2", "daily", "incr", "06/05/2024", "18:00:00"),
    ]
    assert rows(out, "PRED")[0][8:] == ["06/04/2024", "06:00:00"]  # when the window closes


def test_predict_starts_from_the_catalog_and_filters(master: Host) -> None:
    backed_up(master, "c1", "daily", "full", 0, "06/01/2024 18:00:00")
    backed_up(master, "c1", "daily", "incr", 1, "06/02/2024 18:00:00")
    out = master.run("nbpemreq", "-predict", "-date", "06/09/2024", "-client_filter", "c1",
                     "-policy_filter", "daily").stdout
    assert [(j[3], j[4]) for j in jobs(out, "PRED")] == [
        ("incr", "06/03/2024"), ("incr", "06/04/2024"), ("incr", "06/05/2024"),
        ("incr", "06/06/2024"), ("incr", "06/07/2024"), ("full", "06/08/2024")]
    none = master.run("nbpemreq", "-predict", "-date", "06/09/2024", "-policy_filter", "nope")
    assert rows(none.stdout, "PRED") == [] and "(none)" in none.stdout


def test_due_follows_the_clock_windows_and_catalog(master: Host) -> None:
    assert rows(master.run("nbpemreq", "-due").stdout, "QUED") == []  # 10:00: windows shut
    evening = master.run("nbpemreq", "-due", "-date", "06/03/2024", "19:00:00").stdout
    due = rows(evening, "QUED")
    assert [(r[2], r[3]) for r in due] == [("c1", "daily"), ("c2", "daily")]
    assert {r[4] for r in due} == {"full"}
    backed_up(master, "c1", "daily", "full", 0, "06/03/2024 18:00:00")
    clock.set_test_clock(master.root, fixed=timefmt.parse("06/03/2024 19:00:00"))
    assert [(r[2], r[4]) for r in rows(master.run("nbpemreq", "-due").stdout, "QUED")] == \
        [("c2", "full")]
    tuesday = master.run("nbpemreq", "-due", "-date", "06/04/2024", "19:00:00",
                         "-client_filter", "c1").stdout
    assert jobs(tuesday, "QUED") == [("INCR", "c1", "daily", "incr", "06/04/2024",
                                      "18:00:00")]


def test_calendar_schedules_and_inactive_policies(master: Host) -> None:
    master.run("bppolicynew", "monthly")
    master.run("bpplclients", "monthly", "-add", "c3", "Linux", "RedHat")
    master.run("bpplinclude", "monthly", "-add", "/home")
    master.run("bpplsched", "monthly", "-add", "m", "-st", "FULL", "-cal", "1",
               "-dayomonth", "5", "-window", "7200", "3600")
    out = master.run("nbpemreq", "-predict", "-date", "07/06/2024", "-policy_filter",
                     "monthly").stdout
    assert jobs(out, "PRED") == [("FULL", "c3", "monthly", "m", "06/05/2024", "02:00:00"),
                                 ("FULL", "c3", "monthly", "m", "07/05/2024", "02:00:00")]
    master.run("bpplinfo", "monthly", "-modify", "-inactive")
    argv = ("-date", "06/06/2024", "-policy_filter", "monthly")
    assert rows(master.run("nbpemreq", "-predict", *argv).stdout, "PRED") == []
    assert len(rows(master.run("nbpemreq", "-predict_all", *argv).stdout, "PRED")) == 1


@pytest.mark.parametrize("argv, status", [
    (("-predict", "-date", "13/45/2024"), 109),
    (("-due", "-date", "06/03/2024", "25:00:00"), 109),
    (("-predict",), 20),
    (("-date", "06/05/2024"), 20),
    (("-due", "-bogus"), 20),
])
def test_bad_input_gets_netbackups_status(master: Host, argv: tuple[str, ...],
                                          status: int) -> None:
    r = master.run("nbpemreq", *argv, check=False)
    assert r.returncode == status, r.stderr
    assert r.stderr.rstrip().endswith(exit_line(status))
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_nbpem_checks_the_fields_of_its_ops(master: Host) -> None:
    """A field missing, mistyped or unknown is 143; a value out of range 20."""
    for op, fields, status in (("predict", {}, 143), ("predict", {"date": "06/05/2024"}, 143),
                               ("due", {"date": NOW, "client": 7}, 143),
                               ("due", {"date": NOW, "hour": 7}, 143),
                               ("due", {"date": 2**64}, 20)):
        with pytest.raises(NbuError) as e:
            net.call(master.cfg, master.name, "nbpem", op, **fields)
        assert e.value.status == status, (op, fields)
    reply = net.call(master.cfg, master.name, "nbpem", "predict", start=NOW,
                     date=NOW + 86400, client="c2")
    assert [(j["client"], j["schedule"], j["window_open"]) for j in reply["jobs"]] == \
        [("c2", "full", timefmt.parse("06/03/2024 18:00:00"))]


def test_without_nbpem_status_25(daemons: Callable[..., Host]) -> None:
    host = daemons("bpdbm")
    r = host.run("nbpemreq", "-due", check=False)
    assert (r.returncode, r.stderr.splitlines()[-1]) == (25, exit_line(25)), r.stderr


def test_help_has_the_exit_statuses(aio_root: Host) -> None:
    out = aio_root.run("nbpemreq", "-help").stdout
    assert out.startswith("USAGE: nbpemreq -due")
    section = out[out.index("EXIT STATUS"):out.index("Options:")].splitlines()[1:]
    assert [line.split()[0] for line in section if line.strip()] == ["0", "20", "25", "109"]
