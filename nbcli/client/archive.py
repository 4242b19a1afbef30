"""Archives (UARC schedules): removing the files an archive backed up, once it is safe.

bpbkar keeps the entries it sent; after the image is complete in the catalog, nbjm (through
bpbrm) tells it to delete them. A file is removed only if it is still the file that was backed
up - same type, size and mtime - so a file changed during or after the backup is kept (status
3, "valid archive image produced, but no files deleted due to non-fatal problems"). A file that
cannot be removed makes the status 4 ("archive file removal failed"). Folders are left alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

# Entry fields (docs/protocol.md, file entries): path, type, ..., size (7), mtime_ns (8),
# in_image (13).
_DELETABLE = {"0": stat.S_ISREG, "1": stat.S_ISREG, "2": stat.S_ISLNK, "6": stat.S_ISFIFO}


class ArchiveList:
    """The entries of an archive that may be removed afterwards."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int, int]] = []

    def add(self, entries: list[list[object]]) -> None:
        for e in entries:
            kind = str(e[1])
            if kind in _DELETABLE and e[13]:
                self.items.append((str(e[0]), kind, _int(e[7]), _int(e[8])))

    def delete(self, report: Callable[[str], None]) -> tuple[int, int]:
        """Remove what is unchanged; (status, files removed)."""
        status, removed = 0, 0
        for path, kind, size, mtime_ns in self.items:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue  # gone already: nothing to keep
            except OSError as e:
                report(f"WRN - cannot check archived file {path}: {e.strerror}")
                status = max(status, 3)
                continue
            # A hard link's entry carries no data (size 0): its target's member does.
            same = _DELETABLE[kind](st.st_mode) and st.st_mtime_ns == mtime_ns and \
                (kind in ("1", "2") or st.st_size == size)
            if not same:
                report(f"WRN - {path} changed after it was archived; not deleted")
                status = max(status, 3)
                continue
            try:
                os.unlink(path)
                removed += 1
            except OSError as e:
                report(f"ERR - cannot delete archived file {path}: {e.strerror}")
                status = 4
        return status, removed


def _int(value: object) -> int:
    """A numeric catalog field (bpbkar's own entries: an int already, or its text)."""
    return int(value) if isinstance(value, (int, str)) else 0
