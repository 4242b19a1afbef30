"""The policy commands as real processes on an all-in-one host (no daemons needed): outputs
field by field, runbook pipelines, statuses for bad input, and concurrent writers."""

from __future__ import annotations

import os
import re
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import clock, config, multihost, programs
from nbcli.status import exit_line
from tests.conftest import Host
from tests.flowkit import add_stu
from tests.unit.test_policy_formats import SAMPLE_U

NOW = 1685708000  # the hosts' test clock stands still here
COMMANDS = ["bppolicynew", "bpplinfo", "bpplclients", "bpplinclude", "bpplsched",
            "bpplschedrep", "bppllist"]


@pytest.fixture
def host(aio_root: Host) -> Iterator[Host]:
    yield from policy_master(aio_root)


def policy_master(aio_root: Host) -> Iterator[Host]:
    """An all-in-one host on a test clock with bpdbm and nbemm running and storage units stu1
    and stu2 (the policy commands' fixture here and in test_runbook_policy)."""
    clock.set_test_clock(aio_root.root, fixed=NOW)
    # The commands ask bpdbm, the owner of db/class (PBX starts with it); bpdbm asks nbemm
    # whether a policy's storage units exist.
    aio_root.start("bpdbm", "nbemm", "nbcmdd")  # nbcmdd: fast commands
    for label in ("stu1", "stu2"):
        add_stu(aio_root, label, aio_root.root / "stus" / label, media=aio_root.name)
    yield aio_root
    aio_root.stop()
    assert aio_root.processes() == []


def db_state(host: Host) -> dict[str, bytes]:
    """Every file under db/class, so a failed command can be shown to have changed nothing."""
    base = host.cfg.paths.policies
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file()}


def fails(host: Host, status: int, *argv: str) -> str:
    """Run a command that must fail with `status` and leave the policies untouched."""
    before = db_state(host)
    r = host.run(*argv, check=False)
    assert r.returncode == status % 256, r.stderr
    assert r.stderr.rstrip().endswith(exit_line(status)), r.stderr
    assert "Traceback" not in r.stderr
    assert db_state(host) == before
    return r.stderr


def shell(host: Host, script: str) -> str:
    """A runbook line, run by bash with the commands on PATH."""
    path = f"{sysconfig.get_path('scripts')}:{os.environ['PATH']}"
    r = subprocess.run(["bash", "-c", script], env=host.env(PATH=path), text=True,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_policy(host: Host, name: str = "pol") -> None:
    host.run("bppolicynew", name)
    host.run("bpplclients", name, "-add", "c1", "Linux", "RedHat", "c2", "Linux", "Debian")
    host.run("bpplinclude", name, "-add", "/etc", "/home")
    host.run("bpplsched", name, "-add", "full", "-st", "FULL", "-freq", "604800", "-rl", "3",
             "-window", "64800", "43200")


def test_new_policy_is_netbackups_default(host: Host) -> None:
    host.run("bppolicynew", "airbus_policy")
    assert host.run("bppllist").stdout == "airbus_policy\n"
    out = host.run("bppllist", "airbus_policy", "-U").stdout
    date = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(NOW))
    assert out == SAMPLE_U.format(name="airbus_policy", date=date) + "\n"
    raw = host.run("bppllist", "airbus_policy").stdout.splitlines()
    assert raw[0].split()[:2] == ["CLASS", "airbus_policy"]
    info = raw[2].split()
    assert info[0] == "INFO" and info[1] == "0" and info[11] == "0" and info[19] == str(NOW)
    assert "POOL NetBackup" in raw[7] and raw[9] == "SHAREGROUP *ANY*"


