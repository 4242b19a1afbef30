"""tar-restore's file writer: a forked process that creates small files while the parser goes on.

Why a process: restoring many small files is two kinds of work of about the same size,
parsing headers (Python) and the kernel's file creation (openat, write, fchown, utimensat,
close), and one process does them one after the other. Split over two processes they overlap
on two cores (bench/README.md has the measurements).

The parser (untar.py) copies each small regular file into a ring of shared memory as a record
(a fixed part, the member's name, the leaf name, the data) and tells the writer, over a
socketpair, how far the ring is filled; the writer makes the files with nodes.py's rules, in
order, and answers how far it got and what it could not do. Folders reach the writer as
descriptors (SCM_RIGHTS) the first time a record needs them; `sync` waits until the writer has
caught up and closes them, so the parser never changes the tree under a queued record.

If the writer dies, the parser makes what it had not confirmed from the ring itself (a file the
writer left half-made is replaced whole): no file is lost.

The common case runs in C (nbcli/client/_untar.c): `queue_plain` packs runs of plain files
from the stream buffer into the ring, and `apply` makes runs of file records into files. Each
stops at the first member or record it does not take, which the Python here handles; without
the C module (a source tree never built) the Python does everything, with the same result.
"""

from __future__ import annotations

import gc
import mmap
import os
import signal
import socket
import struct
from collections import deque
from collections.abc import Callable

from nbcli.client.destination import Place, Refused
from nbcli.client.nodes import Nodes, exists, failed_text, kept_text, refused_text
from nbcli.client.streamreader import StreamReader
from nbcli.client.tarstream import Member

try:
    from nbcli.client import _untar
except ImportError:  # not built: the Python below does all of it
    _untar = None  # type: ignore[assignment]  # the module or None: one name for both

Report = Callable[[str, str], None]
RING = 4 << 20
QUEUE_MAX = 256 << 10  # larger files are written by the parser itself
PUBLISH = 256 << 10  # tell the writer every this many bytes of records (a message costs ~10 us)
MAX_FOLDERS = 64  # folder descriptors the writer holds at once

# kind, folder id, mode, uid, gid, mtime ns, size, name length, leaf length
_REC = struct.Struct("<B3xIIIIqQII")
_FILE, _FOLDER, _WRAP = 1, 2, 3
_POS = struct.Struct("<Q")
# reply: position done, files made, outcomes; then per outcome: kind, text length, text
_REPLY = struct.Struct("<QII")
_OUTCOME = struct.Struct("<BI")
_KEPT, _REFUSED, _FAILED = 1, 2, 3
_REPLY_TEXT = 32 << 10  # send a reply before its texts grow past this
_TEXT_MAX = 8 << 10  # a longer text (a name of thousands of bytes) is cut
_REPLY_MAX = _REPLY.size + _REPLY_TEXT + _OUTCOME.size + _TEXT_MAX


class Outcomes:
    """What records came to: files made, and the texts of the ones that were not."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.files = 0
        self.notes: list[tuple[int, bytes]] = []
        self.size = 0  # of the notes in a reply

    def note(self, kind: int, text: str) -> None:
        self.add(kind, text.encode("utf-8", "surrogateescape")[:_TEXT_MAX])

    def add(self, kind: int, raw: bytes) -> None:
        self.notes.append((kind, raw))
        self.size += _OUTCOME.size + len(raw)


def apply(ring: memoryview, pos: int, upto: int, nodes: Nodes,
          folders: dict[int, int] | list[int], new_folder: Callable[[int], None],
          out: Outcomes, flush: Callable[[int], None] | None = None) -> int:
    """Carry out the records in ring positions [pos, upto), the folder of id `fid` being
    `folders[fid]`; the position reached. `flush` is called between records when the
    outcomes' texts have grown large."""
    fast = _untar is not None and not nodes.keep
    while pos < upto:
        if fast:  # every record it can; the one it stops at is made below
            pos, made = _untar.make(ring, pos, upto, folders, nodes.as_root, nodes.umask)
            out.files += made
            if pos >= upto:
                break
        pos = _apply_one(ring, pos, nodes, folders, new_folder, out)
        if flush is not None and out.size > _REPLY_TEXT:
            flush(pos)
    return pos


