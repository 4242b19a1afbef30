"""The .f size and listing targets: a small check here, the 1,000,000-file benchmark by hand.

Targets (docs/protocol.md "Catalog"): <= 100 bytes of catalog per file, `bplist -R` of a
1,000,000-file image at >= 500,000 lines/s, one folder of it in < 50 ms. Timing is measured,
never asserted:

    .venv/bin/python -m tests.unit.test_catalog_bench [files_per_folder]

builds a synthetic image of 10 x 100 folders of 1,000 files each (in bpbkar's order, in
batches of 1,000 as bpbrm sends them), then times the reader in-process, the file_list op of
a running bpdbm, and the bplist command as a real process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbcli.catalog.imagechain import Part, View
from nbcli.catalog.images import ImageStore
from nbcli.daemons.bpdbm import create_fields

CLIENT = "bench"
BATCH = 1000


def synthetic(top: int, sub: int, files: int) -> Iterator[list[Any]]:
    """Entries of /bench in stream order: a folder's entries, then each subfolder's."""
    offset = 0

    def entry(path: str, kind: str, size: int) -> list[Any]:
        nonlocal offset
        e = [path, kind, 0o755 if kind == "5" else 0o644, 1000, 1000, "user", "staff", size,
             1_700_000_000_123_456_789, 1_700_000_000, offset, 512, "", 1]
        offset += 512 + (size + 511) // 512 * 512
        return e

    yield entry("/bench", "5", 0)
    tops = [f"/bench/d{t:02d}" for t in range(top)]
    for t in tops:
        yield entry(t, "5", 0)
    for t in tops:
        subs = [f"{t}/s{s:03d}" for s in range(sub)]
        for s in subs:
            yield entry(s, "5", 0)
        for s in subs:
            for f in range(files):
                yield entry(f"{s}/file_{f:06d}.dat", "0", 1000)


def build(images: Path, top: int, sub: int, files: int) -> tuple[ImageStore, dict[str, Any]]:
    """A complete synthetic image written through the store, as bpdbm writes one."""
    store = ImageStore(images, logging.getLogger("bench"))
    h = store.create(create_fields({"client": CLIENT, "policy": "bench", "sched_type": 0,
                                    "backup_time": 1_700_000_000}))
    batch: list[list[Any]] = []
    count, end = 0, 0
    for e in synthetic(top, sub, files):
        batch.append(e)
        end = e[10] + 512 + (e[7] + 511) // 512 * 512
        if len(batch) == BATCH:
            count += store.add_files(h["backupid"], batch)
            batch = []
    count += store.add_files(h["backupid"], batch)
    store.complete(h["backupid"], {"kbytes": end // 1024, "num_files": count, "elapsed": 1,
                                   "fragments": [{"num": 1, "offset": 0, "bytes": end,
                                                  "host": "m", "path": "/stu/f1"}],
                                   "checksum": "crc32:00000000", "block_size": 65536,
                                   "stream_bytes": end})
    return store, store.find(CLIENT)[0]


def test_small_synthetic_image_fits_100_bytes_per_file_and_lists_in_order(tmp_path: Path):
    store, h = build(tmp_path, 2, 5, 200)
    assert h["num_files"] == 1 + 2 + 10 + 2000
    size = (tmp_path / CLIENT / "1700000000" / h["files_file"]).stat().st_size
    assert size == h["ff_size"] and size / h["num_files"] <= 100
    view = View([Part(h, store.files_file(h))])
    listed = [p for seg in view.walk("/") for p in view.gather(seg, ["path"])["path"]]
    assert listed == [e[0] for e in synthetic(2, 5, 200)]
    folder = [p for seg in view.children("/bench/d01/s004")
              for p in view.gather(seg, ["path"])["path"]]
    assert folder == [f"/bench/d01/s004/file_{f:06d}.dat" for f in range(200)]


def _measure_in_process(store: ImageStore, h: dict[str, Any], folder: str) -> None:
    t = time.perf_counter()
    view = View([Part(h, store.files_file(h))])
    n = sum(len(view.gather(seg, ["path"])["path"]) for seg in view.walk("/"))
    dt = time.perf_counter() - t
    print(f"reader, whole image: {n} paths in {dt:.3f} s = {n / dt:,.0f} lines/s")
    t = time.perf_counter()
    n = sum(len(view.gather(seg, ["path", "type", "mode", "size"])["path"])
            for seg in View([Part(h, store.files_file(h))]).children(folder))
    print(f"reader, one folder ({n} entries): {(time.perf_counter() - t) * 1000:.2f} ms")


def _measure_daemon(root: Path, folder: str) -> None:
    from nbcli import config
    from nbcli.commands import netbackup
    from nbcli.commands.bplist import listing

    cfg = config.load(root)
    netbackup.start(cfg, only=["bpdbm"])
    try:
        for label, argv in (("bplist -R /", ["-R", "/"]), ("bplist -l -R /", ["-l", "-R", "/"]),
                            ("bplist folder", [folder])):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "nbcli", "bplist", "-C", CLIENT, *argv],
                                 env=dict(os.environ, NB_ROOT=str(root)), check=True,
                                 capture_output=True).stdout
            dt = time.perf_counter() - t
            lines = out.count(b"\n")
            print(f"{label}: {lines} lines in {dt:.3f} s = {lines / dt:,.0f} lines/s "
                  "(process start included)")
        for _ in range(3):
            t = time.perf_counter()
            n = sum(len(c["path"]) for c in listing(cfg, cfg.master, {
                "client": CLIENT, "path": folder, "columns": ["path", "type", "mode"]}))
            print(f"file_list op, one folder ({n} entries): "
                  f"{(time.perf_counter() - t) * 1000:.1f} ms")
    finally:
        netbackup.stop(cfg)


def main() -> None:
    from nbcli import multihost

    files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    os.environ["NBCLI_TESTING"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        (spec,) = multihost.create(Path(tmp) / "hosts",
                                   layout=[(CLIENT, "127.0.0.1", ["master", "media", "client"])])
        images = spec.root / "netbackup" / "db" / "images"
        t = time.perf_counter()
        store, h = build(images, 10, 100, files)
        dt = time.perf_counter() - t
        print(f"wrote {h['num_files']} entries in {dt:.1f} s ({h['num_files'] / dt:,.0f}/s)")
        print(f".f size: {h['ff_size']:,} bytes = {h['ff_size'] / h['num_files']:.1f} "
              "bytes/file")
        folder = "/bench/d05/s050"
        _measure_in_process(store, h, folder)
        _measure_daemon(spec.root, folder)


if __name__ == "__main__":
    main()
