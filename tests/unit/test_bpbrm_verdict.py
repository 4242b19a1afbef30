"""bpbrm's verdict on a backup: what bpbkar sent against what bptm wrote (nbcli.media.bpbrm_backup).

A stream in the clear is judged by its CRC and length; a sealed stream (data-in-transit
encryption on) by its length alone, since its AES-GCM frames proved every byte arrived in order
and bpbkar computes no CRC of it. Pure logic: the agents' "done" messages are given."""

from __future__ import annotations

from typing import Any

import pytest

from nbcli.media.bpbrm_backup import Backup


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