def _apply_one(ring: memoryview, pos: int, nodes: Nodes, folders: dict[int, int] | list[int],
               new_folder: Callable[[int], None], out: Outcomes) -> int:
    """Carry out the record at ring position `pos`; the position after it."""
    off = pos % RING
    if RING - off < _REC.size:  # a tail too short for a record: skipped
        return pos + RING - off
    kind, fid, mode, uid, gid, mtime, size, nlen, llen = _REC.unpack_from(ring, off)
    if kind == _WRAP:
        return pos + RING - off
    if kind == _FOLDER:
        new_folder(fid)
    else:
        start = off + _REC.size
        name = bytes(ring[start:start + nlen])
        leaf = bytes(ring[start + nlen:start + nlen + llen])
        data = start + nlen + llen
        try:
            parent = folders[fid]
            if nodes.keep and exists(parent, leaf):
                out.note(_KEPT, kept_text(name))
            else:
                nodes.file_from(parent, leaf, ring[data:data + size], mode, uid, gid, mtime)
                out.files += 1
        except Refused as e:
            out.note(_REFUSED, refused_text(name, e))
        except OSError as e:
            out.note(_FAILED, failed_text(name, e))
    return pos + _record_size(nlen, llen, size if kind == _FILE else 0)


def _record_size(nlen: int, llen: int, size: int) -> int:
    return (_REC.size + nlen + llen + size + 7) & ~7


# --- the writer process ---------------------------------------------------------------------

