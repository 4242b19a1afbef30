"""nbcmdd and the command launcher: a command nbcmdd forks behaves as one run in its own
interpreter (`python -m nbcli`), whatever it reads, prints or is sent; and when nbcmdd cannot
serve, the launcher runs the command itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from nbcli import programs
from nbcli.wire import cmdreq
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu


def _pidfile_pid(host: Host) -> int:
    return int(host.cfg.paths.pidfile("nbcmdd").read_text().split()[0])


def served(host: Host) -> list[str]:
    """nbcmdd's log lines about commands it ran."""
    log = host.log("nbcmdd")
    return [line for line in log.splitlines() if "(pid " in line and "ms" in line]


def in_process(host: Host, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same command in its own interpreter, never through nbcmdd."""
    return subprocess.run([sys.executable, "-m", "nbcli", *argv], env=host.env(**env),
                          text=True, errors="surrogateescape", capture_output=True,
                          timeout=60)


def command_process(host: Host, name: str) -> psutil.Process:
    """The process nbcmdd forked to run `name` (its process name is the command's)."""
    server = _pidfile_pid(host)

    def find() -> psutil.Process | None:
        for child in psutil.Process(server).children():
            if child.name() == name:
                return child
        return None

    return wait_for(find, what=f"{name} forked by nbcmdd")  # type: ignore[return-value]


def reading_a_pipe(proc: psutil.Process) -> bool:
    """Whether `proc` waits in a read of a pipe (its stdin here): past its start-up."""
    try:
        return "pipe" in Path(f"/proc/{proc.pid}/wchan").read_text()
    except OSError:
        return False


def catches(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler of its own for `sig` (SigCgt in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) >> (sig - 1) & 1)


def state(pid: int) -> str:
    """What a stuck process waits in and which signals it catches, ignores, has pending."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError as e:
        return f"pid {pid}: {e}"
    keep = ("State:", "Threads:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:")
    return f"pid {pid} in {wchan!r}, " + ", ".join(
        " ".join(line.split()) for line in status if line.startswith(keep))


def test_a_served_command_answers_as_one_run_by_itself(aio: Host) -> None:
    before = len(served(aio))
    for argv in (["bppllist", "nosuch"], ["bpgetconfig", "CLIENT_NAME"],
                 ["bpdbjobs", "-nosuchflag"], ["bpdbjobs", "-summary"],
                 ["bpstuadd", "-label", "x"]):
        ours, alone = aio.run(*argv, check=False), in_process(aio, *argv)
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (alone.returncode, alone.stdout, alone.stderr), argv
    lines = served(aio)[before:]
    assert [line.split("]")[1].split()[1] for line in lines] == \
        ["bppllist", "bpgetconfig", "bpdbjobs", "bpdbjobs", "bpstuadd"]
    assert "exit 230" in lines[0] and "exit 20" in lines[2]


def test_stdin_working_folder_and_time_zone_reach_the_command(aio: Host, tmp_path: Path) -> None:
    aio.run("bpsetconfig", input="VERBOSE = 4\n")  # read from the launcher's stdin
    assert aio.run("bpgetconfig", "VERBOSE").stdout == "VERBOSE = 4\n"
    (tmp_path / "entries").write_text("VERBOSE = 2\n")
    r = subprocess.run(programs.argv_for("bpsetconfig") + ["entries"], env=aio.env(),
                       cwd=tmp_path, capture_output=True, text=True)  # a relative path
    assert r.returncode == 0, r.stderr
    assert aio.run("bpgetconfig", "VERBOSE").stdout == "VERBOSE = 2\n"

    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(b"tz")
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name)
    add_policy(aio, "tz", "disk1", [aio.name], [str(data)])
    aio.run("bpbackup", "-i", "-p", "tz", "-s", "full", "-w")
    by_zone = {}
    for tz in ("UTC", "Asia/Tokyo"):
        # bpimagelist -U prints local times (bpdbjobs' default columns have none)
        ours, alone = aio.run("bpimagelist", "-U", TZ=tz), in_process(aio, "bpimagelist", "-U",
                                                                      TZ=tz)
        assert ours.stdout == alone.stdout
        by_zone[tz] = ours.stdout
    assert by_zone["UTC"] != by_zone["Asia/Tokyo"]  # the zone was really applied


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_launcher_reaches_the_command(aio: Host, sig: int) -> None:
    ended = []
    for argv in (programs.argv_for("bpsetconfig"), [sys.executable, "-m", "nbcli",
                                                   "bpsetconfig"]):
        proc = subprocess.Popen(argv, env=aio.env(), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:  # a failure leaves no launcher running into the next test
            child = command_process(aio, "bpsetconfig") if len(argv) == 1 else psutil.Process(
                proc.pid)
            wait_for(lambda: reading_a_pipe(child), what="bpsetconfig reading its stdin")  # noqa: B023
            if len(argv) == 1:
                # nbcmdd says `run` before it forks, so the command can be reading before its
                # launcher has set the handler that passes a signal on (the launcher holds a
                # signal until then: test_launcher_signals); this test is about the passing on
                wait_for(lambda: catches(proc.pid, sig),  # noqa: B023
                         what="the launcher catching the signal")
            proc.send_signal(sig)
            # stdin stays open until the command has ended: closed at once, its EOF could reach
            # the command before the signal the launcher passes on, and the command end 0.
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the launcher did not end: {state(proc.pid)}; the command: "
                            f"{state(child.pid)}; nbcmdd's log:\n{aio.log('nbcmdd')[-3000:]}")
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        out, err = proc.communicate(timeout=30)
        ended.append((proc.returncode, out, err))
    child.wait(timeout=30)
    assert ended[0] == ended[1]  # SIGTERM: killed by it; SIGINT: status 150, as NetBackup's
    assert ended[0][0] == (-sig if sig == signal.SIGTERM else 150)


def test_stop_and_continue_pass_on_and_a_killed_launcher_takes_its_command(aio: Host) -> None:
    launcher = subprocess.Popen(programs.argv_for("bpsetconfig"), env=aio.env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    child = command_process(aio, "bpsetconfig")
    wait_for(lambda: reading_a_pipe(child), what="bpsetconfig reading its stdin")
    launcher.send_signal(signal.SIGTSTP)
    wait_for(lambda: child.status() == psutil.STATUS_STOPPED, what="the command stopped")
    launcher.send_signal(signal.SIGCONT)
    wait_for(lambda: child.status() != psutil.STATUS_STOPPED, what="the command running")
    launcher.kill()
    launcher.communicate(timeout=30)
    child.wait(timeout=30)  # nbcmdd saw its launcher go and killed it
    assert any("went away" in line for line in
               aio.log("nbcmdd").splitlines())


def test_bad_requests_are_refused_and_nbcmdd_serves_on(aio: Host) -> None:
    path = str(aio.cfg.paths.cmd_socket)

    def ask(packet: bytes, fds: list[int]) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(path)
            s.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds))]
                       if fds else [])
            s.settimeout(30)
            return s.recv(256)

    good = cmdreq.encode_request(os.fsencode(sys.executable),
                                 os.fsencode(os.path.dirname(programs.__file__)), "bpps",
                                 b"/", 0o022, "utf-8", "strict", [], [b"A=1"])
    with open(os.devnull, "rb") as null:
        fds = [null.fileno()] * 3
        assert ask(b"garbage", fds).startswith(b"no malformed")
        assert ask(good, []) == b"no stdin, stdout and stderr are not attached"
        assert ask(good.replace(b"bpps", b"bptm", 1), fds).startswith(b"no bptm is not")
        assert ask(good.replace(b"bpps", b"netbackup", 1), fds).startswith(b"no netbackup")
        assert ask(good.replace(b"\0utf-8\0", b"\0klingon\0", 1), fds) == \
            b"no unknown encoding klingon/strict"
        other = good.replace(os.fsencode(sys.executable), b"/usr/bin/python9", 1)
        assert ask(other, fds) == b"no another interpreter or another nbcli"
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(path)  # and hangs up without a word
    before = len(served(aio))
    assert aio.run("bpgetconfig", "CLIENT_NAME").stdout.strip() == f"CLIENT_NAME = {aio.name}"
    assert len(served(aio)) == before + 1


def test_without_nbcmdd_the_launcher_runs_the_command_itself(aio: Host) -> None:
    server = psutil.Process(_pidfile_pid(aio))
    server.kill()  # no clean-up: its socket file stays behind, refusing connections
    server.wait(timeout=30)
    assert aio.cfg.paths.cmd_socket.exists()
    r = aio.run("bppllist", "nosuch", check=False)
    assert (r.returncode, r.stderr) == (230, in_process(aio, "bppllist", "nosuch").stderr)
    aio.start()  # brings back only nbcmdd, on a fresh socket
    assert aio.run("bpgetconfig", "CLIENT_NAME").returncode == 0
    assert "bpgetconfig" in served(aio)[-1]


def test_the_protocol_by_hand_and_a_working_folder_gone_meanwhile(aio: Host) -> None:
    """A request as a launcher sends it, whose folder no longer exists when the fork runs."""
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    env = [f"{k}={v}".encode() for k, v in aio.env().items()]
    packet = cmdreq.encode_request(os.fsencode(sys.executable),
                                   os.fsencode(os.path.dirname(programs.__file__)),
                                   "bpgetconfig", b"/nonexistent", 0o022, "utf-8", "strict",
                                   [b"CLIENT_NAME"], env)
    with open(os.devnull, "rb") as null, \
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(str(aio.cfg.paths.cmd_socket))
        s.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(
            fd.to_bytes(4, sys.byteorder) for fd in (null.fileno(), w_out, w_err)))])
        os.close(w_out)
        os.close(w_err)
        s.settimeout(30)
        assert s.recv(256) == b"run"
        assert s.recv(256) == b"exit 255"  # status 256: never success to the shell
    with os.fdopen(r_out) as out, os.fdopen(r_err) as err:
        assert out.read() == ""
        assert err.read().splitlines() == [
            "bpgetconfig: cannot run in /nonexistent: No such file or directory",
            "EXIT STATUS 256: logic error encountered"]
