"""The tape headers as bytes: NetBackup's media header where its layout is known, nbcli's
backup header, empty header and CRC record, each decoded back and refused when damaged."""

from __future__ import annotations

import struct
import zlib

import pytest

from nbcli import status
from nbcli.media import tapefmt
from nbcli.status import NbuError


def u32(raw: bytes, at: int) -> int:
    return int(struct.unpack(">I", raw[at:at + 4])[0])


def test_media_header_has_netbackups_bytes() -> None:
    raw = tapefmt.encode_mh(tapefmt.MediaHeader("600011", 1014239471))
    assert len(raw) == 1024
    assert raw[0:4] == b"VOL1"
    assert raw[4:10] == b"600011"
    assert u32(raw, 20) == 1 and u32(raw, 24) == 12
    assert u32(raw, 28) == 1014239471  # big-endian whatever the host
    assert raw[28:32] == bytes.fromhex("3c7410ef")
    assert u32(raw, 72) == 1024
    assert raw[112:136] == b"ThIs Is A BP tApE hEaDer"
    zero = bytearray(raw)
    for lo, hi in ((0, 10), (20, 32), (72, 76), (112, 136)):
        zero[lo:hi] = bytes(hi - lo)
    assert zero == bytes(1024)  # the rest is zero
    assert tapefmt.decode_mh(raw) == tapefmt.MediaHeader("600011", 1014239471)


def test_a_short_media_id_is_nul_padded() -> None:
    raw = tapefmt.encode_mh(tapefmt.MediaHeader("A1", 0))
    assert raw[4:10] == b"A1\0\0\0\0"
    assert tapefmt.decode_mh(raw).media_id == "A1"


@pytest.mark.parametrize("raw", [b"", bytes(1024), b"VOL1" + bytes(1020), b"x" * 65536,
                                 tapefmt.encode_eh(tapefmt.EmptyHeader("A00000", 1))])
def test_a_foreign_first_record_is_172(raw: bytes) -> None:
    with pytest.raises(NbuError) as e:
        tapefmt.decode_mh(raw)
    assert e.value.status == status.MEDIA_HEADER_UNREADABLE == 172


def test_a_media_id_longer_than_six_is_refused() -> None:
    with pytest.raises(NbuError) as e:
        tapefmt.encode_mh(tapefmt.MediaHeader("A000000", 0))
    assert e.value.status == status.INVALID_PARAMETER


BH = tapefmt.BackupHeader("A00000", "client1_1700000000", 3, 262144, 7, 524288, 23,
                          1700000100)


def test_backup_header_layout_and_round_trip() -> None:
    raw = tapefmt.encode_bh(BH)
    assert len(raw) == 1024 and raw[:4] == b"BH01" and raw[4:10] == b"A00000"
    assert u32(raw, 16) == 1024 and u32(raw, 20) == 3 and u32(raw, 24) == 262144
    assert u32(raw, 28) == 7
    assert struct.unpack(">QQQ", raw[32:56]) == (524288, 23, 1700000100)
    assert u32(raw, 56) == 1
    assert raw[64:82] == b"client1_1700000000" and raw[82:320] == bytes(238)
    assert u32(raw, 1020) == zlib.crc32(raw[:1020])
    assert tapefmt.decode_bh(raw) == BH
    assert tapefmt.kind_of(raw) == "BH"


def test_a_damaged_backup_header_is_173() -> None:
    raw = bytearray(tapefmt.encode_bh(BH))
    raw[70] ^= 1
    with pytest.raises(NbuError) as e:
        tapefmt.decode_bh(bytes(raw))
    assert e.value.status == status.BACKUP_HEADER_UNREADABLE == 173
    with pytest.raises(NbuError):
        tapefmt.decode_bh(tapefmt.encode_eh(tapefmt.EmptyHeader("A00000", 4)))


def test_empty_header_round_trip_and_refusals() -> None:
    raw = tapefmt.encode_eh(tapefmt.EmptyHeader("A00000", 4))
    assert len(raw) == 1024 and raw[:4] == b"EH01" and u32(raw, 20) == 4
    assert tapefmt.decode_eh(raw) == tapefmt.EmptyHeader("A00000", 4)
    assert tapefmt.kind_of(raw) == "EH"
    damaged = bytearray(raw)
    damaged[21] ^= 0x40
    assert tapefmt.decode_eh(bytes(damaged)) is None
    assert tapefmt.decode_eh(tapefmt.encode_bh(BH)) is None
    assert tapefmt.decode_eh(b"EH01") is None


def test_crc_record_round_trip() -> None:
    blocks = [zlib.crc32(bytes([i]) * 10) for i in range(5)]
    c = tapefmt.FragmentCrcs("client1_1700000000", 2, 5 * 65536 - 7, 65536, 0x1234abcd, blocks)
    raw = tapefmt.encode_crcs(c)
    assert len(raw) == 64 + 4 * 5 and raw[:4] == b"CR01"
    assert u32(raw, 4) == 2 and struct.unpack(">Q", raw[8:16])[0] == 5 * 65536 - 7
    assert u32(raw, 16) == 5 and u32(raw, 20) == 65536 and u32(raw, 24) == 0x1234abcd
    assert [u32(raw, 64 + 4 * i) for i in range(5)] == blocks
    assert tapefmt.decode_crcs(raw) == c
    assert tapefmt.kind_of(raw) == "CRCS"
    for at in (5, 30, 70, len(raw) - 1):  # head, seal, list: any flipped bit is seen
        bad = bytearray(raw)
        bad[at] ^= 4
        with pytest.raises(NbuError) as e:
            tapefmt.decode_crcs(bytes(bad))
        assert e.value.status == status.BACKUP_HEADER_UNREADABLE
    with pytest.raises(NbuError):
        tapefmt.decode_crcs(raw[:-4])  # a CRC missing


def test_data_is_no_header() -> None:
    assert tapefmt.kind_of(b"\0" * 65536) == ""
    assert tapefmt.kind_of(b"BH01" + bytes(100)) == ""  # a header is 1024 bytes
