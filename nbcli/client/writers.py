"""Several file writer processes, so that the kernel's file creation uses more than one core.

Restoring small files, a writer's time is nearly all the kernel's (openat, writes into new
page-cache pages, utimensat, close: the same work GNU tar's one process does), and with the
parser's per-member loop in C the parser needs little of a core. So tar-restore runs more than
one writer and gives each whole folders: the files of one folder are made in stream order by
one process, and anything that could meet files of another folder - a link, a folder to
create, any member that is not a small file - waits first for all of them (`sync`), exactly
as it waited for one.
"""

from __future__ import annotations

import os

from nbcli.client.destination import Place
from nbcli.client.filewriter import FileWriter, Report
from nbcli.client.nodes import Nodes
from nbcli.client.streamreader import StreamReader
from nbcli.client.tarstream import Member

# One writer per core: on two cores, two writers made 50,000 small files in 2.4 s against
# one writer's 4.0 s, and three were no faster (bench/README.md). The cap is a guess, not a
# measurement: no machine with more cores has been tried.
MAX_WRITERS = 4


def writer_count() -> int:
    """How many writer processes a restore of many small files gets on this machine."""
    return max(1, min(MAX_WRITERS, len(os.sched_getaffinity(0))))


class Writers:
    """FileWriter's interface over one or more writer processes, folders shared out in turn."""

    @classmethod
    def start(cls, nodes: Nodes, report: Report, count: int) -> Writers | None:
        """Fork up to `count` writers; None when not even one could be (write alone)."""
        writers = []
        for _ in range(count):
            w = FileWriter.start(nodes, report)
            if w is None:
                break
            writers.append(w)
        return cls(writers) if writers else None

    def __init__(self, writers: list[FileWriter]) -> None:
        self.writers = writers
        self._owner: dict[Place, FileWriter] = {}  # which writer makes a folder's files
        self._turn = 0

    def knows(self, folder: Place) -> bool:
        w = self._owner.get(folder)
        return w is not None and w.knows(folder)

    def queue(self, m: Member, folder: Place, parent: int, leaf: bytes,
              reader: StreamReader) -> bool:
        """FileWriter.queue, by the writer of `folder` (the next one in turn for a new one)."""
        w = self._owner.get(folder)
        if w is None:
            w = self._owner[folder] = self.writers[self._turn % len(self.writers)]
            self._turn += 1
        return w.queue(m, folder, parent, leaf, reader)

    def queue_plain(self, reader: StreamReader, folder: Place, key: bytes) -> None:
        w = self._owner.get(folder)
        if w is not None:
            w.queue_plain(reader, folder, key)

    def sync(self) -> None:
        """Until every writer has made everything queued; folders are shared out anew."""
        for w in self.writers:
            w.sync()
        self._owner.clear()

    def close(self) -> None:
        """Every writer's queue made, every writer ended and reaped (all of them, even when
        one fails)."""
        error: BaseException | None = None
        for w in self.writers:
            try:
                w.close()
            except BaseException as e:  # the others must still be reaped
                error = error or e
        if error is not None:
            raise error

    @property
    def files(self) -> int:
        return sum(w.files for w in self.writers)

    @property
    def refused(self) -> int:
        return sum(w.refused for w in self.writers)

    @property
    def failed(self) -> int:
        return sum(w.failed for w in self.writers)
