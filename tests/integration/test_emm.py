"""A real nbemm (with PBX) on an all-in-one host: every op over its socket, allocation under
concurrent connections, a restart, malformed requests, and the storage unit and nbemmcmd
commands run as real processes with their output checked field by field."""

from __future__ import annotations

import gc
import os
import re
import shlex
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from nbcli.commands import netbackup
from nbcli.daemons.base import read_pidfile
from nbcli.net import client
from nbcli.status import NbuError
from nbcli.wire import frames
from tests.conftest import Host, _make, wait_for
from tests.unit.test_emm_db import at_once


def quietly(start: Callable[[], object]) -> None:
    """Run `start` (which calls netbackup.start in this process) without its ResourceWarning.

    netbackup.start drops the Popen objects of the daemons it leaves running; under
    filterwarnings=error their "still running" warning would fail whichever test the garbage
    collector happens to run in.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        start()
        gc.collect()


def reap(host: Host) -> None:
    """Stop the daemons started in this process and collect them.

    They are this process's children, so only it can reap them; `netbackup stop` (the daemons
    fixture's teardown) would otherwise wait its whole deadline for their zombies.
    """
    running = [p.proc for p in host.processes()]
    for proc in running:
        proc.terminate()
    gone, alive = psutil.wait_procs(running, timeout=20)
    assert alive == [], alive


@pytest.fixture
def emm(daemons: Callable[..., Host]) -> Iterator[Host]:
    quietly(lambda: daemons("nbemm"))
    host = daemons("nbemm")  # already running: starts nothing, returns the host
    yield host
    reap(host)


@pytest.fixture(scope="module")
def quiet_emm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One nbemm for the module's refusal cases, which must change nothing and check that they
    did not (a host for each of forty cases cost four seconds each)."""
    os.environ["NBCLI_TESTING"] = "1"
    (host,) = _make(tmp_path_factory.mktemp("emm") / "hosts",
                    [("aio", "127.0.0.1", ["master", "media", "client"])])
    host.start("nbemm", "nbcmdd")
    try:
        yield host
    finally:
        host.stop()
    assert host.processes() == []


def call(nb: Host, op: str, **fields: Any) -> dict[str, Any]:
    """One request to nbemm (`nb`, not `host`: requests have a field of that name)."""
    with client.connect(nb.cfg, nb.name, "nbemm") as conn:
        reply = conn.call({"op": op, **fields})
    assert reply.pop("status") == 0
    return reply


def status(nb: Host, op: str, **fields: Any) -> int:
    with pytest.raises(NbuError) as e:
        call(nb, op, **fields)
    return e.value.status


def nbemm_pid(host: Host) -> int:
    proc = read_pidfile(host.cfg.paths, "nbemm")
    assert proc is not None, "nbemm is not running"
    return proc.pid


def test_start_adds_the_master_and_its_media_role(emm: Host) -> None:
    hosts = call(emm, "host_list")["hosts"]
    assert [(h["name"], h["machinetype"]) for h in hosts] == [("aio", "master"), ("aio", "media")]
    assert all(h["master"] == "aio" and h["version"] for h in hosts)
    assert (emm.cfg.paths.emm / "emm.db").is_file()


def test_every_op(emm: Host) -> None:
    assert call(emm, "ping")["host"] == "aio"
    assert call(emm, "host_add", name="media2", machinetype="mediaserver", version="10.1") == {}
    assert status(emm, "host_add", name="media2", machinetype="media") == 226
    assert [h["name"] for h in call(emm, "host_list", machinetype="media")["hosts"]] == \
        ["aio", "media2"]
    assert status(emm, "host_list", name="ghost") == 227
    assert call(emm, "stu_add", label="d1", path="/nb/d1", host="media2", cj=2) == {}
    assert call(emm, "stu_add", label="d0", path="/nb/d0") == {}  # host defaults to the master
    units = call(emm, "stu_list")["stus"]
    assert [(u["label"], u["host"], u["cj"], u["mfs_mb"], u["odo"]) for u in units] == \
        [("d0", "aio", 1, 524288, 0), ("d1", "media2", 2, 524288, 0)]
    granted = call(emm, "allocate", jobid=10, kind="backup", stu="d1")
    assert granted["host"] == "media2" and granted["stu"]["jobs"] == 1
    got = call(emm, "allocate", jobid=11, kind="restore", stu="*ANY*", host="aio")
    assert got["stu"]["label"] == "d0"
    assert [(a["jobid"], a["stu"], a["kind"]) for a in call(emm, "allocations")["allocations"]] \
        == [(10, "d1", "backup"), (11, "d0", "restore")]
    assert call(emm, "release", jobid=10) == {} and call(emm, "release", jobid=10) == {}
    assert call(emm, "stu_list", label="d1")["stus"][0]["jobs"] == 0
    assert call(emm, "stu_delete", label="d1") == {}
    assert status(emm, "stu_delete", label="d1") == 227
    assert call(emm, "host_delete", name="media2", machinetype="media") == {}
    assert status(emm, "host_delete", name="media2", machinetype="media") == 227


