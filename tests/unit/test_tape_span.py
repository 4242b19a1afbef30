"""bptm's tape media: spanning an image over two media (each fragment its medium's file and
block), ltid's mounts (its real op table and rules, the robot's moves on a real virtual
library), the reports to nbemm, and a writer that finds the backup header of a killed bptm
where the empty header should be. ltid and nbemm are reached over sockets (servekit)."""

from __future__ import annotations

import logging
import os
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nbcli import config, status
from nbcli.daemons import ltid, nbemm
from nbcli.daemons.ltid_mount import Mounter
from nbcli.media import bptm_tape, checksum, storage, tape, tapefmt
from nbcli.status import NbuError
from nbcli.vtl.library import Library
from nbcli.wire.frames import Message
from tests.storage.backends import tape_files
from tests.unit import servekit
from tests.unit.tapekit import make_library
from tests.unit.test_ltid import Ports

BLOCK = 64 * 1024


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    yield
    tape.release_all()


def stu(lib: Library, barcode: str) -> dict[str, Any]:
    return {"stype": 2, "label": "t", "library": str(lib.home), "drive": 0,
            "drive_name": "DRV0", "barcode": barcode, "media_id": barcode[:6],
            "density": "hcart", "mfs_mb": 1}


class Daemons:
    """ltid as the daemon is - its op table, its Mounter over a robot and avrd that work the
    library as tldd and avrd do - and nbemm's span, media_written, media_read and media_error
    entries answering as the test says; both served over sockets for bptm_tape's client
    calls."""

    def __init__(self, lib: Library, monkeypatch: pytest.MonkeyPatch,
                 action: str = "none") -> None:
        self.lib, self.action = lib, action
        self.spare = ["A00001L6", "A00002L6"]
        self.ports = Ports(lib)
        for d in self.ports.drives:
            d["name"] = f"DRV{d['drnum']}"
        cfg = config.init_root(lib.home.parent.parent / "root", name="m1")
        self.ltid = ltid.Ltid(cfg)
        self.ltid.mounter = Mounter(self.ports, 60.0, logging.getLogger("t"))
        emm = nbemm.Nbemm(cfg).services()["nbemm"]
        self.served = servekit.serve(monkeypatch, cfg, {
            "ltid": self.ltid.services()["ltid"],
            "nbemm": servekit.handled(emm, span=lambda m, c: self.span(m, c),
                                      media_written=lambda m, c: {},
                                      media_read=lambda m, c: {},
                                      media_error=lambda m, c: {"action": self.action})})

    def span(self, msg: Message, conn: Any) -> Message:
        return {"stu": stu(self.lib, self.spare.pop(0)), "host": "m1"}

    def ops(self, service: str) -> list[str]:
        return self.served.ops(service)

    def asked(self, service: str, op: str) -> list[Message]:
        return self.served.asked(service, op)


def ltid_drive(daemons: Daemons, name: str) -> Any:
    mounter = daemons.ltid.mounter
    with mounter.cond:
        return mounter.drives[name]


def ctx() -> Any:
    infos: list[str] = []
    return SimpleNamespace(cfg=None, host="m1", jobid=9, log=logging.getLogger("t"),
                           info=lambda msg, sev="Info": infos.append(msg), infos=infos)


def media(lib: Library, daemons: Daemons, barcode: str = "A00000L6") -> bptm_tape.TapeMedia:
    return bptm_tape.TapeMedia(ctx(), {"master": "m1", "backupid": "c_1"},
                               {"stu": stu(lib, barcode), "rl": 3, "expiration": 99})


def test_an_image_spans_two_media_each_fragment_placed_on_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    daemons = Daemons(lib, monkeypatch)
    tm = media(lib, daemons)
    assert "media A00000" in tm.mount()
    w = tm.open_writer(BLOCK, 4 * BLOCK)
    payload = random.Random(3).randbytes(20 * BLOCK + 77)
    for i in range(0, len(payload), BLOCK):
        block = memoryview(payload)[i:i + BLOCK]
        w.write_block(block, zlib.crc32(block))
    frags = w.finish()
    assert w.total == len(payload)
    assert w.checksum == checksum.format_crc(zlib.crc32(payload))
    assert [f.num for f in frags] == list(range(1, len(frags) + 1))
    assert [f.offset for f in frags] == [sum(g.bytes for g in frags[:i])
                                         for i in range(len(frags))]
    ids = [f.media_id for f in frags]
    assert ids[0] == "A00000" and ids[-1] == "A00001" and ids == sorted(ids)
    second = [f for f in frags if f.media_id == "A00001"]
    assert second[0].file_num == 1 and second[0].block_offset == 4  # MH * BH * data
    # each fragment's data file on its own cartridge holds its bytes, the BH says which
    for f in frags:
        files = tape_files(stu(lib, f"{f.media_id}L6"))
        bh = tapefmt.decode_bh(files[f.file_num][0])
        assert (bh.backupid, bh.fragment, bh.offset) == ("c_1", f.num, f.offset)
        assert b"".join(files[f.file_num + 1]) == payload[f.offset:f.offset + f.bytes]
    assert daemons.ops("nbemm") == ["span"]
    assert daemons.ops("ltid") == ["mount", "unmount", "mount"]
    # ltid's robot made the moves (the second medium's took the first out of the drive)
    assert [(d, m) for d, m in daemons.ports.loaded if m] == [("DRV0", "A00000"),
                                                              ("DRV0", "A00001")]
    tm.media_written(frags)
    written = daemons.asked("nbemm", "media_written")
    assert [(m["media_id"], m["full"], m["images"], m["rl"], m["expiration"])
            for m in written] == [("A00000", True, 1, 3, 99), ("A00001", False, 1, 3, 99)]
    assert sum(m["kbytes"] for m in written) >= len(payload) // 1024
    assert "is full: the image goes on to media A00001 in DRV0" in " ".join(tm.ctx.infos)
    tm.unmount()


