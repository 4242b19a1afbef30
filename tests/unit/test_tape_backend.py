"""The tape backend on a virtual library: what lands on the cartridge (MH, BH, data, CRCs, EH,
tape marks), where the catalog's fragments point, mounting (labels, 93, the robot), positioning
without reading from BOT, end of medium, abort, faults, and the emergency read with GNU tar."""

from __future__ import annotations

import io
import mmap
import os
import random
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli import status
from nbcli.media import storage, tape, tapefmt
from nbcli.status import NbuError
from nbcli.vtl.library import Library, VirtualChanger
from nbcli.vtl.vdrive import VirtualDrive
from tests.storage.backends import Unit, tape_files
from tests.unit.tapekit import make_library

BLOCK = 64 * 1024
MAX_FRAGMENT = 4 * BLOCK


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    yield
    tape.release_all()


def unit_of(lib: Library, barcode: str = "A00000L6", drive: int = 0, **more: Any) -> Unit:
    """A tape unit record, its media id the barcode's first six characters (as a media id
    generation rule would make it; EMM will fill it)."""
    return {"stype": storage.MEDIA_MANAGER, "label": "t", "library": str(lib.home),
            "drive": drive, "barcode": barcode, "media_id": barcode[:6], **more}


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return make_library(tmp_path, capacity=64 << 20, early_warning=1 << 20)


@pytest.fixture
def buf() -> Iterator[memoryview]:
    with mmap.mmap(-1, BLOCK) as m:
        view = memoryview(m)
        yield view
        view.release()


def write(unit: Unit, backupid: str, payload: bytes) -> storage.StoredImage:
    st = storage.open_unit(unit)
    st.mount()
    w = st.open_writer(backupid, BLOCK, MAX_FRAGMENT)
    for i in range(0, len(payload), BLOCK):
        w.write_block(memoryview(payload)[i:i + BLOCK])
    frags = w.finish()
    return storage.StoredImage(backupid, frags, w.checksum, BLOCK, w.total)


def kinds(unit: Unit) -> list[str]:
    """Each tape file as the kind of its first record ("" = data, "-" = empty)."""
    return [tapefmt.kind_of(f[0]) if f else "-" for f in tape_files(unit)]


def test_a_blank_tape_is_labelled_and_images_follow_netbackups_layout(lib: Library) -> None:
    unit = unit_of(lib)
    said = storage.open_unit(unit).mount()
    assert "media A00000 (A00000L6) in drive 0" in said
    assert VirtualChanger(lib).inventory().drives[0].barcode == "A00000L6"  # the robot loaded
    assert kinds(unit) == ["MH", "EH", "-"]  # MH * EH * (then the end of data)
    one = write(unit, "c_1", random.Random(1).randbytes(5 * BLOCK + 10))
    two = write(unit, "c_2", random.Random(2).randbytes(BLOCK))
    assert kinds(unit) == ["MH", "BH", "", "CRCS", "BH", "", "CRCS", "BH", "", "CRCS", "EH",
                           "-"]
    files = tape_files(unit)
    assert tapefmt.decode_mh(files[0][0]).media_id == "A00000"
    assert tapefmt.decode_eh(files[10][0]) == tapefmt.EmptyHeader("A00000", 10)
    # the catalog's fragments: media, BH file number, first data block, block size
    frags = [*one.fragments, *two.fragments]
    assert [(f.media_id, f.file_num, f.block_size) for f in frags] == \
        [("A00000", 1, BLOCK), ("A00000", 4, BLOCK), ("A00000", 7, BLOCK)]
    # MH * = blocks 0-1; BH * = 2-3; 4 data blocks + mark = 4-8; CRCS * = 9-10; BH * 11-12
    assert [f.block_offset for f in frags] == [4, 13, 20]
    assert [len(files[f.file_num + 1]) for f in frags] == [4, 2, 1]
    for f in frags:
        bh = tapefmt.decode_bh(files[f.file_num][0])
        assert (bh.file_num, bh.data_block, bh.block_size) == (f.file_num, f.block_offset,
                                                                 BLOCK)
        assert tape.parse_locator(f.path) == tape.Located(
            "A00000", f.file_num, f.block_offset, BLOCK,
            tapefmt.decode_crcs(files[f.file_num + 2][0]).crc)
    assert storage.open_unit(unit).delete_image("c_1", [f.path for f in one.fragments]) == 0
    assert len(tape_files(unit)) == 12  # a tape never deletes


