"""The tape rows: the large data set backed up to a virtual tape drive against the same backup
to the disk storage unit, interleaved in one sitting, and the peak RSS of bptm on tape.

    .venv/bin/python bench/tape.py [--quick] [--runs N] [--dir DIR]

The media server gets a virtual library (`nbvtl create`, one cartridge per run, each large
enough for the whole set) on the same file system as the disk storage unit; EMM gets its
robot, two drives, a volume pool "bench" and a tape storage unit "benchtape". Each run backs
the set up to disk and to tape (the order alternates run by run, the source read into the
page cache before each, `sync` between), with `bpbackup -i -w` as a process; run 0 is the
discarded warm-up. The medium a tape run wrote is frozen afterwards and its cartridge file
emptied, so the next run takes a new one and the disk does not fill up.

Also a function of bench/run.py (`--only tape`); alone it writes bench/results/tape-<time>.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flow import data_sets, measure  # noqa: E402
from bench.harness import DataSet, Series, write_results  # noqa: E402
from bench.site import Site  # noqa: E402
from nbcli import multihost  # noqa: E402
from nbcli.vtl.library import Library  # noqa: E402

Row = dict[str, Any]
TARGET = 0.9  # tape throughput / disk throughput, at least


def _peak_kib(site: Site, jobid: int, who: str) -> int:
    values = [int(v) for v in site.log_values(jobid, rf"{who} peak RSS (\d+) KiB")]
    return max(values) if values else 0


def setup(site: Site, ds: DataSet, cartridges: int) -> tuple[str, str, Library]:
    """The library, EMM's robot, drives, pool and tape unit; (tape policy, disk policy,
    library)."""
    media = site.hosts["media"]
    cap = ds.bytes * 5 // 4 + (64 << 20)
    r = multihost.run(media, "nbvtl", "create", "--drives", "2", "--slots",
                      str(cartridges), "--capacity", str(cap), "--move-time", "0",
                      check=False)
    if r.returncode:
        raise SystemExit(f"nbvtl create failed: {r.stderr}")
    home = media.root / "volmgr" / "vtl"
    site.call("nbemm", "robot_add", rn=0, rt="tld", host="media", device=str(home))
    for n in (0, 1):
        site.call("nbemm", "drive_add", name=f"BENCH{n}", host="media", type="hcart", rn=0,
                  drnum=n, path=f"/dev/nst{n}")
    site.call("nbemm", "pool_add", name="bench", description="bench/tape.py")
    lib = Library(str(home))
    for slot in range(1, cartridges + 1):
        code = lib.state().at("slot", slot)
        assert code is not None
        site.call("nbemm", "media_add", media_id=code[:6], type="hcart", barcode=code,
                  pool="bench", rt="tld", rn=0, slot=slot)
    site.call("nbemm", "stu_add", label="benchtape", host="media", stype=2, rt="tld", rn=0,
              density="hcart", cj=1)
    tape_policy = "bench_tape"
    site.run("bppolicynew", tape_policy)
    site.run("bpplinfo", tape_policy, "-modify", "-residence", "benchtape", "-pool", "bench")
    site.run("bpplinclude", tape_policy, "-add", str(ds.path))
    site.run("bpplsched", tape_policy, "-add", "full", "-st", "FULL")
    site.run("bpplclients", tape_policy, "-add", "client", "Linux", "Debian")
    return tape_policy, site.policy("bench_disk", [ds.path]), lib


def used_up(site: Site, lib: Library, jobid: int) -> None:
    """Freeze the medium the job wrote and empty its cartridge: the next run takes another."""
    backupid = site.job(jobid)["backupid"]
    (image,) = site.call("bpdbm", "image_list", backupid=backupid)["images"]
    for media_id in {f["media_id"] for f in image["fragments"]}:
        site.call("nbemm", "media_state", media_id=media_id, action="freeze")
        for code in lib.state().cartridges:
            if code[:6] == media_id:
                os.truncate(lib.cartridge_path(code), 0)


def tape_vs_disk(site: Site, work: Path, ds: DataSet, runs: int) -> list[Row]:
    tape_policy, disk_policy, lib = setup(site, ds, runs + 2)
    series: dict[tuple[str, str], Series] = {}
    tape_jobs: list[int] = []
    for run in range(runs + 1):
        order = [("disk", disk_policy), ("tape", tape_policy)]
        for kind, policy in order if run % 2 == 0 else reversed(order):
            measure(series, ds, "backup", kind, lambda p=policy: site.backup(p), run == 0)
            jobid = site.last_job()
            if kind == "tape":
                tape_jobs.append(jobid)
                used_up(site, lib, jobid)
            else:
                site.clear_stu()
    disk, tape = series[("backup large", "disk")], series[("backup large", "tape")]
    ratio = disk.median / tape.median
    # Each run's two backups ran back to back: their ratio sees less of the machine's drift
    # (other work on it) than the ratio of the medians does.
    paired = statistics.median(d / t for d, t in zip(disk.times, tape.times))
    peaks = {w: max(_peak_kib(site, j, w) for j in tape_jobs) for w in ("bptm", "bptm child")}
    worst = max(peaks.values())
    mb = ds.bytes / 1e6
    return [{"row": f"backup large ({ds.files} files, {mb:,.0f} MB) to a virtual tape drive "
                    f"vs the disk storage unit",
             "measured": f"{ratio:.2f}x the disk's throughput by medians, {paired:.2f}x "
                         f"the median of each run's pair (tape {tape.median:.2f} s, "
                         f"{mb / tape.median:,.0f} MB/s; disk {disk.median:.2f} s, "
                         f"{mb / disk.median:,.0f} MB/s; runs tape "
                         f"{[round(t, 2) for t in tape.times]}, disk "
                         f"{[round(t, 2) for t in disk.times]}; load average "
                         f"{os.getloadavg()[0]:.1f})",
             "target": f">= {TARGET}x", "met": ratio >= TARGET and paired >= TARGET},
            {"row": "memory: peak RSS of bptm backing up to tape",
             "measured": f"{worst / 1024:.0f} MiB max ({peaks} KiB)",
             "target": "<= 64 MiB", "met": 0 < worst <= 64 * 1024}]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                   "/var/tmp/nbcli-bench")))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="a small data set (a smoke test)")
    a = p.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    work = a.dir / time.strftime("tape-%Y%m%d-%H%M%S")
    work.mkdir()
    (ds,) = data_sets(a.dir / "data", "large", a.quick)
    site = Site(work)
    try:
        result = tape_vs_disk(site, work, ds, a.runs)
    finally:
        site.down()
    lines = ["| row | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {r['row']} | {r['measured']} | {r['target']} | "
              f"{'yes' if r['met'] else '**no**'} |" for r in result]
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    path = write_results(Path(__file__).parent / "results", "tape", result, text)
    print(f"\nwritten to {path}; scratch data in {work} (delete it when done)")


if __name__ == "__main__":
    main()
