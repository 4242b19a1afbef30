"""The SIMH .tap format: the exact bytes a cartridge image holds."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from nbcli.vtl import simh
from tests.unit.tapekit import loaded_drive, make_library


def test_record_is_length_data_pad_length() -> None:
    """SIMH: 4-byte LE length, data padded to even, the length again."""
    assert simh.pack_record(b"abcd") == struct.pack("<I", 4) + b"abcd" + struct.pack("<I", 4)
    # odd length: one zero pad byte, the length words still say 3
    assert simh.pack_record(b"abc") == struct.pack("<I", 3) + b"abc\0" + struct.pack("<I", 3)
    assert simh.record_size(3) == 12 and simh.record_size(4) == 12


def test_record_length_limits() -> None:
    """A SIMH length word has 24 bits of length; empty records do not exist."""
    with pytest.raises(ValueError):
        simh.pack_record(b"")
    assert simh.MAX_RECORD == (1 << 24) - 1


def test_marker_words() -> None:
    """Tape mark 0, end of medium, erase gap, reserved words, and the error flag (bit 31)."""
    assert simh.pack_word(simh.TAPE_MARK) == b"\0\0\0\0"
    assert not simh.is_data(simh.TAPE_MARK)
    assert not simh.is_data(simh.END_OF_MEDIUM) and not simh.is_data(simh.ERASE_GAP)
    assert not simh.is_data(0xFF000123)             # reserved
    assert simh.is_data(0x80000010) and simh.has_error(0x80000010)
    assert simh.length_of(0x80000010) == 16
    assert not simh.has_error(16)


def test_drive_writes_simh_bytes(tmp_path: Path) -> None:
    """A record, a tape mark, an odd record, and the tape mark close adds after a write."""
    lib = make_library(tmp_path)
    d = loaded_drive(lib)
    d.write(b"hello!")
    d.write_filemarks(1)
    d.write(b"odd")
    d.close()
    raw = lib.cartridge_path("A00000L6").read_bytes()
    assert raw == (struct.pack("<I", 6) + b"hello!" + struct.pack("<I", 6) + b"\0\0\0\0"
                   + struct.pack("<I", 3) + b"odd\0" + struct.pack("<I", 3) + b"\0\0\0\0")


def test_drive_reads_end_of_medium_word_as_end_of_data(tmp_path: Path) -> None:
    """An image made elsewhere may end with 0xFFFFFFFF: it is the end of recorded data."""
    lib = make_library(tmp_path)
    lib.cartridge_path("A00000L6").write_bytes(simh.pack_record(b"x" * 10)
                                               + simh.pack_word(simh.END_OF_MEDIUM))
    d = loaded_drive(lib, writable=False)
    assert d.read(100) == b"x" * 10
    assert d.status().eod
    with pytest.raises(OSError):  # the end of data, not after a tape mark: EIO
        d.read(100)
    d.end_of_data()
    assert d.tell() == 1
    d.close()


def test_error_flagged_record_fails_to_read_but_can_be_spaced(tmp_path: Path) -> None:
    """A record flagged bad (bit 31): reading it fails with EIO past it; spacing crosses it."""
    lib = make_library(tmp_path)
    bad = struct.pack("<I", 0x80000004) + b"oops" + struct.pack("<I", 0x80000004)
    lib.cartridge_path("A00000L6").write_bytes(bad + simh.pack_record(b"good"))
    d = loaded_drive(lib, writable=False)
    with pytest.raises(OSError) as e:
        d.read(100)
    assert e.value.errno == 5 and d.tell() == 1   # EIO, and the drive moved past it
    assert d.read(100) == b"good"
    d.backward_records(2)
    assert d.tell() == 0
    d.close()


def test_image_write_at_batches_past_iov_max(tmp_path: Path) -> None:
    """More buffers than one pwritev takes (IOV_MAX) go out in batches, in order."""
    import os

    from nbcli.vtl import image

    parts: list[bytes | memoryview] = [bytes([i % 251]) * 3 for i in range(2500)]
    path = tmp_path / "img"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        assert image.write_at(fd, parts, 4) == 7500
        assert image.read_word(fd, 7502) is None  # 2 bytes left there: a torn word
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\0" * 4 + b"".join(parts)
    assert [bytes(p) for p in image._skip([b"abc", b"de", b"f"], 4)] == [b"e", b"f"]


def test_erase_gap_runs_are_found_both_ways(tmp_path: Path) -> None:
    """Gaps are skipped whole, forward and back, however long the run (several pages), and
    a word that only looks like one in part (0xFFFFFFFF: the end of medium) stops them."""
    import os

    from nbcli.vtl import image

    assert simh.gaps(8) == simh.GAP_WORD * 2
    with pytest.raises(ValueError):
        simh.gaps(6)
    eom = simh.pack_word(simh.END_OF_MEDIUM)
    for run in (1, 3, 1023, 1024, 2500):
        body = simh.pack_record(b"abcd") + simh.GAP_WORD * run
        raw = body + eom + simh.GAP_WORD + b"\xfe\xff"  # a gap, then a torn one
        for likely in (0, 4 * run, 4 * run - 4, 4 * run + 4, 4 * run + 3, 1 << 20):
            assert simh.gap_prefix(raw[12:], likely) == 4 * run, likely  # a wrong guess too
        assert simh.gap_suffix(body) == 4 * run
        assert simh.gap_suffix(b"\xff" + simh.GAP_WORD) == 4  # not whole words: from the end
        path = tmp_path / f"img{run}"
        path.write_bytes(raw)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert image.skip_gaps(fd, 12) == 12 + 4 * run
            assert image.read_word(fd, image.skip_gaps(fd, 12)) == simh.END_OF_MEDIUM
            assert image.gaps_before(fd, 12 + 4 * run) == 12
            assert image.gaps_before(fd, 12) == 12  # no gap before: where it was
            assert image.skip_gaps(fd, len(body) + 4) == len(body) + 8  # the torn half stays
        finally:
            os.close(fd)
