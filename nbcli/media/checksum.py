"""Image checksums: a CRC-32 per block, and the image's CRC-32 derived from them.

bptm computes zlib's CRC-32 of each block as it writes it (C code, on a memoryview of the
ring slot) and keeps the list in the image's _C1_HDR file on the storage unit. The image
checksum recorded in the master's catalog is the CRC-32 of the whole stream - what
`cat fragments | crc32` gives - derived from the block CRCs with zlib's crc32_combine, so the
bytes are hashed once. A restore trusts the block list only if it combines to the catalog's
value, then checks every block it reads against its own CRC; a restore of one file reads and
checks one block, not the image.

crc32_combine is zlib's (1.2.12 and later): advancing a CRC over n zero bytes is multiplying it
by x^(8n) modulo the CRC polynomial, and x^(8n) is a product of the powers x^(2^k) in a table
made once at import. One block's operator is kept, so each block costs one 32-step product, and
an odd length (the last block, a fragment) at most ~40 products: a restore's check of the block
list no longer spends milliseconds squaring GF(2) matrices, as zlib's older method did.
"""

from __future__ import annotations

import functools

_POLY = 0xEDB88320  # zlib's reflected CRC-32 polynomial
_ONE = 1 << 31      # the polynomial 1 (x^0), reflected


def _multmodp(a: int, b: int) -> int:
    """a times b modulo the CRC polynomial (reflected bit order, as zlib's multmodp)."""
    if not a:
        return 0  # no operator is 0, but the loop below would never end on one
    m = _ONE
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    """x^(2^k) modulo the polynomial, k = 0..31."""
    table = [_ONE >> 1]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _x2n_table()


@functools.lru_cache(maxsize=64)
def _shift_operator(length: int) -> int:
    """x^(8 * length) modulo the polynomial: the operator that advances a CRC over `length`
    zero bytes (zlib's x2nmodp(length, 3)). Cached: a job combines the same few lengths."""
    p = _ONE
    k = 3
    while length:
        if length & 1:
            p = _multmodp(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B), as zlib's crc32_combine."""
    if len2 <= 0:
        return crc1
    return _multmodp(_shift_operator(len2), crc1) ^ crc2


class ImageCrc:
    """Folds block CRCs, in order, into the CRC-32 of the whole stream."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self._full_block = _shift_operator(block_size)
        self.value = 0
        self.length = 0

    def add(self, block_crc: int, length: int) -> None:
        op = self._full_block if length == self.block_size else _shift_operator(length)
        self.value = _multmodp(op, self.value) ^ block_crc if length else self.value
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