def test_media_id_and_record_checks(lib: Library) -> None:
    assert tape.media_id_of("A00000L6") == "0000L6"  # NetBackup's default: the last six
    assert tape.TapeStorage.from_stu({"library": "/x", "barcode": "ABC123"}).media_id == \
        "ABC123"
    for bad in ({"barcode": "A00000L6"}, {"library": "/x", "drive_path": "/dev/nst0",
                                          "barcode": "A"},
                {"library": "/x", "barcode": ""}, {"library": "/x", "barcode": "B",
                                                   "media_id": "TOOLONG"},
                {"library": "/x", "barcode": "B", "drive": -1}):
        with pytest.raises(NbuError) as e:
            storage.open_unit({"stype": storage.MEDIA_MANAGER, **bad})
        assert e.value.status == status.INVALID_PARAMETER, bad


def test_the_catalog_record_round_trip_keeps_the_tape_fields(lib: Library) -> None:
    image = write(unit_of(lib), "c_1", b"x" * (BLOCK + 1))
    msg: dict[str, Any] = {"backupid": "c_1", "checksum": image.checksum, "block_size": BLOCK,
           "stream_bytes": image.stream_bytes,
           "fragments": [f.as_dict("media1") for f in image.fragments]}
    assert set(msg["fragments"][0]) == {"num", "path", "host", "offset", "bytes", "media_id",
                                        "file_num", "block_offset", "block_size", "density"}
    back = storage.StoredImage.from_request(msg)
    assert back.fragments == image.fragments and back.fragments[0].density == 6
    assert tape.parse_locator(back.fragments[0].path).block == image.fragments[0].block_offset


