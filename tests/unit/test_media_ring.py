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
