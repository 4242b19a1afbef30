"""The data path's parts on their own: send buffer, walk order, image writer, stream reader."""

from __future__ import annotations

import fcntl
import io
import os
import random
import tarfile
import zlib
from pathlib import Path

import pytest

from nbcli.client.blocks import BlockBuffer
from nbcli.client.imagewriter import ImageWriter
from nbcli.client.scan import Excluder, Walker, normalize_selections
from nbcli.client.streamreader import DIRECT_BUFFER, StreamReader
from nbcli.client.tarstream import ArchiveError, member_at


def test_blocks_leave_whole_with_a_running_crc() -> None:
    sent: list[bytes] = []
    out = BlockBuffer(lambda b: sent.append(bytes(b)), block_size=1024)
    payload = os.urandom(5000)
    for i in range(0, len(payload), 700):
        out.put(payload[i:i + 700])
    out.zeros(3)
    out.finish()
    stream = payload + bytes(3) + bytes(1024)
    assert b"".join(sent) == stream and out.tell() == len(stream)
    assert [len(b) for b in sent[:-1]] == [1024] * (len(sent) - 1)
    assert out.checksum == f"crc32:{zlib.crc32(stream):08x}"
    with pytest.raises(ValueError):
        BlockBuffer(lambda b: None, block_size=1000)


def test_a_sealed_streams_blocks_carry_no_crc() -> None:
    """checksummed=False (the sink is a sealed stream): the same blocks, no CRC computed."""
    sent: list[bytes] = []
    out = BlockBuffer(lambda b: sent.append(bytes(b)), block_size=1024, checksummed=False)
    out.put(b"x" * 3000)
    out.finish()
    stream = b"".join(sent)
    assert stream[:3000] == b"x" * 3000 and not stream[3000:].strip(b"\0")
    assert out.tell() == len(stream) and out.crc == 0 and out.checksum == ""