class Counted:
    """Counts what the virtual drive reads and how it moves (class-wide, while active)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records = 0
        self.bytes = 0
        self.rewinds = 0
        self.to_bot = 0
        orig_read, orig_into = VirtualDrive.read, VirtualDrive.readinto
        orig_rewind, orig_seek = VirtualDrive.rewind, VirtualDrive.seek

        def read(d: VirtualDrive, size: int) -> bytes:
            got = orig_read(d, size)
            self.records += 1
            self.bytes += len(got)
            return got

        def readinto(d: VirtualDrive, into: memoryview) -> int:
            n = orig_into(d, into)
            self.records += 1
            self.bytes += n
            return n

        def rewind(d: VirtualDrive) -> None:
            self.rewinds += 1
            orig_rewind(d)

        def seek(d: VirtualDrive, block: int) -> None:
            self.to_bot += block < d.tell()  # a virtual locate backward starts at BOT
            orig_seek(d, block)

        monkeypatch.setattr(VirtualDrive, "read", read)
        monkeypatch.setattr(VirtualDrive, "readinto", readinto)
        monkeypatch.setattr(VirtualDrive, "rewind", rewind)
        monkeypatch.setattr(VirtualDrive, "seek", seek)


def test_a_reader_locates_the_block_without_reading_from_bot(
        lib: Library, buf: memoryview, monkeypatch: pytest.MonkeyPatch) -> None:
    unit = unit_of(lib)
    payloads = [random.Random(i).randbytes(11 * BLOCK + 99) for i in range(3)]
    images = [write(unit, f"c_{i}", p) for i, p in enumerate(payloads)]
    tape.release_all()  # a new bptm: mount again (reads the MH), then one block
    counted = Counted(monkeypatch)
    st = storage.open_unit(unit)
    st.mount()
    assert (counted.records, counted.rewinds) == (1, 1)  # the media header, at BOT
    image = images[2]
    reader = st.open_reader(image, 3, 2)  # block 2 of fragment 3: image block 10
    n = reader.read(buf)
    assert bytes(buf[:n]) == payloads[2][10 * BLOCK:11 * BLOCK]
    # BH (checked), the CRC record, the block: three records, no data but the block's
    assert counted.records == 1 + 3
    assert counted.bytes == 1024 + 1024 + (64 + 4 * 4) + BLOCK  # fragment 3: 4 blocks
    assert (counted.rewinds, counted.to_bot) == (1, 0)
    assert reader.bytes_read == BLOCK
    n = reader.read(buf)  # and the next block, straight on
    assert bytes(buf[:n]) == payloads[2][11 * BLOCK:]
    assert counted.records == 1 + 4 and counted.to_bot == 0


def test_a_reader_refuses_a_fragment_that_is_not_where_the_catalog_says(
        lib: Library, buf: memoryview) -> None:
    unit = unit_of(lib)
    a = write(unit, "c_1", b"a" * BLOCK)
    b = write(unit, "c_2", b"b" * BLOCK)
    st = storage.open_unit(unit)
    wrong = storage.StoredImage("c_2", [storage.Fragment(1, a.fragments[0].path, 0, BLOCK)],
                                a.checksum, BLOCK, BLOCK)
    with pytest.raises(NbuError) as e:
        st.open_reader(wrong).read(buf)
    assert e.value.status == status.CANNOT_POSITION == 94
    forged = storage.StoredImage("c_2", b.fragments, a.checksum, BLOCK, BLOCK)
    with pytest.raises(NbuError) as e:
        st.open_reader(forged)
    assert e.value.status == status.MEDIA_READ_ERROR  # not the catalog's checksum


def test_a_tape_with_another_media_id_is_93(lib: Library) -> None:
    write(unit_of(lib, media_id="A00000"), "c_1", b"x" * 10)
    tape.release_all()
    with pytest.raises(NbuError) as e:
        storage.open_unit(unit_of(lib, media_id="B00000")).mount()
    assert e.value.status == status.WRONG_TAPE == 93
    assert "holds media A00000" in str(e.value)


def test_a_foreign_tape_is_172(lib: Library) -> None:
    VirtualChanger(lib).load(2, 0)
    d = VirtualDrive(lib, 0)
    d.open()
    d.write(b"not a NetBackup tape" * 100)
    d.close()
    with pytest.raises(NbuError) as e:
        storage.open_unit(unit_of(lib, "A00001L6")).mount()
    assert e.value.status == status.MEDIA_HEADER_UNREADABLE


def test_mount_swaps_cartridges_and_a_drive_open_elsewhere_is_97(lib: Library) -> None:
    write(unit_of(lib), "c_1", b"x" * 10)
    tape.release_all()
    storage.open_unit(unit_of(lib, "A00001L6")).mount()  # A00000L6 back to its slot
    inv = VirtualChanger(lib).inventory()
    assert inv.drives[0].barcode == "A00001L6" and inv.slots[0].barcode == "A00000L6"
    tape.release_all()
    other = VirtualDrive(lib, 0)
    other.open()  # another process's hold, as far as flock knows
    try:
        with pytest.raises(NbuError) as e:
            storage.open_unit(unit_of(lib, "A00001L6")).mount()
        assert e.value.status == status.MEDIA_IN_USE
    finally:
        other.close()


def test_one_writer_per_drive_and_no_reader_beside_it(lib: Library) -> None:
    st = storage.open_unit(unit_of(lib))
    w = st.open_writer("c_1", BLOCK, MAX_FRAGMENT)
    with pytest.raises(NbuError) as e:
        storage.open_unit(unit_of(lib)).open_writer("c_2", BLOCK, MAX_FRAGMENT)
    assert e.value.status == status.MEDIA_IN_USE
    w.write_block(memoryview(b"x" * BLOCK))
    image = storage.StoredImage("c_1", [], "crc32:00000000", BLOCK, 0)
    with pytest.raises(NbuError) as e:  # nor a reader: it would move the tape under it
        st.open_reader(image)
    assert e.value.status == status.MEDIA_IN_USE
    w.finish()
    storage.open_unit(unit_of(lib)).open_writer("c_2", BLOCK, MAX_FRAGMENT).abort()


def test_end_of_medium_ends_the_tape_as_netbackup_does(tmp_path: Path, buf: memoryview) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    unit = unit_of(lib)
    st = storage.open_unit(unit)
    w = st.open_writer("c_1", BLOCK, MAX_FRAGMENT)
    assert isinstance(w, tape.TapeWriter)
    payload = random.Random(5).randbytes(40 * BLOCK)
    with pytest.raises(NbuError) as e:
        for i in range(40):
            w.write_block(memoryview(payload)[i * BLOCK:(i + 1) * BLOCK])
    assert e.value.status == status.NO_MEDIA_AVAILABLE == 96
    assert "spanning" in str(e.value)
    done = w.total // BLOCK
    assert w.pending == payload[done * BLOCK:(done + 1) * BLOCK]  # for the next medium
    assert kinds(unit)[-3:] == ["CRCS", "-", "-"]  # ... CRCS * * : two marks, no EH
    with pytest.raises(NbuError):
        w.finish()
    # what was written before the end is whole: its fragments read back
    frags = w.fragments
    image = storage.StoredImage("c_1", frags, w.checksum, BLOCK, w.total)
    w.abort()  # bptm's abort after the failure: an EH where the image began
    assert kinds(unit) == ["MH", "EH", "-"]
    assert sum(f.bytes for f in frags) == w.total == done * BLOCK
    assert frags and image.blocks == done


def test_a_full_tape_refuses_an_append(tmp_path: Path) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    unit = unit_of(lib)
    st = storage.open_unit(unit)
    w = st.open_writer("c_1", BLOCK, MAX_FRAGMENT)
    assert isinstance(w, tape.TapeWriter)
    with pytest.raises(NbuError):
        for _ in range(40):
            w.write_block(memoryview(b"z" * BLOCK))
    w.held.writer = None  # bptm died without aborting: the tape stays as it ended
    with pytest.raises(NbuError) as e:
        st.open_writer("c_2", BLOCK, MAX_FRAGMENT)
    assert e.value.status == status.NO_MEDIA_AVAILABLE


def test_a_full_tape_taken_unassigned_is_labelled_again_from_its_start(
        tmp_path: Path) -> None:
    """EMM's `relabel` (the medium was unassigned: its images expired): a new MH * EH * at
    the start, the old images cut off, so a full tape takes images again. Never on a tape
    whose header names another medium (93, nothing written) or one write protected (168)."""
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    unit = unit_of(lib)
    w = storage.open_unit(unit).open_writer("c_1", BLOCK, MAX_FRAGMENT)
    with pytest.raises(NbuError):
        for _ in range(40):
            w.write_block(memoryview(b"z" * BLOCK))
    tape.release_all()
    assert kinds(unit)[-2:] == ["-", "-"]  # full: two tape marks, no EH
    before = tape_files(unit)
    with pytest.raises(NbuError) as e:
        storage.open_unit(unit_of(lib, media_id="B00000", relabel=True)).mount()
    assert e.value.status == status.WRONG_TAPE and tape_files(unit) == before
    tape.release_all()
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = True
    with pytest.raises(NbuError) as e:
        storage.open_unit({**unit, "relabel": True}).mount()
    assert e.value.status == status.MEDIA_PROTECTED and tape_files(unit) == before
    tape.release_all()
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = False
    again = write({**unit, "relabel": True}, "c_2", b"n" * (BLOCK + 5))
    assert kinds(unit) == ["MH", "BH", "", "CRCS", "EH", "-"]
    assert [f.file_num for f in again.fragments] == [1]
    with mmap.mmap(-1, BLOCK) as m:
        view = memoryview(m)
        reader = storage.open_unit(unit).open_reader(again)
        assert reader.read(view) == BLOCK and bytes(view) == b"n" * BLOCK
        view.release()
    tape.release_all()
    storage.open_unit({**unit, "relabel": True, "mode": "r"}).mount()  # a reader never does
    assert kinds(unit) == ["MH", "BH", "", "CRCS", "EH", "-"]


def test_a_labelling_cut_off_after_the_media_header_is_finished_by_the_next_writer(
        lib: Library, buf: memoryview) -> None:
    """bptm killed between the MH and the EH of a label: the tape ends MH *. The next
    writer puts the EH there and appends, rather than refusing the medium as damaged."""
    VirtualChanger(lib).load(1, 0)
    d = VirtualDrive(lib, 0)
    d.open()
    d.write(tapefmt.encode_mh(tapefmt.MediaHeader("A00000", 1)))
    d.write_filemarks(1)
    d.close()
    unit = unit_of(lib)
    assert kinds(unit) == ["MH", "-"]
    image = write(unit, "c_1", b"m" * (BLOCK + 3))
    assert kinds(unit) == ["MH", "BH", "", "CRCS", "EH", "-"]
    assert [f.file_num for f in image.fragments] == [1]
    assert storage.open_unit(unit).open_reader(image).read(buf) == BLOCK
    assert bytes(buf) == b"m" * BLOCK


def test_abort_after_finish_spares_a_later_image(lib: Library, buf: memoryview) -> None:
    unit = unit_of(lib)
    st = storage.open_unit(unit)
    w = st.open_writer("c_1", BLOCK, MAX_FRAGMENT)
    w.write_block(memoryview(b"1" * BLOCK))
    w.finish()
    later = write(unit, "c_2", b"2" * BLOCK)
    w.abort()  # c_1 is no longer last: it stays, as dead space; c_2 is untouched
    reader = st.open_reader(later)
    assert reader.read(buf) == BLOCK and bytes(buf) == b"2" * BLOCK


def test_write_protected_and_injected_errors(lib: Library, buf: memoryview) -> None:
    unit = unit_of(lib)
    image = write(unit, "c_1", b"p" * BLOCK)
    tape.release_all()
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = True
    st = storage.open_unit(unit)
    with pytest.raises(NbuError) as e:
        st.open_writer("c_2", BLOCK, MAX_FRAGMENT)
    assert e.value.status == status.MEDIA_PROTECTED
    assert st.open_reader(image).read(buf) == BLOCK  # a protected tape still restores
    tape.release_all()
    with lib.update() as s:
        s.cartridges["A00000L6"].write_protected = False
        s.cartridges["A00000L6"].write_errors = [17]  # `nbvtl fault write_error A00000L6 17`
    w = storage.open_unit(unit).open_writer("c_2", BLOCK, MAX_FRAGMENT)
    with pytest.raises(NbuError) as e:
        for _ in range(10):
            w.write_block(memoryview(b"q" * BLOCK))
    assert e.value.status == status.MEDIA_WRITE_ERROR == 84
    w.abort()
    assert storage.open_unit(unit).open_reader(image).read(buf) == BLOCK


def _tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _tap_files(path: Path) -> list[list[bytes]]:
    """The emergency reader: a SIMH .tap file's tape files, each a list of its records."""
    raw, at, files = path.read_bytes(), 0, [[]]  # type: ignore[var-annotated]
    while at + 4 <= len(raw):
        n = int.from_bytes(raw[at:at + 4], "little") & 0xFFFFFF
        if n == 0:  # a tape mark ends a file
            files.append([])
            at += 4
            continue
        files[-1].append(raw[at + 4:at + 4 + n])
        at += 4 + n + (n & 1) + 4  # length, data, pad to even, length
    return files


