"""One suite for every storage backend (backends.py): what bptm and bpbrm rely on, checked on
real media - bytes back exact, fragments cut at the limit, a reader positioned at any block,
abort and delete leaving nothing, the images stored listed (image_ids), a full unit failing
with its status, writers apart.

Every test goes through storage.open_unit, as the agents do, with the unit's record."""

from __future__ import annotations

import mmap
import random
import time
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
def unit(backend: Backend, tmp_path: Path) -> Iterator[Unit]:
    yield backend.unit(tmp_path)
    backend.release()


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


def test_blocks_handed_in_ring_slots_read_back_exact(unit: Unit) -> None:
    """As bptm hands them: each block in a page-aligned slot of its ring, after the
    writer's frame_room, which the writer may overwrite around the block (a virtual tape
    drive writes the record's framing there and the record from that memory, no copy).
    Blocks of 1 MiB, bptm's default, so that the tape drive does frame them."""
    big, n = 1 << 20, 5
    payload = random.Random(7).randbytes(n * big - 1000)  # the last block short
    st = storage.open_unit(unit)
    st.mount()
    w = st.open_writer("client_1", big, 2 * big)
    before, after = w.frame_room
    size = -(-(before + big + after) // mmap.PAGESIZE) * mmap.PAGESIZE
    with mmap.mmap(-1, 2 * size) as ring:
        view = memoryview(ring)
        for i in range(n):
            block = payload[i * big:(i + 1) * big]
            with view[(i % 2) * size:(i % 2 + 1) * size] as slot:
                slot[before:before + len(block)] = block
                w.write_block(slot[before:before + len(block)], None, slot)
        view.release()
    image = storage.StoredImage("client_1", w.finish(), w.checksum, big, w.total)
    assert [f.bytes for f in image.fragments] == [2 * big, 2 * big, big - 1000]
    with mmap.mmap(-1, big) as m:
        into = memoryview(m)
        reader = st.open_reader(image)
        try:
            assert read_all(reader, into) == payload
        finally:
            reader.close()
        into.release()


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
    if not backend.deletes:
        return _delete_keeps_a_tape_whole(backend, unit, buf)
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


def _delete_keeps_a_tape_whole(backend: Backend, unit: Unit, buf: memoryview) -> None:
    """Tape: NetBackup never deletes an image from a tape (expiration unassigns the whole
    medium later), so delete_image removes nothing, says so (0), and every image still reads."""
    st = storage.open_unit(unit)
    gone = write(unit, "client_1", data(7))
    kept = write(unit, "client_2", data(8))
    both = backend.contents(unit)
    assert st.delete_image("client_1", [f.path for f in gone.fragments]) == 0
    assert backend.contents(unit) == both
    for image, payload in ((gone, data(7)), (kept, data(8))):
        reader = st.open_reader(image)
        try:
            assert read_all(reader, buf) == payload
        finally:
            reader.close()


def test_a_full_unit_is_a_clear_status(backend: Backend, tmp_path: Path) -> None:
    capacity = 1 << 20
    with backend.small_unit(tmp_path, capacity) as unit:
        st = storage.open_unit(unit)
        st.mount()
        free = st.free_space()
        assert free is not None and 0 < free <= capacity
        w = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
        payload = memoryview(data(9, BLOCK))
        with pytest.raises(NbuError) as e:
            for _ in range(4 * capacity // BLOCK):
                w.write_block(payload)
            w.finish()
        assert e.value.status == backend.full_status
        assert w.total <= capacity + BLOCK  # the block that did not fit counts
        assert (st.free_space() or 0) < free
        w.abort()
        assert backend.contents(unit) == set()
        assert (st.free_space() or 0) >= free - BLOCK  # the room came back
    backend.release()


def _write_blocks(w: storage.ImageWriter, payload: bytes) -> None:
    for i in range(0, len(payload), BLOCK):
        w.write_block(memoryview(payload)[i:i + BLOCK])


def test_two_writers_never_share_a_file(backend: Backend, unit: Unit,
                                        buf: memoryview) -> None:
    st = storage.open_unit(unit)
    a, b = data(10), data(11, 7 * BLOCK)
    wa = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
    if backend.concurrent_writers:
        wb = st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
        for i in range(0, max(len(a), len(b)), BLOCK):  # interleaved, block by block
            for w, payload in ((wa, a), (wb, b)):
                if i < len(payload):
                    w.write_block(memoryview(payload)[i:i + BLOCK])
    else:
        # One drive writes one image at a time (NetBackup without multiplexing): the second
        # writer is refused while the first writes, and is served after it finished.
        _write_blocks(wa, a)
        with pytest.raises(NbuError):
            st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
    # a second writer of an image id in use fails (when it opens, or at its first block),
    # and its abort leaves the first alone
    twin: storage.ImageWriter | None = None
    with pytest.raises(NbuError):
        twin = st.open_writer("client_1", BLOCK, MAX_FRAGMENT)
        twin.write_block(memoryview(b)[:BLOCK])
    if twin is not None:
        twin.abort()
    fa = wa.finish()
    if not backend.concurrent_writers:
        wb = st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
        _write_blocks(wb, b)
    fb = wb.finish()
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


def test_image_ids_lists_what_is_stored_and_nothing_gone(backend: Backend, unit: Unit) -> None:
    """The image cleanup finds orphans by image_ids: a written image is listed with the time
    of its newest write; an aborted one, a deleted one, and one on a tape are not."""
    st = storage.open_unit(unit)
    assert st.image_ids() == {}
    before = time.time()
    kept = write(unit, "client_1", data(13))
    aborted = st.open_writer("client_2", BLOCK, MAX_FRAGMENT)
    _write_blocks(aborted, data(14))
    if backend.lists:  # a writer at work is stored too: the cleanup's grace covers it
        assert set(st.image_ids()) == {"client_1", "client_2"}
    aborted.abort()
    gone = write(unit, "client_3", data(15))
    listed = st.image_ids()
    if not backend.lists:
        assert listed == {}
        return
    assert set(listed) == {"client_1", "client_3"}
    # written now, on the clock the cleanup compares with (file system times are coarse)
    assert before - 1 <= listed["client_1"] <= listed["client_3"] <= time.time() + 1
    st.delete_image("client_3", [f.path for f in gone.fragments])
    assert set(st.image_ids()) == {kept.backupid}
