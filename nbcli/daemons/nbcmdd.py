"""nbcmdd: starts this host's commands from a process that has already imported them.

Why, and the launcher's side, are in nbcli.launcher; the packets are nbcli.wire.cmdreq.

One thread and one selector: the listening socket, each launcher's connection and a pidfd per
running command. One thread on purpose: a process that forks must have no other threads (a
lock another thread holds at the fork stays held for ever in the child).

A request is served only from a launcher of our uid and gid (SO_PEERCRED) that runs our
interpreter and our nbcli: then the forked process is what the launcher would have become
itself, started ~40 ms sooner. It gets default signal dispositions, the launcher's descriptors
as 0, 1 and 2 with new sys.stdin/stdout/stderr on them (line-buffered on a terminal, as Python
makes them), the launcher's environment (TZ too: time.tzset), working folder, umask and argv;
then it runs the command's main as `python -m nbcli <command>` would and exits with its status.
It stays in nbcmdd's session, with no controlling terminal: the launcher passes on the signals a
terminal would send it. Its process name (ps, top, pgrep) is the command's; its command line is
nbcmdd's, so bpps lists it as nbcmdd and `netbackup stop` stops it with the host.

If the launcher goes away (killed with SIGKILL: any other signal it passes on), the command is
killed too, as it would have died with the launcher. SIGTERM stops nbcmdd from taking requests;
it exits when the commands it started have ended.
"""

from __future__ import annotations

import codecs
import ctypes
import gc
import importlib
import io
import os
import selectors
import signal
import socket
import struct
import sys
import time

from nbcli import clock, launcher, programs
from nbcli.cli import fail
from nbcli.daemons.base import Daemon, daemon_main, remove_pidfile
from nbcli.status import LOGIC_ERROR, NbuError
from nbcli.unixaddr import Reach
from nbcli.wire import cmdreq

SERVED = frozenset(programs.COMMANDS) - launcher.RUN_HERE
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_FDS = 3  # stdin, stdout, stderr
_PR_SET_NAME = 15