def test_emergency_read_with_gnu_tar(lib: Library, tmp_path: Path) -> None:
    files = {"etc/motd": b"hello\n", "data/big.bin": random.Random(9).randbytes(600_000),
             "data/empty": b""}
    stream = _tar_of(files)
    image = write(unit_of(lib), "c_1", stream)
    assert len(image.fragments) == 3
    tape.release_all()
    # Without nbcli: the catalog says the BH file numbers (bpimagelist -l); data is FILE+1.
    tap = _tap_files(lib.cartridge_path("A00000L6"))
    pulled = b"".join(b"".join(tap[f.file_num + 1]) for f in image.fragments)
    assert pulled == stream
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", "-", "-C", str(out)], input=pulled, check=True)
    for name, body in files.items():
        assert (out / name).read_bytes() == body


def test_another_process_mounts_and_restores(lib: Library, tmp_path: Path) -> None:
    """What the catalog keeps is all a later bptm needs: a new process mounts the tape (no
    state of the writer's process) and reads the image back byte for byte."""
    payload = random.Random(12).randbytes(9 * BLOCK + 5)
    image = write(unit_of(lib), "c_1", payload)
    tape.release_all()
    frags = [f.as_dict("media1") for f in image.fragments]
    script = f"""
import mmap, sys
from nbcli.media import storage
unit = {unit_of(lib)!r}
im = storage.StoredImage.from_request({{"backupid": "c_1", "fragments": {frags!r},
    "checksum": {image.checksum!r}, "block_size": {BLOCK}, "stream_bytes": {len(payload)}}})
st = storage.open_unit(unit)
st.mount()
r = st.open_reader(im, 2, 1)
buf = memoryview(mmap.mmap(-1, {BLOCK}))
while n := r.read(buf):
    sys.stdout.buffer.write(buf[:n])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                         cwd=Path(__file__).parents[2], timeout=60).stdout
    assert out == payload[5 * BLOCK:]  # from block 1 of fragment 2 to the end


def test_a_restore_mounts_read_only(lib: Library, buf: memoryview,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """mode "r" (bptm's restore): the drive is opened read-only, reads as before, syncs
    nothing when it lets go, refuses a writer, and finds nothing to read on a blank tape."""
    payload = random.Random(7).randbytes(3 * BLOCK + 5)
    image = write(unit_of(lib), "c_1", payload)
    tape.release_all()
    opened: list[bool] = []
    real_open = VirtualDrive.open
    monkeypatch.setattr(VirtualDrive, "open", lambda d, w=True: opened.append(w) or
                        real_open(d, w))
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}"))
                        or real_fsync(fd))
    st = storage.open_unit(unit_of(lib, mode="r"))
    st.mount()
    reader = st.open_reader(image, 1, 1)
    n = reader.read(buf)
    assert bytes(buf[:n]) == payload[BLOCK:2 * BLOCK] and opened == [False]
    with pytest.raises(NbuError) as e:
        st.open_writer("c_2", BLOCK, MAX_FRAGMENT)
    assert e.value.status == status.MEDIA_PROTECTED and "for reading" in e.value.detail
    st.unmount()
    assert synced and not [p for p in synced if p.endswith(".tap")]  # only the library's state
    blank = storage.open_unit(unit_of(lib, "A00001L6", drive=1, mode="r"))
    with pytest.raises(NbuError) as e:
        blank.mount()
    assert e.value.status == status.WRONG_TAPE and "blank" in e.value.detail
