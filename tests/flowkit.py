"""Helpers for tests that run whole backups and restores across hosts."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from nbcli.net import client
from tests.conftest import Host, wait_for

STEP_LINE = re.compile(r"- Info (?P<process>.+?) \(pid=(?P<pid>\d+)\) step (?P<step>\d+) "
                       r"on (?P<host>\S+): (?P<msg>.*)")


@dataclass
class Step:
    step: int
    process: str
    pid: int
    host: str
    msg: str


def add_stu(master: Host, label: str, path: Path, media: str = "media", **opts: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    extra = [x for k, v in opts.items() for x in (f"-{k}", v)]
    master.run("bpstuadd", "-label", label, "-path", str(path), "-host", media, *extra)


def add_policy(master: Host, name: str, stu: str, clients: list[str], includes: list[str],
               schedules: dict[str, str] | None = None) -> None:
    master.run("bppolicynew", name)
    master.run("bpplinfo", name, "-modify", "-residence", stu)
    for c in clients:
        master.run("bpplclients", name, "-add", c, "Linux", "Debian")
    for inc in includes:
        master.run("bpplinclude", name, "-add", inc)
    for label, st in (schedules or {"full": "FULL"}).items():
        master.run("bpplsched", name, "-add", label, "-st", st)


def job(master: Host, jobid: int) -> dict:
    return client.call(master.cfg, master.name, "bpjobd", "job_get", jobid=jobid)["job"]


def steps(master: Host, jobid: int) -> list[Step]:
    """The seed steps of a job, as bpdbjobs -all_columns shows them (the try's lines)."""
    out = master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    found = []
    for field in re.split(r"(?<!\\),", out.strip()):
        m = STEP_LINE.search(field.replace("\\,", ",").replace("\\\\", "\\"))
        if m:
            found.append(Step(int(m["step"]), m["process"], int(m["pid"]), m["host"], m["msg"]))
    return found


def last_jobid(master: Host) -> int:
    return int(master.run("bpdbjobs", "-noheader").stdout.split()[0])


def rename_file(path: Path, pairs: list[tuple[Path | str, Path | str]]) -> Path:
    path.write_text("".join(f"change {a} to {b}\n" for a, b in pairs))
    return path


def marked_data(tmp_path: Path, name: str, copies: int = 4096) -> bytes:
    """A folder tmp_path/data holding `name`: a random 32-byte marker repeated `copies` times
    (no TLS record holds 32 given bytes by chance, so a packet capture that sees the marker saw
    the file in the clear). Returns the marker."""
    marker = os.urandom(16).hex().encode()
    data = tmp_path / "data"
    data.mkdir()
    (data / name).write_bytes(marker * copies)
    return marker


@contextmanager
def stopped_backup(host: Host, tmp_path: Path, stu: str, max_jobs: int) -> Iterator[int]:
    """A backup of an 8 GiB sparse file (policy "hog") that runs and holds its resources while
    its bpbkar is stopped (SIGSTOP) inside the block, the client allowed `max_jobs` jobs;
    yields its job id and lets bpbkar go on when the block ends."""
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "sparse.img", "wb") as f:
        f.truncate(8 << 30)
    host.run("bpclient", "-client", host.name, "-add", "-max_jobs", str(max_jobs))
    add_policy(host, "hog", stu, [host.name], [str(big)])
    host.run("bpbackup", "-i", "-p", "hog", "-s", "full")
    jobid = last_jobid(host)
    hog: list[psutil.Process] = wait_for(  # type: ignore[assignment]
        lambda: [p.proc for p in host.processes(spares=False) if p.program == "bpbkar"], 60,
        "the long backup to run")
    for p in hog:
        p.send_signal(signal.SIGSTOP)
    try:
        yield jobid
    finally:
        for p in hog:
            try:
                p.send_signal(signal.SIGCONT)
            except psutil.Error:
                pass
