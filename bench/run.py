"""Every benchmark row of the performance targets, in one sitting, as one table.

    .venv/bin/python bench/run.py [--quick] [--runs N] [--only ROWS] [--dir DIR]

ROWS is a comma list of: flow (backup and restore of both data sets by nbcli, GNU tar,
restic and borg), memory (peak RSS at 1 and 8 GiB, then one file from the 8 GiB image),
job_start, concurrency, catalog, tape (the large set to a virtual tape drive against the
disk unit; bench/tape.py), tape_restore (one 1 KiB file from the 20th image on a tape;
bench/tape_restore.py). All rows by default. --quick shrinks every data set (a
smoke test of the harness, not a measurement).

Prints the targets table (measured, target, met) and writes it with the machine's description
to bench/results/targets-<time>.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import flow, rows, tape, tape_restore  # noqa: E402
from bench.harness import DataSet, Series, write_results  # noqa: E402
from bench.site import Site  # noqa: E402

ROWS = ("flow", "memory", "job_start", "concurrency", "catalog", "tape", "tape_restore")

# nbcli's time / the peer's, at most (backups and restores against GNU tar).
TAR_TARGETS = {("backup large", "tar|socat"): 0.8, ("backup small", "tar|socat"): 1.5,
               ("restore large", "tar -xf"): 0.8, ("restore small", "tar -xf"): 1.2}


def flow_rows(series: dict[tuple[str, str], Series], sets: list[DataSet]) -> list[rows.Row]:
    """The race's medians as target rows: ratios to GNU tar, and restic's backup time over
    ours (at least 3)."""
    out: list[rows.Row] = []
    for ds in sets:
        for op in ("backup", "restore"):
            key = f"{op} {ds.name}"
            ours = series.get((key, "nbcli"))
            for (k, tool), limit in TAR_TARGETS.items():
                peer = series.get((k, tool))
                if k != key or not ours or not peer:
                    continue
                ratio = ours.median / peer.median
                out.append({"row": f"{key} ({ds.files:,} files, {ds.bytes / 1e6:,.0f} MB) "
                                   f"vs {tool}",
                            "measured": f"{ratio:.2f}x ({ours.median:.2f} s vs "
                                        f"{peer.median:.2f} s)",
                            "target": f"<= {limit}x", "met": ratio <= limit})
        ours, restic = series.get((f"backup {ds.name}", "nbcli")), \
            series.get((f"backup {ds.name}", "restic"))
        if ours and restic:
            speedup = restic.median / ours.median
            out.append({"row": f"backup {ds.name}: restic's time / nbcli's",
                        "measured": f"{speedup:.2f}x ({restic.median:.2f} s vs "
                                    f"{ours.median:.2f} s)",
                        "target": ">= 3x", "met": speedup >= 3})
    return out


def table(result: list[rows.Row]) -> str:
    lines = ["| row | measured | target | met |", "|---|---|---|---|"]
    for r in result:
        lines.append(f"| {r['row']} | {r['measured']} | {r['target']} | "
                     f"{'yes' if r['met'] else '**no**'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                   "/var/tmp/nbcli-bench")))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default=",".join(ROWS))
    p.add_argument("--quick", action="store_true", help="small data sets (a smoke test)")
    a = p.parse_args()
    only = [x for x in a.only.split(",") if x]
    unknown = set(only) - set(ROWS)
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(sorted(unknown))} (known: {', '.join(ROWS)})")
    if "flow" in only:
        flow.need(["tar", "socat", "restic", "borg"])
    a.dir.mkdir(parents=True, exist_ok=True)
    work = a.dir / time.strftime("run-%Y%m%d-%H%M%S")
    work.mkdir()
    site = Site(work)
    result: list[rows.Row] = []
    series: dict[tuple[str, str], Series] = {}
    try:
        if "flow" in only:
            sets = flow.data_sets(a.dir / "data", "large,small", a.quick)
            series = flow.race(site, sets, work, a.runs, ["restic", "borg"])
            print("\n" + flow.table(series, sets) + "\n", flush=True)
            result += flow_rows(series, sets)
        if "memory" in only:
            result += rows.memory_and_single_file(site, work, 2 if a.quick else 8)
        if "job_start" in only:
            result += rows.job_start(site, work, 5 if a.quick else 15)
        if "concurrency" in only:
            result += rows.concurrency(site, work, 20 if a.quick else 100)
        if "catalog" in only:
            result += rows.catalog(site, work, 50_000 if a.quick else 1_000_000)
        if "tape" in only:
            (large,) = flow.data_sets(a.dir / "data", "large", a.quick)
            result += tape.tape_vs_disk(site, work, large, a.runs)
        if "tape_restore" in only:  # a one-host site of its own, with a virtual library
            found = tape_restore.tape_restore_rows(work / "tape_restore",
                                                   40 if a.quick else 400, 20, a.runs)
            result += [r for r in found if "row" in r]
    finally:
        site.down()
    text = table(result)
    print("\n" + text, flush=True)
    races = [{"operation": op, "tool": tool, "median_s": s.median, "runs": s.times,
              "warmup": s.first} for (op, tool), s in series.items()]
    path = write_results(Path(__file__).parent / "results", "targets", result + races,
                         text + ("\n\n" + flow.table(series, sets) if series else ""))
    print(f"\nwritten to {path}; scratch data in {work} (delete it when done)")


if __name__ == "__main__":
    main()
