"""Restore plans: for the paths asked, which images to read and which byte ranges of each.

Place: bpdbm's restore_plan (nbcli/daemons/bpdbm.py), on top of a point-in-time View
(nbcli/catalog/imagechain.py). bprd turns the plan into a restore job; bptm reads the ranges.

A requested path is a file, or a folder meaning everything below it. Each selected entry's
member occupies [offset, offset + hdr_len + size rounded up to 512) of its image's stream; per
image the ranges are sorted and touching ones merged, so restoring one small file from a big
image reads one small range. The folders above a requested path are not part of it: a restore
of /etc/passwd must not reset the mode and times of /etc, and tar-restore refuses anything
outside the requested paths' destinations (missing parents are created).

A hard link whose target is not selected cannot be made (the data is in the target's member):
the target's member is read instead and renamed to the link's path (`renames`); further links
to the same target stay links, and tar-restore applies `renames` to their link targets too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbcli.catalog.files import HARDLINK, prefix_of
from nbcli.catalog.imagechain import Segment, View, normalize
from nbcli.status import NO_ENTITY, NbuError

PLAN_FIELDS = ("offset", "hdr_len", "size", "type", "path", "link")


def member_length(hdr_len: int, size: int) -> int:
    return hdr_len + (size + 511) // 512 * 512


def merge_ranges(ranges: list[tuple[int, int]]) -> list[list[int]]:
    """[offset, length] pairs sorted, overlapping or touching ones joined."""
    out: list[list[int]] = []
    for offset, length in sorted(ranges):
        if out and offset <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], offset + length - out[-1][0])
        else:
            out.append([offset, length])
    return out


def under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(prefix_of(r)) for r in roots)


@dataclass
class Selection:
    """Members chosen so far, per image of the view."""

    view: View
    ranges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    # Hard links seen: (link path, target, the link's own entry).
    links: list[tuple[str, str, Segment]] = field(default_factory=list)

    def add(self, seg: Segment, links_too: bool = False) -> None:
        i, block, idx = seg
        cols = self.view.gather(seg, PLAN_FIELDS)
        mine = self.ranges.setdefault(i, [])
        for j, offset, hdr_len, size, kind, path, link in zip(
                range(block.n) if idx is None else idx, *cols.values(), strict=True):
            if kind == HARDLINK and not links_too:
                self.links.append((path, link, (i, block, [j])))  # decided at the end
            else:
                mine.append((offset, member_length(hdr_len, size)))


def resolve_links(sel: Selection, roots: list[str]) -> tuple[list[list[str]], list[str]]:
    """Hard links: keep those whose target is restored, read the target for the others."""
    renames: list[list[str]] = []
    missing: list[str] = []
    moved: set[str] = set()
    for path, target, own in sel.links:
        if under(target, roots) or target in moved:
            sel.add(own, links_too=True)
            continue
        seg = sel.view.lookup(target)
        if seg is None:
            missing.append(path)
            continue
        sel.add(seg)
        moved.add(target)
        renames.append([target, path])
    return renames, missing


def restore_plan(view: View, paths: list[Any]) -> dict[str, Any]:
    """The plan for `paths` (protocol.md restore_plan); status 227 if none is in the view."""
    wanted = sorted({normalize(p) for p in paths})
    # A path below another requested folder is already part of it.
    roots = [p for p in wanted if not under(p, [r for r in wanted if r != p])]
    sel = Selection(view)
    found: list[str] = []
    folders: list[bool] = []
    missing = []
    for root in roots:
        own = view.lookup(root)
        below = list(view.walk(root))
        if own is None and not below:
            missing.append(root)
            continue
        found.append(root)
        folders.append(bool(below) or (own is not None and
                                       list(view.gather(own, ("type",))["type"]) == ["5"]))
        for seg in ([own] if own else []) + below:
            sel.add(seg)
    if not found:
        raise NbuError(NO_ENTITY, f"none of {', '.join(wanted)} is in the images of the client")
    renames, lost = resolve_links(sel, found)
    images = []
    for i, part in enumerate(view.parts):
        members = sel.ranges.get(i, [])
        if members:
            h = part.header
            images.append({"header": h, "fragments": h["fragments"], "checksum": h["checksum"],
                           "block_size": h["block_size"], "ranges": merge_ranges(members),
                           "files": len(members)})
    # bprd turns `selected` into tar-restore's destinations: a folder restores into itself,
    # a file into its folder.
    return {"images": images, "renames": renames, "missing": missing + lost,
            "selected": [[p, d] for p, d in zip(found, folders)]}
