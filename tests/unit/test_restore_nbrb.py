"""nbrb and a restore from tape: the medium named goes to nbemm, a medium a backup still
writes is waited for (not a failure), and a restore's next medium is logged, not stepped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbcli import config
from nbcli.daemons import nbrb
from nbcli.status import MEDIA_IN_USE, NbuError
from tests.unit.test_tape_nbrb import GRANT, answers


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[nbrb.Nbrb, list[Any]]:
    cfg = config.init_root(tmp_path / "root", name="m1")
    b = nbrb.Nbrb(cfg)
    recorded: list[Any] = []
    monkeypatch.setattr(b, "_step", lambda req, msg, n: recorded.append((n, req.again)))
    return b, recorded


def restore(b: nbrb.Nbrb, again: bool = False) -> nbrb.Request:
    req = nbrb.Request(8, "restore", "", "", "tape1", "m1", 0, 0, 0, next(b.seq),
                       media_id="A00001", again=again)
    b.queue.append(req)
    return req


def test_a_restore_waits_while_its_medium_is_written(broker, monkeypatch) -> None:
    b, recorded = broker
    asked = answers(monkeypatch, b, NbuError(MEDIA_IN_USE, "media A00001 is in use by job 2"),
                    GRANT)
    req = restore(b)
    b.evaluate()
    assert not req.done.is_set() and req.code == MEDIA_IN_USE
    assert "in use by job 2" in req.reason
    b.evaluate()
    assert req.done.is_set() and req.grant == {"status": 0, **GRANT} and req.error is None
    assert [a["media_id"] for a in asked] == ["A00001", "A00001"]
    assert "pool" not in asked[0]  # a restore asks for its medium, not a pool's


def test_a_backup_is_not_kept_waiting_by_a_medium_in_use(broker, monkeypatch) -> None:
    b, _ = broker
    answers(monkeypatch, b, NbuError(MEDIA_IN_USE, "in use"))
    req = nbrb.Request(9, "backup", "p", "c", "tape1", "", 0, 0, 0, next(b.seq))
    b.queue.append(req)
    b.evaluate()
    assert req.done.is_set() and req.error is not None and req.error.status == MEDIA_IN_USE


def test_the_next_medium_of_a_restore_is_not_the_seed_steps_again(broker, monkeypatch) -> None:
    b, recorded = broker
    answers(monkeypatch, b, GRANT, {}, GRANT)
    restore(b)
    b.evaluate()
    b.release({"jobid": 8, "again": True}, None)
    restore(b, again=True)
    b.evaluate()
    assert recorded == [(10, False), (11, False), (16, True), (10, True), (11, True)]
