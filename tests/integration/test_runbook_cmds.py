"""Runbook idioms against a real all-in-one host: each command run as a process, its output
read by the positions, widths and regexes public scripts use (the source of each idiom named
beside it; reference/netbackup-cli.md has the addresses).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import programs
from tests.conftest import Host, _make
from tests.flowkit import add_policy, add_stu
from tests.unit.test_jobs_fmt import split_fields

BIN = str(Path(programs.argv_for("bpdbjobs")[0]).parent)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """A running all-in-one host with one finished backup of a small folder."""
    base = tmp_path_factory.mktemp("runbook")
    os.environ["NBCLI_TESTING"] = "1"
    (h,) = _make(base / "hosts", [("aio", "127.0.0.1", ["master", "media", "client"])])
    h.start()
    try:
        data = base / "data"
        data.mkdir()
        (data / "f").write_bytes(b"x" * 4096)
        add_stu(h, "disk1", base / "stu", media=h.name)
        add_policy(h, "p", "disk1", [h.name], [str(data)])
        h.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
        yield h
    finally:
        h.stop()


def shell(host: Host, script: str) -> str:
    env = host.env(PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True,
                          check=True, timeout=60).stdout


def test_dates_take_the_time_as_the_next_word(host: Host) -> None:
    # `bpimagelist -d 03/01/2014 00:00:00` (Veritas' own examples; Oracle Explorer runs
    # `bperror -U -all -d 01/30/00 00:00:00`) and `bplist ... -s 01/01/2008 -e 07/30/2013`.
    day = time.strftime("%m/%d/%Y", time.localtime(time.time() - 86400))
    two_words = host.run("bpimagelist", "-d", day, "00:00:00", "-U").stdout
    quoted = host.run("bpimagelist", "-d", f"{day} 00:00:00", "-U").stdout
    assert two_words == quoted and "Full Backup" in two_words
    end = time.strftime("%m/%d/%Y", time.localtime(time.time() + 86400))
    assert host.run("bpimagelist", "-d", day, "00:00:00", "-e", end, "23:59:59",
                    "-U").stdout == quoted
    listed = host.run("bplist", "-C", host.name, "-s", day, "00:00:00", "-e", end,
                      "23:59:59", "-R", "/").stdout
    assert listed.splitlines()[-1].endswith("/f")


def test_bpps_x_pipeline_yields_only_pids(host: Host) -> None:
    # reference §1.12: `bpps -x | awk '{print $2}' | egrep -v "Processes|Veritas"` feeds kill
    out = shell(host, "bpps -x | awk '{print $2}' | egrep -v 'Processes|Veritas'")
    words = [w for w in out.splitlines() if w]
    assert words and all(w.isdigit() for w in words), words
    headings = [line for line in host.run("bpps", "-x").stdout.splitlines()
                if line and not line[0].isspace() and not line.startswith("-")]
    assert set(headings) <= {"NB Processes", "MM Processes", "Shared Veritas Processes"}
    # the host argument (reference §1.12: `bpps [-a | -x] [host]`): this host only
    assert host.run("bpps", "-a", host.name).stdout.splitlines()[0] == "NB Processes"
    assert host.run("bpps", "elsewhere", check=False).returncode == 20


def test_bpstulist_long_block_steps_a_fixed_number_of_lines(host: Host) -> None:
    # collectors read `bpstulist -L` by line number: a blank line, then `Label:` on line 2
    lines = host.run("bpstulist", "-L").stdout.splitlines()
    assert lines[0] == "" and re.match(r"Label:\s+disk1$", lines[1])
    assert re.match(r"Storage Unit Type:\s+Disk$", lines[2])
    assert host.run("bpstulist", "-U").stdout.splitlines() == lines


def test_bpgetconfig_g_prints_eight_lines(host: Host) -> None:
    # python collector (reference §1.15) splits each line on "= " and reads them by position
    lines = host.run("bpgetconfig", "-g", host.name, "-L").stdout.splitlines()
    labels = [line.split(" = ")[0] for line in lines]
    assert labels == ["Client/Master", "NetBackup Client Platform",
                      "NetBackup Client Protocol Level", "Product", "Version Name",
                      "Version Number", "NetBackup Installation Path", "Client OS/Release"]
    assert lines[0] == "Client/Master = Master" and lines[3] == "Product = NetBackup"
    values = host.run("bpgetconfig", "-g", host.name).stdout.splitlines()
    assert values == [line.split(" = ", 1)[1] for line in lines]


def test_bpdbjobs_default_report_pids_and_elapsed(host: Host) -> None:
    out = host.run("bpdbjobs").stdout.splitlines()
    # NetBackupPS rewrites the two multi-word names, then splits on blanks
    header = out[0].replace("Dest Media Svr", "DestMediaSvr").replace("Active PID", "ActivePID")
    assert header.split() == ["JobID", "Type", "State", "Status", "Policy", "Schedule",
                              "Client", "DestMediaSvr", "ActivePID"]
    row = out[1].split()
    assert row[1:5] == ["Backup", "Done", "0", "p"]
    line = host.run("bpdbjobs", "-all_columns", "-jobid", row[0]).stdout.strip()
    f = split_fields(line)
    jobpid = int(f[18])
    assert jobpid > 0 and row[-1] == str(jobpid)
    tries_at = 32 + int(f[31])
    assert int(f[tries_at + 1]) == jobpid  # the try's pid
    # `awk -F, '{print $15/$10}'` (kbytes/elapsed): never a division by zero
    assert int(f[9]) >= 1
    assert shell(host, f"bpdbjobs -all_columns -jobid {row[0]} | awk -F, '{{print $15/$10}}'")


def test_bpdbjobs_coldefs_from_the_config(host: Host) -> None:
    host.run("bpsetconfig", input="BPDBJOBS_COLDEFS = JOBID 5 true\n"
                                  "BPDBJOBS_COLDEFS = STATUS 5 false\n")
    try:
        out = host.run("bpdbjobs").stdout.splitlines()
        assert out[0] == "JobID Statu" and out[1].split()[1] == "0"
    finally:
        host.run("bpsetconfig", input="BPDBJOBS_COLDEFS = JOBID 6 true\n"
                                      "BPDBJOBS_COLDEFS = TYPE 15 true\n"
                                      "BPDBJOBS_COLDEFS = STATE 10 true\n"
                                      "BPDBJOBS_COLDEFS = STATUS 6 true\n"
                                      "BPDBJOBS_COLDEFS = POLICY 20 true\n"
                                      "BPDBJOBS_COLDEFS = SCHEDULE 20 true\n"
                                      "BPDBJOBS_COLDEFS = CLIENT 20 true\n"
                                      "BPDBJOBS_COLDEFS = DSTMEDIASERVER 20 true\n"
                                      "BPDBJOBS_COLDEFS = ACTPID 10 true\n")


def test_bpimagelist_synopsis_flags(host: Host) -> None:
    raw = host.run("bpimagelist", "-l").stdout.splitlines()
    image = raw[0].split()
    assert image[0] == "IMAGE"
    level = image[12]  # $13: the retention level (Veritas article 100017904 field list)
    assert host.run("bpimagelist", "-rl", level, "-U").stdout == host.run("bpimagelist",
                                                                          "-U").stdout
    other = str((int(level) + 1) % 10)
    assert host.run("bpimagelist", "-rl", other, check=False).returncode == 227
    assert host.run("bpimagelist", "-server", host.name, "-l").stdout.splitlines() == raw
    assert host.run("bpimagelist", "-server", "nosuch", check=False).returncode == 227
    assert host.run("bpimagelist", "-option", "INCLUDE_TIR", "-v", "-stl_complete",
                    "-l").stdout.splitlines() == raw
    assert host.run("bpimagelist", "-option", "BOGUS", check=False).returncode == 20
    assert host.run("bpimagelist", "-stl_name", "slp1", check=False).returncode == 227
    assert host.run("bpimagelist", "-st", "NOT_ARCHIVE", "-l").stdout.splitlines() == raw
    media = host.run("bpimagelist", "-media", "-U").stdout.splitlines()
    frag_path = next(line.split()[8] for line in raw if line.startswith("FRAG"))
    assert media[0].split() == ["Media", "ID", "Last", "Written", "Server"]
    assert media[2].split()[0] == frag_path and media[2].split()[-1] == host.name


def test_bplist_synopsis_flags(host: Host) -> None:
    # reference §1.4: `bplist -C host -t 0 -b -R -l -I -s date -e date -PI path`
    plain = host.run("bplist", "-C", host.name, "-R", "-l", "/").stdout
    assert host.run("bplist", "-B", "-I", "-PI", "-T", "-r", "-unix_files", "-C", host.name,
                    "-R", "-l", "/").stdout == plain
    secs = host.run("bplist", "-C", host.name, "-R", "-l", "-Listseconds", "/").stdout
    last = secs.splitlines()[-1].split()
    assert re.fullmatch(r"\d\d:\d\d:\d\d", last[6]) and last[7].endswith("/f")
    changed = host.run("bplist", "-C", host.name, "-R", "-l", "-c", "/").stdout
    assert changed.splitlines()[-1].split()[-1].endswith("/f")
    assert host.run("bplist", "-b", "-c", "/", check=False).returncode == 20


def test_bpgetconfig_sources(host: Host, tmp_path: Path) -> None:
    every = host.run("bpgetconfig").stdout.splitlines()
    assert host.run("bpgetconfig", "-X").stdout.splitlines() == every
    assert host.run("bpgetconfig", "-h").stdout.splitlines() == every
    set_only = host.run("bpgetconfig", "-x").stdout.splitlines()
    assert "PBX_PORT = 1556" not in set_only and set(set_only) <= set(every)
    assert host.run("bpgetconfig", "-d", "VERBOSE").stdout == "VERBOSE = 0\n"
    eight = host.run("bpgetconfig", "-g", host.name, "-L").stdout
    assert host.run("bpgetconfig", "-s", host.name, "-L").stdout == eight
    # nbuworker (public): bpgetconfig -g $CLIENTNAME -AL |grep "Patch Level" |awk '{print $4}'
    nine = host.run("bpgetconfig", "-g", host.name, "-AL").stdout
    assert nine.startswith(eight) and len(nine.splitlines()) == 9
    version = eight.splitlines()[4].split(" = ")[1]
    assert shell(host, f"bpgetconfig -g {host.name} -AL | grep 'Patch Level' | "
                       "awk '{print $4}'") == f"{version}\n"
    assert host.run("bpgetconfig", "-x", "-d", check=False).returncode == 20


def test_nbemmcmd_getemmserver_and_bpstulist_verbose(host: Host) -> None:
    lines = host.run("nbemmcmd", "-getemmserver").stdout.splitlines()
    # framed as every nbemmcmd output: scripts strip the first and last lines
    assert lines[0].startswith("NBEMMCMD") and lines[-1] == "Command completed successfully."
    assert f"These hosts were found in this domain: {host.name}" in lines
    rows = [line.split() for line in lines if line.startswith(("MASTER ", "MEDIA "))]
    assert rows and all(r[-1] == host.name for r in rows)
    # a public health-report script: nbemmcmd -getemm | grep "^MASTER\s" | awk '{print $2}'
    version = host.run("bpgetconfig", "-g", host.name).stdout.splitlines()[4]
    assert shell(host, r'nbemmcmd -getemm | grep "^MASTER\s" | awk "{print \$2}"') == \
        f"{version}\n"
    assert shell(host, r'nbemmcmd -getemm | grep "^MEDIA\s" | awk "{print \$3}"') == \
        f"{host.name}\n"
    assert host.run("bpstulist", "-verbose").stdout == host.run("bpstulist").stdout


def test_bpclntcmd_forms(host: Host) -> None:
    # reference §1.17: parsed with /.+: (.*) at (.*)/
    out = host.run("bpclntcmd", "-hn", host.name).stdout
    m = re.match(r".+: (.*) at (.*)", out.splitlines()[0])
    assert m and m[2] == "127.0.0.1"
    assert host.run("bpclntcmd", "-ip", "127.0.0.1").stdout == \
        f"host 127.0.0.1: {host.name} at 127.0.0.1\n"
    me = host.run("bpclntcmd", "-self").stdout.splitlines()
    assert me[0].startswith("gethostname() returned: ") and me[1].startswith(f"host {host.name}:")
    assert host.run("bpclntcmd", "-sv").stdout.startswith("NetBackup-")
    pn = host.run("bpclntcmd", "-pn").stdout.splitlines()
    assert pn[0] == f"expecting response from server {host.name}"
    assert pn[1].split()[0] == host.name
    assert host.run("bpclntcmd", "-is_local_host", host.name).stdout == \
        f"{host.name} is a local host\n"
    far = host.run("bpclntcmd", "-is_local_host", "192.0.2.1", check=False)
    assert far.returncode == 1 and far.stdout == "192.0.2.1 is not a local host\n"
    bad = host.run("bpclntcmd", "-hn", "no-such-host.invalid", check=False)
    assert bad.returncode == 48
    assert host.run("bpclntcmd", check=False).returncode == 20


def test_bpexpdate_synopsis_flags(host: Host, tmp_path: Path) -> None:
    host.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
    newest = host.run("bpimagelist", "-l").stdout.splitlines()[0].split()[5]  # $6 backupid
    later = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(time.time() + 30 * 86400))
    assert host.run("bpexpdate", "-backupid", newest, "-copy", "2", "-d", *later.split(),
                    "-force", check=False).returncode == 147
    assert host.run("bpexpdate", "-backupid", newest, "-nodelete", "-d", "0", "-force",
                    check=False).returncode == 20
    assert host.run("bpexpdate", "-m", "A00001", "-d", "0", "-force",
                    check=False).returncode == 227
    assert host.run("bpexpdate", "-deassignempty", "-force").returncode == 0
    ids = tmp_path / "bids"
    ids.write_text(newest + "\n")
    host.run("bpexpdate", "-Bidfile", str(ids), "-d", *later.split(), "-force", "-nodelete",
             "-notimmediate", "-extend_worm_locks")
    l_line = host.run("bpimagelist", "-backupid", newest, "-l").stdout.split()
    assert int(l_line[15]) == int(time.mktime(time.strptime(later, "%m/%d/%Y %H:%M:%S")))
    host.run("bpexpdate", "-servername", host.name, "-d", "0", "-force")
    assert host.run("bpimagelist", "-hoursago", "1", check=False).returncode == 227


def test_bpexpdate_recalculate_from_the_retention_periods(host: Host) -> None:
    """-recalculate: an image's expiration becomes its backup time plus the period its level
    has now (after bpretlevel changed it), or -ret's level's, or -d's date; -sched picks
    images by schedule type."""
    host.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
    line = host.run("bpimagelist", "-l").stdout.splitlines()[0].split()
    backupid, level, ctime = line[5], int(line[21]), int(line[13])

    def expiration() -> int:
        return int(host.run("bpimagelist", "-backupid", backupid, "-l").stdout.split()[15])

    original = host.run("bpretlevel", "-l").stdout  # put back at the end: a shared host
    host.run("bpretlevel", "-r", str(level), "-s", str(7 * 86400 + 60))  # the level changes
    assert expiration() != ctime + 7 * 86400 + 60  # images keep their date until told
    host.run("bpexpdate", "-recalculate", "-backupid", backupid, "-force")
    assert expiration() == ctime + 7 * 86400 + 60
    host.run("bpretlevel", "-r", "50", "-s", "86400")
    host.run("bpexpdate", "-recalculate", "-policy", "p", "-ret", "50", "-force")
    assert expiration() == ctime + 86400
    assert host.run("bpexpdate", "-recalculate", "-backupid", backupid, "-sched", "2",
                    "-force", check=False).returncode == 227  # not a user backup
    host.run("bpexpdate", "-recalculate", "-client", host.name, "-d", "infinity", "-force")
    assert expiration() == 2147483647
    assert host.run("bpexpdate", "-ret", "3", "-backupid", backupid, "-d", "infinity",
                    "-force", check=False).returncode == 20  # -ret goes with -recalculate
    for ln in original.splitlines():  # the levels as they were (-l: level days seconds text)
        words = ln.split()
        if words and words[0] in (str(level), "50"):
            how = ["-p", "infinity"] if "infinity" in words[3:] else ["-s", words[2]]
            host.run("bpretlevel", "-r", words[0], *how)


def test_nbemmcmd_settings_and_media(host: Host) -> None:
    lines = host.run("nbemmcmd", "-listsettings", "-machinename", host.name,
                     "-machinetype", "master").stdout.splitlines()
    assert lines[1] == "The following configuration settings were found:"
    assert f'CLIENT_NAME="{host.name}"' in lines and lines[-1].startswith("Command completed")
    assert host.run("nbemmcmd", "-listsettings", "-machinename", "nosuch", "-machinetype",
                    "media", check=False).returncode == 227
    framed = host.run("nbemmcmd", "-listmedia", "-conflicts").stdout.splitlines()
    assert len(framed) == 2 and framed[-1] == "Command completed successfully."
    gone = host.run("nbemmcmd", "-deletemedia", "-mediaid", "A00001", "-originhost",
                    host.name, check=False)
    assert gone.returncode == 227 and gone.stdout.endswith(
        "Command did not complete successfully.\n")


def test_bpgetconfig_e_and_i_write_the_lists(aio_root: Host, tmp_path: Path) -> None:
    # InventoryLinuxInclExclList.sh (public inventory script):
    #   bpgetconfig -e $DEST_PATH/excl_$client $client
    #   bpgetconfig -i $DEST_PATH/incl_$client $client; [[ -e $DEST_PATH/incl_$client ]] && cat
    # nbuworker (public): `bpgetconfig -e $FILEPATH $CLIENTNAME` where older releases did
    # `bpgp from $CLIENTNAME /usr/openv/netbackup/exclude_list $FILEPATH`.
    run = aio_root.run
    excl, incl = tmp_path / f"excl_{aio_root.name}", tmp_path / f"incl_{aio_root.name}"
    r = run("bpgetconfig", "-i", str(incl), aio_root.name)
    assert r.stdout == "" and not incl.exists()  # no include list, no file
    run("bpgetconfig", "-e", str(excl), aio_root.name)
    assert not excl.exists()
    run("bpsetconfig", input="INCLUDE = /var/log/keep\nINCLUDE = /tmp/keep me\n"
                             "EXCLUDE = /var/log\n")
    run("bpgetconfig", "-i", str(incl), aio_root.name)
    assert incl.read_text() == "/var/log/keep\n/tmp/keep me\n"
    run("bpgetconfig", "-e", str(excl), aio_root.name)
    assert excl.read_text() == "/var/log\n"
    run("bpgetconfig", "-i", str(tmp_path / "local"))  # no operand: this host
    assert (tmp_path / "local").read_text() == incl.read_text()
    # bpsetconfig -e/-i [-c policy [-s schedule]] (Commands Reference, bpsetconfig), the
    # client's own list as bp.conf's EXCLUDE lines, a policy's as exclude_list.POLICY
    (tmp_path / "mine").write_text("# scratch\n/scratch\n*.o\n")
    run("bpsetconfig", "-e", str(tmp_path / "mine"), "-h", aio_root.name, "-c", "p1")
    nb = aio_root.root / "netbackup"
    assert (nb / "exclude_list.p1").read_text() == "# scratch\n/scratch\n*.o\n"
    (tmp_path / "empty").write_text("")
    run("bpsetconfig", "-e", str(tmp_path / "empty"), "-c", "p1", "-s", "full")
    assert (nb / "exclude_list.p1.full").read_text() == ""
    run("bpsetconfig", "-i", str(tmp_path / "mine"), "-c", "p1", "-s", "full", "-r", "why")
    assert (nb / "include_list.p1.full").exists()
    run("bpgetconfig", "-e", str(tmp_path / "p1"), "-c", "p1", aio_root.name)
    assert (tmp_path / "p1").read_text() == "# scratch\n/scratch\n*.o\n"
    run("bpgetconfig", "-e", str(tmp_path / "p1full"), "-c", "p1", "-s", "full")
    assert (tmp_path / "p1full").read_text() == ""  # an empty list is still a list
    run("bpgetconfig", "-e", str(tmp_path / "p2"), "-c", "p2")
    assert not (tmp_path / "p2").exists()
    assert run("bpgetconfig", "EXCLUDE").stdout == "EXCLUDE = /var/log\n"  # untouched
    (tmp_path / "global").write_text("/var/tmp\n/srv/cache\n")
    run("bpsetconfig", "-e", str(tmp_path / "global"))
    assert run("bpgetconfig", "EXCLUDE").stdout == "EXCLUDE = /var/tmp\nEXCLUDE = /srv/cache\n"
    # -r is accepted and changes nothing
    assert run("bpgetconfig", "-r", "INCLUDE").stdout == run("bpgetconfig", "INCLUDE").stdout \
        == "INCLUDE = /var/log/keep\nINCLUDE = /tmp/keep me\n"
    bad = run("bpgetconfig", "-i", str(tmp_path / "no" / "dir" / "f"), check=False)
    assert bad.returncode == 12 and bad.stderr.splitlines()[-1].startswith("EXIT STATUS 12")
    for argv in (("bpgetconfig", "-i", str(incl), "a", "b"),  # one host operand
                 ("bpgetconfig", "-e", str(excl), "-s", "full"),  # -s without -c
                 ("bpgetconfig", "-c", "p1"),  # -c without -e/-i
                 ("bpgetconfig", "-e", str(excl), "-c", "../x"),
                 ("bpgetconfig", "-e", str(excl), "-i", str(incl)),
                 ("bpgetconfig", "-e", str(excl), "-g", aio_root.name),
                 ("bpsetconfig", "-e", str(tmp_path / "mine"), "-s", "full"),
                 ("bpsetconfig", "-c", "p1", str(tmp_path / "mine"))):
        assert run(*argv, check=False).returncode == 20, argv
    assert run("bpsetconfig", "-e", str(tmp_path / "nothere"), check=False).returncode == 12
    # -u user: that user's $HOME/bp.conf (an unknown user is 20; a home that cannot be
    # written is 12, and the host's configuration is untouched either way)
    before = run("bpgetconfig").stdout
    assert run("bpsetconfig", "-u", "no-such-user-x", input="VERBOSE = 5\n",
               check=False).returncode == 20
    if not os.path.isdir(os.path.expanduser("~nobody")):
        assert run("bpsetconfig", "-u", "nobody", input="VERBOSE = 5\n",
                   check=False).returncode == 12
    assert run("bpgetconfig").stdout == before


def test_a_backup_uses_the_most_specific_exclude_list(host: Host, tmp_path: Path) -> None:
    # NetBackup Administrator's Guide, "Exclude Lists properties": "If more than one exclude
    # or include list exists for a client, NetBackup uses only the most specific one."
    data = Path(next(line.split()[1] for line in host.run("bppllist", "p", "-l").stdout
                     .splitlines() if line.startswith("INCLUDE ")))
    for name in ("a.log", "b.tmp", "c.dat", "keep.log"):
        (data / name).write_text(name)

    def backed_up() -> set[str]:
        host.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
        listing = host.run("bplist", "-C", host.name, "-R", "-l", str(data)).stdout
        return {line.split()[-1].rsplit("/", 1)[-1] for line in listing.splitlines()} & \
            {"f", "a.log", "b.tmp", "c.dat", "keep.log"}

    (tmp_path / "client").write_text("*.log\n*.tmp\n")
    (tmp_path / "keep").write_text("keep.log\n")
    (tmp_path / "policy").write_text("# only temporary files for this policy\n*.tmp\n")
    (tmp_path / "sched").write_text("")
    try:
        host.run("bpsetconfig", "-e", str(tmp_path / "client"))
        host.run("bpsetconfig", "-i", str(tmp_path / "keep"))
        assert backed_up() == {"f", "c.dat", "keep.log"}  # the client's lists
        host.run("bpsetconfig", "-e", str(tmp_path / "policy"), "-c", "p")
        assert backed_up() == {"f", "a.log", "c.dat", "keep.log"}  # the policy's
        host.run("bpsetconfig", "-e", str(tmp_path / "sched"), "-c", "p", "-s", "full")
        assert backed_up() == {"f", "a.log", "b.tmp", "c.dat", "keep.log"}  # empty wins
    finally:
        for name in ("exclude_list.p", "exclude_list.p.full"):
            (host.root / "netbackup" / name).unlink(missing_ok=True)
        host.run("bpsetconfig", "-e", str(tmp_path / "sched"))
        host.run("bpsetconfig", "-i", str(tmp_path / "sched"))