def test_allocation_errors(emm: Host) -> None:
    assert status(emm, "allocate", jobid=1, kind="backup", stu="*ANY*") == 213
    call(emm, "stu_add", label="full", path="/nb/full", cj=1)
    call(emm, "stu_add", label="off", path="/nb/off", cj=0)
    assert status(emm, "allocate", jobid=1, kind="backup", stu="nope") == 219
    assert status(emm, "allocate", jobid=1, kind="backup", stu="off") == 2045
    assert status(emm, "allocate", jobid=1, kind="restore", stu="full", host="ghost") == 2101
    call(emm, "allocate", jobid=1, kind="backup", stu="full")
    assert status(emm, "allocate", jobid=2, kind="backup", stu="full") == 2040
    assert status(emm, "allocate", jobid=2, kind="backup", stu="*ANY*") == 2040


def test_concurrent_connections_never_get_more_than_cj(emm: Host) -> None:
    call(emm, "stu_add", label="d3", path="/nb/d3", cj=3)

    def ask(jobid: int, ready: Callable[[], object]) -> str:
        with client.connect(emm.cfg, emm.name, "nbemm") as conn:
            ready()  # every connection is open: the 24 requests leave together
            reply = conn.call({"op": "allocate", "jobid": jobid, "kind": "backup", "stu": "d3"})
        return str(reply["stu"]["label"])

    results = at_once(24, ask)
    granted = sorted(j for j, r in results.items() if r == "d3")
    assert len(results) == 24 and len(granted) == 3
    assert all(r == 2040 for j, r in results.items() if j not in granted)
    assert [a["jobid"] for a in call(emm, "allocations")["allocations"]] == granted
    for jobid in granted:
        call(emm, "release", jobid=jobid)
    assert call(emm, "allocate", jobid=100, kind="backup", stu="d3")["stu"]["jobs"] == 1


def test_restart_keeps_units_hosts_and_allocations(emm: Host) -> None:
    call(emm, "host_add", name="media2", machinetype="media")
    call(emm, "stu_add", label="d2", path="/nb/d2", host="media2", cj=2)
    call(emm, "allocate", jobid=1, kind="backup", stu="d2")
    call(emm, "allocate", jobid=2, kind="backup", stu="d2")
    call(emm, "host_add", name="media3", machinetype="media")  # a machine state survives too
    call(emm, "host_update", name="media3", machinetype="media", state_op="set_disabled")
    before = (call(emm, "stu_list")["stus"], call(emm, "allocations")["allocations"])
    proc = read_pidfile(emm.cfg.paths, "nbemm")
    assert proc is not None
    proc.terminate()
    proc.wait(timeout=20)
    quietly(lambda: netbackup.start(emm.cfg, only=["nbemm"]))
    assert nbemm_pid(emm) != proc.pid
    assert (call(emm, "stu_list")["stus"], call(emm, "allocations")["allocations"]) == before
    assert status(emm, "allocate", jobid=3, kind="backup", stu="d2") == 2040
    assert len(call(emm, "host_list", name="aio")["hosts"]) == 2  # not added twice
    assert call(emm, "host_list", name="media3")["hosts"][0]["state"] == 4