def test_ltid_mounts_the_medium_and_the_drive_is_free_after_the_unmount(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=8 << 20)
    daemons = Daemons(lib, monkeypatch)
    tm = media(lib, daemons)
    tm.mount()
    assert lib.state().cartridges["A00000L6"].location == "drive"
    (drive,) = [d for d in daemons.ports.drives if d["name"] == "DRV0"]
    held = ltid_drive(daemons, "DRV0")
    assert (held.jobid, held.extmid, held.mode, held.ready) == (9, "A00000", "w", True)
    assert (tm.stu["drive"], tm.stu["library"]) == (drive["drnum"], str(lib.home))
    tm.unmount()
    assert [(m["op"], m["drive"], m.get("mode", "")) for m in daemons.served.sent["ltid"]] == \
        [("mount", "DRV0", "w"), ("unmount", "DRV0", "")]
    assert ltid_drive(daemons, "DRV0").free


def test_a_mount_ltid_refuses_fails_the_backup(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No loading behind ltid's back: a drive ltid has DOWN is the job's failure (164)."""
    lib = make_library(tmp_path, capacity=8 << 20)
    daemons = Daemons(lib, monkeypatch)
    daemons.ports.drives[0]["state"] = "DOWN"
    tm = media(lib, daemons)
    with pytest.raises(NbuError) as e:
        tm.mount()
    assert e.value.status == status.MEDIA_DOWN and "DRV0" in e.value.detail
    assert lib.state().cartridges["A00000L6"].location == "slot"
    assert tm.unit is None and not tm.ltid_mounted


def test_a_write_error_goes_to_nbemm_and_its_action_to_the_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=8 << 20)
    daemons = Daemons(lib, monkeypatch, action="frozen")
    tm = media(lib, daemons)
    tm.mount()
    assert tm.media_error(NbuError(status.MEDIA_WRITE_ERROR, "x")) == "frozen"
    assert tm.media_error(NbuError(status.NO_MEDIA_AVAILABLE, "x")) == "none"
    (err,) = daemons.asked("nbemm", "media_error")
    assert err == {"jobid": 9, "media_id": "A00000", "drive": "DRV0", "kind": "write"}
    assert "media A00000 is now FROZEN" in " ".join(tm.ctx.infos)


def test_no_medium_to_span_to_fails_the_backup_with_nbemms_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = make_library(tmp_path, capacity=1 << 20, early_warning=200 << 10)
    daemons = Daemons(lib, monkeypatch)
    daemons.spare = []
    tm = media(lib, daemons)

    def no_medium(msg: Message, conn: Any) -> Message:
        raise NbuError(status.NO_MEDIA_AVAILABLE, "no unassigned medium in pool tapes")
    daemons.span = no_medium  # type: ignore[method-assign]
    tm.mount()
    w = tm.open_writer(BLOCK, 4 * BLOCK)
    with pytest.raises(NbuError) as e:
        for _ in range(40):
            w.write_block(memoryview(b"q" * BLOCK))
    assert e.value.status == 96 and "pool tapes" in e.value.detail
    assert daemons.ops("nbemm") == ["span"]


@pytest.mark.parametrize("where", ["data", "data, mark", "crcs, mark", "bh"])
def test_a_writer_puts_the_empty_header_back_after_a_killed_one(tmp_path: Path,
                                                                where: str) -> None:
    """A killed bptm leaves its image's BH, data and maybe a fragment's CRCs, then a tape
    mark when the drive's file closed (st writes one) or none."""
    lib = make_library(tmp_path, capacity=8 << 20)
    unit = stu(lib, "A00000L6")
    pid = os.fork()
    if pid == 0:
        try:
            w = storage.open_unit(unit).open_writer("c_dead", BLOCK, 2 * BLOCK)
            for _ in range(0 if where == "bh" else 2):
                w.write_block(memoryview(b"d" * BLOCK))
            if where == "bh":
                w._begin_fragment()
            if where.startswith("crcs"):
                w._end_fragment()  # data *, CRCS *: the next BH not written yet
            if where.endswith("mark"):
                tape.release_all()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    kinds = [tapefmt.kind_of(f[0]) if f else "-" for f in tape_files(unit)]
    assert kinds[:2] == ["MH", "BH"] and "EH" not in kinds
    st = storage.open_unit(unit)
    w = st.open_writer("c_2", BLOCK, 1 << 30)
    w.write_block(memoryview(b"e" * BLOCK))
    (frag,) = w.finish()
    assert frag.file_num == 1  # where the dead image began
    files = tape_files(unit)
    assert [tapefmt.kind_of(f[0]) if f else "-" for f in files] == \
        ["MH", "BH", "", "CRCS", "EH", "-"]
    assert tapefmt.decode_bh(files[1][0]).backupid == "c_2"
    image = storage.StoredImage("c_2", [frag], w.checksum, BLOCK, BLOCK)
    r = st.open_reader(image)
    buf = bytearray(BLOCK)
    assert r.read(memoryview(buf)) == BLOCK and bytes(buf) == b"e" * BLOCK