def test_runbook_idioms(host: Host) -> None:
    make_policy(host, "alpha")
    make_policy(host, "beta")
    assert shell(host, 'for i in $(bppllist); do echo "policy $i"; done') == \
        "policy alpha\npolicy beta\n"
    assert shell(host, "bppllist alpha | grep INCLUDE | cut -d' ' -f2") == "/etc\n/home\n"
    assert shell(host, "bppllist alpha -l | awk '/^INFO/ {print $12}'") == "0\n"
    host.run("bpplinfo", "alpha", "-modify", "-inactive")
    assert shell(host, "bppllist alpha -l | awk '/^INFO/ {print $12}'") == "1\n"
    assert shell(host, "bpplclients | tail -n +3 | awk '{print $3}'") == "c1\nc2\nc1\nc2\n"
    assert shell(host, "bpplclients -allunique -noheader | awk '{print $3}'") == "c1\nc2\n"
    assert shell(host, "bppllist -allpolicies | grep -c '^CLASS'") == "2\n"
    assert shell(host, "bppllist -allpolicies -U | grep -c 'Policy Name:'") == "2\n"


def test_sameas_and_renameto(host: Host) -> None:
    make_policy(host, "src")
    host.run("bppolicynew", "copy", "-sameas", "src")
    src = host.run("bppllist", "src").stdout.splitlines()
    copy = host.run("bppllist", "copy").stdout.splitlines()
    assert copy[0].split()[1] == "copy" and copy[3:] == src[3:]  # all but CLASS/NAMES/INFO
    host.run("bppolicynew", "src", "-renameto", "moved")
    assert host.run("bppllist").stdout.split() == ["copy", "moved"]
    assert "/home" in host.run("bpplinclude", "moved", "-l").stdout
    fails(host, 230, "bppllist", "src")


def test_bpplinfo_set_versus_modify(host: Host) -> None:
    make_policy(host)
    host.run("bpplinfo", "pol", "-modify", "-pt", "MS-Windows", "-priority", "7",
             "-policyjobs", "3", "-keyword", "nightly files", "-compress", "1",
             "-residence", "stu1", "-pool", "tapes", "-ef", "01/02/2030 10:00:00")
    host.run("bpplinfo", "pol", "-modify", "-encrypt", "1", "-maxjobs", "4")
    info = host.run("bpplinfo", "pol", "-l").stdout.splitlines()
    f = info[0].split()
    assert (f[1], f[3], f[4], f[6], f[8]) == ("13", "1", "7", "1", "4")  # modify kept the rest
    assert f[19] == str(int(time.mktime((2030, 1, 2, 10, 0, 0, 0, 0, -1))))
    assert "KEY nightly files" in info and info[4].split()[1] == "stu1"
    long = {line[:23].rstrip(" :"): line[24:] for line in
            host.run("bpplinfo", "pol", "-L").stdout.splitlines()}
    assert long["Policy Type"] == "MS-Windows (13)" and long["Max Jobs/Policy"] == "4"
    assert long["Volume Pool"] == "tapes" and long["Client Encrypt"] == "yes"

    host.run("bpplinfo", "pol", "-set", "-priority", "3")
    f = host.run("bpplinfo", "pol", "-l").stdout.split("\n")[0].split()
    assert (f[1], f[3], f[4], f[6], f[8], f[19]) == ("0", "0", "3", "0", "2147483647", str(NOW))
    u = host.run("bpplinfo", "pol", "-U").stdout
    assert "  Volume Pool:         NetBackup\n" in u and "(none specified)" in u
    # -set resets attributes only: clients, selections and schedules stay
    assert host.run("bpplclients", "pol", "-noheader").stdout.count("\n") == 2
    assert "SCHED full" in host.run("bppllist", "pol").stdout


