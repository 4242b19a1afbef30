"""Data-in-transit encryption: the large backup and restore through the whole flow, on against
off, in one sitting.

    .venv/bin/python bench/dte.py [--runs N] [--quick] [--dir DIR]

Three enrolled hosts (bench/site.py); the control connections are TLS either way. Each run
backs the large set up and restores it into a fresh folder twice: once with the master's
DTE_GLOBAL_MODE at PREFERRED_ON (the client's AUTOMATIC: the image crosses sealed, AES-256-GCM
frames between bpbkar and the bptm child, nbcli/net/sealed.py) and once at PREFERRED_OFF (the
image crosses in the clear), the order
alternating run by run; run 0 warms up and is dropped. Reports medians and on / off, of the
time and of the CPU seconds the whole machine spent (/proc/stat: the steadier figure where
others share the machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import make_large, sh, timed, write_results  # noqa: E402
from bench.site import Site  # noqa: E402
from nbcli import config, procs  # noqa: E402

MODES = {"on": "PREFERRED_ON", "off": "PREFERRED_OFF"}


def set_global(site: Site, mode: str) -> None:
    root = site.hosts["master"].root
    cfg = config.load(root)
    config.apply_settings(cfg, {"DTE_GLOBAL_MODE": mode})
    cfg.save()
    for p in procs.find(root):
        if p.program in ("nbjm", "bprd"):
            os.kill(p.proc.pid, signal.SIGHUP)


def busy_cpu() -> float:
    """CPU seconds this machine has spent busy since boot (every process, the kernel's too)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_timed(action: Callable[[], object]) -> tuple[float, float]:
    before = busy_cpu()
    seconds = timed(action)
    return seconds, busy_cpu() - before


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                   "/var/tmp/nbcli-bench")))
    a = p.parse_args()
    ds = make_large(a.dir / "data", *((2, 128 << 20) if a.quick else (4, 512 << 20)))
    work = a.dir / f"dte_{os.getpid()}"
    site = Site(work)
    try:
        policy = site.policy("bench_dte", [ds.path])
        times: dict[tuple[str, str], list[float]] = {}
        for run in range(a.runs + 1):
            order = ["on", "off"] if run % 2 == 0 else ["off", "on"]
            for way in order:
                set_global(site, MODES[way])
                sh(f"cat {ds.path}/* > /dev/null")  # the source warm for every backup
                b, b_cpu = cpu_timed(lambda: site.backup(policy))
                dest = work / f"r{run}_{way}"
                r, r_cpu = cpu_timed(lambda d=dest: site.restore(ds.path, d))  # type: ignore[misc]
                shutil.rmtree(dest)
                site.clear_stu()
                if run:
                    times.setdefault(("backup", way), []).append(b)
                    times.setdefault(("restore", way), []).append(r)
                    times.setdefault(("backup cpu", way), []).append(b_cpu)
                    times.setdefault(("restore cpu", way), []).append(r_cpu)
        rows: list[dict[str, object]] = []
        lines = [f"| {ds.name} set ({ds.bytes >> 20} MiB), medians of {a.runs} "
                 "| DTE on (s) | DTE off (s) | on / off |", "|---|---|---|---|"]
        for op in ("backup", "restore", "backup cpu", "restore cpu"):
            on, off = (statistics.median(times[(op, w)]) for w in ("on", "off"))
            rows.append({"op": op, "on": on, "off": off, "ratio": on / off,
                         "runs_on": times[(op, "on")], "runs_off": times[(op, "off")]})
            label = f"{op.split()[0]}: CPU seconds, whole machine" if "cpu" in op else op
            lines.append(f"| {label} | {on:.2f} | {off:.2f} | {on / off:.2f}x |")
        table = "\n".join(lines)
        print(table)
        print(write_results(Path(__file__).parent / "results", "dte", rows, table))
    finally:
        site.down()


if __name__ == "__main__":
    main()
