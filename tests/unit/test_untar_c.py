"""nbcli.client._untar, the C loops of a small-file restore, against the Python they mirror.

`scan` must take only what the Python parser reads the same way, and pack exactly the record
FileWriter.queue packs; `make` must leave exactly the file Nodes.file_from leaves, and give
back, untouched, every record it does not make.
"""

from __future__ import annotations

import io
import os
import random
import resource
import signal
import stat
import tarfile
from pathlib import Path

import pytest

from nbcli.client import _untar
from nbcli.client import filewriter as fw
from nbcli.client.destination import canonical
from nbcli.client.nodes import Nodes
from nbcli.client.streamreader import StreamReader
from nbcli.client.tarstream import (
    DIRECTORY,
    END_OF_ARCHIVE,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    ArchiveError,
    Member,
    header,
    padding,
)

NS = 1_000_000_000
T = 1_700_000_000 * NS + 123_456_789
RING = 1 << 20


def member(name: bytes, data: bytes = b"x", **kw: object) -> bytes:
    m = Member(name, kw.pop("type", REGULAR), kw.pop("mode", 0o644), kw.pop("uid", 1000),
               kw.pop("gid", 100), len(data), kw.pop("mtime_ns", T), **kw)  # type: ignore[arg-type]
    return header(m) + data + bytes(padding(len(data)))


def scan(stream: bytes, key: bytes = b"d", fid: int = 3, ring_size: int = RING,
         produced: int = 0, room: int | None = None, publish: int | None = None,
         queue_max: int = fw.QUEUE_MAX) -> tuple[int, int, int, bytearray]:
    ring = bytearray(ring_size)
    pos, end, count = _untar.scan(
        bytearray(stream), 0, len(stream), ring, produced,
        produced + ring_size if room is None else room,
        produced + ring_size if publish is None else publish, key, fid, queue_max)
    return pos, end, count, ring


def record(m: Member, data: bytes, fid: int) -> bytes:
    """The ring record FileWriter.queue packs for `m`."""
    leaf = m.name.rsplit(b"/", 1)[-1]
    rec = (fw._REC.pack(fw._FILE, fid, m.mode, m.uid, m.gid, m.mtime_ns, m.size, len(m.name),
                        len(leaf)) + m.name + leaf + data)
    return rec + bytes(fw._record_size(len(m.name), len(leaf), len(data)) - len(rec))


def python_members(stream: bytes) -> tuple[list[tuple[Member, bytes, int]], ArchiveError | None]:
    """The members Python reads from `stream` up to the first that is not a regular file:
    each with its data and the stream offset where the next member starts; and the error
    that stopped it, if any."""
    src = io.BytesIO(stream)
    reader = StreamReader(lambda v: src.readinto(v), size=len(stream) + 4096)
    out: list[tuple[Member, bytes, int]] = []
    try:
        while (m := reader.next_member()) is not None:
            data = bytes(reader.take()) if m.type == REGULAR else b""
            out.append((m, data, reader.start + reader.pad))
            if m.type != REGULAR:
                break
    except ArchiveError as e:
        return out, e
    return out, None


