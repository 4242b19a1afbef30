"""bptm's restore from tape, on a real virtual library: the media of a spanned image mounted in
order by ltid (its real op table and rules over a socket, its robot moving the cartridges),
one block from the middle of a tape read without reading the tape, a block on another medium
refused by a reader, and a forked child that lets go of the parent's drive."""

from __future__ import annotations

import logging
import os
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nbcli.media import bptm_restore_tape, storage, tape
from nbcli.media.bptm_restore import blocks_for
from nbcli.status import MEDIA_REQUEST_FAILED, NbuError
from nbcli.vtl.library import Library, VirtualChanger
from tests.unit.tapekit import make_library
from tests.unit.test_tape_span import Daemons, media, stu

BLOCK = 64 * 1024


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    yield
    tape.release_all()


def write_image(lib: Library, monkeypatch: pytest.MonkeyPatch, nbytes: int,
                max_fragment: int) -> tuple[bytes, dict[str, Any]]:
    """An image written through bptm's tape media (spanning when it must): its bytes and the
    restore request's image record."""
    tm = media(lib, Daemons(lib, monkeypatch))
    tm.mount()
    w = tm.open_writer(BLOCK, max_fragment)
    payload = random.Random(nbytes).randbytes(nbytes)
    for i in range(0, len(payload), BLOCK):
        block = memoryview(payload)[i:i + BLOCK]
        w.write_block(block, zlib.crc32(block))
    frags = w.finish()
    tm.unmount()
    tape.release_all()
    return payload, {"backupid": "c_1", "stu": {"label": "t", "stype": 2},
                     "fragments": [f.as_dict("m1") for f in frags], "checksum": w.checksum,
                     "block_size": BLOCK, "stream_bytes": len(payload)}


class Nbjm:
    """nbjm's allocate as bptm asks it: the named medium in drive 0."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.asked: list[str] = []

    def request(self, op: str, **f: Any) -> dict[str, Any]:
        assert op == "allocate"
        self.asked.append(f["media_id"])
        return {"granted": {"stu": stu(self.lib, f"{f['media_id']}L6"), "host": "m1"}}


def mounts(ctx: Any, nbjm: Nbjm, im: dict[str, Any],
           daemons: Daemons) -> bptm_restore_tape.TapeMounts:
    ids = list(dict.fromkeys(f["media_id"] for f in im["fragments"]))
    return bptm_restore_tape.TapeMounts(ctx, nbjm,  # type: ignore[arg-type]
                                        {"images": [im], "master": "m1",
                                         "mounts": [{"media_id": m} for m in ids]})


def ctx() -> Any:
    steps: list[tuple[int, str]] = []
    infos: list[str] = []
    return SimpleNamespace(cfg=None, host="m1", jobid=9, log=logging.getLogger("t"),
                           step=lambda n, msg: steps.append((n, msg)),
                           info=lambda msg, sev="Info": infos.append(msg), steps=steps,
                           infos=infos)


def read(tm: bptm_restore_tape.TapeMounts, im: dict[str, Any],
         ranges: list[list[int]]) -> bytes:
    out = bytearray()
    buf = memoryview(bytearray(BLOCK))
    for index, pieces in blocks_for(ranges, BLOCK):
        reader = tm.reader(0, index)
        assert reader is not None
        reader.seek(index)
        n = reader.read(buf)
        for start, length in pieces:
            assert start + length <= n
            out += buf[start:start + length]
    return bytes(out)


def test_a_spanned_image_is_read_mounting_its_media_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    payload, im = write_image(lib, monkeypatch, 20 * BLOCK + 77, 4 * BLOCK)
    assert len({f["media_id"] for f in im["fragments"]}) == 2
    c, nbjm, daemons = ctx(), Nbjm(lib), Daemons(lib, monkeypatch)
    tm = mounts(c, nbjm, im, daemons)
    assert read(tm, im, [[0, len(payload)]]) == payload
    assert tm.mounted == nbjm.asked == ["A00000", "A00001"]
    assert [n for n, _ in c.steps] == [12]  # the first mount is the seed's; the next, a line
    assert "ltid mounted" in c.steps[0][1] and "mount 2 of the restore" in c.infos[0]
    tm.unmount()
    assert [(m["op"], m["drive"], m.get("mode"), m.get("media_id"))
            for m in daemons.served.sent["ltid"]] == [
        ("mount", "DRV0", "r", "A00000"), ("unmount", "DRV0", None, None),
        ("mount", "DRV0", "r", "A00001"), ("unmount", "DRV0", None, None)]
    # ltid's robot put each medium in: A00001 out of the drive (the backup left it there),
    # A00000 in; then A00000 out, A00001 in
    assert daemons.ports.loaded[-2:] == [("DRV0", "A00000"), ("DRV0", "A00001")]
    assert daemons.ports.moves == 4
    assert tm.bytes_read == len(payload)
    # what was read from the cartridges: the blocks, and only labels, headers, CRC records
    assert len(payload) < tm.cartridge_bytes < len(payload) + 16 * 1024
    # nbemm hears of each medium the restore read, in order (bpmedialist's restores), when
    # bptm reports them at its end, beside the release
    assert tm.read_media == ["A00000", "A00001"] and not daemons.asked("nbemm", "media_read")
    tm.report_reads()
    assert [m["media_id"] for m in daemons.asked("nbemm", "media_read")] == \
        ["A00000", "A00001"]


def test_one_block_from_the_middle_of_a_tape_reads_that_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=4 << 20)
    payload, im = write_image(lib, monkeypatch, 40 * BLOCK, 8 * BLOCK)
    tm = mounts(ctx(), Nbjm(lib), im, Daemons(lib, monkeypatch))
    want = [[30 * BLOCK + 100, 1024]]  # in fragment 4
    reader = tm.reader(0, 30)
    assert reader is not None
    file_num, block = reader.position_at(30)
    frag = im["fragments"][3]
    assert (file_num, block) == (frag["file_num"], frag["block_offset"] + 30 - 24)
    assert read(tm, im, want) == payload[30 * BLOCK + 100:30 * BLOCK + 1124]
    assert tm.bytes_read == BLOCK
    assert tm.cartridge_bytes < BLOCK + 4096  # MH, BH and CRC record besides the block


def test_a_reader_refuses_a_block_on_another_medium(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    _, im = write_image(lib, monkeypatch, 20 * BLOCK + 77, 4 * BLOCK)
    unit = storage.open_unit(stu(lib, "A00000L6"))
    unit.mount()
    image = storage.StoredImage.from_request(im)
    reader = unit.open_reader(image)
    assert isinstance(reader, tape.TapeReader)
    last = image.blocks - 1
    assert reader.media_of(last) == "A00001"
    reader.seek(last)
    with pytest.raises(NbuError) as e:
        reader.read(memoryview(bytearray(BLOCK)))
    assert e.value.status == MEDIA_REQUEST_FAILED and "A00001" in e.value.detail


def test_a_forked_child_lets_the_parents_drive_go(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path)
    unit = storage.open_unit(stu(lib, "A00000L6"))
    unit.mount()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # bptm child: lets go of the drive, lives on
        tape.close_inherited()
        os.write(w, b"x")
        time.sleep(3)
        os._exit(0)
    try:
        assert os.read(r, 1) == b"x"
        assert isinstance(unit, tape.TapeStorage)
        unit.unmount()
        VirtualChanger(lib).unload(0)  # the robot can take it: no descriptor holds it
        assert lib.state().cartridges["A00000L6"].location == "slot"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
