"""The console entry of every nbcli command: run it in a process nbcmdd forks, else here.

Starting Python and importing click and a command's modules costs ~40 ms of CPU before the
command does anything; with 100 jobs running on two cores, bpdbjobs took up to 130 ms, two
thirds of it imports. So each host runs nbcmdd (nbcli.daemons.nbcmdd), which has imported every
command once. The launcher sends it the command line, environment, working folder, umask and
its own stdin, stdout and stderr (nbcli.wire.cmdreq); nbcmdd forks a process that runs the
command exactly as this process would have, and the launcher waits for it and exits the same
way: with its status, or killed by the same signal. Signals the launcher gets (Ctrl-C, kill,
Ctrl-Z and fg) are passed on to the command.

When no nbcmdd serves this user with this interpreter and this nbcli (not started, another
user, another installation), or it refuses, the launcher runs the command itself: the same
result, only slower. A command is never run twice: once nbcmdd has said `run`, the launcher
never falls back.

The way to nbcmdd imports only `os`, `sys`, `_socket` and `_signal`: `socket` and `signal`
would import `enum` (~5 ms), and `platformdirs`, for the default root, ~15 ms.

Place: the runtime floor (docs/architecture.md). Imports only nbcli.programs, nbcli.wire,
nbcli.unixaddr and nbcli.status, never a command module: it runs a command by name
(programs.COMMANDS).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # typeshed has no stub for it
import _socket
import os
import sys

from nbcli import programs
from nbcli.unixaddr import Reach
from nbcli.wire import cmdreq

SOCKET = os.path.join("var", "run", "nbcmdd.sock")  # under the host root: Paths.cmd_socket
# `netbackup` starts and stops nbcmdd itself, so it always runs here.
RUN_HERE = frozenset({"netbackup"})
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
             _signal.SIGTSTP, _signal.SIGCONT)
# In a process nbcmdd forked for a command: the launcher's pid (bpps leaves it out as it leaves
# itself out). 0 when the command runs in its launcher.
launcher_pid = 0
_STDIO = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # SCM_RIGHTS' int array


def main(program: str) -> None:
    """Each command's script (bin/<name>, installed beside the interpreter) calls this."""
    if program in RUN_HERE:
        programs.run(program)
        return
    # nbcmdd says `run` before it forks, and the command may be running before this process
    # has its handlers that pass signals on: a Ctrl-C then would kill this launcher alone,
    # with a traceback, and nbcmdd the command with SIGKILL. Held until the handlers are set,
    # a signal is passed on like any other.
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
    sock = _start(program)
    if sock is None:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        programs.run(program)
        return
    _wait(program, sock, mask)


def host_root(argv: list[str]) -> str:
    """The root the command will use: --root, else NB_ROOT, else config.default_root()'s
    answer, computed by platformdirs' rule for Linux. A wrong guess costs only speed: any
    nbcmdd of this user runs any command the same way, and a missing one means we run it."""
    for i, word in enumerate(argv):
        if word in ("--root", "-root") and i + 1 < len(argv):
            return argv[i + 1]
        for prefix in ("--root=", "-root="):
            if word.startswith(prefix):
                return word[len(prefix):]
    root = os.environ.get("NB_ROOT")
    if root:
        return root
    data = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
    return os.path.join(data, "nbcli", "openv")


def _start(program: str) -> _socket.socket | None:
    """A connection on which nbcmdd has said `run`, or None: run the command here."""
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    except OSError:
        return None
    try:
        with Reach(os.path.join(host_root(sys.argv[1:]), SOCKET)) as address:
            sock.connect(address)
        out = sys.stdout
        packet = cmdreq.encode_request(
            os.fsencode(sys.executable), os.fsencode(os.path.dirname(__file__)), program,
            os.getcwdb(), _umask(), getattr(out, "encoding", None) or "utf-8",
            getattr(out, "errors", None) or "strict", [os.fsencode(a) for a in sys.argv[1:]],
            [name + b"=" + value for name, value in os.environb.items()])
        if len(packet) > cmdreq.MAX_REQUEST:
            raise OSError("request too large")
        sock.sendmsg([packet], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _STDIO)])
        word, _ = cmdreq.parse_reply(sock.recv(256))
    except OSError:  # no nbcmdd, a closed stdio descriptor, a deleted working folder...
        sock.close()
        return None
    if word != "run":  # refused, or gone before it forked anything
        sock.close()
        return None
    return sock


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _wait(program: str, sock: _socket.socket, mask: set[int]) -> None:
    """Pass signals on until nbcmdd says how the command ended; end the same way. `mask`:
    the signal mask to go back to once the handlers are set (signals held until then)."""

    def forward(signum: int, frame: object) -> None:
        # A stopped process group of nbcmdd's is orphaned: SIGTSTP would be discarded there.
        passed = _signal.SIGSTOP if signum == _signal.SIGTSTP else signum
        try:
            sock.send(cmdreq.reply("kill", passed))
        except OSError:
            pass
        if signum == _signal.SIGTSTP:
            os.kill(os.getpid(), _signal.SIGSTOP)

    saved = {signum: _signal.getsignal(signum) for signum in FORWARDED}
    for signum, handler in saved.items():
        if handler != _signal.SIG_IGN:  # `nohup` and `&` keep theirs
            _signal.signal(signum, forward)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    while True:
        try:
            word, value = cmdreq.parse_reply(sock.recv(256))
        except OSError:
            word, value = "", ""
        if word == "exit":
            os._exit(int(value))
        if word == "signal":
            signum = int(value)
            try:
                _signal.signal(signum, _signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            except (OSError, ValueError):  # SIGKILL needs no resetting
                os.kill(os.getpid(), _signal.SIGKILL)
            os._exit(128 + signum)
        if word == "no":  # the fork failed: nothing ran
            sock.close()
            for signum, handler in saved.items():
                _signal.signal(signum, handler)
            programs.run(program)
            return
        if word == "":
            from nbcli.status import exit_line
            sys.stderr.write(f"{program}: nbcmdd stopped while the command ran; how it ended "
                             f"is not known\n{exit_line(50)}\n")
            os._exit(50)
