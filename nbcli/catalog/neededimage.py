"""The neededimage file of a restore from tape: which media, images and tape positions it reads.

bprd writes `db/neededimage/<jobid>` on the master before it starts a restore whose images are
on tape (seed restore step 2); the bprd child reads it to plan the mounts (step 4) and hands
the plan to bpbrm on the media server (step 5), and removes it when the restore ends (17). A
disk restore has none. NetBackup does not document the file; nbcli's is one line per fragment
to read, in the order the restore reads them, with '#' comment lines:

    # media_id backupid copy fragment file_num block_offset block_size media_server density
    A00001 client_1733345000 1 1 4 11 262144 media hcart

`file_num` is the tape file of the fragment's backup header, `block_offset` the logical block
of its first data record (what a locate goes to), `block_size` the bytes of its records.

Place: a pure format and the file's atomic write, read and removal; bprd and the bprd child
(nbcli/daemons) use it. Imports atomic, kinds and status only: no daemon, net or media.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbcli import atomic
from nbcli.kinds import DENSITIES
from nbcli.status import INVALID_ENTRY, NbuError

HEADER = "# media_id backupid copy fragment file_num block_offset block_size media_server density"
TAPE_PREFIX = "tape:"  # a tape fragment's locator in the catalog's `path` (nbcli.media.tapeio)
UNKNOWN = "-"  # a field the catalog did not say (a density the image's fragments lack)


@dataclass(frozen=True)
class Needed:
    """One fragment a restore reads from tape."""

    media_id: str
    backupid: str
    copy: int
    fragment: int
    file_num: int
    block_offset: int
    block_size: int
    server: str
    density: str = UNKNOWN

    def line(self) -> str:
        return " ".join(str(v) for v in (self.media_id, self.backupid, self.copy,
                                         self.fragment, self.file_num, self.block_offset,
                                         self.block_size, self.server, self.density or UNKNOWN))

    def as_dict(self) -> dict[str, Any]:
        return {"media_id": self.media_id, "backupid": self.backupid, "copy": self.copy,
                "fragment": self.fragment, "file_num": self.file_num,
                "block_offset": self.block_offset, "block_size": self.block_size,
                "server": self.server, "density": self.density}


@dataclass
class Mount:
    """One mount of the plan: a medium and the fragments read from it, in tape file order."""

    media_id: str
    server: str
    density: str
    fragments: list[Needed] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"media_id": self.media_id, "server": self.server, "density": self.density,
                "fragments": [f.as_dict() for f in self.fragments]}


def format_lines(entries: Iterable[Needed]) -> str:
    return HEADER + "\n" + "".join(e.line() + "\n" for e in entries)


def parse(text: str) -> list[Needed]:
    """The entries of a neededimage file; 223 for a line that is not one."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        try:
            if len(words) != 9:
                raise ValueError(f"{len(words)} fields, not 9")
            media, backupid, copy, frag, file_num, offset, size, server, density = words
            entry = Needed(media, backupid, int(copy), int(frag), int(file_num), int(offset),
                           int(size), server, density)
            if min(entry.copy, entry.fragment) < 1 or min(entry.file_num,
                                                          entry.block_offset) < 0 \
                    or entry.block_size <= 0:
                raise ValueError("a number out of range")
        except ValueError as e:
            raise NbuError(INVALID_ENTRY, f"neededimage line {n}: {line!r}: {e}") from None
        out.append(entry)
    return out


def tape_fields(frag: Mapping[str, Any]) -> tuple[str, int, int, int] | None:
    """(media_id, file_num, block_offset, block_size) of a catalog fragment on tape, from its
    own fields or its `tape:MEDIA:FILE:BLOCK:BLOCKSIZE:CRC` locator; None for a disk one."""
    media = str(frag.get("media_id") or "")
    if media and int(frag.get("file_num", -1)) >= 0:
        return (media, int(frag["file_num"]), int(frag.get("block_offset", -1)),
                int(frag.get("block_size", 0)))
    path = str(frag.get("path") or "")
    if not path.startswith(TAPE_PREFIX):
        return None
    parts = path.split(":")
    try:
        return parts[1], int(parts[2]), int(parts[3]), int(parts[4])
    except (IndexError, ValueError):
        raise NbuError(INVALID_ENTRY, f"{path!r} is not a tape fragment locator") from None


