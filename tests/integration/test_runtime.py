"""The daemon runtime on an all-in-one host: start, status, bpps, no duplicates, clean stop."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from nbcli import multihost, procs, programs, unixaddr
from nbcli.commands import netbackup
from tests.conftest import Host, wait_for

DAEMONS = programs.daemons_for(["master", "media", "client"])


def daemon_pids(host: Host) -> dict[str, int]:
    found: dict[str, int] = {}
    for p in host.processes():
        assert p.program not in found, f"two {p.program} processes"
        found[p.program] = p.proc.pid
    return found


def test_start_bpps_status_restart_stop(aio_root: Host) -> None:
    aio_root.start()
    try:
        pids = daemon_pids(aio_root)
        assert sorted(pids) == sorted(DAEMONS)
        out = aio_root.run("bpps", "-x").stdout
        assert out.splitlines()[0] == "NB Processes"
        for name in ("MM Processes", "Shared Veritas Processes"):
            assert name in out
        listed = {int(line.split()[1]) for line in out.splitlines()
                  if line.strip() and not re.search("Processes|^-+$", line)}
        assert listed == set(pids.values())
        # plain bpps lists only the NB section: no ltid, no pbx_exchange
        plain = aio_root.run("bpps").stdout
        assert str(pids["nbjm"]) in plain and str(pids["ltid"]) not in plain
        assert aio_root.run("netbackup", "status").returncode == 0

        again = aio_root.run("netbackup", "start").stdout
        assert "already running" in again
        assert daemon_pids(aio_root) == pids  # starting twice starts no duplicates
    finally:
        aio_root.stop()
    assert aio_root.processes() == []
    st = aio_root.run("netbackup", "status", check=False)
    assert st.returncode == 1 and "not running" in st.stdout
    assert not any(aio_root.cfg.paths.pidfile(d).exists() for d in DAEMONS)


def test_sigterm_stops_a_daemon_cleanly(aio: Host) -> None:
    pid = daemon_pids(aio)["bpjobd"]
    proc = psutil.Process(pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)  # not our child: psutil cannot give its exit code
    assert not aio.cfg.paths.pidfile("bpjobd").exists()
    log = aio.log("bpjobd")
    assert log.splitlines()[-1].endswith("bpjobd stopped")  # a clean stop, not a kill
    # start brings back only what is missing
    aio.start()
    pids = daemon_pids(aio)
    assert pids["bpjobd"] != pid and sorted(pids) == sorted(DAEMONS)


def test_running_a_second_copy_is_status_145(aio: Host) -> None:
    r = aio.run("nbrb", check=False)
    assert r.returncode == 145
    assert "EXIT STATUS 145: daemon is already running" in r.stderr


def test_logs_one_file_per_day_with_time_pid(aio: Host) -> None:
    logs = aio.cfg.paths.logs
    files = list((logs / "nbjm").glob("log.*"))
    assert len(files) == 1 and re.fullmatch(r"log\.\d{6}", files[0].name)
    line = files[0].read_text().splitlines()[0]
    pid = daemon_pids(aio)["nbjm"]
    assert re.match(rf"\d\d:\d\d:\d\d\.\d{{3}} \[{pid}\] <2> nbjm starting", line), line


def test_job_id_in_log_lines(tmp_path) -> None:
    from nbcli import log

    logger = log.setup(tmp_path, "bptm")
    log.JobLog(logger, 42).info("writing fragment 1")
    log.set_job(7)
    logger.info("from a job thread")
    log.set_job(None)
    logger.info("no job")
    lines = next((tmp_path / "bptm").glob("log.*")).read_text().splitlines()
    assert "[jobid=42] writing fragment 1" in lines[0]
    assert "[jobid=7] from a job thread" in lines[1]
    assert "jobid" not in lines[2]


def test_usage_error_prints_synopsis_and_status_20(aio_root: Host) -> None:
    r = aio_root.run("bpps", "-z", check=False)
    assert r.returncode == 20
    assert "USAGE: bpps [-a | -x]" in r.stderr
    assert "EXIT STATUS 20: invalid command parameter" in r.stderr


def test_bpsetconfig_then_bpgetconfig(aio_root: Host) -> None:
    aio_root.run("bpsetconfig", input="VERBOSE = 3\nSERVER = aio\nSERVER = med2\n")
    assert aio_root.run("bpgetconfig", "VERBOSE").stdout == "VERBOSE = 3\n"
    aio_root.run("bpsetconfig", "--add", input="SERVER = med3\n")
    assert aio_root.run("bpgetconfig", "SERVER").stdout.splitlines() == \
        ["SERVER = aio", "SERVER = med2", "SERVER = med3"]
    aio_root.run("bpsetconfig", "--remove", input="SERVER = med2\n")
    assert aio_root.run("bpgetconfig", "SERVER").stdout.splitlines() == \
        ["SERVER = aio", "SERVER = med3"]
    bad = aio_root.run("bpsetconfig", input="this is not a line\n", check=False)
    assert bad.returncode == 20 and "EXIT STATUS 20" in bad.stderr
    assert aio_root.run("bpgetconfig", "NOSUCHKEY", check=False).returncode == 227


def test_pbx_restart_services_register_again(aio: Host) -> None:
    pbx = psutil.Process(daemon_pids(aio)["pbx_exchange"])
    pbx.terminate()
    pbx.wait(timeout=10)
    aio.start()
    wait_for(lambda: aio.run("bptestbpcd", check=False).returncode == 0, 20,
             "bpcd to register again with the new PBX")


def test_a_host_root_too_deep_for_a_socket_path_starts_and_serves(tmp_path: Path) -> None:
    """Socket files under a root this deep have paths longer than bind and connect take (107
    bytes): nbcmdd and PBX still listen, and commands still reach nbcmdd and the daemons."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    (host,) = [Host(s) for s in multihost.create(deep, layout=[
        ("aio", "127.0.0.1", ["master", "media", "client"])])]
    assert len(os.fsencode(host.cfg.paths.cmd_socket)) >= unixaddr.SUN_PATH
    host.start()
    try:
        assert host.run("bpdbjobs", "-summary").returncode == 0  # PBX's socket, then bpjobd
        assert "bpdbjobs (pid" in host.log("nbcmdd")  # the launcher reached nbcmdd
    finally:
        host.stop()
    assert host.processes() == []