@pytest.mark.parametrize("request_, code", [
    ({"op": "allocate", "kind": "backup", "stu": "x"}, 143),                 # no jobid
    ({"op": "allocate", "jobid": "7", "kind": "backup"}, 143),               # jobid not int
    ({"op": "allocate", "jobid": True, "kind": "backup"}, 143),              # bool is no int
    ({"op": "allocate", "jobid": 0, "kind": "backup"}, 20),                  # out of range
    ({"op": "allocate", "jobid": 10**30, "kind": "backup"}, 20),
    ({"op": "allocate", "jobid": 1, "kind": "copy"}, 20),
    ({"op": "release", "jobid": -4}, 20),
    ({"op": "release", "jobid": 4, "extra": 1}, 143),                        # undeclared field
    ({"op": "stu_add", "label": "x", "path": 5}, 143),
    ({"op": "stu_add", "label": "x", "path": "/p", "cj": "many"}, 143),
    ({"op": "stu_add", "label": ["x"], "path": "/p"}, 143),
    ({"op": "stu_delete"}, 143),
    ({"op": "host_add", "name": "h", "machinetype": "robot"}, 20),
    ({"op": "host_list", "machinetype": 3}, 143),
    ({"op": "no_such_op"}, 143),
])
def test_malformed_requests_get_a_status_and_change_nothing(quiet_emm: Host,
                                                            request_: dict[str, Any],
                                                            code: int) -> None:
    emm = quiet_emm
    pid = nbemm_pid(emm)
    with client.connect(emm.cfg, emm.name, "nbemm") as conn:
        with pytest.raises(NbuError) as e:
            conn.call(request_)
        assert e.value.status == code
        assert conn.call({"op": "ping"})["host"] == "aio"  # the same connection still works
    assert call(emm, "stu_list")["stus"] == [] and call(emm, "allocations")["allocations"] == []
    assert nbemm_pid(emm) == pid


def test_a_broken_frame_closes_only_that_connection(emm: Host) -> None:
    pid = nbemm_pid(emm)
    with client.connect(emm.cfg, emm.name, "nbemm") as conn:
        conn.sock.sendall(frames.HEADER.pack(9) + b"not json!")
        reply = conn.recv(timeout=10)
        assert reply["status"] == 232
        with pytest.raises(EOFError):
            conn.recv(timeout=10)
    assert call(emm, "ping")["host"] == "aio" and nbemm_pid(emm) == pid


# --- the commands, as real processes --------------------------------------------------------

def run_fail(host: Host, *argv: str) -> tuple[int, str, str]:
    r = host.run(*argv, check=False)
    return r.returncode, r.stdout, r.stderr


def test_bpstuadd_bpstulist_bpstudel(emm: Host) -> None:
    emm.run("bpstuadd", "-label", "disk1", "-path", "/nb/disk1", "-host", "aio", "-cj", "3",
            "-mfs", "1024")
    assert emm.run("bpstuadd", "-label", "disk0", "-path", "/nb/my disk", "-odo", "1").stdout \
        == ""
    raw = emm.run("bpstulist").stdout.splitlines()
    assert [line.split()[0] for line in raw] == ["disk0", "disk1"]
    f = shlex.split(raw[1])
    assert f[:9] == ["disk1", "0", "aio", "0", "-1", "-1", "3", "0", "/nb/disk1"]
    assert (f[9], f[10], f[11], f[14], f[20]) == ("0", "1", "1024", "1", "aio")
    assert emm.run("bpstulist", "-l").stdout.splitlines() == raw
    assert shlex.split(raw[0])[8] == "/nb/my disk" and shlex.split(raw[0])[9] == "1"
    one = emm.run("bpstulist", "-label", "disk1", "-U").stdout.splitlines()
    fields = {k: v.strip() for k, _, v in (line.partition(":") for line in one)}
    assert fields["Label"] == "disk1" and fields["Storage Unit Type"] == "Disk"
    assert fields["Host Connection"] == "aio" and fields["Concurrent Jobs"] == "3"
    assert fields["Max Fragment Size"] == "1024 MB" and fields["Path"] == '"/nb/disk1"'
    assert fields["On Demand Only"] == "no"
    both = emm.run("bpstulist", "-L").stdout
    assert both.count("Label:") == 2 and "\n\nLabel:" in both
    # what a runbook counts: bpstulist -U | grep "Storage Unit Type:" | grep -c Disk
    assert emm.run("bpstulist", "-U").stdout.count("Storage Unit Type:    Disk") == 2
    assert emm.run("bpstulist", "-go").stdout == ""
    assert emm.run("bpstulist", "-g", "-M", "aio").stdout.splitlines() == raw
    emm.run("bpstudel", "-label", "disk0")
    assert [line.split()[0] for line in emm.run("bpstulist").stdout.splitlines()] == ["disk1"]


