"""End-to-end backup and restore through nbcli, beside GNU tar doing the same work.

    .venv/bin/python bench/flow.py [--quick] [--runs N] [--sets large,small] [--dir DIR]

nbcli runs as three hosts on loopback (master, media, client; a disk storage unit on the media
server): `bpbackup -i -w` and `bprestore -w` through every daemon and agent of the seed's flow.
Beside it, in the same sitting and interleaved run by run:

    backup:  tar -cf - DATA | socat -b 1M - TCP  ->  socat -b 1M TCP-LISTEN -> file
    restore: tar -xf file -C fresh_dir

and the table shows the medians and the ratio nbcli / tar (below 1: nbcli is faster).
Needs GNU tar and socat (`apt-get install -y socat`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import DataSet, Series, make_large, make_small, sh, timed, write_results  # noqa: E402
from nbcli import multihost  # noqa: E402


class Site:
    """Three nbcli hosts for the benchmark, with a policy per data set."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.hosts = {s.name: s for s in multihost.create(base / "hosts")}
        multihost.up(list(self.hosts.values()))
        self.stu = base / "stu"
        self.stu.mkdir()
        self.run("bpstuadd", "-label", "bench", "-path", str(self.stu), "-host", "media")

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        r = multihost.run(self.hosts["master"], *argv, check=False)
        if r.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr}")
        return r

    def policy(self, ds: DataSet) -> str:
        name = f"bench_{ds.name}"
        self.run("bppolicynew", name)
        self.run("bpplinfo", name, "-modify", "-residence", "bench")
        self.run("bpplclients", name, "-add", "client", "Linux", "Debian")
        self.run("bpplinclude", name, "-add", str(ds.path))
        self.run("bpplsched", name, "-add", "full", "-st", "FULL")
        return name

    def backup(self, policy: str) -> None:
        self.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w")

    def restore(self, ds: DataSet, into: Path) -> None:
        rename = self.base / "rename"
        rename.write_text(f"change {ds.path} to {into}\n")
        self.run("bprestore", "-C", "client", "-R", str(rename), "-w", str(ds.path))

    def down(self) -> None:
        multihost.down(list(self.hosts.values()))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:`port` (read from /proc, no probe
    connection: socat's listener serves exactly one)."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(cols[1].endswith(want) and cols[3] == "0A"
                   for cols in (line.split() for line in list(f)[1:]))


def tar_socat_backup(ds: DataSet, out: Path) -> None:
    """GNU tar streaming through a loopback TCP socket (socat, 1 MiB buffers) into a file."""
    port = free_port()
    sink = subprocess.Popen(["socat", "-b", "1048576", "-u",
                             f"TCP-LISTEN:{port},reuseaddr,bind=127.0.0.1",
                             f"OPEN:{out},creat,trunc"])
    deadline = time.monotonic() + 10
    while not listening(port):
        if time.monotonic() > deadline:
            raise SystemExit("socat did not start listening")
        time.sleep(0.005)
    sh(f"tar -cf - -C {ds.path.parent} {ds.path.name} | "
       f"socat -b 1048576 -u - TCP:127.0.0.1:{port}")
    sink.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                   "/var/tmp/nbcli-bench")))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sets", default="large,small")
    p.add_argument("--quick", action="store_true", help="small data sets (a smoke test)")
    a = p.parse_args()
    for tool in ("tar", "socat"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install -y {tool}")
    a.dir.mkdir(parents=True, exist_ok=True)
    sets = []
    if "large" in a.sets:
        sets.append(make_large(a.dir / "data", *((2, 128 << 20) if a.quick else (4, 512 << 20))))
    if "small" in a.sets:
        sets.append(make_small(a.dir / "data", 5000 if a.quick else 50_000))
    work = a.dir / time.strftime("flow-%Y%m%d-%H%M%S")
    work.mkdir()
    site = Site(work)
    series: dict[tuple[str, str], Series] = {}
    try:
        policies = {ds.name: site.policy(ds) for ds in sets}
        for run in range(a.runs + 1):  # run 0 is the discarded warm-up
            for ds in sets:
                one_run(series, site, policies[ds.name], ds, work, run)
    finally:
        site.down()
    report(series, sets, work)


def one_run(series: dict[tuple[str, str], Series], site: Site, policy: str, ds: DataSet,
            work: Path, run: int) -> None:
    """Backup and restore of one data set by each tool, side by side."""
    archive = work / f"{ds.name}.tar"
    warm = run == 0
    measure(series, ds, "backup", "tar|socat", lambda: tar_socat_backup(ds, archive), warm)
    measure(series, ds, "backup", "nbcli", lambda: site.backup(policy), warm)
    fresh = work / f"r{run}_{ds.name}_tar"
    fresh.mkdir()
    measure(series, ds, "restore", "tar -xf", lambda: sh(f"tar -xf {archive} -C {fresh}"), warm)
    into = work / f"r{run}_{ds.name}_nbcli"
    measure(series, ds, "restore", "nbcli", lambda: site.restore(ds, into), warm)
    if run == 1:
        check_same(ds.path, into)


def measure(series: dict[tuple[str, str], Series], ds: DataSet, op: str, tool: str,
            action: object, warmup: bool) -> None:
    sh("sync")
    key = (f"{op} {ds.name}", tool)
    seconds = timed(action)  # type: ignore[arg-type]
    series.setdefault(key, Series(f"{op} {ds.name} {tool}")).add(seconds, warmup)
    print(f"{'warm-up ' if warmup else ''}{op:8s} {ds.name:6s} {tool:10s} {seconds:7.2f} s",
          flush=True)


def check_same(src: Path, restored: Path) -> None:
    r = subprocess.run(["diff", "-r", str(src), str(restored)], capture_output=True)
    if r.returncode:
        raise SystemExit(f"restore differs from the source: {r.stdout[:500]!r}")


def report(series: dict[tuple[str, str], Series], sets: list[DataSet], work: Path) -> None:
    lines = ["| operation | tool | median s | MB/s | files/s | nbcli / peer |",
             "|---|---|---|---|---|---|"]
    rows = []
    by_op: dict[str, dict[str, Series]] = {}
    for (op, tool), s in series.items():
        by_op.setdefault(op, {})[tool] = s
    for op, tools in by_op.items():
        ds = next(d for d in sets if op.endswith(d.name))
        peer = next(s for t, s in tools.items() if t != "nbcli")
        for tool, s in tools.items():
            ratio = s.median / peer.median if tool == "nbcli" else None
            rows.append({"operation": op, "tool": tool, "median_s": s.median,
                         "runs": s.times, "warmup": s.first, "ratio": ratio})
            lines.append(f"| {op} | {tool} | {s.median:.2f} | {ds.bytes / s.median / 1e6:,.0f} |"
                         f" {ds.files / s.median:,.0f} | {f'{ratio:.2f}' if ratio else ''} |")
    table = "\n".join(lines)
    print("\n" + table)
    path = write_results(Path(__file__).parent / "results", "flow", rows, table)
    print(f"\nwritten to {path}; scratch data in {work} (delete it when done)")


if __name__ == "__main__":
    main()