def test_clients(host: Host) -> None:
    make_policy(host)
    host.run("bpplclients", "pol", "-add", "c3", "Solaris", "Solaris11", "-priority", "5")
    host.run("bpplclients", "pol", "-modify", "c1", "-hardware", "x86_64", "-os", "Rocky9")
    host.run("bpplclients", "pol", "-delete", "c2")
    table = host.run("bpplclients", "pol").stdout.splitlines()
    assert table[0].split() == ["Hardware", "OS", "Client"] and table[1].startswith("-----")
    assert table[2].index("c1") == 44 and table[2].split() == ["x86_64", "Rocky9", "c1"]
    assert table[3].split() == ["Solaris", "Solaris11", "c3"] and len(table) == 4
    raw = host.run("bpplclients", "pol", "-l").stdout.splitlines()
    assert raw == ["CLIENT c1 x86_64 Rocky9 0 0 0 0 ?", "CLIENT c3 Solaris Solaris11 5 0 0 0 ?"]
    assert shell(host, "bpplclients pol -L | awk '{print $2}'") == "c1\nc3\n"
    assert "HW/OS/Client:  x86_64" in host.run("bppllist", "pol", "-U").stdout
    fails(host, 239, "bpplclients", "pol", "-delete", "c3", "ghost")  # nothing deleted
    fails(host, 239, "bpplclients", "pol", "-modify", "ghost", "-os", "x")
    fails(host, 226, "bpplclients", "pol", "-add", "c3", "Linux", "RedHat")
    fails(host, 20, "bpplclients", "pol", "-add", "c4", "Linux")
    fails(host, 20, "bpplclients", "pol", "-add", "bad/name", "Linux", "RedHat")
    fails(host, 20, "bpplclients", "pol", "-add", "c5", "Red Hat", "Linux")


def test_includes(host: Host, tmp_path: Path) -> None:
    make_policy(host)
    listing = tmp_path / "list.txt"
    listing.write_text("/srv\n\nNEW_STREAM\n/with space\n")
    host.run("bpplinclude", "pol", "-add", "-f", str(listing))
    host.run("bpplinclude", "pol", "-modify", "/home", "/export/home")
    host.run("bpplinclude", "pol", "-delete", "/etc")
    assert host.run("bpplinclude", "pol", "-l").stdout.splitlines() == [
        "INCLUDE /export/home", "INCLUDE /srv", "INCLUDE NEW_STREAM", "INCLUDE /with space"]
    assert [line[19:] for line in host.run("bpplinclude", "pol", "-L").stdout.splitlines()] \
        == ["/export/home", "/srv", "NEW_STREAM", "/with space"]
    assert host.run("bpplinclude", "pol").stdout.splitlines()[0] == "  Include:  /export/home"
    fails(host, 227, "bpplinclude", "pol", "-delete", "/not/there")
    fails(host, 12, "bpplinclude", "pol", "-add", "-f", str(tmp_path / "missing"))
    fails(host, 20, "bpplinclude", "pol", "-modify", "/srv")


def test_schedules(host: Host) -> None:
    make_policy(host)
    host.run("bpplsched", "pol", "-add", "monthly", "-st", "CINC", "-cal", "2", "-number_copies",
             "2", "-rl", "8,9", "-residence", "stu1,stu2", "-fail_on_error", "0,1",
             "-incl", "12/25/2030", "-excl", "01/01/2031", "-weekday", "Monday", "1",
             "-dayomonth", "l", "-mpxmax", "4", "-synthetic", "1")
    host.run("bpplsched", "pol", "-add", "user", "-st", "UBAK", "-window", "0", "86400")
    raw = host.run("bpplsched", "pol", "-l", "-label", "monthly").stdout.splitlines()
    f = raw[0].split()
    assert f[1:6] == ["monthly", "4", "4", "604800", "8"] and f[11:15] == ["2", "2", "0", "1"]
    records = {line.split()[0]: line.split()[1:] for line in raw}
    assert records["SCHEDRES"][:2] == ["stu1", "stu2"] and records["SCHEDRL"][:2] == ["8", "9"]
    assert records["SCHEDFOE"][:2] == ["0", "1"] and records["SCHEDCALENDAR"] == ["1"]
    assert records["SCHEDCALDAYOFWEEK"] == ["1,1"] and records["SCHEDCALDAYOFMONTH"] == ["l"]
    u = host.run("bpplsched", "pol", "-U", "-label", "monthly").stdout
    assert "Calendar sched: Enabled" in u and "Retention Level:     9 (infinity)" in u
    assert "12/25/2030" in u and "Monday, Week 1" in u and "01/01/2031" in u
    listing = host.run("bpplsched", "pol", "-L").stdout.splitlines()
    assert [line.split()[1] for line in listing if line.startswith("Schedule:")] == \
        ["full", "monthly", "user"]
    full = host.run("bppllist", "pol", "-U").stdout
    assert "Frequency:           every 7 days (604800 seconds)" in full
    assert "Sunday     18:00:00  -->  Monday     06:00:00" in full

    fails(host, 197, "bpplsched", "pol", "-delete", "user,ghost")  # all or nothing
    fails(host, 226, "bpplsched", "pol", "-add", "user")
    host.run("bpplsched", "pol", "-delete", "user,monthly")
    assert shell(host, "bppllist pol | grep '^SCHED ' | cut -d' ' -f2") == "full\n"
    host.run("bpplsched", "pol", "-deleteall")
    assert "SCHED" not in host.run("bppllist", "pol").stdout