def test_every_daemon_reloads_on_sighup_and_stops_on_sigterm(aio: Host) -> None:
    """A signal only wakes a daemon's main thread (nbcli/daemons/base.py, and nbcmdd's loop),
    which acts on it: a burst of SIGHUPs reads bp.toml again while the daemons go on serving,
    then SIGTERM stops each one cleanly."""
    pids = daemon_pids(aio)
    reloading = {k: v for k, v in pids.items() if k != "nbcmdd"}  # nbcmdd ignores SIGHUP
    for pid in pids.values():
        for _ in range(20):
            os.kill(pid, signal.SIGHUP)
    for name in reloading:
        wait_for(lambda n=name: "bp.toml again" in aio.log(n), 10, f"{name} reloading")
    assert daemon_pids(aio) == pids
    assert aio.run("bpdbjobs").returncode == 0  # through nbcmdd and PBX to bpjobd
    procs = [psutil.Process(pid) for pid in pids.values()]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    assert psutil.wait_procs(procs, timeout=20)[1] == []
    for name in pids:
        assert aio.log(name).splitlines()[-1].endswith(f"{name} stopped"), name


# nbcmdd starting, before its pid file: it forks one command, then both wait
FAKE_NBCMDD = """
import os, sys, time
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""


def test_a_stop_right_after_a_start_takes_a_starting_nbcmdd_for_the_daemon(
        aio_root: Host, tmp_path: Path) -> None:
    """`netbackup stop` waits COMMAND_GRACE for users' commands, nbcmdd's forks among them
    (their command line is nbcmdd's). Before nbcmdd writes its pid file only its children
    are commands: the daemon itself, taken for one, held a stop right after a start for
    the whole grace."""
    script = tmp_path / "nbcmdd"  # the program name procs.find reads from the command line
    script.write_text(FAKE_NBCMDD)
    daemon = psutil.Popen([sys.executable, str(script), "--root", str(aio_root.root)])
    try:
        wait_for(lambda: len(daemon.children()) == 1, 10, "the forked command")
        found = {p.proc.pid: p for p in procs.find(aio_root.root) if p.program == "nbcmdd"}
        (forked,) = daemon.children()
        assert set(found) == {daemon.pid, forked.pid}
        assert not aio_root.cfg.paths.pidfile("nbcmdd").exists()
        assert not netbackup._is_command(aio_root.cfg, found[daemon.pid])
        assert netbackup._is_command(aio_root.cfg, found[forked.pid])
    finally:
        for proc in [*daemon.children(), daemon]:
            proc.kill()
        daemon.wait(10)


def test_two_starts_at_once_leave_one_copy_of_each_daemon(aio_root: Host) -> None:
    """Two `netbackup start` at the same moment (a boot script and an administrator): each
    daemon runs once (its lock, not only its pid file, says so), and both commands end 0."""
    starts = [subprocess.Popen(programs.argv_for("netbackup") + ["start"], env=aio_root.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    try:
        ended = [(p.wait(120), p.communicate()) for p in starts]
        assert [code for code, _ in ended] == [0, 0], ended
        running = [p.program for p in aio_root.processes(spares=False)]
        assert sorted(running) == sorted(DAEMONS)
    finally:
        aio_root.stop()
    assert aio_root.processes() == []


def test_a_daemon_whose_lock_is_held_is_status_145_and_writes_no_pid_file(
        aio_root: Host) -> None:
    """The lock decides, not the pid file: a copy of bpjobd starting while another holds
    the lock - one that has not written its pid file yet - ends 145 at once."""
    lock = aio_root.cfg.paths.run / "bpjobd.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = aio_root.run("bpjobd", check=False, timeout=30)
    assert r.returncode == 145 and "bpjobd is already running" in r.stderr, r.stderr
    assert not aio_root.cfg.paths.pidfile("bpjobd").exists()


def test_a_failed_start_leaves_a_test_no_daemon(aio_root: Host) -> None:
    """netbackup start leaves running the daemons it did start when another fails (as
    bp.start_all does); a fixture whose setup fails runs no teardown, so Host.start stops
    them before it raises. bpjobd fails here: a file stands where its database goes."""
    jobs = aio_root.cfg.paths.jobs
    shutil.rmtree(jobs, ignore_errors=True)
    jobs.write_text("not a folder")
    with pytest.raises(AssertionError, match="bpjobd exited with"):
        aio_root.start()
    assert aio_root.processes() == []


def test_two_stops_at_once_both_end_0(aio: Host) -> None:
    """Two `netbackup stop` at the same moment end the same processes; neither ends the
    other (one of them used to exit 143, killed in the middle of its work)."""
    stops = [subprocess.Popen(programs.argv_for("netbackup") + ["stop"], env=aio.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    ended = [(p.wait(120), p.communicate()) for p in stops]
    # whole, not as pytest cuts a long repr: which process was left is at the end
    assert [code for code, _ in ended] == [0, 0], "\n\n".join(
        f"exit {code}:\n{out}{err}" for code, (out, err) in ended)
    assert aio.processes() == []


def test_stop_stops_a_host_whose_bp_toml_no_longer_parses(aio: Host) -> None:
    """A bp.toml broken by hand: the daemons keep the configuration they read (a reload
    that fails changes nothing), every command says 103, and `netbackup stop` still stops
    the host - it needs its root alone - saying what is wrong with the file."""
    paths = aio.cfg.paths  # read while the file still parses
    good = paths.bp_toml.read_text()
    paths.bp_toml.write_text(good + "\n[[[ not toml\n")

    def bpjobd_log() -> str:
        return "".join(f.read_text() for f in (paths.logs / "bpjobd").glob("log.*"))

    try:
        for p in aio.processes(spares=False):
            os.kill(p.proc.pid, signal.SIGHUP)
        wait_for(lambda: "cannot reload the configuration" in bpjobd_log(), 10,
                 "bpjobd's failed reload")
        r = aio.run("bpdbjobs", check=False)
        assert r.returncode == 103 and "bp.toml" in r.stderr
        stop = aio.run("netbackup", "stop", check=False)
        assert stop.returncode == 0, stop.stderr
        assert "stopping the host all the same" in stop.stderr
        assert aio.processes() == []
    finally:
        paths.bp_toml.write_text(good)