def density_name(value: object) -> str:
    """The density as NetBackup names it ("hcart"), from the catalog's code or name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return DENSITIES.get(value, str(value))
    return str(value) if value else UNKNOWN


def on_tape(images: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any fragment of the planned images is on tape (a neededimage file is needed)."""
    return any(tape_fields(f) is not None for im in images for f in im["fragments"])


def _overlaps(frag: Mapping[str, Any], ranges: Sequence[Sequence[int]]) -> bool:
    start = int(frag["offset"])
    end = start + int(frag["bytes"])
    return not ranges or any(int(o) < end and int(o) + int(n) > start for o, n in ranges)


def from_plan(images: Sequence[Mapping[str, Any]]) -> list[Needed]:
    """The tape fragments bpdbm's restore plan reads, in the order the restore reads them
    (images in plan order, each one's fragments in stream order): only those holding
    requested bytes."""
    out = []
    for im in images:
        hdr = im["header"]
        for num, frag in enumerate(sorted(im["fragments"], key=lambda f: int(f["offset"])), 1):
            place = tape_fields(frag)
            if place is None or not _overlaps(frag, im.get("ranges") or []):
                continue
            media, file_num, block, size = place
            out.append(Needed(media, str(hdr["backupid"]), int(frag.get("copy", 1) or 1),
                              int(frag.get("num", num) or num), file_num, block,
                              size or int(im.get("block_size", 0)), str(frag["host"]),
                              density_name(frag.get("density"))))
    return out


def mount_order(entries: Sequence[Needed]) -> list[Mount]:
    """The mounts of a restore: the entries grouped by medium, each group in tape file order.

    Consecutive entries on one medium make one mount, so the data still reaches tar-restore
    in the plan's order (an older image before a newer one) when images alternate between
    media; a medium appears again only then. Within a mount the fragments go in file order,
    so the drive only ever moves forward."""
    mounts: list[Mount] = []
    for e in entries:
        if not mounts or mounts[-1].media_id != e.media_id:
            mounts.append(Mount(e.media_id, e.server, e.density))
        mounts[-1].fragments.append(e)
    for m in mounts:
        m.fragments.sort(key=lambda f: (f.file_num, f.block_offset))
    return mounts


# --- the file -----------------------------------------------------------------------------


def path_for(folder: Path, jobid: int) -> Path:
    return folder / str(int(jobid))


def write(folder: Path, jobid: int, entries: Iterable[Needed]) -> Path:
    """Write the job's file atomically (the bprd child never reads a torn one); its path.
    Not durably: it lives while its restore's processes do, which an OS crash ends (bprd
    sweeps what is left), and its two fsyncs were on every tape restore's way."""
    atomic.makedirs(folder)
    path = path_for(folder, jobid)
    atomic.write_text(path, format_lines(entries), durable=False)
    return path


def read(folder: Path, jobid: int) -> list[Needed]:
    try:
        text = path_for(folder, jobid).read_text()
    except FileNotFoundError:
        raise NbuError(INVALID_ENTRY, f"restore job {jobid} has no neededimage file") from None
    return parse(text)


def remove(folder: Path, jobid: int) -> bool:
    """Remove the job's file; whether there was one."""
    try:
        os.unlink(path_for(folder, jobid))
    except FileNotFoundError:
        return False
    return True


def jobs_with_files(folder: Path) -> list[int]:
    """The job ids that have a neededimage file (temp files of a write in progress are not)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit())