@pytest.mark.parametrize("argv, code, words", [
    (["bpstuadd", "-path", "/nb/x"], 20, "Missing option '-label'"),
    (["bpstuadd", "-label", "x", "-path", "rel/dir"], 141, "not absolute"),
    (["bpstuadd", "-label", "x", "-path", "/nb/x", "-host", "ghost"], 2101, "ghost"),
    (["bpstuadd", "-label", "x", "-path", "/nb/x", "-cj", "lots"], 20, "-cj"),
    (["bpstuadd", "-label", "x", "-path", "/nb/x", "-dt", "6"], 20, "disk type 6"),
    (["bpstuadd", "-label", "x", "-path", "/nb/x", "-odo", "2"], 20, "-odo"),
    (["bpstuadd", "-label", "x", "-path", "/nb/x", "-mfs", "1"], 20, "fragment size"),
    (["bpstudel", "-label", "nope"], 227, "nope"),
    (["bpstudel"], 20, "Missing option '-label'"),
    (["bpstulist", "-label", "nope"], 227, "nope"),
    (["bpstulist", "-bogus"], 20, "No such option"),
])
def test_storage_unit_command_errors(quiet_emm: Host, argv: list[str], code: int,
                                     words: str) -> None:
    emm = quiet_emm
    rc, out, err = run_fail(emm, *argv)
    assert rc == code % 256
    assert err.splitlines()[-1].startswith(f"EXIT STATUS {code}: ")
    assert words in err and "Traceback" not in err
    assert nbemm_pid(emm)


def test_duplicate_label_is_226(emm: Host) -> None:
    emm.run("bpstuadd", "-label", "x", "-path", "/nb/x")
    rc, _, err = run_fail(emm, "bpstuadd", "-label", "x", "-path", "/nb/y")
    assert rc == 226 and "EXIT STATUS 226: the entity already exists" in err
    rc, _, err = run_fail(emm, "bpstuadd", "-label", "y", "-path", "/nb/x")
    assert rc == 226 and "already writes to aio:/nb/x" in err
    assert len(emm.run("bpstulist").stdout.splitlines()) == 1


def test_nbemmcmd_hosts(emm: Host) -> None:
    out = emm.run("nbemmcmd", "-addhost", "-machinename", "media2", "-machinetype", "media",
                  "-netbackupversion", "10.1.1").stdout.splitlines()
    assert out[0].startswith("NBEMMCMD, Version: ") and out[-1] == \
        "Command completed successfully."
    lines = emm.run("nbemmcmd", "-listhosts").stdout.splitlines()
    assert lines[0].startswith("NBEMMCMD, Version:")
    assert lines[1] == "The following hosts were found:"
    assert [line.split() for line in lines[2:-1]] == \
        [["master", "aio"], ["media", "aio"], ["media", "media2"]]
    assert lines[-1] == "Command completed successfully."
    # nbemmcmd -listhosts | grep media | awk '{print $2}'
    assert [line.split()[1] for line in lines if "media" in line.split()[0]] == ["aio", "media2"]
    short = emm.run("nbemmcmd", "-listh", "-machinetype", "media").stdout.splitlines()
    assert [line.split()[1] for line in short[2:-1]] == ["aio", "media2"]
    verbose = emm.run("nbemmcmd", "-listhosts", "-verbose", "-display_server", "-machinename",
                      "media2", "-machinetype", "media").stdout.splitlines()
    assert verbose[2] == "media2"
    assert "        NetBackupVersion = 10.1.1 (1011000)" in verbose
    assert '        MasterServerName = "aio"' in verbose
    servers = emm.run("nbemmcmd", "-listhosts", "-nbservers").stdout
    emm.run("nbemmcmd", "-addhost", "-machinename", "cl1", "-machinetype", "client")
    assert emm.run("nbemmcmd", "-listhosts", "-nbservers").stdout == servers
    emm.run("nbemmcmd", "-deletehost", "-machinename", "media2", "-machinetype", "media")
    assert "media2" not in emm.run("nbemmcmd", "-listhosts").stdout


