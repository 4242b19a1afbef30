"""One backup as bpbkar runs it: walk the selections, write the image, count what went wrong.

Both ways of running bpbkar end here: by hand (`bpbkar -nocont`, image to stdout) and under
bpbrm's control (image to bptm child's socket, entries to bpbrm). The caller supplies the sink
for full blocks and callbacks for file entries, file names and problems; this module decides
the final status: 71 when none of the selections exists, 1 when anything was skipped, padded
or missing, else 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from nbcli.client.blocks import BlockBuffer, Sink
from nbcli.client.imagewriter import Entry, ImageWriter
from nbcli.client.scan import Walker

DEFAULT_BLOCK_SIZE = 1 << 20
# How often (in walked paths) the caller may check that someone still wants the image, even
# when no block fills up (an incremental of an unchanged tree sends almost nothing).
TICK_EVERY = 1024


@dataclass
class BackupSpec:
    """What to back up: the fields of the "backup" op (docs/protocol.md, "Agents")."""

    paths: list[bytes]
    since: int | None = None
    block_size: int = DEFAULT_BLOCK_SIZE
    exclude: list[str] = field(default_factory=list)
    tir: bool = False
    cross_mount_points: bool = False
    include: list[str] = field(default_factory=list)  # exceptions to `exclude`


@dataclass
class BackupResult:
    status: int
    files: int  # file entries reported (the .f's entry count)
    stream_bytes: int
    checksum: str

    @property
    def kbytes(self) -> int:
        return (self.stream_bytes + 1023) // 1024


def problem_text(what: str, path: bytes, error: OSError | None) -> str:
    """A skipped file as NetBackup's client reports it in the job's details."""
    text = f"WRN - {what}: {os.fsdecode(path)}"
    if error is not None:
        text += f" (errno = {error.errno}: {error.strerror})"
    return text


class _Problems:
    """The walk's and the writer's `warn`: counts and passes on one line per problem."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.count = 0

    def __call__(self, what: str, path: bytes, error: OSError | None) -> None:
        self.count += 1
        self.report(problem_text(what, path, error))


def run_backup(spec: BackupSpec, sink: Sink, report: Callable[[str], None], *,
               on_entries: Callable[[list[Entry]], None] | None = None,
               on_file: Callable[[bytes], None] | None = None,
               tick: Callable[[], None] | None = None,
               checksummed: bool = True) -> BackupResult:
    """Write the whole image to `sink` (end-of-archive blocks included); `checksummed=False`
    for a sink that proves its own integrity (a sealed stream: the result's checksum is "")."""
    problems = _Problems(report)
    out = BlockBuffer(sink, spec.block_size, on_flush=tick, checksummed=checksummed)
    walker = Walker(problems, spec.exclude, spec.cross_mount_points, spec.include)
    writer = ImageWriter(out, problems, since=spec.since, tir=spec.tir,
                         on_entries=on_entries, on_file=on_file)
    add = writer.add
    for n, (path, st) in enumerate(walker.walk(spec.paths)):
        add(path, st)
        if tick is not None and not n % TICK_EVERY:
            tick()
    writer.flush_entries()
    out.finish()
    if walker.found == 0:
        status = 71
    else:
        status = 1 if problems.count else 0
    return BackupResult(status, writer.entries, out.tell(), out.checksum)
