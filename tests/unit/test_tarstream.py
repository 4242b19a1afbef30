"""The image stream's headers: packed by hand, read back by us and by Python's tarfile."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from nbcli.client import tarstream as ts
from nbcli.client.tarstream import (
    ArchiveError,
    Member,
    mtime_record,
    pack_member_into,
    pack_simple_into,
    pax_record,
    pax_time,
)

NS = 1_000_000_000

MEMBERS = {
    "plain": Member(b"a/b.txt", ts.REGULAR, 0o644, 1000, 100, 5, 1_700_000_000 * NS,
                    uname=b"bob", gname=b"users"),
    "setuid, nanoseconds": Member(b"bin/x", ts.REGULAR, 0o4755, 0, 0, 3,
                                  1_700_000_000 * NS + 123_456_789),
    "prefix split": Member(b"d" * 120 + b"/" + b"f" * 90, ts.REGULAR, 0o600, 1, 1, 0, 0),
    "long path": Member(b"x/" * 150 + b"f", ts.REGULAR, 0o644, 0, 0, 0, NS),
    "long non-UTF-8 path": Member(b"caf\xe9/" * 60 + b"\xff", ts.REGULAR, 0o644, 0, 0, 0, NS),
    "short non-UTF-8 path": Member(b"caf\xe9", ts.REGULAR, 0o644, 0, 0, 0, NS),
    "long link": Member(b"l", ts.SYMLINK, 0o777, 0, 0, 0, NS, link=b"t" * 300),
    "hard link": Member(b"h", ts.HARDLINK, 0o644, 0, 0, 0, NS, link=b"a/b.txt"),
    "over 8 GiB": Member(b"big", ts.REGULAR, 0o644, 0, 0, (8 << 30) + 1, NS),
    "big ids": Member(b"ids", ts.REGULAR, 0o640, 3_000_000, 2_500_000, 0, NS),
    "long owner names": Member(b"o", ts.REGULAR, 0o644, 5, 5, 0, NS, uname=b"u" * 40,
                               gname=b"g" * 33),
    "before 1970": Member(b"old", ts.REGULAR, 0o644, 0, 0, 0, -157_766_399_500_000_000),
    "sticky folder": Member(b"tmp/", ts.DIRECTORY, 0o1777, 0, 0, 0, NS),
    "device": Member(b"null", ts.CHARDEV, 0o666, 0, 0, 0, NS, devmajor=1, devminor=3),
    "fifo": Member(b"p", ts.FIFO, 0o640, 0, 0, 0, NS),
}


def read_back(blocks: bytes) -> Member:
    m, length = ts.member_at(blocks, 0)
    assert length == len(blocks)
    return m


@pytest.mark.parametrize("case", list(MEMBERS))
def test_header_round_trip(case: str) -> None:
    m = MEMBERS[case]
    blocks = ts.header(m)
    assert len(blocks) % 512 == 0
    assert read_back(blocks) == m


@pytest.mark.parametrize("case", [c for c, m in MEMBERS.items() if m.size < 1 << 20])
def test_pythons_tarfile_reads_our_headers(case: str) -> None:
    m = MEMBERS[case]
    data = b"x" * m.size
    stream = ts.header(m) + data + bytes(ts.padding(m.size)) + ts.END_OF_ARCHIVE
    (info,) = tarfile.open(fileobj=io.BytesIO(stream), encoding="utf-8",
                           errors="surrogateescape")
    name = os.fsencode(info.name) + (b"/" if info.isdir() else b"")
    assert (name, info.mode, info.uid, info.gid, info.size, os.fsencode(info.linkname),
            os.fsencode(info.uname)) == (m.name, m.mode, m.uid, m.gid, m.size, m.link, m.uname)
    assert round(info.mtime * NS) == pytest.approx(m.mtime_ns, abs=1000)


def test_plain_members_need_no_pax_header_and_odd_ones_do() -> None:
    assert len(ts.header(MEMBERS["plain"])) == 512
    assert len(ts.header(MEMBERS["prefix split"])) == 512
    recs = ts.pax_records(b"caf\xe9/" * 60, b"", 0, 0, 0, b"", b"", 0)
    assert recs.startswith(b"21 hdrcharset=BINARY\n")  # raw bytes, declared as such
    assert ts.pax_records(b"x", b"", 0, 0, 0, b"", b"", NS + 500_000_000) == b"13 mtime=1.5\n"


@pytest.mark.parametrize("size", [1, 6, 7, 8, 94, 95, 96, 97, 990, 993, 994, 995, 996])
def test_pax_record_length_counts_itself(size: int) -> None:
    rec = ts.pax_record(b"path", b"v" * size)
    assert int(rec.split(b" ", 1)[0]) == len(rec) and rec.endswith(b"\n")
    assert ts.parse_pax(rec) == {b"path": b"v" * size}


def test_a_corrupt_header_is_an_archive_error() -> None:
    block = bytearray(ts.header(MEMBERS["plain"]))
    block[0] ^= 1
    with pytest.raises(ArchiveError, match="checksum"):
        ts.parse_header(bytes(block))
    with pytest.raises(ArchiveError):
        ts.parse_header(b"\x01" * 512)


def test_gnu_base_256_numbers() -> None:
    info = tarfile.TarInfo("big-uid")
    info.uid, info.size = 3_000_000_000, 0
    block = info.tobuf(tarfile.GNU_FORMAT)  # GNU writes ids this large in base-256
    assert block[108] & 0x80
    assert ts.parse_header(block).uid == 3_000_000_000


@pytest.mark.parametrize("bad", [b"x path=a\n", b"8 path=a\n", b"7 patha\n", b"99 path=a\n"])
def test_malformed_pax_records(bad: bytes) -> None:
    with pytest.raises(ArchiveError):
        ts.parse_pax(bad)


def test_byte_sum_is_the_plain_sum() -> None:
    for block in (bytes(512), b"\xff" * 512, os.urandom(512)):
        assert ts.byte_sum(block) == sum(block)


def test_member_at_finds_each_member_of_a_stream() -> None:
    stream, offsets = b"", []
    for m in MEMBERS.values():
        offsets.append((len(stream), m))
        data_len = m.size if m.type == ts.REGULAR and m.size < 1 << 20 else 0
        stream += ts.header(m) + bytes(data_len + ts.padding(data_len))
    for offset, m in offsets:
        if m.size < 1 << 20:
            assert ts.member_at(stream, offset)[0] == m
    with pytest.raises(ArchiveError):
        ts.member_at(stream, len(stream) - 100)


def test_the_fast_header_path_writes_what_the_general_one_does() -> None:
    for ns in (1_795_568_518_575_472_704, 1_795_568_518_500_000_000, 5_000_000_001):
        sec, frac = divmod(ns, 1_000_000_000)
        assert mtime_record(sec, frac) == pax_record(b"mtime", pax_time(ns))
        fast, general = bytearray(512), bytearray(512)
        pack_simple_into(fast, 0, b"a/b/c.dat", b"0", 0o644, 1000, 100, 12345, sec,
                         b"alice", b"staff")
        pack_member_into(general, 0, b"a/b/c.dat", b"0", 0o644, 1000, 100, 12345, ns,
                         b"", b"alice", b"staff")
        assert fast == general
