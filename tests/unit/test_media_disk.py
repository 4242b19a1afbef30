"""A disk image written by ImageWriter and read back by ImageReader, on the real filesystem:
every block comes back exact, whether the read is direct (page-aligned buffer and offset) or
falls back to buffered (any other buffer), across fragment boundaries and a ragged tail."""

from __future__ import annotations

import mmap
import os
import random
from pathlib import Path

import pytest

from nbcli.media import disk
from nbcli.status import NbuError

BLOCK = 64 * 1024


def write_image(folder: Path, data: bytes, max_fragment: int) -> disk.ImageReader:
    w = disk.ImageWriter(folder, "client_1", max_fragment, BLOCK)
    for i in range(0, len(data), BLOCK):
        w.write_block(memoryview(data)[i:i + BLOCK])
    frags = w.finish()
    return disk.ImageReader([{"offset": f.offset, "bytes": f.bytes, "path": f.path}
                             for f in frags], folder / disk.header_name("client_1"),
                            w.crc.text, BLOCK, w.total)


def direct_io(folder: Path) -> bool:
    """Whether the file system of `folder` takes O_DIRECT (tmpfs may not)."""
    try:
        os.close(os.open(folder / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT))
        return True
    except OSError:
        return False


# a fragment a whole number of blocks (aligned), and one that splits blocks at odd offsets
@pytest.mark.parametrize("max_fragment", [4 * BLOCK, 3 * BLOCK + 1000])
@pytest.mark.parametrize("aligned", [True, False])
def test_every_block_reads_back_exact(tmp_path: Path, max_fragment: int, aligned: bool) -> None:
    data = random.Random(max_fragment).randbytes(11 * BLOCK + 4321)
    reader = write_image(tmp_path, data, max_fragment)
    buf = memoryview(mmap.mmap(-1, BLOCK)) if aligned else memoryview(bytearray(BLOCK + 1))[1:]
    try:
        for index in reversed(range(-(-len(data) // BLOCK))):  # out of order, as restores seek
            n = reader.read_block(index, buf)
            assert bytes(buf[:n]) == data[index * BLOCK:index * BLOCK + n]
        if direct_io(tmp_path):  # with an aligned buffer and whole-page fragments, none fell back
            buffered = any(not direct for _, direct in reader._fds)
            assert buffered == (not aligned or max_fragment % 4096 != 0)
    finally:
        reader.close()
    assert reader.bytes_read == len(data)


def test_a_fragment_shorter_than_the_catalog_says_is_85(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(3 * BLOCK)
    reader = write_image(tmp_path, data, 8 * BLOCK)
    Path(reader.fragments[0]["path"]).write_bytes(data[:BLOCK + 100])  # type: ignore[arg-type]
    buf = memoryview(mmap.mmap(-1, BLOCK))
    assert reader.read_block(0, buf) == BLOCK
    with pytest.raises(NbuError) as e:
        reader.read_block(1, buf)
    assert e.value.status == 85
    reader.close()
