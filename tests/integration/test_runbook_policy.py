"""Runbook compatibility of the policy and configuration commands (issue 13, items 1-2; issue
11, item 5): every flag of NetBackup's synopsis as a real process, its output read the way
public scripts read it, and bad input refused with NetBackup's status, nothing stored.

The idioms and where they come from (reference/netbackup-cli.md §1.7, §1.13, §1.17):
- TECH42917 (Veritas, "What do entries in the 'bppllist <policy> -l' command indicate?"):
  the raw records by position - `awk '/^INFO/ {print $12}'` is the active flag (0 = active),
  INFO $2 the policy type, SCHED $2..$6 name, type, mpx, frequency, retention level.
- MARS (a public NetBackup report parser): `bppllist -allpolicies -l` split on `^(?=CLASS)`;
  `CLIENT <name> <hardware> <os> <priority> ...` split on one blank.
- centreon-plugins (apps/backup/netbackup, listpolicies): `bppllist`, then `bpplinfo <p> -L`
  matched with `Policy Type:\\s+(.*?)\\s*\\((\\d+)\\)` and `Active:\\s+(\\S+)`.
- Windows runbooks: `bppllist <p> -L` values cut at `SubString(19)`; `bpplclients` client
  names at `Substring(44)`; shell runbooks `bpplclients | tail -n +3 | awk '{print $3}'`.
- A public Perl inventory script: `bpclient -All -L` read 20 lines a client, `Hostname: (.*)`
  on the third.
- Schedule parsers: `/Frequency:.+\\((\\d+) sec/` and `Retention Level: <n> (<period>)`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nbcli.status import exit_line
from tests.conftest import Host
from tests.integration.test_policy_cmds import NOW, make_policy, policy_master, shell

DAY = 86400


@pytest.fixture
def site(aio_root: Host) -> Iterator[Host]:
    yield from policy_master(aio_root)


def stored(host: Host) -> dict[str, bytes]:
    """Every file bpdbm keeps for these commands: policies, client and global attributes."""
    db = host.cfg.paths.policies.parent
    return {str(p.relative_to(db)): p.read_bytes()
            for sub in ("class", "client", "config") for p in sorted((db / sub).rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def refused(host: Host, status: int, argv: list[str]) -> None:
    before = stored(host)
    r = host.run(*argv, check=False)
    where = " ".join(argv)[:200]
    assert r.returncode == status % 256, (where, r.returncode, r.stderr)
    assert r.stderr.rstrip().endswith(exit_line(status)), (where, r.stderr)
    assert "Traceback" not in r.stderr, (where, r.stderr)
    assert stored(host) == before, where


def info(host: Host, policy: str) -> list[str]:
    """The INFO record's fields, INFO itself at 0 (awk's $1)."""
    return host.run("bpplinfo", policy, "-l").stdout.splitlines()[0].split()


def records(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}


# --- bppllist ---------------------------------------------------------------------------------


def test_bppllist_every_flag(site: Host) -> None:
    make_policy(site, "alpha")
    make_policy(site, "beta")
    site.run("bpplinfo", "alpha", "-modify", "-keyword", "nightly files")
    site.run("bpplinfo", "beta", "-modify", "-pt", "MS-Windows")
    site.run("bpplclients", "beta", "-add", "w1", "Windows", "Windows2019")
    # MARS: -allpolicies raw, one policy per CLASS record
    raw = site.run("bppllist", "-allpolicies", "-l").stdout
    assert [p.split()[1] for p in re.split(r"^(?=CLASS)", raw, flags=re.M) if p] == \
        ["alpha", "beta"]
    assert site.run("bppllist", "-allpolicies").stdout == raw  # raw is the default
    # -byclient, -keyword, -pt select; names come from the CLASS records
    def classes(*argv: str) -> list[str]:
        out = site.run("bppllist", *argv).stdout
        return [line.split()[1] for line in out.splitlines() if line.startswith("CLASS ")]
    assert classes("-byclient", "w1") == ["beta"] and classes("-byclient", "c1") == \
        ["alpha", "beta"]
    assert classes("-keyword", "nightly") == ["alpha"]
    assert classes("-allpolicies", "-pt", "MS-Windows") == ["beta"]
    assert classes("-allpolicies", "-pt", "13") == ["beta"]
    # -v / -verbose change nothing in the output
    for flag in ("-v", "-verbose"):
        assert site.run("bppllist", "alpha", "-U", flag).stdout == \
            site.run("bppllist", "alpha", "-U").stdout
    # -U: labels at two blanks, values at column 23; -L: values at column 19 (SubString(19))
    u = site.run("bppllist", "alpha", "-U").stdout.splitlines()
    assert "  Keyword:             nightly files" in u
    long = {line[:18].rstrip(" :"): line[19:] for line in
            site.run("bppllist", "alpha", "-L").stdout.splitlines() if line[:1].strip()}
    assert long["Policy Name"] == "alpha" and long["Policy Type"] == "Standard (0)"
    assert long["Keyword"] == "nightly files" and long["Active"] == "yes"
    # -M with a list: each master in turn (here the same one twice); the names, twice
    me = site.name
    assert site.run("bppllist", "-M", f"{me},{me}").stdout == "alpha\nbeta\n" * 2
    assert site.run("bppllist", "alpha", "-M", me).stdout == raw.split("CLASS beta")[0]
    refused(site, 20, ["bppllist", "-M", f"{me},,{me}"])
    refused(site, 20, ["bppllist", "-allpolicies", "-pt", "NoSuchType"])
    refused(site, 227, ["bppllist", "-byclient", "nobody"])


def test_centreon_listpolicies_reads_bpplinfo_L(site: Host) -> None:
    make_policy(site, "alpha")
    site.run("bpplinfo", "alpha", "-modify", "-inactive", "-pt", "MS-Windows")
    names = shell(site, "bppllist").split()
    out = site.run("bpplinfo", names[0], "-L").stdout
    ptype = re.search(r"Policy Type:\s+(.*?)\s*\((\d+)\)", out)
    active = re.search(r"Active:\s+(\S+)", out)
    assert ptype and ptype.groups() == ("MS-Windows", "13")
    assert active and active.group(1) == "no"


# --- bpplinfo ---------------------------------------------------------------------------------

# flag(s) -> (INFO field by awk's numbering minus one, expected value) or another record's check
INFO_FLAGS: list[tuple[list[str], int, str]] = [
    (["-pt", "MS-Windows"], 1, "13"), (["-pt", "Standard"], 1, "0"),
    (["-follownfs", "1"], 2, "1"), (["-compress", "1"], 3, "1"), (["-priority", "42"], 4, "42"),
    (["-encrypt", "1"], 6, "1"), (["-policyjobs", "3"], 8, "3"), (["-crossmp", "1"], 9, "1"),
    (["-inactive"], 11, "1"), (["-active"], 11, "0"), (["-collect_tir_info", "2"], 12, "2"),
    (["-blkincr", "1"], 13, "1"), (["-multiple_streams", "1"], 16, "1"),
    (["-ut", "-ef", "1900000000"], 19, "1900000000"), (["-chkpt", "1"], 22, "1"),
    (["-chkpt_intrvl", "30"], 23, "30"),
]

# NetBackup's flags for features nbcli does not have: accepted, nothing changes.
IGNORED_INFO = [["-collect_bmr_info", "1"], ["-disaster", "1"], ["-granular_restore_info", "1"],
                ["-job_subtype", "DUPLICATE"], ["-rfile", "1"], ["-ignore_client_direct", "1"],
                ["-use_accelerator", "1"], ["-application_discovery", "1"],
                ["-discovery_lifetime", "3600"], ["-use_virtual_machine", "1"],
                ["-alt_client_name", "MEDIA_SERVER"], ["-snapshot_method", "VMware_v2"],
                ["-snapshot_method_args", "Virtual_machine_backup=2,nameuse=0"],
                ["-application_consistent", "1"], ["-reason", "change ticket 42"], ["-v"]]


def test_bpplinfo_every_flag(site: Host) -> None:
    make_policy(site, "pol")
    for argv, field, want in INFO_FLAGS:
        site.run("bpplinfo", "pol", "-modify", *argv)
        assert info(site, "pol")[field] == want, argv
    site.run("bpplinfo", "pol", "-modify", "-keyword", "gold tier", "-residence", "stu1",
             "-pool", "tapes", "-sg", "*NONE*", "-data_class", "Gold")
    rec = records(site.run("bpplinfo", "pol", "-l").stdout)
    assert rec["KEY"] == ["gold", "tier"] and rec["RES"][0] == "stu1"
    assert rec["POOL"][0] == "tapes" and rec["SHAREGROUP"] == ["*NONE*"]
    assert rec["DATACLASSIFICATION"] == ["Gold"]
    site.run("bpplinfo", "pol", "-modify", "-residence", "*NULL*")
    assert records(site.run("bpplinfo", "pol", "-l").stdout)["RES"][0] == "*NULL*"
    def unchanged_but_generation() -> list[list[str]]:
        lines = [line.split(" ") for line in site.run("bppllist", "pol", "-l").stdout.split("\n")]
        return [line[:37] + line[38:] if line[0] == "INFO" else line for line in lines]
    before = unchanged_but_generation()
    for argv in IGNORED_INFO:
        site.run("bpplinfo", "pol", "-modify", *argv)
    assert unchanged_but_generation() == before
    # -set: defaults, then what is given; the generation (INFO field 37) went up each time
    site.run("bpplinfo", "pol", "-set", "-priority", "9", "-use_accelerator", "0")
    f = info(site, "pol")
    assert (f[1], f[4], f[8], f[11], f[19]) == ("0", "9", "2147483647", "0", str(NOW))
    assert int(f[37]) > len(INFO_FLAGS)
    me = site.name
    site.run("bpplinfo", "pol", "-modify", "-priority", "11", "-M", f"{me},{me}")
    assert info(site, "pol")[4] == "11"



def test_bpplinfo_ef_takes_the_time_as_the_next_word(site: Host) -> None:
    """`-ef 03/01/2030 00:00:00` as NetBackup's examples write it: the same effective time as
    the quoted form (INFO field 19), never "unexpected extra arguments"."""
    make_policy(site, "eftime")
    site.run("bpplinfo", "eftime", "-modify", "-ef", "03/01/2030 06:30:00")
    quoted = info(site, "eftime")[19]
    site.run("bpplinfo", "eftime", "-modify", "-ef", "01/01/2031")
    assert info(site, "eftime")[19] != quoted
    site.run("bpplinfo", "eftime", "-modify", "-ef", "03/01/2030", "06:30:00")
    assert info(site, "eftime")[19] == quoted

# --- bpplsched --------------------------------------------------------------------------------


def test_bpplsched_every_flag(site: Host) -> None:
    make_policy(site, "pol")
    site.run("bpplsched", "pol", "-add", "incr", "-st", "INCR", "-freq", str(DAY), "-rl", "2",
             "-window", "3600", "7200", "-mpxmax", "4", "-number_copies", "2",
             "-residence", "stu1,stu2", "-pool", "p1,p2", "-fail_on_error", "1,0",
             "-synthetic", "0", "-sg", "g1,*NULL*", "-pfi_fast_recovery", "1",
             "-res_is_stl", "0", "-checksum_change_detection", "1", "-reason", "ticket 7",
             "-v")
    noon = int(time.mktime((2031, 3, 4, 12, 0, 0, 0, 0, -1)))
    site.run("bpplsched", "pol", "-add", "cal", "-st", "FULL", "-cal", "1", "-ut", "-incl",
             str(noon), "-excl", str(noon + 7 * DAY), "-weekday", "Friday", "2",
             "-dayomonth", "15", "-window", "0", "3600")
    raw = site.run("bpplsched", "pol", "-l", "-label", "incr").stdout
    # TECH42917: SCHED name, type, max_mpx, frequency, retention, ..., calendar, copies, foe
    sched = raw.splitlines()[0].split()
    assert sched[1:6] == ["incr", "1", "4", str(DAY), "2"] and sched[11:14] == ["0", "2", "1"]
    rec = records(raw)
    assert rec["SCHEDWIN"] == ["3600", "7200"] * 7
    assert rec["SCHEDRES"][:3] == ["stu1", "stu2", "*NULL*"]
    assert rec["SCHEDPOOL"][:2] == ["p1", "p2"] and rec["SCHEDFOE"][:2] == ["1", "0"]
    assert rec["SCHEDSG"][:2] == ["g1", "*NULL*"]
    cal = records(site.run("bpplsched", "pol", "-l", "-label", "cal").stdout)
    midnight = int(time.mktime((2031, 3, 4, 0, 0, 0, 0, 0, -1)))
    assert cal["SCHEDCALDATES"] == [str(midnight)] and cal["SCHEDCALENDAR"] == ["0"]
    assert cal["SCHEDCALDAYOFWEEK"] == ["5,2"] and cal["SCHEDCALDAYOFMONTH"] == ["15"]
    assert cal["SCHEDCALEDATES"] == [str(int(time.mktime((2031, 3, 11, 0, 0, 0, 0, 0, -1))))]
    u = site.run("bpplsched", "pol", "-U", "-label", "incr").stdout
    freq = re.search(r"Frequency:.+\((\d+) sec", u)
    assert freq and freq.group(1) == str(DAY)
    assert re.findall(r"Retention Level:\s+(\d+) \((.*)\)", u) == [("2", "3 weeks")] * 2
    assert "03/04/2031" in site.run("bpplsched", "pol", "-L", "-label", "cal").stdout
    site.run("bpplsched", "pol", "-delete", "incr,cal", "-reason", "cleanup")
    assert [s.split()[1] for s in site.run("bpplsched", "pol", "-l").stdout.splitlines()
            if s.startswith("SCHED ")] == ["full"]
    site.run("bpplsched", "pol", "-deleteall")
    assert site.run("bpplsched", "pol", "-U").stdout == ""


def test_listings_name_the_configured_retention_period(site: Host) -> None:
    make_policy(site, "pol")  # its schedule "full" keeps level 3
    site.run("bpretlevel", "-r", "3", "-p", "45")
    for argv in (["bpplsched", "pol", "-U"], ["bppllist", "pol", "-U"]):
        assert "    Retention Level:     3 (45 days)\n" in site.run(*argv).stdout, argv
    for argv in (["bpplsched", "pol", "-L"], ["bppllist", "pol", "-L"]):
        assert "  Retention Level: 3 (45 days)\n" in site.run(*argv).stdout, argv
    site.run("bpretlevel", "-r", "3", "-p", "infinity")
    assert "Retention Level:     3 (infinity)" in site.run("bpplsched", "pol", "-U").stdout


# --- bpplclients, bpplinclude -----------------------------------------------------------------


def test_bpplclients_every_flag(site: Host) -> None:
    make_policy(site, "alpha")
    site.run("bppolicynew", "win")
    site.run("bpplinfo", "win", "-modify", "-pt", "MS-Windows")
    site.run("bpplclients", "win", "-add", "w1", "Windows", "Windows2019", "-priority", "5",
             "-reason", "new host")
    # Windows runbooks: the client name from column 44
    table = site.run("bpplclients").stdout.splitlines()
    assert [line[44:] for line in table[2:]] == ["c1", "c2", "w1"]
    assert shell(site, "bpplclients | tail -n +3 | awk '{print $3}'") == "c1\nc2\nw1\n"
    assert site.run("bpplclients", "-allunique", "-pt", "MS-Windows", "-noheader").stdout \
        .split() == ["Windows", "Windows2019", "w1"]
    # MARS: CLIENT name hardware os priority, split on one blank
    raw = site.run("bpplclients", "win", "-l").stdout.split("\n")[0].split(" ")
    assert raw[:5] == ["CLIENT", "w1", "Windows", "Windows2019", "5"]
    site.run("bpplclients", "win", "-modify", "w1", "-os", "Windows2022", "-priority", "1")
    assert site.run("bpplclients", "win", "-L").stdout.startswith(
        "Client/HW/OS/Pri/DMI/CIT:  w1 Windows Windows2022 1 ")
    assert "Windows2022" in site.run("bpplclients", "win", "-U").stdout
    site.run("bpplclients", "win", "-add", "w2", "Windows", "Windows2019", "7")  # NetBackup's form
    assert site.run("bpplclients", "win", "-l").stdout.split("\n")[1].split(" ")[1:5] == \
        ["w2", "Windows", "Windows2019", "7"]
    site.run("bpplclients", "win", "-delete", "w1", "w2")
    assert site.run("bpplclients", "win", "-noheader").stdout == ""


def test_input_checks_store_nothing(site: Host) -> None:
    """Issue 11 item 5: a NetBackup status, nothing stored, never a traceback."""
    make_policy(site, "pol")
    site.run("bpclient", "-client", "c1", "-add")
    before = stored(site)
    # Four at a time (a few hundred commands one by one took a minute); since none may store
    # anything, the databases after all of them are what they were before.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda bad: (bad, site.run(*bad[1], check=False)), BAD))
    for (status, argv), r in results:
        where = " ".join(argv)[:200]
        assert r.returncode == status % 256, (where, r.returncode, r.stderr)
        assert r.stderr.rstrip().endswith(exit_line(status)), (where, r.stderr)
        assert "Traceback" not in r.stderr, (where, r.stderr)
    after = stored(site)
    assert after == before, sorted(k for k in before.keys() | after.keys()
                                   if before.get(k) != after.get(k))


NUMBERS = ["-1", "99999999999999999999", "1e30", "ten", ""]
LONG = "x" * 129
CTRL = "bad\x01name"

BAD: list[tuple[int, list[str]]] = [
    # issue 11: what NetBackup refuses that nbcli took
    (219, ["bpplinfo", "pol", "-modify", "-residence", "nostu"]),
    (219, ["bpplsched", "pol", "-add", "s2", "-residence", "stu1,nostu",
           "-number_copies", "2"]),
    (219, ["bpplschedrep", "pol", "full", "-residence", "nostu"]),
    (141, ["bpplinclude", "pol", "-add", "relative/path"]),
    (141, ["bpplinclude", "pol", "-add", "/ok", "also/relative"]),
    (141, ["bpplinclude", "pol", "-modify", "/etc", "etc"]),
    # numbers out of range or not numbers, flag by flag
    *[(20, ["bpplinfo", "pol", "-modify", flag, n]) for flag in
      ("-priority", "-policyjobs", "-collect_tir_info", "-compress", "-crossmp", "-follownfs",
       "-blkincr", "-multiple_streams", "-encrypt", "-chkpt", "-chkpt_intrvl",
       "-use_accelerator", "-discovery_lifetime", "-use_virtual_machine") for n in NUMBERS],
    *[(20, ["bpplsched", "pol", "-add", "s2", flag, n]) for flag in
      ("-freq", "-mpxmax", "-number_copies", "-synthetic", "-rl", "-fail_on_error", "-cal",
       "-pfi_fast_recovery", "-res_is_stl", "-checksum_change_detection") for n in NUMBERS],
    *[(20, ["bpplsched", "pol", "-add", "s2", "-window", a, b])
      for a, b in (("-1", "60"), ("0", "1e30"), ("0", "99999999999999999999"), ("x", "1"))],
    *[(20, ["bpplschedrep", "pol", "full", flag, n]) for flag in
      ("-freq", "-mpxmax", "-number_copies", "-rl", "-fail_on_error", "-cal") for n in NUMBERS],
    *[(20, ["bpplschedrep", "pol", "full", f"-{d}", a, b]) for d in (0, 6)
      for a, b in (("-1", "60"), ("0", "1e30"), ("x", "1"))],
    *[(20, ["bpplclients", "pol", "-modify", "c1", "-priority", n]) for n in NUMBERS],
    (20, ["bpplinclude", "pol", "-add", "/" + "x" * 5000]),
    (20, ["bpclient", "-client", "c1", "-update", "-connect_options", "1e30", "0", "0"]),
    *[(20, ["bpclient", "-client", "c1", "-update", flag, n]) for flag in
      ("-max_jobs", "-port", "-free_browse", "-list_restore", "-dynamic_address",
       "-WOFB_enabled", "-client_direct") for n in NUMBERS],
    (20, ["bpclient", "-client", "c1", "-update", "-max_jobs", "100"]),
    (20, ["bpclient", "-client", "c1", "-update", "-list_restore", "4"]),
    (20, ["bpclient", "-client", "c1", "-update", "-connect_options", "3", "0", "0"]),
    *[(20, ["bpconfig", flag, n]) for flag in
      ("-wi", "-tries", "-period", "-mj", "-kl", "-cd", "-to", "-sto", "-ha", "-kt", "-prep",
       "-max_copies", "-cleanup_int", "-cleanup_wait", "-pui") for n in NUMBERS
      if (flag, n) != ("-prep", "-1")],  # -prep -1: back to the default
    (20, ["bpconfig", "-prep", "-2"]), (20, ["bpconfig", "-prep", "49"]),
    *[(20, ["bpretlevel", "-r", n, "-p", "10"]) for n in NUMBERS],
    *[(20, ["bpretlevel", "-r", "3", "-s", n]) for n in NUMBERS],
    # names: too long (225), control characters and bad characters (20)
    (225, ["bppolicynew", LONG]), (20, ["bppolicynew", CTRL]),
    (225, ["bpplsched", "pol", "-add", LONG]), (20, ["bpplsched", "pol", "-add", CTRL]),
    (225, ["bpplinfo", "pol", "-modify", "-residence", LONG]),
    (20, ["bpplinfo", "pol", "-modify", "-residence", CTRL]),
    (225, ["bpplinfo", "pol", "-modify", "-pool", LONG]),
    (20, ["bpplinfo", "pol", "-modify", "-data_class", CTRL]),
    (225, ["bpplinfo", "pol", "-modify", "-keyword", LONG]),
    (20, ["bpplinfo", "pol", "-modify", "-keyword", "two\nlines"]),
    (20, ["bpplinfo", "pol", "-modify", "-keyword", "tab\there"]),
    (20, ["bpplinfo", "pol", "-modify", "-alt_client_name", CTRL]),
    (20, ["bpplinfo", "pol", "-modify", "-snapshot_method_args", "a\x1bb"]),
    (20, ["bpplinfo", "pol", "-modify", "-priority", "1", "-reason", "a\nb"]),
    (20, ["bpplinfo", "pol", "-modify", "-ut", "-ef", "-5"]),
    (20, ["bpplinfo", "pol", "-modify", "-ut", "-ef", "99999999999"]),
    (225, ["bpplclients", "pol", "-add", LONG, "Linux", "RedHat"]),
    (20, ["bpplclients", "pol", "-add", CTRL, "Linux", "RedHat"]),
    (20, ["bpplclients", "pol", "-add", "c9", "Lin\x01ux", "RedHat"]),
    (20, ["bpplclients", "pol", "-add", "c9", "Linux", "x" * 200]),
    (20, ["bpplclients", "pol", "-add", "c9", "Linux", "RedHat", "100000"]),
    (20, ["bpplclients", "pol", "-add", "c9", "Linux", "RedHat", "-3"]),
    (20, ["bpplclients", "pol", "-modify", "c1", "-os", "Red\x7fHat"]),
    (20, ["bpplinclude", "pol", "-add", "/a\nb"]),
    (225, ["bpclient", "-client", LONG, "-add"]), (20, ["bpclient", "-client", CTRL, "-add"]),
    (20, ["bpclient", "-client", "c1", "-update", "-current_host", CTRL]),
    (20, ["bpclient", "-client", "c1", "-update", "-ip", "1.2.3.4\x01"]),
    (20, ["bpconfig", "-ma", "root@\x01host"]), (20, ["bpconfig", "-ma", "a" * 2000]),
    (20, ["bpconfig", "-ma", "two words"]),
    (20, ["bppolicynew", "p2", "-reason", "a\x01b"]),
    (20, ["bpplschedrep", "pol", "full", "-res_is_stl", "2"]),
    (20, ["bpplinclude", "pol", "-modify", "/etc", "/x", "-f", "/dev/null"]),
]


def test_bpclient_every_flag(site: Host) -> None:
    site.run("bpclient", "-client", "c1", "-add", "-max_jobs", "5", "-list_restore", "2",
             "-free_browse", "1", "-current_host", "c1-new", "-ip", "10.0.0.7", "-port", "1556",
             "-dynamic_address", "1", "-connect_options", "1", "0", "2", "-offline_backup",
             "-WOFB_enabled", "1", "-WOFB_FIM", "0", "-WOFB_usage", "1", "-WOFB_error", "0",
             "-client_direct", "2", "-client_direct_restore", "1", "-ut")
    site.run("bpclient", "-client", "c2", "-add")
    raw = site.run("bpclient", "-client", "c1", "-l").stdout.split()
    assert raw == ["CLIENT", "c1", "c1-new", "10.0.0.7", "1556", "1", "1", "2", "5", "1", "0",
                   "2", "1", "0"]
    # the Perl reader: 20 lines a client, Hostname on the third
    lines = site.run("bpclient", "-All", "-L").stdout.splitlines()
    assert len(lines) == 40
    hosts = [re.search(r"Hostname: (.*)", lines[i + 2]) for i in range(0, 40, 20)]
    assert [m.group(1) for m in hosts if m] == ["c1-new", "c2"]
    assert "List Restore: List Only" in lines
    site.run("bpclient", "-client", "c1", "-update", "-list_restore", "3", "-online")
    raw = site.run("bpclient", "-client", "c1", "-l").stdout.split()
    assert raw[7] == "3" and raw[12:] == ["0", "0"]
    assert site.run("bpclient", "-All", "-l").stdout.count("\n") == 2
    me = site.name
    site.run("bpclient", "-client", "c2", "-delete", "-M", f"{me}")
    refused(site, 227, ["bpclient", "-client", "c2", "-L"])


def test_bpconfig_every_flag(site: Host) -> None:
    site.run("bpconfig", "-ma", "ops@example.com", "-wi", "5", "-period", "6", "-mj", "4",
             "-tries", "3", "-kl", "14", "-cd", "86400", "-to", "600", "-sto", "900",
             "-ha", "48", "-kt", "2", "-prep", "8", "-cleanup_int", "24", "-cleanup_wait", "30",
             "-pui", "15", "-max_copies", "5", "-v")
    raw = site.run("bpconfig", "-l").stdout.split()
    assert raw == ["ops@example.com", "5", "6", "4", "3", "14", "0", "86400", "600", "900",
                   "1", "48", "2", "8", "24", "30", "15", "5"]
    assert site.run("bpconfig").stdout.split() == raw
    site.run("bpconfig", "-ma")  # -ma alone clears the address
    assert site.run("bpconfig", "-l").stdout.split()[0] == "*NULL*"
    site.run("bpconfig", "-prep", "-1")
    assert site.run("bpconfig", "-l").stdout.split()[13] == "4"
    long = site.run("bpconfig", "-L").stdout
    assert re.search(r"^Mail Admin:\s+\*NULL\*$", long, re.M), long
    assert site.run("bpconfig", "-U").stdout.startswith("\n")
    me = site.name
    site.run("bpconfig", "-kl", "7", "-M", f"{me},{me}")
    assert site.run("bpconfig", "-l", "-M", me).stdout.split()[5] == "7"
    refused(site, 20, ["bpconfig", "-L", "-kl", "3"])


def test_relative_selection_is_fine_outside_standard_policies(site: Host, tmp_path: Path) -> None:
    site.run("bppolicynew", "win")
    site.run("bpplinfo", "win", "-modify", "-pt", "MS-Windows")
    site.run("bpplinclude", "win", "-add", "C:\\Users", "System_State:\\")
    site.run("bppolicynew", "std")
    site.run("bpplinclude", "std", "-add", "/etc", "NEW_STREAM", "/home")
    assert shell(site, "bppllist std | grep INCLUDE | cut -d' ' -f2") == \
        "/etc\nNEW_STREAM\n/home\n"


def test_selections_and_schedule_changes_with_netbackups_extra_flags(site: Host,
                                                                    tmp_path: Path) -> None:
    make_policy(site, "pol")
    listing = tmp_path / "gone.txt"
    listing.write_text("/etc\n\n/home\n")
    site.run("bpplinclude", "pol", "-add", "/srv", "-reason", "ticket 9")
    site.run("bpplinclude", "pol", "-delete", "-f", str(listing))
    assert shell(site, "bppllist pol | grep INCLUDE | cut -d' ' -f2") == "/srv\n"
    site.run("bpplschedrep", "pol", "full", "-rl", "5", "-res_is_stl", "0",
             "-checksum_change_detection", "1", "-reason", "longer", "-v")
    assert records(site.run("bpplsched", "pol", "-l").stdout)["SCHED"][4] == "5"
    before = site.run("bppllist", "pol", "-l").stdout.split("\n")[3:]
    site.run("bpplschedrep", "pol", "full", "-slpwindow")  # without effect
    assert site.run("bppllist", "pol", "-l").stdout.split("\n")[3:] == before
    site.run("bppolicynew", "copy", "-sameas", "pol", "-reason", "a copy", "-verbose")
    assert shell(site, "bppllist") == "copy\npol\n"