class Launch:
    """One launcher's connection and, once forked, its command's process."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.program = ""
        self.pid = 0
        self.pidfd = -1
        self.started = 0.0
        self.peer = 0  # the launcher's pid


class Nbcmdd(Daemon):
    """starts this host's commands from a process that has already imported them"""

    name = "nbcmdd"

    def run(self) -> None:
        me = self.claim_pidfile()
        self.log.info("nbcmdd starting (pid %d, host %s)", me.pid, self.cfg.client_name)
        self._preload()
        self.sel = selectors.DefaultSelector()
        self.launches: dict[int, Launch] = {}  # by connection fd and by pidfd
        self._wake_r = self.catch_signals()  # SIGTERM and SIGINT reach the loop as bytes
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no configuration of its own to reread
        self.listener = self._listen()
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(self.listener, selectors.EVENT_READ, "listen")
        self.log.info("serving commands on %s", self.paths.cmd_socket)
        try:
            while not self.stop.is_set() or self._running():
                if self.stop.is_set() and self.listener.fileno() >= 0:
                    self._stop_listening()
                for key, _ in self.sel.select(timeout=1.0):
                    try:
                        self._dispatch(key.data)
                    except Exception:  # a bug must cost one launch, not every command's
                        self.log.exception("serving %r failed", key.data)
                        if isinstance(key.data, tuple) and not key.data[1].pid:
                            self._refuse(key.data[1], "nbcmdd failed; see its log")
        finally:
            if self.listener.fileno() >= 0:
                self._stop_listening()
            remove_pidfile(self.paths, self.name, me.pid)
            self.log.info("nbcmdd stopped")

    # --- start-up -------------------------------------------------------------------------

    def _preload(self) -> None:
        """Import every command we serve: the point of this daemon."""
        t = time.perf_counter()
        for program in sorted(SERVED):
            importlib.import_module(programs.COMMANDS[program].partition(":")[0])
        # click tries every option as a long one first, and the NoSuchOption it raises for a
        # short one (-C, -w: most of NetBackup's) imports difflib for its suggestions: ~1.5 ms
        # of each command's run, once here instead
        importlib.import_module("difflib")
        gc.collect()
        gc.freeze()  # children then leave the imported objects' pages shared
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._executable = os.fsencode(sys.executable)
        self._package = os.fsencode(os.path.dirname(programs.__file__))
        self.log.info("%d commands imported in %.0f ms", len(SERVED),
                      (time.perf_counter() - t) * 1000)

    def _listen(self) -> socket.socket:
        path = self.paths.cmd_socket
        try:
            path.unlink()  # a previous run's socket; our pid file says none is alive
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o077)  # only our own user may connect, from the first moment
        try:
            with Reach(path) as address:
                s.bind(address)
        finally:
            os.umask(old)
        s.listen(128)
        s.setblocking(False)
        return s

    def _stop_listening(self) -> None:
        self.sel.unregister(self.listener)
        self.listener.close()
        try:
            self.paths.cmd_socket.unlink()
        except FileNotFoundError:
            pass
        for launch in list(self.launches.values()):
            if not launch.pid:
                self._refuse(launch, "nbcmdd is stopping")

    def _running(self) -> bool:
        return any(launch.pid for launch in self.launches.values())

    # --- the loop -------------------------------------------------------------------------

    def _dispatch(self, data: object) -> None:
        if data == "wake":
            try:
                while caught := self._wake_r.recv(64):
                    self.on_signals(caught)
            except BlockingIOError:
                pass
        elif data == "listen":
            self._accept()
        elif isinstance(data, tuple):
            kind, launch = data
            if kind == "pidfd":
                self._reap(launch)
            elif launch.pid:
                self._from_launcher(launch)
            else:
                self._request(launch)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: the launcher runs its command itself
                self.log.warning("accept failed: %s", e)
                return
            launch = Launch(conn)
            self.launches[conn.fileno()] = launch
            self.sel.register(conn, selectors.EVENT_READ, ("conn", launch))

    def _request(self, launch: Launch) -> None:
        """The launcher's one request: refuse it, or say `run` and fork its command."""
        fds: list[int] = []
        try:
            packet, anc, flags, _ = launch.conn.recvmsg(cmdreq.MAX_REQUEST,
                                                        socket.CMSG_SPACE(_FDS * 4))
        except BlockingIOError:
            return
        except OSError as e:
            self.log.warning("reading a request failed: %s", e)
            self._close(launch)
            return
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += list(struct.unpack(f"{len(data) // 4}i", data[:len(data) // 4 * 4]))
        try:
            if not packet:  # a `netbackup start` readiness probe hung up
                self._close(launch)
                return
            req = self._check(launch, packet, fds, flags)
            if isinstance(req, str):
                self._refuse(launch, req)
            else:
                self._fork(launch, req, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _check(self, launch: Launch, packet: bytes, fds: list[int],
               flags: int) -> cmdreq.Request | str:
        """The request, if it is ours to run; else why not."""
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            return "request too large"
        peer, uid, gid = _CRED.unpack(launch.conn.getsockopt(socket.SOL_SOCKET,
                                                             socket.SO_PEERCRED, _CRED.size))
        launch.peer = peer
        if (uid, gid) != (os.getuid(), os.getgid()):
            return "not our user"
        try:
            req = cmdreq.decode_request(packet)
        except cmdreq.RequestError as e:
            self.log.warning("malformed request: %s", e)
            return f"malformed request: {e}"
        if req.executable != self._executable or req.package != self._package:
            return "another interpreter or another nbcli"
        if req.program not in SERVED:
            return f"{req.program} is not a command nbcmdd runs"
        if len(fds) != _FDS:
            return "stdin, stdout and stderr are not attached"
        try:
            codecs.lookup(req.encoding)
            codecs.lookup_error(req.errors)
        except LookupError:
            return f"unknown encoding {req.encoding}/{req.errors}"
        return req

    def _refuse(self, launch: Launch, why: str) -> None:
        try:
            launch.conn.send(cmdreq.reply("no", why))
        except OSError:
            pass
        self._close(launch)

    def _fork(self, launch: Launch, req: cmdreq.Request, fds: list[int]) -> None:
        # `run` goes first: should nbcmdd die before the fork, the launcher, told `run`,
        # reports it rather than running the command itself - never is a command run twice.
        try:
            launch.conn.send(cmdreq.reply("run"))
        except OSError:
            self._close(launch)
            return
        try:
            pid = os.fork()
        except OSError as e:
            self.log.error("cannot fork for %s: %s", req.program, e)
            self._refuse(launch, f"fork failed: {e}")
            return
        if pid == 0:
            code = 70
            try:
                code = self._child(req, fds, launch.peer)
            finally:
                os._exit(code)
        launch.program, launch.pid, launch.started = req.program, pid, time.monotonic()
        launch.pidfd = os.pidfd_open(pid)
        self.launches[launch.pidfd] = launch
        self.sel.register(launch.pidfd, selectors.EVENT_READ, ("pidfd", launch))

    def _from_launcher(self, launch: Launch) -> None:
        """While the command runs: a signal to pass on, or the launcher gone."""
        try:
            packet = launch.conn.recv(256)
        except BlockingIOError:
            return
        except OSError:
            packet = b""
        word, value = cmdreq.parse_reply(packet)
        if word == "kill" and value.isdigit() and 0 < int(value) < signal.NSIG:
            self._signal(launch, int(value))
        elif not packet:
            self.log.info("the launcher of %s (pid %d) went away; killing it", launch.program,
                          launch.pid)
            self._signal(launch, signal.SIGKILL)
            self.sel.unregister(launch.conn)
            del self.launches[launch.conn.fileno()]
            launch.conn.close()

    def _signal(self, launch: Launch, signum: int) -> None:
        try:
            signal.pidfd_send_signal(launch.pidfd, signum)
        except OSError:  # already exited: the pidfd says so next
            pass

    def _reap(self, launch: Launch) -> None:
        _, status = os.waitpid(launch.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        answer = cmdreq.reply("exit", code) if code >= 0 else cmdreq.reply("signal", -code)
        self.log.info("%s (pid %d): %s in %.0f ms", launch.program, launch.pid,
                      answer.decode(), (time.monotonic() - launch.started) * 1000)
        self.sel.unregister(launch.pidfd)
        del self.launches[launch.pidfd]
        os.close(launch.pidfd)
        if launch.conn.fileno() >= 0:
            try:
                launch.conn.send(answer)
            except OSError:
                pass
            self._close(launch)

    def _close(self, launch: Launch) -> None:
        if launch.conn.fileno() < 0:
            return
        self.sel.unregister(launch.conn)
        del self.launches[launch.conn.fileno()]
        launch.conn.close()

    # --- the forked command ---------------------------------------------------------------

    def _child(self, req: cmdreq.Request, fds: list[int], peer: int) -> int:
        """Become the launcher's command (see the module docstring); its exit status."""
        signal.set_wakeup_fd(-1)
        # As a new Python process has them: SIGINT raises KeyboardInterrupt, SIGPIPE is ignored.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP,
                    signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        clock.forget()  # nbcmdd's own host clock; the command sets up its own
        for launch in self.launches.values():
            if launch.pidfd >= 0:
                os.close(launch.pidfd)
                launch.pidfd = -1
            launch.conn.close()
        for s in (self.listener, self._wake_r, self._wake_w):
            s.close()
        os.close(self.pid_lock)  # a command outliving nbcmdd must not keep its restart out
        self.sel.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        sys.stdin = _stdio(0, "r", req.encoding, req.errors)
        sys.stdout = _stdio(1, "w", req.encoding, req.errors)
        sys.stderr = _stdio(2, "w", req.encoding, "backslashreplace")
        sys.argv = [req.program, *map(os.fsdecode, req.argv)]
        launcher.launcher_pid = peer
        self._libc.prctl(_PR_SET_NAME, req.program.encode()[:15], 0, 0, 0)
        os.umask(req.umask)
        os.environb.clear()
        os.environb.update(req.env)
        time.tzset()
        try:
            try:
                os.chdir(req.cwd)
            except OSError as e:  # removed since the launcher looked: as the shell would say
                fail(req.program, NbuError(LOGIC_ERROR, f"cannot run in {os.fsdecode(req.cwd)}: "
                                                        f"{e.strerror}"))
            programs.run(req.program)
            code = 0
        except SystemExit as e:
            code = _exit_status(e.code)
        except KeyboardInterrupt:
            # What Python does with an uncaught Ctrl-C: die of SIGINT.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
            code = 130
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        return code


def _stdio(fd: int, mode: str, encoding: str, errors: str) -> io.TextIOWrapper:
    """A standard stream on `fd` made as Python makes it at start-up (on POSIX)."""
    raw = io.FileIO(fd, mode, closefd=False)
    buffered: io.BufferedReader | io.BufferedWriter = \
        io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding, errors, newline="\n",
                            line_buffering=fd == 2 or raw.isatty(), write_through=fd == 2)


def _exit_status(code: object) -> int:
    """The process status sys.exit(code) gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


main = daemon_main(Nbcmdd)
