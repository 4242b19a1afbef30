"""bpconfig, bpclient and bpretlevel as real processes on an all-in-one host (no daemons
needed): outputs field by field, runbook idioms, statuses for bad input with the files left as
they were, and concurrent writers that lose nothing."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import multihost, programs
from nbcli.status import exit_line
from tests.conftest import Host
from tests.integration.test_policy_cmds import fails as policy_fails
from tests.integration.test_policy_cmds import shell
from tests.unit.test_attrs_formats import DEFAULT_L, DEFAULT_U

COMMANDS = ["bpconfig", "bpclient", "bpretlevel"]


@pytest.fixture
def aio_root(aio_root: Host) -> Iterator[Host]:
    """The all-in-one host with bpdbm running: the commands ask it, the owner of db/config and
    db/client (PBX starts with it)."""
    aio_root.start("bpdbm", "nbcmdd")  # nbcmdd: fast commands
    yield aio_root
    aio_root.stop()
    assert aio_root.processes() == []


def state(host: Host) -> dict[str, bytes]:
    """Every file the three commands write (db/config, db/client), lock files aside."""
    db = host.cfg.paths.db
    return {str(p.relative_to(db)): p.read_bytes()
            for base in (db / "config", db / "client") for p in sorted(base.rglob("*"))
            if p.is_file() and not p.name.endswith("lock")}


def fails(host: Host, status: int, *argv: str) -> None:
    """Run a command that must fail with `status` (and NetBackup's message, no traceback) and
    change no file, its own or a policy."""
    before = state(host)
    policy_fails(host, status, *argv)
    assert state(host) == before, argv


def labelled(text: str) -> dict[str, str]:
    return dict(re.split(r":\s+", line.strip(), maxsplit=1) for line in text.splitlines()
                if re.search(r":\s+\S", line))


# --- bpconfig ---------------------------------------------------------------------------------

def test_bpconfig_shows_netbackups_defaults(aio_root: Host) -> None:
    assert aio_root.run("bpconfig", "-U").stdout == DEFAULT_U + "\n"
    assert aio_root.run("bpconfig", "-L").stdout == DEFAULT_L + "\n"
    raw = "*NULL* 10 12 1 2 28 0 0 0 0 1 24 1 4 12 60 10 2\n"
    assert aio_root.run("bpconfig", "-l").stdout == raw
    assert aio_root.run("bpconfig").stdout == raw  # no display option: the raw form
    assert state(aio_root) == {}  # showing wrote nothing


def test_bpconfig_sets_and_every_form_shows_it(aio_root: Host) -> None:
    r = aio_root.run("bpconfig", "-tries", "3", "-period", "6", "-wi", "30", "-mj", "10",
                     "-kl", "7", "-cd", "259200", "-to", "1800", "-sto", "900", "-ha", "48",
                     "-kt", "2", "-prep", "0", "-max_copies", "5", "-cleanup_int", "24",
                     "-cleanup_wait", "90", "-pui", "15", "-ma", "ops@example.com")
    assert r.stdout == "" and r.stderr == ""
    u = labelled(aio_root.run("bpconfig", "-U").stdout)
    assert u == {"Admin Mail Address": "ops@example.com", "Job Retry Delay": "30 minutes",
                 "Max Simultaneous Jobs/Client": "10", "Backup Tries": "3 in 6 hours",
                 "Keep Error/Debug Logs": "7 days", "Max drives this master": "0",
                 "Keep TrueImageRecovery Info": "2 days",
                 "Compress Image DB Files": "older than 3 days",
                 "Media Mount Timeout": "30 minutes", "Postprocess Image": "immediately",
                 "Display Reports": "48 hours ago", "Preprocess Interval": "0 hours",
                 "Maximum Backup Copies": "5", "Image DB Cleanup Interval": "24 hours",
                 "Image DB Cleanup Wait Time": "90 minutes",
                 "Policy Update Interval": "15 minutes"}
    long = labelled(aio_root.run("bpconfig", "-L").stdout)
    assert long["Mail Admin"] == "ops@example.com" and long["Max Jobs/Client"] == "10"
    assert long["Keep TIR Info"] == "2 days" and long["DB Clean Wait Time"] == "90 minutes"
    assert aio_root.run("bpconfig", "-l").stdout.split() == [
        "ops@example.com", "30", "6", "10", "3", "7", "0", "259200", "1800", "900", "1", "48",
        "2", "0", "24", "90", "15", "5"]
    # the runbook check of reference §1.17
    got = shell(aio_root, "bpconfig -U | grep -i 'Max Simultaneous Jobs/Client:' "
                          "| awk '{print $4}'")
    assert got == "10\n"
    # -ma alone clears the address, -prep -1 puts the default back; the rest stays
    aio_root.run("bpconfig", "-ma", "-prep", "-1")
    raw = aio_root.run("bpconfig", "-l").stdout.split()
    assert raw[0] == "*NULL*" and raw[13] == "4" and raw[3] == "10"


@pytest.mark.parametrize("argv", [
    ["-bogus"], ["-wi", "0"], ["-wi", "61"], ["-mj", "0"], ["-mj", "x"], ["-tries", "0"],
    ["-max_copies", "1"], ["-max_copies", "11"], ["-cd", "3600"], ["-prep", "49"],
    ["-pui", "1441"], ["-to", "-5"], ["-L", "-mj", "3"], ["-U", "-tries", "4"],
    ["-ma", "two words"], ["-wi"], ["extra"]])
def test_bpconfig_bad_input_is_20_and_changes_nothing(aio_root: Host, argv: list[str]) -> None:
    aio_root.run("bpconfig", "-tries", "5")  # there is a file to keep unchanged
    fails(aio_root, 20, "bpconfig", *argv)
    assert aio_root.run("bpconfig", "-l").stdout.split()[4] == "5"


# --- bpclient ---------------------------------------------------------------------------------

def test_bpclient_add_show_update_delete(aio_root: Host) -> None:
    fails(aio_root, 227, "bpclient", "-All", "-L")
    aio_root.run("bpclient", "-client", "web01", "-add", "-max_jobs", "4",
                 "-connect_options", "1", "0", "2", "-free_browse", "1")
    aio_root.run("bpclient", "-client", "db01", "-add")
    block = aio_root.run("bpclient", "-client", "web01", "-L").stdout.splitlines()
    assert len(block) == 20 and block[0] == "Client Name: web01"
    assert block[1] == "Current Host:" and block[2].strip() == "Hostname: web01"
    fields = labelled("\n".join(block))
    assert fields["Max Jobs This Client"] == "4" and fields["Free Browse"] == "Deny"
    assert fields["Connect options"] == "1 0 2" and fields["Dynamic Address"] == "no"
    assert fields["List Restore"] == "Not Specified" and fields["Offline Backup"] == "no"
    assert aio_root.run("bpclient", "-client", "web01").stdout == "\n".join(block) + "\n"

    aio_root.run("bpclient", "-client", "web01", "-update", "-max_jobs", "8",
                 "-dynamic_address", "1", "-current_host", "web01-b", "-ip", "10.0.0.5",
                 "-list_restore", "3", "-offline_backup")
    assert aio_root.run("bpclient", "-client", "web01", "-l").stdout == \
        "CLIENT web01 web01-b 10.0.0.5 0 1 1 3 8 1 0 2 1 0\n"
    assert aio_root.run("bpclient", "-All", "-l").stdout.splitlines() == [
        "CLIENT db01 db01 *NULL* 0 0 0 0 -1 2 2 3 0 0",
        "CLIENT web01 web01-b 10.0.0.5 0 1 1 3 8 1 0 2 1 0"]
    # the Perl idiom: 20 lines a record, host name from the third
    hosts = shell(aio_root, "bpclient -All -L | perl -ne "
                            "'print \"$1\\n\" if ($. % 20 == 3) && /Hostname: (.*)/'")
    assert hosts == "db01\nweb01-b\n"
    assert aio_root.run("bpclient", "-All").stdout.count("Client Name: ") == 2

    aio_root.run("bpclient", "-client", "web01", "-update", "-online")
    assert aio_root.run("bpclient", "-client", "web01", "-l").stdout.split()[-2:] == ["0", "0"]
    aio_root.run("bpclient", "-client", "db01", "-delete")
    assert [x.split()[1] for x in aio_root.run("bpclient", "-All", "-l").stdout.splitlines()] \
        == ["web01"]
    fails(aio_root, 227, "bpclient", "-client", "db01", "-L")


@pytest.mark.parametrize("status, argv", [
    (226, ["-client", "web01", "-add"]),
    (227, ["-client", "nobody", "-update", "-max_jobs", "2"]),
    (227, ["-client", "nobody", "-delete"]), (227, ["-client", "nobody", "-l"]),
    (20, ["-client", "c2", "-add", "-max_jobs", "0"]),
    (20, ["-client", "c2", "-add", "-max_jobs", "100"]),
    (20, ["-client", "web01", "-update", "-free_browse", "3"]),
    (20, ["-client", "web01", "-update", "-connect_options", "1", "2"]),
    (20, ["-client", "web01", "-update", "-connect_options", "3", "2", "3"]),
    (20, ["-client", "bad/name", "-add"]), (225, ["-client", "c" * 129, "-add"]),
    (20, ["-All", "-client", "web01"]), (20, ["-add"]), (20, ["-client", "web01", "-L", "-add"]),
    (20, ["-client", "web01", "-max_jobs", "3"]), (20, ["-client", "web01", "-delete", "-online"]),
    (20, ["-All", "-max_jobs", "3"]), (20, ["-client", "web01", "-bogus"])])
def test_bpclient_bad_input(aio_root: Host, status: int, argv: list[str]) -> None:
    aio_root.run("bpclient", "-client", "web01", "-add", "-max_jobs", "5")
    fails(aio_root, status, "bpclient", *argv)
    assert aio_root.run("bpclient", "-client", "web01", "-l").stdout.split()[8] == "5"


# --- bpretlevel -------------------------------------------------------------------------------

def rows(host: Host, *argv: str) -> dict[int, tuple[int, int, str]]:
    out = {}
    for line in host.run("bpretlevel", *argv).stdout.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+\(\s*(\d+)\)\s+(.+)$", line)
        if m:
            out[int(m[1])] = (int(m[2]), int(m[3]), m[4])
    return out


def test_bpretlevel_lists_and_changes_levels(aio_root: Host) -> None:
    out = aio_root.run("bpretlevel").stdout.splitlines()
    assert [line[0] for line in out[:3]] == ["R", "L", "-"]
    table = rows(aio_root, "-L")
    assert len(table) == 101
    assert table[0] == (7, 604800, "1 week") and table[3] == (31, 2678400, "1 month")
    assert table[8] == (365, 31536000, "1 year")
    assert table[9] == table[24] == table[100] == (24855, 2147483647, "infinity")
    assert table[25] == (0, 0, "expires immediately")

    aio_root.run("bpretlevel", "-r", "3", "-p", "45")
    aio_root.run("bpretlevel", "-r", "12", "-p", "14")
    aio_root.run("bpretlevel", "-r", "0", "-p", "infinity")
    aio_root.run("bpretlevel", "-r", "30", "-s", "129600")
    table = rows(aio_root)
    assert table[3] == (45, 3888000, "45 days") and table[12] == (14, 1209600, "2 weeks")
    assert table[0] == (24855, 2147483647, "infinity")
    assert table[30] == (1, 129600, "36 hours") and table[4] == (62, 5356800, "2 months")
    raw = aio_root.run("bpretlevel", "-l").stdout.splitlines()
    assert raw[3] == "3 45 3888000 45 days" and len(raw) == 101
    user = aio_root.run("bpretlevel", "-U").stdout.splitlines()
    assert user[0].startswith("Retention Level") and user[2 + 12].split(None, 1) == \
        ["12", "2 weeks"]


@pytest.mark.parametrize("argv", [
    ["-r", "9", "-p", "30"], ["-r", "9", "-p", "infinity"], ["-r", "25", "-p", "1"],
    ["-r", "101", "-p", "1"], ["-r", "-1", "-p", "1"], ["-r", "3", "-p", "x"],
    ["-r", "3", "-p", "-2"], ["-r", "3", "-s", "2147483647"], ["-r", "3"], ["-p", "3"],
    ["-r", "3", "-p", "3", "-s", "60"], ["-L", "-r", "3", "-p", "3"], ["-bogus"]])
def test_bpretlevel_bad_input_is_20(aio_root: Host, argv: list[str]) -> None:
    aio_root.run("bpretlevel", "-r", "5", "-p", "10")
    fails(aio_root, 20, "bpretlevel", *argv)
    assert rows(aio_root)[5] == (10, 864000, "10 days")


# --- all three --------------------------------------------------------------------------------

def test_concurrent_writers_lose_nothing(aio_root: Host) -> None:
    def start(*argv: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(programs.argv_for(argv[0]) + list(argv[1:]), env=aio_root.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    settings = {"-tries": 3, "-mj": 5, "-kl": 7, "-ha": 30, "-kt": 4, "-pui": 20, "-wi": 15,
                "-period": 6, "-cleanup_int": 8, "-cleanup_wait": 45}
    procs = [start("bpconfig", flag, str(v)) for flag, v in settings.items()]
    procs += [start("bpclient", "-client", f"c{n}", "-add", "-max_jobs", str(n + 1))
              for n in range(12)]
    procs += [start("bpretlevel", "-r", str(level), "-p", str(level)) for level in range(10, 20)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    raw = aio_root.run("bpconfig", "-l").stdout.split()
    assert [raw[i] for i in (4, 3, 5, 11, 12, 16, 1, 2, 14, 15)] == \
        [str(v) for v in settings.values()]
    clients = aio_root.run("bpclient", "-All", "-l").stdout.splitlines()
    assert sorted((x.split()[1], x.split()[8]) for x in clients) == \
        sorted((f"c{n}", str(n + 1)) for n in range(12))
    table = rows(aio_root)
    assert all(table[level][0] == level for level in range(10, 20))


def test_only_the_master_keeps_attributes(tmp_path: Path) -> None:
    (spec,) = multihost.create(tmp_path / "hosts", layout=[("cl", "127.0.0.3", ["client"])])
    client = Host(spec)
    for argv in (["bpconfig", "-L"], ["bpconfig", "-mj", "2"], ["bpclient", "-All"],
                 ["bpclient", "-client", "x", "-add"], ["bpretlevel"],
                 ["bpretlevel", "-r", "3", "-p", "5"]):
        r = client.run(*argv, check=False)
        assert r.returncode == 153 and exit_line(153) in r.stderr, argv


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_exit_status(aio_root: Host, command: str) -> None:
    text = aio_root.run(command, "-help").stdout
    codes = text.split("EXIT STATUS\n")[1].split("\n\nOptions:")[0].splitlines()
    assert [c.split()[0] for c in codes if re.match(r"\s+\d+\s+\S", c)] == \
        [c.split()[0] for c in codes] and codes[0].split()[0] == "0", codes
