"""End-to-end backup and restore through nbcli, beside GNU tar doing the same work.

    .venv/bin/python bench/flow.py [--quick] [--runs N] [--sets large,small] [--dir DIR]

nbcli runs as three hosts on loopback (master, media, client; a disk storage unit on the media
server): `bpbackup -i -w` and `bprestore -w` through every daemon and agent of the seed's flow.
Beside it, in the same sitting and interleaved run by run:

    backup:  tar -cf - DATA | socat -b 1M - TCP  ->  socat -b 1M TCP-LISTEN -> file
    restore: tar -xf file -C fresh_dir

and the table shows the medians and the ratio nbcli / tar (below 1: nbcli is faster).
Needs GNU tar and socat (`apt-get install -y socat`).

Every backup, whoever makes it, starts with its source read once into the page cache: the
writes of a run evict it here, and the first tool to read it cold paid 4-6x (tar|socat took
4.9 s for the small set cold, 0.7 s warm) and handed the next one a warm cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import DataSet, Series, make_large, make_small, sh, timed, write_results  # noqa: E402
from bench.site import Site  # noqa: E402
from nbcli import multihost  # noqa: E402


def listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:`port` (read from /proc, no probe
    connection: socat's listener serves exactly one)."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(cols[1].endswith(want) and cols[3] == "0A"
                   for cols in (line.split() for line in list(f)[1:]))


def tar_socat_backup(ds: DataSet, out: Path) -> None:
    """GNU tar streaming through a loopback TCP socket (socat, 1 MiB buffers) into a file."""
    port = multihost.free_port(["127.0.0.1"])  # outside the ephemeral range
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


def data_sets(base: Path, names: str, quick: bool) -> list[DataSet]:
    """The race's data sets (made once under `base`, kept between runs)."""
    sets = []
    if "large" in names:
        sets.append(make_large(base, *((2, 128 << 20) if quick else (4, 512 << 20))))
    if "small" in names:
        sets.append(make_small(base, 5000 if quick else 50_000))
    return sets


def need(tools: list[str]) -> None:
    for tool in tools:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install -y {tool}")


def race(site: Site, sets: list[DataSet], work: Path, runs: int,
         peers: list[str]) -> dict[tuple[str, str], Series]:
    """Backup and restore of every set by nbcli and each peer, interleaved run by run; run 0
    is the discarded warm-up."""
    series: dict[tuple[str, str], Series] = {}
    policies = {ds.name: site.policy(f"bench_{ds.name}", [ds.path]) for ds in sets}
    for run in range(runs + 1):
        for ds in sets:
            one_run(series, site, policies[ds.name], ds, work, run)
            peer_runs(series, ds, work, run, peers)
            if ds.name == "large":
                drop_large_outputs(site, work, run)
    return series


def drop_large_outputs(site: Site, work: Path, run: int) -> None:
    """Delete a run's copies of the large set: without it the full race needs ~60 GiB. Only a
    few inodes go, so file creation after it stays fast (perf-baseline.md, 2.1)."""
    for path in work.glob(f"r{run}_large_*"):
        shutil.rmtree(path)
    for path in [*work.glob("restic_large_*"), *work.glob("borg_large_*")]:
        shutil.rmtree(path)
    site.clear_stu()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                   "/var/tmp/nbcli-bench")))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sets", default="large,small")
    p.add_argument("--quick", action="store_true", help="small data sets (a smoke test)")
    p.add_argument("--peers", default="", help="also restic,borg (Debian packages)")
    a = p.parse_args()
    peers = [x for x in a.peers.split(",") if x]
    need(["tar", "socat", *peers])
    a.dir.mkdir(parents=True, exist_ok=True)
    sets = data_sets(a.dir / "data", a.sets, a.quick)
    work = a.dir / time.strftime("flow-%Y%m%d-%H%M%S")
    work.mkdir()
    site = Site(work)
    try:
        series = race(site, sets, work, a.runs, peers)
    finally:
        site.down()
    report(series, sets, work)


PEER_ENV = {"RESTIC_PASSWORD": "bench", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}


def peer_runs(series: dict[tuple[str, str], Series], ds: DataSet, work: Path, run: int,
              peers: list[str]) -> None:
    """restic and borg on the same data: a new repository per backup (made untimed), then a
    restore of it into a new folder."""
    env = {**os.environ, **PEER_ENV}
    warm = run == 0
    if "restic" in peers:
        repo = work / f"restic_{ds.name}_{run}"
        sh(f"restic init -q -r {repo}", env=env)
        measure(series, ds, "backup", "restic",
                lambda: sh(f"restic -r {repo} backup -q {ds.path}", env=env), warm)
        out = work / f"r{run}_{ds.name}_restic"
        measure(series, ds, "restore", "restic",
                lambda: sh(f"restic -r {repo} restore -q latest --target {out}", env=env), warm)
    if "borg" in peers:
        repo = work / f"borg_{ds.name}_{run}"
        sh(f"borg init -e none {repo}", env=env)
        measure(series, ds, "backup", "borg",
                lambda: sh(f"cd {ds.path.parent} && borg create {repo}::a {ds.path.name}",
                           env=env), warm)
        out = work / f"r{run}_{ds.name}_borg"
        out.mkdir()
        measure(series, ds, "restore", "borg",
                lambda: sh(f"cd {out} && borg extract {repo}::a", env=env), warm)


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
    measure(series, ds, "restore", "nbcli", lambda: site.restore(ds.path, into), warm)
    if run == 1:
        check_same(ds.path, into)


def read_through(ds: DataSet) -> None:
    """Read every file of the data set, so that a backup starts with its source cached."""
    buf = bytearray(1 << 20)
    for folder, _, names in os.walk(ds.path):
        for name in names:
            with open(os.path.join(folder, name), "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


def measure(series: dict[tuple[str, str], Series], ds: DataSet, op: str, tool: str,
            action: object, warmup: bool) -> None:
    if op == "backup":
        read_through(ds)
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
    print("\n" + table(series, sets))
    rows = [{"operation": op, "tool": tool, "median_s": s.median, "runs": s.times,
             "warmup": s.first} for (op, tool), s in series.items()]
    path = write_results(Path(__file__).parent / "results", "flow", rows, table(series, sets))
    print(f"\nwritten to {path}; scratch data in {work} (delete it when done)")


def table(series: dict[tuple[str, str], Series], sets: list[DataSet]) -> str:
    """Medians, rates, and nbcli's time divided by each peer's (below 1: nbcli is faster)."""
    lines = ["| operation | tool | median s | MB/s | files/s | nbcli / tool |",
             "|---|---|---|---|---|---|"]
    by_op: dict[str, dict[str, Series]] = {}
    for (op, tool), s in series.items():
        by_op.setdefault(op, {})[tool] = s
    for op, tools in by_op.items():
        ds = next(d for d in sets if op.endswith(d.name))
        ours = tools.get("nbcli")
        for tool, s in tools.items():
            ratio = f"{ours.median / s.median:.2f}" if ours and tool != "nbcli" else ""
            lines.append(f"| {op} | {tool} | {s.median:.2f} | {ds.bytes / s.median / 1e6:,.0f}"
                         f" | {ds.files / s.median:,.0f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
