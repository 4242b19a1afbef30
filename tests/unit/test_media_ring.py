"""The ring and the checksums, with a real fork and real shared memory."""

from __future__ import annotations

import hashlib
import os
import random
import zlib

import pytest

from nbcli.media import checksum
from nbcli.media.ring import Ring, RingBroken, ignore_sigpipe


@pytest.mark.parametrize("len1,len2", [(0, 5), (5, 0), (1, 1), (1000, 1 << 20), (777, 12345)])
def test_crc32_combine_matches_zlib(len1: int, len2: int) -> None:
    a, b = os.urandom(len1), os.urandom(len2)
    assert checksum.crc32_combine(zlib.crc32(a), zlib.crc32(b), len2) == zlib.crc32(a + b)


def test_crc32_combine_at_any_length() -> None:
    # every bit of the length takes its own power of x: lengths with many and few bits set,
    # around the block sizes a job uses, and one past 4 GiB (the CRC of zeros is known
    # without the bytes: the CRC of A followed by n zero bytes)
    rng = random.Random(5)
    a = rng.randbytes(333)
    for n in [1, 2, 3, 255, 256, 65535, 65536, 65537, (1 << 20) - 1, 1 << 20,
              *(rng.randrange(1, 3 << 20) for _ in range(20))]:
        b = rng.randbytes(n)
        assert checksum.crc32_combine(zlib.crc32(a), zlib.crc32(b), n) == zlib.crc32(a + b), n
    zeros = bytes(1 << 20)
    crc = zlib.crc32(a)
    for _ in range(4097):  # 4 GiB + 1 MiB of zeros, one MiB at a time
        crc = zlib.crc32(zeros, crc)
    assert checksum.crc32_combine(zlib.crc32(a), 0, 4097 << 20) ^ zero_crc(4097 << 20) == crc


def zero_crc(n: int) -> int:
    """CRC-32 of n zero bytes, by combining powers of two."""
    crc, size, left = 0, 1, n
    piece = zlib.crc32(b"\0")
    while left:
        if left & 1:
            crc = checksum.crc32_combine(crc, piece, size)
        piece = checksum.crc32_combine(piece, piece, size)
        size <<= 1
        left >>= 1
    return crc


def test_image_crc_from_block_crcs() -> None:
    block = 4096
    data = os.urandom(block * 7 + 1234)
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    crcs = [zlib.crc32(b) for b in blocks]
    assert checksum.combine_blocks(crcs, block, len(data)) == zlib.crc32(data)
    acc = checksum.ImageCrc(block)
    for b in blocks:
        acc.add(zlib.crc32(b), len(b))
    assert acc.text == f"crc32:{zlib.crc32(data):08x}" and acc.length == len(data)


def test_stream_through_a_forked_ring() -> None:
    ignore_sigpipe()
    data = random.Random(1).randbytes(3 * 1024 * 1024 + 999)
    ring = Ring(4, 64 * 1024)
    pid = os.fork()
    if pid == 0:  # child: produce the data in slot-sized pieces
        try:
            prod = ring.producer()
            pos = 0
            while pos < len(data):
                _, slot = prod.acquire()
                n = min(len(slot), len(data) - pos)
                slot[:n] = data[pos:pos + n]
                prod.post(0, n, zlib.crc32(slot[:n]))
                pos += n
            prod.end(0)
            os._exit(0)
        except BaseException:
            os._exit(1)
    cons = ring.consumer()
    out = hashlib.sha256()
    while True:
        item = cons.take()
        if isinstance(item, int):
            assert item == 0
            break
        out.update(item[1])
        assert item[2] == zlib.crc32(item[1])
        cons.release()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert out.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_dead_producer_is_seen_at_once() -> None:
    ring = Ring(2, 4096)
    pid = os.fork()
    if pid == 0:
        prod = ring.producer()
        prod.acquire()
        prod.post(0, 10)
        os._exit(9)  # dies without ending the stream
    cons = ring.consumer()
    assert not isinstance(cons.take(), int)
    cons.release()
    with pytest.raises(RingBroken):
        cons.take()
    os.waitpid(pid, 0)


def test_a_dead_consumer_is_seen_at_once() -> None:
    ignore_sigpipe()
    ring = Ring(2, 4096)
    pid = os.fork()
    if pid == 0:
        ring.consumer()
        os._exit(0)  # takes nothing and goes away
    prod = ring.producer()
    os.waitpid(pid, 0)
    with pytest.raises(RingBroken):
        for _ in range(3):
            prod.acquire()
            prod.post(0, 1)