@pytest.mark.parametrize("argv, code", [
    (["nbemmcmd"], 20),
    (["nbemmcmd", "-addhost", "-machinename", "h1"], 20),
    (["nbemmcmd", "-addhost", "-machinename", "h1", "-machinetype", "robot"], 20),
    (["nbemmcmd", "-addhost", "-machinename", "aio", "-machinetype", "master"], 226),
    (["nbemmcmd", "-addhost", "-machinename", "h1", "-machinetype", "media",
      "-netbackupversion", "x"], 20),
    (["nbemmcmd", "-deletehost", "-machinename", "ghost", "-machinetype", "media"], 227),
    (["nbemmcmd", "-listhosts", "-display_server"], 20),
    (["nbemmcmd", "-listhosts", "-machinename", "ghost"], 227),
])
def test_nbemmcmd_errors(quiet_emm: Host, argv: list[str], code: int) -> None:
    emm = quiet_emm
    rc, out, err = run_fail(emm, *argv)
    assert rc == code and err.splitlines()[-1].startswith(f"EXIT STATUS {code}: ")
    assert "Traceback" not in err
    if code != 20 or "robot" in argv or "x" in argv:  # nbemm answered: the frame is closed
        assert out.splitlines()[-1] == "Command did not complete successfully."
    assert [h["name"] for h in call(emm, "host_list")["hosts"]] == ["aio", "aio"]


def test_commands_without_nbemm_say_so(daemons: Callable[..., Host]) -> None:
    quietly(lambda: daemons("bpcd"))
    host = daemons("bpcd")  # PBX runs, nbemm does not
    try:
        rc, _, err = run_fail(host, "bpstulist")
        assert rc == 25 and "'nbemm' is not registered" in err and "Traceback" not in err
    finally:
        reap(host)


@pytest.mark.parametrize("name", ["bpstuadd", "bpstulist", "bpstudel", "nbemmcmd", "nbemm"])
def test_help_ends_with_exit_status(aio_root: Host, name: str) -> None:
    out = aio_root.run(name, "--help", check=name != "nbemm").stdout
    if name != "nbemm":
        section = out[out.index("EXIT STATUS"):out.index("Options:")].splitlines()
        assert section[1].split()[0] == "0" and all(line.split()[0].isdigit()
                                                    for line in section[1:] if line.strip())
    else:
        assert "foreground" in out


def test_daemon_stops_cleanly(emm: Host) -> None:
    proc = read_pidfile(emm.cfg.paths, "nbemm")
    assert proc is not None
    proc.terminate()
    proc.wait(timeout=20)
    wait_for(lambda: not emm.cfg.paths.pidfile("nbemm").exists(), 10, "nbemm's pid file gone")
    log = emm.log("nbemm")
    assert log.splitlines()[-1].endswith("nbemm stopped")


def framed(out: str) -> list[str]:
    """The lines between NetBackup's frame (Perl scripts read lines 2..n-1)."""
    lines = out.splitlines()
    assert lines[0].startswith("NBEMMCMD, Version: ")
    assert lines[-1] == "Command completed successfully."
    return lines[1:-1]


def test_nbemmcmd_update_rename_alias(emm: Host) -> None:
    emm.run("nbemmcmd", "-addhost", "-machinename", "media2", "-machinetype", "media")
    emm.run("bpstuadd", "-label", "disk2", "-path", "/nb/disk2", "-host", "media2")
    assert framed(emm.run("nbemmcmd", "-updatehost", "-machinename", "media2", "-machinetype",
                          "media", "-netbackupversion", "10.2", "-operatingsystem",
                          "Linux").stdout) == []
    block = framed(emm.run("nbemmcmd", "-listhosts", "-verbose", "-display_server",
                           "-machinename", "media2", "-machinetype", "media").stdout)
    assert '        OperatingSystem = "Linux"' in block
    assert block[-1] == "        NetBackupVersion = 10.2 (1020000)"
    # -parsable: one EMMHOST line a record, split on " - "
    parsable = framed(emm.run("nbemmcmd", "-listhosts", "-parsable").stdout)
    assert [line.split(" - ") for line in parsable] == [
        [f"EMMHOST{call(emm, 'host_list')['hosts'][0]['version']}", "aio", "master", "aio",
         "-"],
        [parsable[1].split(" - ")[0], "aio", "media", "aio", "-"],
        ["EMMHOST10.2", "media2", "media", "aio", "Linux"]]
    # A name in use is refused (226), as NetBackup refuses it; nothing changes.
    rc, out, err = run_fail(emm, "nbemmcmd", "-renamehost", "-machinename", "media2",
                            "-newmachinename", "aio", "-machinetype", "media")
    assert rc == 226 and out.splitlines()[-1] == "Command did not complete successfully."
    assert err.splitlines()[-1].startswith("EXIT STATUS 226: ")
    emm.run("nbemmcmd", "-renamehost", "-machinename", "media2", "-newmachinename",
            "media2.lan", "-machinetype", "media")
    lines = framed(emm.run("nbemmcmd", "-listhosts").stdout)
    assert [line.split() for line in lines[1:]] == \
        [["master", "aio"], ["media", "aio"], ["media", "media2.lan"]]
    assert emm.run("bpstulist", "-label", "disk2").stdout.split()[2] == "media2.lan"
    emm.run("nbemmcmd", "-machinealias", "-machinename", "media2.lan", "-machinetype",
            "media", "-addalias", "-alias", "media2")
    emm.run("nbemmcmd", "-machinealias", "-machinename", "media2.lan", "-machinetype",
            "media", "-addalias", "-alias", "m2")
    rc, _, _ = run_fail(emm, "nbemmcmd", "-machinealias", "-machinename", "aio",
                        "-machinetype", "media", "-addalias", "-alias", "m2")
    assert rc == 226
    get = ("nbemmcmd", "-machinealias", "-machinename", "media2.lan", "-machinetype", "media",
           "-getaliases")
    assert framed(emm.run(*get).stdout) == ["media2", "m2"]
    emm.run("nbemmcmd", "-machinealias", "-machinename", "media2.lan", "-machinetype",
            "media", "-deletealias", "-alias", "media2")
    assert framed(emm.run(*get).stdout) == ["m2"]
    rc, _, _ = run_fail(emm, "nbemmcmd", "-machinealias", "-machinename", "media2.lan",
                        "-machinetype", "media", "-deletealias", "-alias", "media2")
    assert rc == 227