def _serve(sock: socket.socket, ring: memoryview, keep: bool) -> None:
    # Only the socketpair is ours: the agent's connections and folders close here, so that
    # their peers see them close when the parser does; its signal handlers are not ours.
    # Nor is the garbage the fork brought: a socket collected here would close a number that
    # now holds one of our folders.
    gc.freeze()
    os.closerange(3, sock.fileno())
    os.closerange(sock.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    nodes = Nodes(keep)  # after the fork: temporary names with this process's pid
    fds: deque[int] = deque()
    folders: dict[int, int] = {}
    pos = 0

    def new_folder(fid: int) -> None:
        old = folders.get(fid)
        if old is not None:
            os.close(old)
        folders[fid] = fds.popleft()

    out = Outcomes()

    def reply(done: int) -> None:
        """How far we got and what came of it since the last reply."""
        parts = [_REPLY.pack(done, out.files, len(out.notes))]
        for kind, raw in out.notes:
            parts += [_OUTCOME.pack(kind, len(raw)), raw]
        sock.sendall(b"".join(parts))
        out.clear()

    while True:
        try:
            msg, got, _, _ = socket.recv_fds(sock, _POS.size, MAX_FOLDERS)
        except OSError:
            return
        fds.extend(got)
        if len(msg) != _POS.size:
            return  # the parser closed its end: everything asked for is done
        (upto,) = _POS.unpack(msg)
        pos = apply(ring, pos, upto, nodes, folders, new_folder, out, reply)
        reply(pos)


# --- the parser's side ----------------------------------------------------------------------

class FileWriter:
    """The parser's handle on the writer process."""

    @classmethod
    def start(cls, nodes: Nodes, report: Report) -> FileWriter | None:
        """Fork the writer, which makes files by `nodes`' rules; None when the system will
        not (the caller writes alone)."""
        ring_map = mmap.mmap(-1, RING, flags=mmap.MAP_SHARED)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            ring_map.close()
            return None
        if pid == 0:  # the writer: never returns into the caller's stack
            code = 0
            try:
                ours.close()
                _serve(theirs, memoryview(ring_map), nodes.keep)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        return cls(pid, ours, ring_map, nodes, report)

    def __init__(self, pid: int, sock: socket.socket, ring_map: mmap.mmap, nodes: Nodes,
                 report: Report) -> None:
        self.pid = pid
        self.sock = sock
        self._map = ring_map
        self.ring = memoryview(ring_map)
        self.report = report
        self.nodes = nodes  # the parser's: for making alone what a dead writer left
        self.files = self.refused = self.failed = 0
        self.produced = self.published = self.done = 0
        self._folder_ids: dict[Place, int] = {}
        self._folder_fds: list[int] = []  # ours, by id: for sending, and to finish alone
        self._unsent: list[int] = []
        self.alive = True

    def knows(self, folder: Place) -> bool:
        return folder in self._folder_ids

    def queue(self, m: Member, folder: Place, parent: int, leaf: bytes,
              reader: StreamReader) -> bool:
        """Queue regular file `m` (its data is read from `reader`) to be made as `leaf` in
        folder `parent` (at `folder`). False when the writer is gone: the caller makes it."""
        if not self.alive:
            return False
        fid = self._folder_ids.get(folder)
        if fid is None:
            if len(self._folder_ids) >= MAX_FOLDERS:
                self.sync()
            fid = self._add_folder(folder, parent)
        name = m.name
        n = _record_size(len(name), len(leaf), m.size)
        if n > RING // 4:  # names of absurd length: not worth a ring this size
            return False
        off = self._room(n)
        if not self.alive:  # it died while we waited for room
            return False
        _REC.pack_into(self.ring, off, _FILE, fid, m.mode, m.uid, m.gid, m.mtime_ns, m.size,
                       len(name), len(leaf))
        at = off + _REC.size
        self.ring[at:at + len(name)] = name
        at += len(name)
        self.ring[at:at + len(leaf)] = leaf
        at += len(leaf)
        reader.fill(self.ring[at:at + m.size])
        self.produced += n
        if self.produced - self.published >= PUBLISH:
            self._publish()
        return True

    def queue_plain(self, reader: StreamReader, folder: Place, key: bytes) -> None:
        """Queue, in C, the run of plain small files next in `reader` whose names lie
        directly in `key` (canonical, b"" for the top), which is `folder`: the caller has
        located one such member there, and Destination.leaves_follow(key) holds. The members
        it leaves - another folder, another kind, not all in the buffer, no room - are the
        caller's."""
        fid = self._folder_ids.get(folder)
        if _untar is None or fid is None or not self.alive:
            return
        while (window := reader.window()) is not None:
            buf, start, end = window
            start, self.produced, _ = _untar.scan(
                buf, start, end, self.ring, self.produced, self.done + RING,
                self.published + PUBLISH, key, fid, QUEUE_MAX)
            reader.consumed(start)
            if self.produced - self.published < PUBLISH:
                return  # stopped at a member it leaves
            self._publish()
            if not self.alive:
                return

    def _add_folder(self, folder: Place, parent: int) -> int:
        fid = len(self._folder_fds)
        self._folder_fds.append(os.dup(parent))  # Destination may close `parent` meanwhile
        self._folder_ids[folder] = fid
        self._unsent.append(self._folder_fds[fid])
        off = self._room(_REC.size)
        _REC.pack_into(self.ring, off, _FOLDER, fid, 0, 0, 0, 0, 0, 0, 0)
        self.produced += _record_size(0, 0, 0)
        return fid

    def _room(self, n: int) -> int:
        """The ring offset of `n` free bytes (waiting for the writer when it is full)."""
        off = self.produced % RING
        if off + n > RING:  # records never wrap: mark the tail as skipped
            self._wait_for(self.produced + RING - off + n - RING)
            if off + _REC.size <= RING:
                _REC.pack_into(self.ring, off, _WRAP, 0, 0, 0, 0, 0, 0, 0, 0)
            self.produced += RING - off
            off = 0
        self._wait_for(self.produced + n - RING)
        return off

    def _wait_for(self, done: int) -> None:
        """Until the writer is done up to ring position `done`."""
        if done <= self.done:
            return
        self._publish()
        while self.alive and self.done < done:
            self._take()

    def _publish(self) -> None:
        if self.produced == self.published or not self.alive:
            return
        try:
            socket.send_fds(self.sock, [_POS.pack(self.produced)], self._unsent,
                            socket.MSG_NOSIGNAL)  # a dead writer is not our death
        except OSError:
            self._lost()
            return
        self._unsent = []
        self.published = self.produced

    def _take(self) -> None:
        """One reply from the writer."""
        try:
            msg = self.sock.recv(_REPLY_MAX)
        except OSError:
            msg = b""
        if len(msg) < _REPLY.size:
            self._lost()
            return
        done, files, notes = _REPLY.unpack_from(msg)
        at = _REPLY.size
        out = Outcomes()
        out.files = files
        for _ in range(notes):
            kind, length = _OUTCOME.unpack_from(msg, at)
            at += _OUTCOME.size
            out.add(kind, msg[at:at + length])
            at += length
        self.done = done
        self._count(out)

    def _count(self, out: Outcomes) -> None:
        self.files += out.files
        for kind, raw in out.notes:
            self.report("Info" if kind == _KEPT else "Error",
                        raw.decode("utf-8", "surrogateescape"))
            if kind == _REFUSED:
                self.refused += 1
            elif kind == _FAILED:
                self.failed += 1

    def _lost(self) -> None:
        """The writer is gone: make what it had not confirmed here, from the ring."""
        if not self.alive:
            return
        self.alive = False
        out = Outcomes()
        self.done = apply(self.ring, self.done, self.produced, self.nodes, self._folder_fds,
                          lambda fid: None, out)
        self._count(out)
        self.published = self.produced

    def sync(self) -> None:
        """Wait until the writer has made everything queued; forget its folders."""
        self._wait_for(self.produced)
        for fd in self._folder_fds:
            os.close(fd)
        self._folder_fds, self._folder_ids, self._unsent = [], {}, []
        # The writer closes its copies when an id comes again (new_folder); ids restart.

    def close(self) -> None:
        """Everything queued made; the writer ended and reaped."""
        try:
            self.sync()
        finally:
            self.sock.close()
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            # The ring is unmapped with its last reference, not closed here: after a stream
            # error, the traceback still holds views of it.
