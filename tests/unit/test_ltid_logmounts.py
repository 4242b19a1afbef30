"""ltid -logmounts: which pending mount requests are logged when, and how they read."""

from __future__ import annotations

import logging

from nbcli.daemons import ltid_logmounts
from nbcli.daemons.ltid_logmounts import MountLog, due, line, minutes_from_env

T = 1_700_000_000.0


def request(reqid: int, at: float) -> dict[str, object]:
    return {"reqid": reqid, "jobid": 7, "media_id": "A00001", "barcode": "A00001L6",
            "mode": "w", "drive": "DRV0", "time": int(at)}


def test_a_request_is_due_once_it_has_waited_the_minutes() -> None:
    pending = {1: request(1, T), 2: request(2, T + 100)}
    assert due(pending, set(), 3, T + 179) == []
    assert due(pending, set(), 3, T + 180) == [1]
    assert due(pending, {1}, 3, T + 280) == [2]
    assert due(pending, set(), 0, T + 100) == [1, 2]


def test_each_request_is_logged_once_and_a_satisfied_one_never(caplog) -> None:  # type: ignore[no-untyped-def]
    log = logging.getLogger("test.ltid")
    m = MountLog(3, log)
    with caplog.at_level(logging.WARNING, logger="test.ltid"):
        m.check({1: request(1, T), 2: request(2, T + 170)}, T + 180)
        m.check({1: request(1, T), 2: request(2, T + 170)}, T + 181)  # 1 again: no
        m.check({1: request(1, T)}, T + 400)  # 2 was satisfied: never logged
    assert [r.getMessage() for r in caplog.records] == [
        "mount request 1 pending 3 minute(s): media A00001 (A00001L6) in drive DRV0 for "
        "job 7, write"]
    assert m.logged == {1}
    m.check({}, T + 500)
    assert m.logged == set()


def test_the_minutes_come_from_the_ltid_command_only_as_a_count() -> None:
    assert minutes_from_env({ltid_logmounts.ENV: "0"}) == 0
    assert minutes_from_env({ltid_logmounts.ENV: "3"}) == 3
    assert minutes_from_env({}) is None
    assert minutes_from_env({ltid_logmounts.ENV: "-1"}) is None
    assert minutes_from_env({ltid_logmounts.ENV: "x"}) is None
    assert line({**request(4, T), "mode": "r"}, 0).startswith("mount request 4 new: ")