@pytest.mark.parametrize("argv, code", [
    (["-updatehost", "-machinename", "aio", "-machinetype", "media"], 20),
    (["-updatehost", "-machinename", "ghost", "-machinetype", "media", "-operatingsystem",
      "x"], 227),
    (["-updatehost", "-machinename", "aio", "-machinetype", "media", "-netbackupversion",
      "ten"], 20),
    (["-renamehost", "-machinename", "aio", "-machinetype", "media"], 20),
    (["-renamehost", "-machinename", "aio", "-machinetype", "master", "-newmachinename",
      "x"], 20),
    (["-renamehost", "-machinename", "ghost", "-machinetype", "media", "-newmachinename",
      "x"], 227),
    (["-machinealias", "-machinename", "aio", "-machinetype", "media"], 20),
    (["-machinealias", "-machinename", "aio", "-machinetype", "media", "-addalias"], 20),
    (["-machinealias", "-machinename", "aio", "-machinetype", "media", "-addalias",
      "-alias", "bad name"], 20),
])
def test_nbemmcmd_host_change_errors(quiet_emm: Host, argv: list[str], code: int) -> None:
    emm = quiet_emm
    rc, _, err = run_fail(emm, "nbemmcmd", *argv)
    assert rc == code and err.splitlines()[-1].startswith(f"EXIT STATUS {code}: ")
    assert "Traceback" not in err
    assert [h["name"] for h in call(emm, "host_list")["hosts"]] == ["aio", "aio"]


def test_nbemmcmd_errorsprobe(emm: Host) -> None:
    assert framed(emm.run("nbemmcmd", "-errorsprobe").stdout) == \
        ["No media or drive errors were found."]
    home = "/nb/volmgr/vtl"  # a robot, a drive and a medium, as test_emm_media's library()
    call(emm, "robot_add", rn=0, rt="tld", host="aio", device=home)
    call(emm, "drive_add", name="HP.ULTRIUM.000", host="aio", type="hcart", rn=0, drnum=0,
         path=f"{home}:0")
    call(emm, "media_add", media_id="A00001", type="hcart", rt="tld", rn=0, slot=1)
    call(emm, "media_error", jobid=7, media_id="A00001", drive="HP.ULTRIUM.000", kind="write")
    lines = framed(emm.run("nbemmcmd", "-errorsprobe").stdout)
    assert lines[0] == "The following media and drive errors were found:"
    assert lines[1].split()[:3] == ["Time", "Media", "ID"]
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d +A00001 +HP\.ULTRIUM\.000 +aio +7 "
                        r"write", lines[2])
    assert framed(emm.run("nbemmcmd", "-errorsprobe", "-mediaid", "A00002").stdout) == \
        ["No media or drive errors were found."]
