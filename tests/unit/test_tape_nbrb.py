"""nbrb and a tape unit's "not now": drives busy or down and no medium wait with a reason;
no medium for MEDIA_WAIT seconds ends the request with 96; the pool and retention level go to
nbemm. nbemm's answers are scripted, but behind its real `allocate` entry (its fields and its
rule, over a socket): a field nbrb sends that nbemm does not declare fails the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbcli import config
from nbcli.daemons import nbemm, nbrb
from nbcli.status import NbuError
from tests.unit import servekit


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbrb.Nbrb:
    cfg = config.init_root(tmp_path / "root", name="m1")
    b = nbrb.Nbrb(cfg)
    monkeypatch.setattr(b, "_step", lambda *a, **k: None)
    return b


def queued(b: nbrb.Nbrb, jobid: int = 7) -> nbrb.Request:
    req = nbrb.Request(jobid, "backup", "p1", "c1", "tape1", "", 0, 0, 0, next(b.seq),
                       pool="tapes", rl=3)
    b.queue.append(req)
    return req


def answers(monkeypatch: pytest.MonkeyPatch, b: nbrb.Nbrb, *results: Any) -> list[dict]:
    """nbemm answers `results` in turn (an NbuError is the error reply) to allocate and
    release; the requests it got, as they came over the wire (with their "op")."""
    ops = nbemm.Nbemm(b.cfg).services()["nbemm"]
    served = servekit.serve(monkeypatch, b.cfg,
                            {"nbemm": servekit.script(ops, ["allocate", "release"], *results)})
    return served.sent["nbemm"]


GRANT = {"stu": {"label": "tape1", "host": "m1", "stype": 2, "drive_name": "DRV0",
                 "drive": 0, "media_id": "A00001", "pool": "tapes"}, "host": "m1"}


@pytest.mark.parametrize("code,words", [(2001, "No drives are available"),
                                        (2009, "drive paths are down"),
                                        (2000, "Unable to allocate new media")])
def test_tape_statuses_wait_with_the_reason_and_the_pool(
        broker: nbrb.Nbrb, monkeypatch: pytest.MonkeyPatch, code: int, words: str) -> None:
    asked = answers(monkeypatch, broker, NbuError(code, "all 2 drives busy"), GRANT)
    req = queued(broker)
    broker.evaluate()
    assert not req.done.is_set() and req.code == code
    assert words in req.reason and "Volume Pool: tapes, Storage Unit: tape1" in req.reason
    assert "all 2 drives busy" in req.reason
    broker.evaluate()
    assert req.done.is_set() and req.grant == {"status": 0, **GRANT} and req.error is None
    assert asked[0]["pool"] == "tapes" and asked[0]["rl"] == 3


def test_no_medium_for_media_wait_seconds_is_status_96(
        broker: nbrb.Nbrb, monkeypatch: pytest.MonkeyPatch) -> None:
    broker.cfg.data["MEDIA_WAIT"] = 0
    answers(monkeypatch, broker, NbuError(2000, "no usable medium in pool tapes"))
    req = queued(broker)
    broker.evaluate()
    assert req.done.is_set() and req.error is not None and req.error.status == 96
    assert "volume pool tapes" in req.error.detail and not broker.queue


def test_the_media_wait_counts_only_while_nbemm_says_no_medium(
        broker: nbrb.Nbrb, monkeypatch: pytest.MonkeyPatch) -> None:
    broker.cfg.data["MEDIA_WAIT"] = 3600
    answers(monkeypatch, broker, NbuError(2000), NbuError(2001), NbuError(2000))
    req = queued(broker)
    broker.evaluate()
    first = req.media_since
    assert first > 0
    broker.evaluate()
    assert req.media_since == 0 and req.code == 2001
    broker.evaluate()
    assert req.media_since >= first and not req.done.is_set()


def test_tape_words_name_the_drive_medium_and_pool() -> None:
    assert nbrb.tape_words(GRANT["stu"]) == ", drive DRV0, media A00001 (volume pool tapes)"
    assert nbrb.tape_words({"label": "disk1"}) == ""
