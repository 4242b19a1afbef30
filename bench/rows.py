"""The benchmark rows that are not a tool-against-tool race: memory, one file from a big image,
job start, many jobs at once, and the catalog of a 1,000,000-file image.

Each function runs on a Site (three hosts on loopback) and returns a list of result rows:
{"row", "measured", "target", "met", ...details}.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.site import Site
from nbcli import programs
from nbcli.commands import bplist

Row = dict[str, Any]


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def _peak_kib(site: Site, jobid: int, who: str) -> int:
    values = [int(v) for v in site.log_values(jobid, rf"{who} peak RSS (\d+) KiB")]
    return max(values) if values else 0


def memory_and_single_file(site: Site, work: Path, big_gib: int = 8) -> list[Row]:
    """Peak RSS of bptm (parent, child) and bpbkar backing up 1 GiB then `big_gib` GiB; then a
    1 KiB file from the big image against the whole image's restore."""
    rows: list[Row] = []
    peaks = {}
    for gib in (1, big_gib):
        data = work / f"mem_{gib}g"
        _sparse(data / "big.img", gib << 30)
        if gib == big_gib:
            (data / "zz_small.txt").write_bytes(b"x" * 1024)
        jobid = site.backup(site.policy(f"mem{gib}", [data]))
        peaks[gib] = {w: _peak_kib(site, jobid, w) for w in ("bptm", "bptm child", "bpbkar")}
        print(f"backup {gib} GiB: peak RSS KiB {peaks[gib]}", flush=True)
    worst = max(v for p in peaks.values() for v in p.values())
    same = all(abs(peaks[1][w] - peaks[big_gib][w]) < 8 * 1024 for w in peaks[1])
    rows.append({"row": f"memory: peak RSS, backup of 1 GiB and {big_gib} GiB",
                 "measured": f"{worst / 1024:.0f} MiB max; 1 GiB {peaks[1]}, "
                             f"{big_gib} GiB {peaks[big_gib]} (KiB)",
                 "target": "<= 64 MiB and the same for both sizes",
                 "met": worst <= 64 * 1024 and same})
    data = work / f"mem_{big_gib}g"
    t = time.perf_counter()
    full_job = site.restore(data, work / "full_restore")
    full = time.perf_counter() - t
    (work / "full_restore" / "big.img").unlink()
    ones, one_jobs = [], []
    for i in range(5):  # the median of 5: one 0.2 s restore is at the mercy of a hiccup
        t = time.perf_counter()
        one_jobs.append(site.restore(data, work / f"one_file_{i}", data / "zz_small.txt"))
        ones.append(time.perf_counter() - t)
    one = statistics.median(ones)
    read = site.log_values(one_jobs[-1], r"restore data sent \((\d+) bytes read")
    rows.append({"row": f"single-file restore: 1 KiB from a {big_gib} GiB image",
                 "measured": f"{one:.3f} s median of {len(ones)} (max {max(ones):.3f} s) = "
                             f"{100 * one / full:.2f}% of the full restore ({full:.2f} s); "
                             f"bptm read {read[0] if read else '?'} bytes",
                 "target": "< 2% of the full restore's time", "met": one / full < 0.02,
                 "jobs": [full_job, *one_jobs]})
    site.clear_stu()
    return rows


def job_start(site: Site, work: Path, runs: int = 15) -> list[Row]:
    """From starting `bpbackup -i` to the job being Active (nbjm's step 5), median."""
    data = work / "tiny"
    data.mkdir(exist_ok=True)
    (data / "f").write_text("tiny")
    policy = site.policy("tiny", [data])
    master = site.hosts["master"]
    delays = []
    for _ in range(runs + 1):
        t0 = time.time()
        subprocess.run(programs.argv_for("bpbackup") + ["-i", "-p", policy, "-s", "full",
                                                        "--root", str(master.root)],
                       check=True, capture_output=True)
        jobid = site.last_job()
        job = site.call("bpjobd", "job_wait", jobid=jobid, timeout=60)["job"]
        active = min(s["time"] for s in job["steps"]
                     if s["step"] == 5 and s["process"] == "nbjm")
        delays.append(active - t0)
    ms = statistics.median(delays[1:]) * 1000
    return [{"row": "job start: bpbackup -i to job Active", "measured": f"{ms:.0f} ms median "
             f"(min {min(delays[1:]) * 1000:.0f}, max {max(delays[1:]) * 1000:.0f})",
             "target": "<= 200 ms median", "met": ms <= 200}]