def test_schedrep(host: Host) -> None:
    make_policy(host)
    host.run("bpplschedrep", "pol", "full", "-rl", "5", "-freq", "86400", "-0", "0", "0",
             "-6", "21600", "7200")
    host.run("bpplschedrep", "pol", "full", "-cal", "1", "-weekday", "Monday", "2",
             "Friday", "every", "-dayomonth", "1", "15")
    host.run("bpplschedrep", "pol", "full", "-delweekday", "Monday", "2", "-deldayomonth",
             "1")
    records = {line.split()[0]: line.split()[1:] for line in
               host.run("bpplsched", "pol", "-l").stdout.splitlines()}
    assert records["SCHED"][3:5] == ["86400", "5"] and records["SCHED"][10] == "1"
    assert records["SCHEDWIN"] == ["0", "0"] + ["64800", "43200"] * 5 + ["21600", "7200"]
    assert records["SCHEDCALDAYOFWEEK"] == [";".join(f"5,{w}" for w in range(1, 6))]
    assert records["SCHEDCALDAYOFMONTH"] == ["15"]
    fails(host, 197, "bpplschedrep", "pol", "nosuch", "-rl", "1")
    fails(host, 231, "bpplschedrep", "pol", "full", "-1", "64800", "90000")
    fails(host, 20, "bpplschedrep", "pol", "full")


@pytest.mark.parametrize("argv,status", [
    (["bppllist", "nosuch"], 230),
    (["bppllist", "nosuch", "-U"], 230),
    (["bppllist", "-byclient", "nobody"], 227),
    (["bpplinfo", "nosuch", "-L"], 230),
    (["bpplinfo", "nosuch", "-modify", "-active"], 230),
    (["bpplclients", "nosuch"], 230),
    (["bpplclients", "nosuch", "-add", "c9", "Linux", "RedHat"], 230),
    (["bpplinclude", "nosuch", "-add", "/x"], 230),
    (["bpplsched", "nosuch", "-add", "s"], 230),
    (["bpplschedrep", "nosuch", "full", "-rl", "2"], 230),
    (["bppolicynew", "pol"], 226),
    (["bppolicynew", "pol", "-renameto", "pol"], 226),
    (["bppolicynew", "new", "-sameas", "nosuch"], 230),
    (["bppolicynew", "a/b"], 20),
    (["bppolicynew", "../escape"], 20),
    (["bppolicynew", "has space"], 20),
    (["bppolicynew", "x" * 129], 225),
    (["bppolicynew", "new", "-sameas", "pol", "-renameto", "other"], 20),
    (["bppllist", "pol", "-bogus"], 20),
    (["bpplinfo", "pol"], 20),
    (["bpplinfo", "pol", "-L", "-modify", "-active"], 20),
    (["bpplinfo", "pol", "-modify", "-compress", "2"], 20),
    (["bpplinfo", "pol", "-modify", "-pt", "NoSuchType"], 20),
    (["bpplinfo", "pol", "-modify", "-priority", "-1"], 20),
    (["bpplinfo", "pol", "-modify", "-ef", "13/45/2030"], 109),
    (["bpplinfo", "pol", "-modify", "-residence", "bad/stu"], 20),
    (["bpplsched", "pol", "-add", "s2", "-st", "WEEKLY"], 20),
    (["bpplsched", "pol", "-add", "s2", "-freq", "daily"], 20),
    (["bpplsched", "pol", "-add", "s2", "-rl", "101"], 20),
    (["bpplsched", "pol", "-add", "s2", "-cal", "1", "-incl", "02/30/2030"], 109),
    (["bpplsched", "pol", "-add", "s2", "-excl", "2030-01-01"], 109),
    (["bpplsched", "pol", "-add", "s2", "-incl", "01/01/2030"], 20),  # needs -cal 1|2
    (["bpplsched", "pol", "-add", "s2", "-window", "90000", "60"], 20),
    (["bpplsched", "pol", "-add", "s2", "-window", "0", "-60"], 20),
    (["bpplsched", "pol", "-add", "s2", "-window", "0", "999999"], 20),
    (["bpplsched", "pol", "-add", "s2", "-cal", "1", "-weekday", "Monday", "9"], 20),
    (["bpplsched", "pol", "-add", "s2", "-cal", "1", "-dayomonth", "32"], 20),
    (["bpplsched", "pol", "-add", "s2", "-number_copies", "2", "-rl", "1,2,3"], 20),
    (["bpplsched", "pol", "-add", "bad/label"], 20),
    (["bpplsched", "pol", "-rl", "3"], 20),
    (["bpplsched", "pol", "-add", "s2", "-delete", "full"], 20),
    (["bpplsched", "pol", "-label", "ghost"], 197),
    (["bpplsched", "pol", "-delete", "ghost"], 197),
])
def test_bad_input(host: Host, argv: list[str], status: int) -> None:
    make_policy(host)
    fails(host, status, *argv)


