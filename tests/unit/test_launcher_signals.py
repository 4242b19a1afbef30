"""A signal that reaches the launcher before it is ready to pass it on is passed on later,
not lost with a traceback (nbcli.launcher.main holds them while it connects)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# The launcher as a real process, with a thread of its own standing in for nbcmdd: the
# Ctrl-C comes while the launcher connects, as it can when nbcmdd has said `run` and the
# command already runs.
PROGRAM = textwrap.dedent("""
    import os, signal, socket, sys, threading
    from nbcli import launcher
    from nbcli.wire import cmdreq

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal

    def fake_nbcmdd(peer):
        word, value = cmdreq.parse_reply(peer.recv(256))
        sys.stderr.write(f"nbcmdd got {word} {value}\\n")
        peer.send(cmdreq.reply("exit", 150 if (word, value) == ("kill", "2") else 99))

    def start(program):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        threading.Thread(target=fake_nbcmdd, args=(theirs,), daemon=True).start()
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C before the handlers are set
        return ours

    launcher._start = start
    launcher.main("bpdbjobs")
    """)


def test_a_ctrl_c_while_connecting_reaches_the_command() -> None:
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                       timeout=60)
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    assert r.stderr == "nbcmdd got kill 2\n"
    assert r.returncode == 150