def concurrency(site: Site, work: Path, jobs: int = 100) -> list[Row]:
    """`jobs` small jobs queued at once on two clients; bpdbjobs timed all the while."""
    data = work / "conc"
    data.mkdir(exist_ok=True)
    for i in range(20):
        (data / f"f{i}").write_bytes(b"c" * 2000)
    policy = site.policy("conc", [data], "client")
    site.policy("conc", [data], "master")  # a second client: the master host's own bpcd
    latencies: list[float] = []
    done = threading.Event()
    argv = programs.argv_for("bpdbjobs") + ["--root", str(site.hosts["master"].root)]

    def watch() -> None:
        while not done.is_set():
            t = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            latencies.append(time.perf_counter() - t)

    ids: list[int] = []
    t0 = time.perf_counter()
    for _ in range(jobs // 2):
        ids += site.call("bprd", "backup", policy=policy, schedule="full")["jobids"]
    watcher = threading.Thread(target=watch)
    watcher.start()
    finished = [site.call("bpjobd", "job_wait", jobid=j, timeout=600)["job"] for j in ids]
    elapsed = time.perf_counter() - t0
    done.set()
    watcher.join()
    ok = sum(1 for f in finished if f["status"] == 0)
    med, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[-1] * 1000 if len(latencies) > 1 else worst
    return [{"row": f"concurrency: {jobs} small jobs at once, two clients",
             "measured": f"{ok}/{len(ids)} done with status 0 in {elapsed:.1f} s; bpdbjobs "
                         f"{med:.0f} ms median, {p90:.0f} ms 90th percentile, {worst:.0f} ms "
                         f"max over {len(latencies)} calls",
             "target": "all finish; bpdbjobs < 100 ms",
             "met": ok == len(ids) == jobs and worst < 100}]


def catalog(site: Site, work: Path, files: int = 1_000_000) -> list[Row]:
    """A 1,000,000-file image written through bpdbm's ops as bpbrm writes one, then listed
    with bplist as a real process."""
    per_folder, folders = 1000, files // 1000
    backupid = site.call("bpdbm", "image_create", client="catclient", policy="cat",
                         sched_type=0, backup_time=int(time.time()))["backupid"]
    offset = 0
    entries = [["/cat", "5", 0o755, 0, 0, "root", "root", 0, 0, 0, 0, 512, "", 1]]
    for d in range(folders):
        entries.append([f"/cat/d{d:04d}", "5", 0o755, 0, 0, "root", "root", 0, 0, 0, 0, 512,
                        "", 1])
    for d in range(folders):
        for f in range(per_folder):
            offset += 1536
            entries.append([f"/cat/d{d:04d}/file_{f:06d}.dat", "0", 0o644, 1000, 1000,
                            "user", "staff", 1000, 1_700_000_000_123_456_789, 1_700_000_000,
                            offset, 512, "", 1])
            if len(entries) >= 1000:  # batches as bpbrm sends them
                site.call("bpdbm", "image_add_files", backupid=backupid, entries=entries)
                entries = []
    if entries:
        site.call("bpdbm", "image_add_files", backupid=backupid, entries=entries)
    stream = offset + 2048
    site.call("bpdbm", "image_complete", backupid=backupid, kbytes=stream // 1024,
              num_files=files + folders + 1, elapsed=1, fragments=[{
                  "num": 1, "path": "/nowhere", "host": "media", "offset": 0,
                  "bytes": stream}], checksum="crc32:00000000", block_size=1 << 20,
              stream_bytes=stream)
    fpath = next(site.hosts["master"].root.glob("netbackup/db/images/catclient/*/*.f"))
    per_file = fpath.stat().st_size / (files + folders + 1)
    argv = programs.argv_for("bplist") + ["--root", str(site.hosts["master"].root), "-C",
                                          "catclient", "-R", "/cat"]
    times = []
    for _ in range(4):
        t = time.perf_counter()
        out = subprocess.run(argv, check=True, capture_output=True).stdout
        times.append(time.perf_counter() - t)
    lines = out.count(b"\n")
    rate = lines / statistics.median(times[1:])
    middle = f"/cat/d{folders // 2:04d}"
    one = argv[:-1] + [middle]
    one_times = []
    for _ in range(6):
        t = time.perf_counter()
        subprocess.run(one, check=True, capture_output=True)
        one_times.append(time.perf_counter() - t)
    op_times = []
    for _ in range(6):
        t = time.perf_counter()
        sum(len(c["path"]) for c in bplist.listing(site.cfg, "master", {
            "client": "catclient", "path": middle, "recursive": False, "columns": ["path"]}))
        op_times.append(time.perf_counter() - t)
    one_ms = statistics.median(one_times[1:]) * 1000
    op_ms = statistics.median(op_times[1:]) * 1000
    return [{"row": f"catalog: bplist -R of a {files:,}-file image",
             "measured": f"{rate:,.0f} lines/s ({lines:,} lines)",
             "target": ">= 500,000 lines/s", "met": rate >= 500_000},
            {"row": f"catalog: one folder ({per_folder:,} files) of it",
             "measured": f"{op_ms:.1f} ms in bpdbm (file_list op), {one_ms:.0f} ms as the "
                         f"bplist command (process start-up included)",
             "target": "< 50 ms", "met": op_ms < 50},
            {"row": "catalog: bytes of catalog per file",
             "measured": f"{per_file:.1f} bytes/file", "target": "<= 100 bytes",
             "met": per_file <= 100}]