def test_only_the_master_keeps_policies(tmp_path: Path) -> None:
    (spec,) = multihost.create(tmp_path / "hosts", layout=[("cl", "127.0.0.3", ["client"])])
    client = Host(spec)
    assert config.load(client.root).roles == ["client"]
    for argv in (["bppllist"], ["bppolicynew", "p"], ["bpplclients"]):
        r = client.run(*argv, check=False)
        assert r.returncode == 153 and exit_line(153) in r.stderr


def test_concurrent_writers_lose_nothing(host: Host) -> None:
    host.run("bppolicynew", "busy")
    procs = [subprocess.Popen(programs.argv_for("bpplclients")
                              + ["busy", "-add", f"client{n}", "Linux", "RedHat"],
                              env=host.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for n in range(12)]
    procs += [subprocess.Popen(programs.argv_for("bpplinclude") + ["busy", "-add", f"/d{n}"],
                               env=host.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for n in range(6)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = host.run("bpplclients", "busy", "-noheader").stdout.split()[2::3]
    assert sorted(names) == sorted(f"client{n}" for n in range(12))
    includes = host.run("bpplinclude", "busy", "-l").stdout.split()[1::2]
    assert sorted(includes) == sorted(f"/d{n}" for n in range(6))


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_exit_status(host: Host, command: str) -> None:
    text = host.run(command, "-help").stdout
    description = text.split("\nOptions:")[0].rstrip().splitlines()
    section = description[[line.strip() for line in description].index("EXIT STATUS") + 1:]
    assert section and all(re.match(r"\s+\d+\s+\S", line) for line in section), section
    assert section[0].split()[0] == "0"


def generation(host: Host, name: str = "pol") -> int:
    """The policy's generation as a script reads it: bpplinfo P -L | grep Generation: | $2."""
    lines = [line for line in host.run("bpplinfo", name, "-L").stdout.splitlines()
             if re.match(r"Generation:\s", line)]
    assert len(lines) == 1, lines
    return int(lines[0].split()[1])


def test_generation_refuses_a_change_to_a_changed_policy(host: Host) -> None:
    make_policy(host)
    read = generation(host)
    host.run("bpplinfo", "pol", "-modify", "-priority", "5", "-generation", str(read))
    assert generation(host) == read + 1
    # The generation the script read is stale now: every policy command refuses with 20.
    stale = str(read)
    err = fails(host, 20, "bpplinfo", "pol", "-modify", "-priority", "7", "-generation", stale)
    assert f"at generation {read + 1}, not {read}" in err
    fails(host, 20, "bpplclients", "pol", "-add", "c3", "Linux", "RedHat", "-generation", stale)
    fails(host, 20, "bpplclients", "pol", "-delete", "c1", "-generation", stale)
    fails(host, 20, "bpplclients", "pol", "-modify", "c1", "-os", "Alma", "-generation", stale)
    fails(host, 20, "bpplinclude", "pol", "-add", "/srv", "-generation", stale)
    fails(host, 20, "bpplsched", "pol", "-add", "incr", "-st", "INCR", "-generation", stale)
    fails(host, 20, "bpplsched", "pol", "-delete", "full", "-generation", stale)
    fails(host, 20, "bpplsched", "pol", "-deleteall", "-generation", stale)
    fails(host, 20, "bpplschedrep", "pol", "full", "-rl", "4", "-generation", stale)
    fails(host, 20, "bpplsched", "pol", "-L", "-generation", stale)
    fails(host, 20, "bpplinfo", "pol", "-L", "-generation", stale)
    # With the current generation each goes through, and each adds one.
    for argv in (["bpplclients", "pol", "-add", "c3", "Linux", "RedHat"],
                 ["bpplinclude", "pol", "-add", "/srv"],
                 ["bpplschedrep", "pol", "full", "-rl", "4"],
                 ["bpplsched", "pol", "-add", "incr", "-st", "INCR"]):
        now = generation(host)
        host.run(*argv, "-generation", str(now))
        assert generation(host) == now + 1
    assert "incr" in host.run("bpplsched", "pol", "-L", "-generation",
                              str(generation(host))).stdout
    fails(host, 20, "bpplinfo", "pol", "-modify", "-priority", "7", "-generation", "-1")


def test_bppllist_hwos(host: Host) -> None:
    make_policy(host)  # clients c1 Linux RedHat, c2 Linux Debian
    host.run("bpplclients", "pol", "-add", "c9", "ARM64", "Alpine")
    lines = host.run("bppllist", "-hwos").stdout.splitlines()
    # one `hardware os` pair a line, as `bpplclients P -add C $hw $os` takes them
    assert all(re.fullmatch(r"\S+ \S+", line) for line in lines)
    assert lines == sorted(set(lines))
    pairs = [tuple(line.split()) for line in lines]
    assert {("Linux", "RedHat"), ("Linux", "Debian"), ("ARM64", "Alpine"),
            ("Windows-x64", "Windows")} <= set(pairs)
    fails(host, 20, "bppllist", "pol", "-hwos")


def excluded_entries(host: Host, form: str) -> list[str]:
    """The entries under `Excluded Dates----------`, up to the next rule or label."""
    lines = host.run("bpplsched", "pol", form, "-label", "full").stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Excluded Dates-" in line)
    out = []
    for line in lines[start + 1:]:
        if re.match(r"\s*(\w[\w ./]*:|\S+-{5,})", line):
            break
        out.append(line.strip())
    return out


def test_bpplschedrep_xweekday_xdayomonth(host: Host) -> None:
    make_policy(host)
    host.run("bpplschedrep", "pol", "full", "-excl", "12/25/2024",
             "-xweekday", "Sunday", "0", "Friday", "5", "-xdayomonth", "15", "l")
    assert excluded_entries(host, "-U") == ["12/25/2024", "Sunday, Every Week",
                                            "Friday, Week 5", "Day 15 of the month",
                                            "Last day of the month"]
    assert excluded_entries(host, "-L")[0] == "EXCLUDE DATE 0 - 12/25/2024"
    fails(host, 20, "bpplschedrep", "pol", "full", "-xweekday", "Someday", "1")
    fails(host, 20, "bpplschedrep", "pol", "full", "-xdayomonth", "32")
    host.run("bpplschedrep", "pol", "full", "-ce")  # every exclusion goes
    assert excluded_entries(host, "-U") == ["No specific exclude dates entered",
                                            "No exclude days of week entered"]
