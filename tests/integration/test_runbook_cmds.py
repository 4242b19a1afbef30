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
