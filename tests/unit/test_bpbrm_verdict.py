"""bpbrm's verdict on a backup: what bpbkar sent against what bptm wrote (nbcli.media.bpbrm_backup).

A stream in the clear is judged by its CRC and length; a sealed stream (data-in-transit
encryption on) by its length alone, since its AES-GCM frames proved every byte arrived in order
and bpbkar computes no CRC of it. Pure logic: the agents' "done" messages are given."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from nbcli.media.bpbrm_backup import Backup
from nbcli.media.bpbrm_ctx import bptm_status
from nbcli.status import MEDIA_MANAGER_KILLED


class _Ctx:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str, severity: str) -> None:
        self.lines.append(f"{severity}: {text}")


def verdict(kar: dict[str, Any], tm: dict[str, Any]) -> tuple[int, list[str]]:
    ctx = _Ctx()
    job = Backup(ctx, {"client": "c", "backupid": "c_1"})  # type: ignore[arg-type]
    job.bpbkar_done, job.bptm_done = kar, tm
    return job.verdict(), ctx.lines


BPTM = {"status": 0, "checksum": "crc32:0badcafe", "stream_bytes": 1 << 20}


@pytest.mark.parametrize("kar,status", [
    ({"status": 0, "checksum": "crc32:0badcafe", "stream_bytes": 1 << 20}, 0),
    ({"status": 1, "checksum": "crc32:0badcafe", "stream_bytes": 1 << 20}, 1),
    ({"status": 0, "checksum": "crc32:0badcaff", "stream_bytes": 1 << 20}, 84),
    ({"status": 0, "checksum": "crc32:0badcafe", "stream_bytes": 512}, 84),
    # sealed: no CRC from bpbkar, the length still counts
    ({"status": 0, "checksum": "", "stream_bytes": 1 << 20, "dte": True}, 0),
    ({"status": 0, "checksum": "", "stream_bytes": 512, "dte": True}, 84),
    # no CRC but the stream was not sealed: nothing vouches for the bytes
    ({"status": 0, "checksum": "", "stream_bytes": 1 << 20, "dte": False}, 84),
    ({"status": 0, "checksum": "", "stream_bytes": 1 << 20}, 84),
])
def test_the_verdict(kar: dict[str, Any], status: int) -> None:
    got, lines = verdict(kar, BPTM)
    assert got == status
    assert (status == 84) == any("image check failed" in line for line in lines)


@pytest.mark.parametrize("script,status", [
    ("raise SystemExit(84)", 84),              # bptm's own status as its exit code
    ("raise RuntimeError('a bug')", 40),       # an uncaught exception exits 1: never "partial"
    ("pass", 40),                              # exited 0 without saying it finished
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", MEDIA_MANAGER_KILLED),
])
def test_how_a_bptm_that_did_not_say_it_finished_ended(script: str, status: int) -> None:
    """bptm_status, on real processes: a bptm that ended without its "done" failed, and the
    job's status says how; status 1 (partially successful) would have nbjm keep the image."""
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    assert bptm_status(proc) == status