def test_walk_emits_each_folders_entries_together(tmp_path: Path) -> None:
    for d in ("a/x", "a/y", "b"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("a/x/1", "a/y/2", "a/f", "b/g", "top", "skip.tmp", "a/cache/c"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"")
    warnings: list[tuple[str, bytes]] = []
    walker = Walker(lambda what, path, err: warnings.append((what, path)),
                    exclude=["*.tmp", str(tmp_path / "a/cache")])
    root = os.fsencode(tmp_path)
    got = [p[len(root):] for p, _ in walker.walk([root, root + b"/a", root + b"-missing"])]
    assert got == [b"", b"/a", b"/b", b"/top", b"/a/f", b"/a/x", b"/a/y", b"/a/x/1",
                   b"/a/y/2", b"/b/g"]
    assert (walker.found, walker.missing) == (1, 1)
    assert warnings == [("Cannot stat", root + b"-missing")]


def test_selections_are_normalized() -> None:
    assert normalize_selections([b"/a/b/", b"/a", b"/c/../d", b"/a", b"//e"]) == \
        [b"/a", b"/d", b"/e"]
    assert normalize_selections([b"/x", b"/"]) == [b"/"]
    assert Excluder(["core"]).match(b"/var/core") and not Excluder(["core"]).match(b"/core2")


def _writer(warnings: list[str]) -> tuple[ImageWriter, bytearray, list[list[object]]]:
    stream = bytearray()
    entries: list[list[object]] = []
    out = BlockBuffer(stream.extend, 4096)
    writer = ImageWriter(out, lambda what, path, err: warnings.append(what),
                         on_entries=entries.extend, batch=1)
    return writer, stream, entries


def test_files_that_vanish_or_turn_into_symlinks_are_skipped(tmp_path: Path) -> None:
    gone, swapped = tmp_path / "gone", tmp_path / "swapped"
    gone.write_bytes(b"x")
    swapped.write_bytes(b"y")
    stats = [(os.fsencode(p), os.lstat(p)) for p in (gone, swapped)]
    gone.unlink()
    swapped.unlink()
    swapped.symlink_to("/etc/passwd")  # never read through a symlink
    warnings: list[str] = []
    writer, stream, entries = _writer(warnings)
    for path, st in stats:
        writer.add(path, st)
    writer.out.finish()
    assert warnings == ["can't open file", "can't open file"]
    assert entries == [] and bytes(stream) == bytes(1024)


def test_a_file_that_shrinks_is_padded_to_its_header_size(tmp_path: Path) -> None:
    f = tmp_path / "shrinks"
    f.write_bytes(b"a" * 5000)
    st = os.lstat(f)
    f.write_bytes(b"b" * 100)
    warnings: list[str] = []
    writer, stream, entries = _writer(warnings)
    writer.add(os.fsencode(f), st)
    writer.out.finish()
    assert warnings == ["file shrank while being read (padded with zeros)"]
    m, hdr_len = member_at(bytes(stream), 0)
    assert m.size == 5000 and entries[0][7] == 5000
    assert bytes(stream[hdr_len:hdr_len + 5000]) == b"b" * 100 + bytes(4900)


def _sample_archive(fmt: int, pax_headers: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax_headers) as tf:
        for i in range(30):
            info = tarfile.TarInfo(f"dir{i % 3}/" + "n" * (90 + i * 3) + f"{i}")
            data = os.urandom(random.Random(i).randint(0, 3000))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _chunked(data: bytes):  # type: ignore[no-untyped-def]
    """A source that hands out the stream in odd little pieces."""
    view, pos, rng = memoryview(data), [0], random.Random(7)

    def readinto(buf: memoryview) -> int:
        n = min(len(buf), rng.randint(1, 700), len(data) - pos[0])
        buf[:n] = view[pos[0]:pos[0] + n]
        pos[0] += n
        return n

    return readinto


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reader_matches_tarfile_on_any_chunking(fmt: int, tmp_path: Path) -> None:
    data = _sample_archive(fmt, {"uname": "globalname"} if fmt == tarfile.PAX_FORMAT else None)
    expected = tarfile.open(fileobj=io.BytesIO(data))
    reader = StreamReader(_chunked(data), size=2048)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    for info in expected:
        m = reader.next_member()
        assert m is not None and m.name.decode() == info.name and m.size == info.size
        if fmt == tarfile.PAX_FORMAT:
            assert m.uname == b"globalname"  # from the global ('g') header
        if info.size % 2:  # copy half of them, skip the others
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            reader.copy(fd)
            assert os.pread(fd, info.size + 1, 0) == expected.extractfile(info).read()
    assert reader.next_member() is None
    os.close(fd)


@pytest.mark.parametrize("cut,ok", [(0, True), (100, False), (512 * 3, True),
                                    (512 * 3 + 10, False)])
def test_reader_end_of_stream(cut: int, ok: bool) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("a")
        info.mtime = 1.5  # a pax header first: 512 header + 512 records, then the ustar block
        tf.addfile(info, io.BytesIO(b""))
    reader = StreamReader(_chunked(out.getvalue()[:cut]))
    if ok:
        while reader.next_member() is not None:
            pass
    else:
        with pytest.raises(ArchiveError):
            while reader.next_member() is not None:
                pass


def _archive_of(sizes: list[int]) -> tuple[bytes, list[bytes]]:
    out, datas = io.BytesIO(), []
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i, size in enumerate(sizes):
            data = random.Random(size).randbytes(size)
            info = tarfile.TarInfo(f"f{i}")
            info.size = size
            tf.addfile(info, io.BytesIO(data))
            datas.append(data)
    return out.getvalue(), datas


@pytest.mark.parametrize("folder", ["tmp_path", "/dev/shm"])
def test_copy_direct_writes_exact_bytes_and_leaves_the_stream_in_step(
        folder: str, tmp_path: Path) -> None:
    """O_DIRECT writes whole aligned pieces: every size around the alignment and the buffer
    comes out exact, and the member after it is read from the right place. On tmpfs (which
    may refuse O_DIRECT) the same bytes come out of ordinary writes."""
    where = tmp_path if folder == "tmp_path" else Path(folder)
    if not where.is_dir():
        pytest.skip(f"no {folder}")
    buf = DIRECT_BUFFER
    sizes = [1, 4095, 4096, 4097, buf - 1, buf, buf + 4097, 2 * buf + 512]
    data, expected = _archive_of(sizes)
    reader = StreamReader(_chunked_big(data), size=8192)
    for i, want in enumerate(expected):
        m = reader.next_member()
        assert m is not None and m.name == f"f{i}".encode() and m.size == len(want)
        path = where / f"nbcli-direct-{os.getpid()}-{i}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            reader.copy_direct(fd)
            if folder == "tmp_path":  # ext4 here: the direct path was taken
                assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        finally:
            os.close(fd)
        try:
            assert path.read_bytes() == want, f"member {i} ({len(want)} bytes)"
        finally:
            path.unlink()
    assert reader.next_member() is None


def test_copy_direct_of_a_stream_cut_inside_the_data_is_183(tmp_path: Path) -> None:
    data, _ = _archive_of([DIRECT_BUFFER + 100])
    reader = StreamReader(_chunked_big(data[:512 * 3 + DIRECT_BUFFER // 2]))
    assert reader.next_member() is not None
    fd = os.open(tmp_path / "cut", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(ArchiveError):
        reader.copy_direct(fd)
    os.close(fd)


def _chunked_big(data: bytes):  # type: ignore[no-untyped-def]
    """Like _chunked, in pieces up to 300 KiB (megabytes in 700-byte pieces take long)."""
    view, pos, rng = memoryview(data), [0], random.Random(11)

    def readinto(buf: memoryview) -> int:
        n = min(len(buf), rng.randint(1, 300 << 10), len(data) - pos[0])
        buf[:n] = view[pos[0]:pos[0] + n]
        pos[0] += n
        return n

    return readinto
