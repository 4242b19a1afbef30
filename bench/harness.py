"""Benchmark plumbing: data sets, timing, the machine's description, result files.

Timings on this machine drift by 5-40% (shared/reference/perf-baseline.md), so every
comparison is made between runs interleaved in one sitting, one warm-up run is discarded, and
the medians of the rest are reported. Restores always go into folders never used before: ext4
here creates files up to 10x slower for minutes after a large delete.
"""

from __future__ import annotations

import compileall
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbcli


def fresh_bytecode() -> None:
    """Commands and agents start from bytecode, as an installed package's do, even where
    PYTHONDONTWRITEBYTECODE kept Python from leaving it: a stale .pyc is compiled again at
    each start (the launcher alone: ~2.7 ms of every command)."""
    compileall.compile_dir(Path(nbcli.__file__).parent, quiet=1)


@dataclass
class DataSet:
    name: str
    path: Path
    files: int
    bytes: int


def make_large(base: Path, count: int = 4, size: int = 512 << 20) -> DataSet:
    """`count` incompressible files of `size` bytes (kept between runs of the benchmark)."""
    path = base / f"large_{count}x{size >> 20}M"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i in range(count):
            with open(tmp / f"f{i}.bin", "wb") as f:
                left = size
                while left:
                    n = min(left, 64 << 20)
                    f.write(os.urandom(n))
                    left -= n
        tmp.rename(path)
    return DataSet("large", path, count, count * size)


def make_small(base: Path, files: int = 50_000, per_dir: int = 100) -> DataSet:
    """`files` files of 1-16 KiB, `per_dir` to a folder (seeded: the same set every time)."""
    path = base / f"small_{files}"
    rng = random.Random(42)
    sizes = [rng.randint(1024, 16384) for _ in range(files)]
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for i, size in enumerate(sizes):
            d = tmp / f"d{i // (per_dir * 25):02d}" / f"s{i // per_dir % 25:02d}"
            if i % per_dir == 0:
                d.mkdir(parents=True)
            (d / f"f{i % per_dir:03d}.dat").write_bytes(os.urandom(size))
        tmp.rename(path)
    return DataSet("small", path, files, sum(sizes))


@dataclass
class Series:
    """The timings of one kind of run (tool x operation x data set)."""

    label: str
    times: list[float] = field(default_factory=list)
    first: float | None = None  # the discarded warm-up

    def add(self, seconds: float, warmup: bool) -> None:
        if warmup:
            self.first = seconds
        else:
            self.times.append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


def timed(action: Callable[[], object]) -> float:
    t = time.perf_counter()
    action()
    return time.perf_counter() - t


def sh(cmd: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["bash", "-c", cmd], text=True, capture_output=True,
                       **kwargs)  # type: ignore[call-overload]
    if r.returncode:
        raise SystemExit(f"failed ({r.returncode}): {cmd}\n{r.stderr[-2000:]}")
    return r


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / (1 << 30), 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "filesystem": sh("df -hT . | tail -1").stdout.split()[1]}


def write_results(out: Path, name: str, rows: list[dict[str, object]], table: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out / f"{name}-{stamp}.md"
    desc = machine()
    body = [f"# {name} ({desc['date']})", "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in desc.items() if k != "date"), "",
            table, "", "```json", json.dumps({"machine": desc, "rows": rows}, indent=1), "```"]
    path.write_text("\n".join(body) + "\n")
    return path
