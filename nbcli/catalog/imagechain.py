"""Point in time: which images make up a client's files as of a date, and which version wins.

Place: between the image store (nbcli/catalog/images.py) and bpdbm's file_list and
restore_plan (nbcli/catalog/plan.py). Pure logic over opened .f files; no I/O of its own.

The chain as of `end`: the newest FULL (sched type 0) with backup time in [start, end], then
every incremental (INCR 1, CINC 4) and user backup (UBAK 2, UARC 3) after it up to `end`,
oldest first (without a full in range: every such image in range). A path's version comes from
the newest image of the chain that holds it with in_image 1. When images carry True Image
Restore info (tir set: their .f lists every file that existed, in_image 0 for the unchanged
ones), the newest such image decides what existed: a path it does not list - and no later image
lists - was deleted and is left out.

A listing is a sequence of segments `(part, block, indexes)`: a block of one image's .f and the
entries of it that win (None: all of them), so a single full image lists block by block in
bulk, and merging only costs a per-entry pass where several images hold the same folder.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from nbcli.catalog.files import Block, FilesFile, prefix_of, split_path
from nbcli.catalog.imagehdr import Header
from nbcli.status import INVALID_PARAMETER, NbuError

FULL = 0
CHAIN_TYPES = frozenset({0, 1, 2, 3, 4})
ALL_DEPTHS = 1 << 30
# Fields a listing can carry besides the entry fields: taken from the image that wins.
IMAGE_FIELDS = ("backup_time", "backupid")

Segment = tuple[int, Block, "list[int] | None"]


def select_chain(images: list[Header], start: int, end: int) -> list[Header]:
    """The images that make up the point in time `end`, oldest first."""
    chain = sorted((h for h in images if start <= h["backup_time"] <= end
                    and h["sched_type"] in CHAIN_TYPES), key=lambda h: h["backup_time"])
    fulls = [i for i, h in enumerate(chain) if h["sched_type"] == FULL]
    return chain[fulls[-1]:] if fulls else chain


def normalize(path: Any) -> str:
    """An absolute path without doubled or trailing slashes; status 20 otherwise."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise NbuError(INVALID_PARAMETER, f"invalid path {path!r} (an absolute path is needed)")
    return posixpath.normpath(re.sub("/+", "/", path))


def depth_below(d: str, root: str) -> int | None:
    """How many levels folder `d` lies below `root` (0: itself); None when not below it."""
    if d == root:
        return 0
    prefix = prefix_of(root)
    if root == "" or not d.startswith(prefix):
        return None
    return d.count("/", len(prefix)) + 1


@dataclass
class Part:
    header: Header
    ff: FilesFile


class View:
    """The merged listing of a chain of images (one image: that image alone)."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self.tir = max((i for i, p in enumerate(parts) if p.header.get("tir")), default=-1)

    def _holders(self, d: str) -> list[tuple[int, list[Block]]]:
        return [(i, p.ff.blocks_of(d)) for i, p in enumerate(self.parts) if d in p.ff.by_dir]

    def children(self, d: str) -> list[Segment]:
        """The entries of folder `d` as of the view's point in time."""
        holders = self._holders(d)
        if len(holders) != 1:
            return self._merge(holders)
        i, blocks = holders[0]
        if i < self.tir:
            return []  # the TIR image does not list the folder's contents: all deleted
        segments: list[Segment] = []
        for b in blocks:
            inimg = b.column("in_image")
            if all(inimg):
                segments.append((i, b, None))
            elif any(inimg):
                segments.append((i, b, [j for j, v in enumerate(inimg) if v]))
        return segments

    def _merge(self, holders: list[tuple[int, list[Block]]]) -> list[Segment]:
        blocks: list[tuple[int, Block]] = []
        picks: dict[str, list[int]] = {}  # name -> [block number, index, still exists]
        for i, bs in holders:
            for b in bs:
                bn = len(blocks)
                blocks.append((i, b))
                exists = int(i >= self.tir)
                pairs = zip(b.names(), b.column("in_image"), strict=True)
                for j, (name, inimg) in enumerate(pairs):
                    rec = picks.setdefault(name, [-1, -1, 0])
                    if inimg:
                        rec[0], rec[1] = bn, j
                    rec[2] |= exists
        won = [(bn, j) for bn, j, exists in picks.values() if exists and bn >= 0]
        return [(blocks[bn][0], blocks[bn][1], [j for _, j in run])
                for bn, run in groupby(won, key=lambda w: w[0])]

    def lookup(self, path: str) -> Segment | None:
        """The winning entry of one path, or None."""
        d, name = split_path(path)
        best: Segment | None = None
        exists = False
        for i, blocks in self._holders(d):
            for b in blocks:
                names = b.names()
                hits = list(_indexes(names, name))
                if not hits:
                    continue
                exists |= i >= self.tir
                inimg = b.column("in_image")
                for j in hits:
                    if inimg[j]:
                        best = (i, b, [j])
        return best if exists else None

    def walk(self, root: str, depth: int = ALL_DEPTHS) -> Iterator[Segment]:
        """Everything below `root` down to `depth` levels, folder by folder in stream order."""
        seen: set[str] = set()
        for p in self.parts:
            for _, d in p.ff.order:
                if d in seen:
                    continue
                seen.add(d)
                below = depth_below(d, root)
                if below is not None and below < depth:
                    yield from self.children(d)

    def listing(self, path: str, recursive: bool, depth: int) -> Iterator[Segment]:
        """What bplist shows for `path`: a folder's contents (below it with -R) or the entry."""
        found = False
        for seg in self.walk(path, depth) if recursive else iter(self.children(path)):
            found = True
            yield seg
        if not found:
            own = self.lookup(path)
            if own is not None:
                yield own

    def gather(self, seg: Segment, names: list[str] | tuple[str, ...]) -> dict[str, list[Any]]:
        """The named fields of a segment's entries, column by column."""
        i, block, idx = seg
        part = self.parts[i]
        n = block.n if idx is None else len(idx)
        out: dict[str, list[Any]] = {}
        for name in names:
            if name in IMAGE_FIELDS:
                out[name] = [part.header[name]] * n
                continue
            col = part.ff.column(block, name)
            out[name] = col if idx is None else [col[j] for j in idx]
        return out


def _indexes(items: list[str], value: str) -> Iterator[int]:
    """Every index of `value` in `items`, found at C speed."""
    j = -1
    while True:
        try:
            j = items.index(value, j + 1)
        except ValueError:
            return
        yield j
