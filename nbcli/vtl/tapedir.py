"""A cartridge's tape directory: where each tape mark is and where the recorded data ends, so
that a locate, a space over files or a space to the end of data goes there at once - as an LTO
drive locates by the tape directory its cartridge memory keeps - instead of stepping over every
record's length words from the start (a word a record: one disk read each on a cold cache,
seconds on a full cartridge).

Kept beside the image (`BARCODE.tap.dir`, JSON), written by the drive that wrote or scanned
the image, when it closes it. It is a cache: trusted only while the image is the very file it
describes (inode, size and mtime_ns), and checked where it is used (a tape mark just before a
mark's position, nothing recorded at the end of data); anything else that changed the image
(a dead writer's torn record cut, a file copied in) makes the drive scan it once again.
Imports only nbcli.vtl's image and simh.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass, field

from nbcli.vtl import image, simh


@dataclass
class TapeDir:
    """marks: (logical block, byte offset) just past each tape mark, in tape order (the
    position of tape file k+1 is marks[k]); eod: (logical block, byte offset) of the end of
    recorded data."""

    marks: list[tuple[int, int]] = field(default_factory=list)
    eod: tuple[int, int] = (0, 0)

    def cut(self, offset: int, logical: int) -> None:
        """A write at (logical, offset) cut the tape there: what followed is gone."""
        # each record of a backup comes here: at the end of the tape (the usual case) no mark
        # follows, and the marks need no search
        if self.marks and self.marks[-1][1] > offset:
            i = bisect.bisect_right([o for _, o in self.marks], offset)
            del self.marks[i:]
        self.eod = (logical, offset)

    def mark_written(self, logical: int, offset: int) -> None:
        """A tape mark was written; (logical, offset) is the position just past it."""
        self.marks.append((logical, offset))
        self.eod = (logical, offset)

    def last_mark_at_or_before(self, block: int) -> int:
        """The index of the last mark whose position is at or before logical `block`; -1."""
        return bisect.bisect_right([lb for lb, _ in self.marks], block) - 1

    def next_mark_after(self, offset: int) -> int:
        """The index of the first mark whose position is past byte `offset`."""
        return bisect.bisect_right([o for _, o in self.marks], offset)

    def checks(self, fd: int, i: int) -> bool:
        """Whether mark i is a tape mark on the image (the word before its position)."""
        _, off = self.marks[i]
        return off >= simh.WORD and image.read_word(fd, off - simh.WORD) == simh.TAPE_MARK

    def eod_checks(self, fd: int) -> bool:
        """Whether nothing is recorded at the end of data."""
        word = image.read_word(fd, self.eod[1])
        return word is None or word == simh.END_OF_MEDIUM


def _key(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def load(path: str, fd: int) -> TapeDir | None:
    """The directory of the image open as `fd`, if `path` holds one made for it."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("image") != _key(os.fstat(fd)):
            return None
        marks = [(int(lb), int(off)) for lb, off in doc["marks"]]
        lb, off = doc["eod"]
        return TapeDir(marks, (int(lb), int(off)))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, another image's, or torn: scan instead


def save(path: str, fd: int, d: TapeDir) -> None:
    """Write the directory of the image open as `fd` (temp, fsync, rename)."""
    tmp = f"{path}.tmp"
    body = json.dumps({"image": _key(os.fstat(fd)), "marks": d.marks, "eod": list(d.eod)})
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def forget(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
