"""Image checksums: a CRC-32 per block, and the image's CRC-32 derived from them.

bptm computes zlib's CRC-32 of each block as it writes it (C code, on a memoryview of the
ring slot) and keeps the list in the image's _C1_HDR file on the storage unit. The image
checksum recorded in the master's catalog is the CRC-32 of the whole stream - what
`cat fragments | crc32` gives - derived from the block CRCs with zlib's crc32_combine, so the
bytes are hashed once. A restore trusts the block list only if it combines to the catalog's
value, then checks every block it reads against its own CRC; a restore of one file reads and
checks one block, not the image.

crc32_combine is zlib's algorithm (GF(2) matrix powers); the operator for one full block is
computed once, so combining costs a few hundred integer operations per block.
"""

from __future__ import annotations

_POLY = 0xEDB88320  # zlib's reflected CRC-32 polynomial


def _times(mat: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _square(mat: list[int]) -> list[int]:
    return [_times(mat, mat[n]) for n in range(32)]


def _shift_operator(length: int) -> list[int]:
    """The GF(2) matrix that advances a CRC over `length` zero bytes."""
    odd = [_POLY] + [1 << (n - 1) for n in range(1, 32)]  # one zero bit
    even = _square(odd)  # two zero bits
    odd = _square(even)  # four zero bits
    result: list[int] | None = None
    while True:
        even = _square(odd)  # first pass: one zero byte
        if length & 1:
            result = even if result is None else [_times(even, r) for r in result]
        length >>= 1
        if not length:
            break
        odd = _square(even)
        if length & 1:
            result = odd if result is None else [_times(odd, r) for r in result]
        length >>= 1
        if not length:
            break
    assert result is not None
    return result


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B), as zlib's crc32_combine."""
    if len2 <= 0:
        return crc1
    return _times(_shift_operator(len2), crc1) ^ crc2


class ImageCrc:
    """Folds block CRCs, in order, into the CRC-32 of the whole stream."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self._full_block = _shift_operator(block_size)
        self.value = 0
        self.length = 0

    def add(self, block_crc: int, length: int) -> None:
        op = self._full_block if length == self.block_size else _shift_operator(length)
        self.value = _times(op, self.value) ^ block_crc if length else self.value
        self.length += length

    @property
    def text(self) -> str:
        return format_crc(self.value)


def format_crc(value: int) -> str:
    return f"crc32:{value:08x}"


def combine_blocks(block_crcs: list[int], block_size: int, stream_bytes: int) -> int:
    """The image CRC a list of block CRCs stands for (the last block may be short)."""
    acc = ImageCrc(block_size)
    left = stream_bytes
    for crc in block_crcs:
        n = min(block_size, left)
        acc.add(crc, n)
        left -= n
    return acc.value
