"""Types of the C module nbcli/client/_untar.c (built at install; see its docstrings)."""

from collections.abc import Mapping, Sequence

def scan(buf: bytes | bytearray | memoryview, start: int, end: int, ring: memoryview,
         produced: int, room_end: int, publish_at: int, folder: bytes, fid: int,
         queue_max: int) -> tuple[int, int, int]: ...

def make(ring: memoryview, pos: int, upto: int, folders: Mapping[int, int] | Sequence[int],
         as_root: bool, umask: int) -> tuple[int, int]: ...