CASES = {
    "pax mtime": (b"d/f", {}),
    "whole seconds, no pax header": (b"d/f", {"mtime_ns": 1_700_000_000 * NS}),
    "setuid": (b"d/f", {"mode": 0o4755}),
    "empty file": (b"d/e", {"data": b""}),
    "ids past ustar's fields": (b"d/f", {"uid": 3_000_000, "gid": 2_500_000}),
    "a long name (pax path)": (b"d/" + b"n" * 200, {}),
    "non-UTF-8 name": (b"d/caf\xe9", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_scan_packs_the_record_filewriter_packs(case: str) -> None:
    name, kw = CASES[case]
    data = kw.pop("data", os.urandom(777))  # type: ignore[arg-type]
    stream = member(name, data, **kw) + END_OF_ARCHIVE  # type: ignore[arg-type]
    (m, got, _), = python_members(stream)[0][:1]
    pos, produced, count, ring = scan(stream)
    expected = record(m, got, 3)
    assert (count, pos, produced) == (1, len(stream) - len(END_OF_ARCHIVE), len(expected))
    assert bytes(ring[:len(expected)]) == expected


def test_scan_reads_posix_prefix_names_and_files_at_the_top() -> None:
    folder = b"p" * 120
    stream = member(folder + b"/" + b"f" * 90) + END_OF_ARCHIVE
    assert header(Member(folder + b"/" + b"f" * 90, REGULAR, 0, 0, 0, 0, 0))[345] == ord("p")
    assert scan(stream, key=folder)[2] == 1
    assert scan(member(b"top") + END_OF_ARCHIVE, key=b"")[2] == 1


def gnu_long_name() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("d/" + "n" * 150)
        tf.addfile(info, io.BytesIO(b""))
    return out.getvalue()


def with_pax(key: bytes, value: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={key.decode(): value.decode()}) as tf:
        tf.addfile(tarfile.TarInfo("d/f"), io.BytesIO(b""))
    raw = out.getvalue()
    return raw[raw.index(b"././@PaxHeader"):] if b"././@PaxHeader" in raw else raw


def corrupt(stream: bytes, at: int) -> bytes:
    return stream[:at] + bytes([stream[at] ^ 0x41]) + stream[at + 1:]


DECLINED = {
    "a folder": member(b"d/sub/", b"", type=DIRECTORY),
    "a symlink": member(b"d/l", b"", type=SYMLINK, link=b"t"),
    "a hard link": member(b"d/h", b"", type=HARDLINK, link=b"d/f"),
    "a fifo": member(b"d/p", b"", type=FIFO),
    "another folder": member(b"e/f"),
    "a subfolder": member(b"d/e/f"),
    "a leading ./": member(b"./d/f"),
    "an empty component": member(b"d//f"),
    "a . component": member(b"d/./f"),
    "a .. component": member(b"d/../d/f"),
    "an absolute name": member(b"/d/f"),
    "a trailing slash": member(b"d/f/"),
    "larger than the queue takes": member(b"d/f", bytes(fw.QUEUE_MAX + 1)),
    "a GNU long name": gnu_long_name(),
    "an xattr pax key": with_pax(b"SCHILY.xattr.user.a", b"1"),
    "a sparse pax key": with_pax(b"GNU.sparse.major", b"1"),
    "a bad header checksum": corrupt(member(b"d/f", mtime_ns=NS), 20),
    "a bad pax checksum": corrupt(member(b"d/f"), 20),
    "a negative pax mtime": member(b"d/f", mtime_ns=-NS - 5),
    "the end of the archive": END_OF_ARCHIVE,
}
# What the buffer ends with: the rest has not arrived yet.
UNFINISHED = {
    "a cut in the data": member(b"d/f", os.urandom(3000))[:2000],
    "a cut in the padding": member(b"d/f", os.urandom(3000))[:-1],
    "a cut in the ustar block": member(b"d/f")[:1200],
    "a cut in the pax header": member(b"d/f")[:700],
}


@pytest.mark.parametrize("case", list(DECLINED) + list(UNFINISHED))
def test_scan_leaves_every_other_member_to_python(case: str) -> None:
    if case in DECLINED:
        stream = member(b"d/a") + DECLINED[case] + member(b"d/b") + END_OF_ARCHIVE
    else:
        stream = member(b"d/a") + UNFINISHED[case]
    pos, _, count, _ = scan(stream)
    assert (count, pos) == (1, len(member(b"d/a")))


def test_scan_never_wraps_and_stops_at_the_room_and_publish_marks() -> None:
    files = [member(b"d/f%d" % i, os.urandom(1000)) for i in range(10)]
    stream = b"".join(files) + END_OF_ARCHIVE
    rec = fw._record_size(4, 2, 1000)
    # A ring of 4.5 records from position 0: four fit, the fifth would wrap.
    assert scan(stream, ring_size=rec * 9 // 2)[2] == 4
    # No record larger than a quarter of the ring, as FileWriter.queue.
    assert scan(stream, ring_size=rec * 4 - 8)[2] == 0
    # Room for two records beyond `produced` only (the writer is behind).
    pos, produced, count, _ = scan(stream, produced=5 * rec, room=7 * rec + 7)
    assert (count, produced, pos) == (2, 7 * rec, 2 * len(files[0]))
    # Publish once past the mark: one record is enough to reach it.
    assert scan(stream, publish=1)[2] == 1


def test_scan_takes_nothing_python_would_read_otherwise() -> None:
    """Mutated headers: whatever C takes, Python reads as the same members, in the same
    place; C never takes a member Python rejects."""
    rng = random.Random(20261203)
    base_files = []
    for i in range(12):
        size = rng.choice([0, 1, 511, 512, 513, 3000])
        kw = {"mtime_ns": T + i} if i % 3 else {"mtime_ns": (T // NS) * NS}
        base_files.append(member(b"d/f%02d" % i, os.urandom(size), **kw))  # type: ignore[arg-type]
    base = b"".join(base_files) + END_OF_ARCHIVE
    headers: list[int] = []  # offsets of header bytes: pax and ustar blocks
    pos = 0
    for f in base_files:
        headers += range(pos, pos + (1536 if f[156:157] == b"x" else 512))
        pos += len(f)
    taken = 0
    for _ in range(3000):
        stream = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            stream[rng.choice(headers)] = rng.choice(
                [0, 0x20, 0x2E, 0x2F, 0x30, 0x37, 0x38, 0x0A, 0x80, rng.randrange(256)])
        cpos, _, count, ring = scan(bytes(stream))
        members, _ = python_members(bytes(stream))
        assert len(members) >= count, "C took a member Python rejects"
        off = 0
        for m, data, _ in members[:count]:
            assert m.type == REGULAR and not m.sparse and canonical(m.name)
            assert m.name.rsplit(b"/", 1)[0] == b"d"
            expected = record(m, data, 3)
            assert bytes(ring[off:off + len(expected)]) == expected
            off += len(expected)
        assert cpos == (members[count - 1][2] if count else 0)
        taken += count
    assert taken > 3000  # most mutations still leave members C takes


# --- make -----------------------------------------------------------------------------------

def ring_of(files: list[tuple[bytes, bytes, int, int]], fid: int = 0) -> tuple[bytearray, int]:
    """A ring holding file records (leaf, data, mode, mtime_ns) of folder `fid`."""
    ring = bytearray(RING)
    pos = 0
    for leaf, data, mode, mtime in files:
        name = b"d/" + leaf
        fw._REC.pack_into(ring, pos, fw._FILE, fid, mode, os.getuid(), os.getgid(), mtime,
                          len(data), len(name), len(leaf))
        at = pos + fw._REC.size
        ring[at:at + len(name) + len(leaf) + len(data)] = name + leaf + data
        pos += fw._record_size(len(name), len(leaf), len(data))
    return ring, pos


FILES = [(b"a", os.urandom(5000), 0o644, T), (b"setuid", b"#!", 0o4755, T + 1),
         (b"private", b"", 0o600, T + 2), (b"old", b"1970", 0o644, -157_766_399_500_000_000),
         (b"caf\xe9", os.urandom(100), 0o640, 5)]


def snapshot(folder: Path) -> dict[bytes, tuple[int, int, int, int, bytes]]:
    out = {}
    for name in os.listdir(os.fsencode(folder)):
        st = os.lstat(os.path.join(os.fsencode(folder), name))
        out[name] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns,
                     Path(os.fsdecode(os.path.join(os.fsencode(folder), name))).read_bytes())
    return out


def make_with_python(ring: bytearray, upto: int, folder: Path) -> fw.Outcomes:
    out = fw.Outcomes()
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pos = 0
        while pos < upto:
            pos = fw._apply_one(memoryview(ring), pos, Nodes(), {0: fd}, lambda f: None, out)
    finally:
        os.close(fd)
    return out


def test_make_leaves_the_files_file_from_leaves(tmp_path: Path) -> None:
    ring, upto = ring_of(FILES)
    (tmp_path / "c").mkdir()
    (tmp_path / "py").mkdir()
    fd = os.open(tmp_path / "c", os.O_RDONLY | os.O_DIRECTORY)
    try:
        nodes = Nodes()
        assert _untar.make(ring, 0, upto, {0: fd}, nodes.as_root, nodes.umask) == (upto, 5)
    finally:
        os.close(fd)
    assert make_with_python(ring, upto, tmp_path / "py").files == 5
    made = snapshot(tmp_path / "c")
    assert made == snapshot(tmp_path / "py")
    assert stat.S_IMODE(made[b"setuid"][0]) == 0o4755
    assert made[b"old"][3] == -157_766_399_500_000_000


def test_make_gives_back_the_records_it_does_not_make(tmp_path: Path) -> None:
    ring, upto = ring_of(FILES)
    (tmp_path / "outside").write_bytes(b"keep me")
    os.symlink(tmp_path / "outside", tmp_path / "old")  # the 4th record's name: a symlink
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        nodes = Nodes()
        pos, made = _untar.make(ring, 0, upto, {0: fd}, nodes.as_root, nodes.umask)
        fourth = sum(fw._record_size(2 + len(f[0]), len(f[0]), len(f[1])) for f in FILES[:3])
        assert (pos, made) == (fourth, 3)
        # An unknown folder id, or a folder record, is given back too.
        assert _untar.make(ring, 0, upto, {}, nodes.as_root, nodes.umask) == (0, 0)
        folder_rec = bytearray(RING)
        fw._REC.pack_into(folder_rec, 0, fw._FOLDER, 0, 0, 0, 0, 0, 0, 0, 0)
        assert _untar.make(folder_rec, 0, 48, {0: fd}, False, 0o22) == (0, 0)
        # A record whose sizes run past the ring (the sum would wrap 64 bits): not read.
        bad = bytearray(RING)
        fw._REC.pack_into(bad, 0, fw._FILE, 0, 0o644, 0, 0, 0, (1 << 64) - 1, 1, 1)
        bad[fw._REC.size:fw._REC.size + 2] = b"zz"
        assert _untar.make(bad, 0, 48, {0: fd}, False, 0o22) == (0, 0)
        assert not (tmp_path / "z").exists()
        # Python makes it (replacing the symlink, not writing through it); C goes on.
        out = fw.Outcomes()
        assert fw.apply(memoryview(ring), 0, upto, nodes, {0: fd}, lambda f: None, out) == upto
    finally:
        os.close(fd)
    assert (out.files, out.notes) == (5, [])
    assert (tmp_path / "outside").read_bytes() == b"keep me"
    assert not (tmp_path / "old").is_symlink() and (tmp_path / "old").read_bytes() == b"1970"


def test_a_write_that_fails_leaves_no_partial_file_and_is_reported(tmp_path: Path) -> None:
    big = os.urandom(64 << 10)
    ring, upto = ring_of([(b"small", b"s", 0o644, T), (b"big", big, 0o644, T),
                          (b"after", b"a", 0o644, T)])
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    old_sig = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_lim = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 10, old_lim[1]))
    try:
        nodes = Nodes()
        pos, made = _untar.make(ring, 0, upto, {0: fd}, nodes.as_root, nodes.umask)
        assert made == 1 and not (tmp_path / "big").exists()
        out = fw.Outcomes()
        fw.apply(memoryview(ring), 0, upto, nodes, {0: fd}, lambda f: None, out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_lim)
        signal.signal(signal.SIGXFSZ, old_sig)
        os.close(fd)
    assert out.files == 2
    assert [(k, t.decode()) for k, t in out.notes] == [
        (fw._FAILED, "ERR - cannot restore d/big: File too large")]
    assert sorted(os.listdir(tmp_path)) == ["after", "small"]
