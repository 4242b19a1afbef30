"""One suite for every storage backend (backends.py): what bptm and bpbrm rely on, checked on
real media - bytes back exact, fragments cut at the limit, a reader positioned at any block,
abort and delete leaving nothing, a full unit failing with its status, writers apart.

Every test goes through storage.open_unit, as the agents do, with the unit's record."""

from __future__ import annotations

import mmap
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.media import storage
from nbcli.status import NbuError
from tests.storage.backends import BACKENDS, Backend, Unit

BLOCK = 64 * 1024
MAX_FRAGMENT = 4 * BLOCK
SIZE = 11 * BLOCK + 4321  # three fragments, the last with a short block


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def unit(backend: Backend, tmp_path: Path) -> Unit:
    return backend.unit(tmp_path)


@pytest.fixture
def buf() -> Iterator[memoryview]:
    with mmap.mmap(-1, BLOCK) as m:  # page-aligned, as bptm's ring slots are
        view = memoryview(m)
        yield view
        view.release()


def data(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


def write(unit: Unit, backupid: str, payload: bytes) -> storage.StoredImage:
    st = storage.open_unit(unit)
    st.mount()
    w = st.open_writer(backupid, BLOCK, MAX_FRAGMENT)
    view = memoryview(payload)
    for i in range(0, len(payload), BLOCK):
        w.write_block(view[i:i + BLOCK])
    frags = w.finish()
    return storage.StoredImage(backupid, frags, w.checksum, BLOCK, w.total)


def read_all(reader: storage.ImageReader, buf: memoryview) -> bytes:
    out = bytearray()
    while n := reader.read(buf):
        out += buf[:n]
    return bytes(out)


def block_of(payload: bytes, index: int) -> bytes:
    return payload[index * BLOCK:(index + 1) * BLOCK]


def test_bytes_written_are_bytes_read(unit: Unit, buf: memoryview) -> None:
    payload = data(1)
    image = write(unit, "client_1", payload)
    assert image.stream_bytes == len(payload)
    reader = storage.open_unit(unit).open_reader(image)
    try:
        assert read_all(reader, buf) == payload
        assert reader.bytes_read == len(payload)
    finally:
        reader.close()


def test_fragments_split_at_the_size_limit(unit: Unit) -> None:
    image = write(unit, "client_1", data(2))
    sizes = [f.bytes for f in image.fragments]
    assert sizes == [MAX_FRAGMENT, MAX_FRAGMENT, SIZE - 2 * MAX_FRAGMENT]
    assert [f.num for f in image.fragments] == [1, 2, 3]
    assert [f.offset for f in image.fragments] == [0, MAX_FRAGMENT, 2 * MAX_FRAGMENT]
    assert len({f.path for f in image.fragments}) == 3


def test_a_reader_positioned_at_any_block_reads_from_there(unit: Unit, buf: memoryview) -> None:
    payload = data(3)
    image = write(unit, "client_1", payload)
    st = storage.open_unit(unit)
    per_fragment = MAX_FRAGMENT // BLOCK
    for frag in image.fragments:
        for block in range(-(-frag.bytes // BLOCK)):
            index = (frag.num - 1) * per_fragment + block
            reader = st.open_reader(image, frag.num, block)
            try:
                n = reader.read(buf)
                assert bytes(buf[:n]) == block_of(payload, index), (frag.num, block)
                n = reader.read(buf)  # and on from there, across the fragment's end
                assert bytes(buf[:n]) == block_of(payload, index + 1)
            finally:
                reader.close()


def test_a_reader_seeks_forward_and_back(unit: Unit, buf: memoryview) -> None:
    payload = data(4)
    image = write(unit, "client_1", payload)
    reader = storage.open_unit(unit).open_reader(image)
    try:
        order = [0, 2, 5, 9, 11, 3, 1, 10, 4]
        for index in order:
            reader.seek(index)
            n = reader.read(buf)
            assert bytes(buf[:n]) == block_of(payload, index), index
        reader.seek(image.blocks)
        assert reader.read(buf) == 0  # past the last block
    finally:
        reader.close()


@pytest.mark.parametrize("when", ["in the first fragment", "in a later fragment",
                                  "after finish"])
def test_abort_leaves_nothing(backend: Backend, unit: Unit, when: str) -> None:
    kept = write(unit, "client_1", data(5))  # another image, which must stay whole
    before = backend.contents(unit)
    st = storage.open_unit(unit)
    w = st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
    blocks = {"in the first fragment": 2, "in a later fragment": 9, "after finish": 12}[when]
    payload = memoryview(data(6))
    for i in range(blocks):
        w.write_block(payload[i * BLOCK:(i + 1) * BLOCK])
    if when == "after finish":
        w.finish()
    assert backend.contents(unit) != before
    w.abort()
    assert backend.contents(unit) == before
    w.abort()  # twice is harmless
    with mmap.mmap(-1, BLOCK) as m:
        view = memoryview(m)
        reader = st.open_reader(kept)
        assert read_all(reader, view) == data(5)
        reader.close()
        view.release()


def test_delete_removes_everything(backend: Backend, unit: Unit, buf: memoryview) -> None:
    st = storage.open_unit(unit)
    empty = backend.contents(unit)
    gone = write(unit, "client_1", data(7))
    of_gone = backend.contents(unit) - empty
    kept = write(unit, "client_2", data(8))
    both = backend.contents(unit)
    removed = st.delete_image("client_1", [f.path for f in gone.fragments])
    assert removed == len(of_gone)  # every fragment and the header
    assert backend.contents(unit) == both - of_gone
    with pytest.raises(NbuError):
        st.open_reader(gone).read(buf)
    assert st.delete_image("client_1", [f.path for f in gone.fragments]) == 0  # gone is gone
    reader = st.open_reader(kept)
    try:
        assert read_all(reader, buf) == data(8)
    finally:
        reader.close()


def test_a_full_unit_is_a_clear_status(backend: Backend, tmp_path: Path) -> None:
    capacity = 1 << 20
    with backend.small_unit(tmp_path, capacity) as unit:
        st = storage.open_unit(unit)
        st.mount()
        free = st.free_space()
        assert 0 < free <= capacity
        w = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
        payload = memoryview(data(9, BLOCK))
        with pytest.raises(NbuError) as e:
            for _ in range(4 * capacity // BLOCK):
                w.write_block(payload)
            w.finish()
        assert e.value.status == backend.full_status
        assert w.total <= capacity + BLOCK  # the block that did not fit counts
        assert st.free_space() < free
        w.abort()
        assert backend.contents(unit) == set()
        assert st.free_space() >= free - BLOCK  # the room came back


def test_two_writers_never_share_a_file(unit: Unit, buf: memoryview) -> None:
    st = storage.open_unit(unit)
    a, b = data(10), data(11, 7 * BLOCK)
    wa = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
    wb = st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
    for i in range(0, max(len(a), len(b)), BLOCK):  # interleaved, block by block
        for w, payload in ((wa, a), (wb, b)):
            if i < len(payload):
                w.write_block(memoryview(payload)[i:i + BLOCK])
    # a second writer of an image id in use fails, and its abort leaves the first alone
    twin = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
    with pytest.raises(NbuError):
        twin.write_block(memoryview(b)[:BLOCK])
    twin.abort()
    fa, fb = wa.finish(), wb.finish()
    assert not {f.path for f in fa} & {f.path for f in fb}
    for backupid, w, frags, payload in (("client_1", wa, fa, a), ("client_2", wb, fb, b)):
        reader = st.open_reader(storage.StoredImage(backupid, frags, w.checksum, BLOCK,
                                                    w.total))
        try:
            assert read_all(reader, buf) == payload
        finally:
            reader.close()


def test_block_index_and_locate_agree(unit: Unit) -> None:
    image = write(unit, "client_1", data(12))
    for index in range(image.blocks):
        assert image.block_index(*image.locate(index)) == index
    assert image.locate(4) == (2, 0) and image.locate(11) == (3, 3)
