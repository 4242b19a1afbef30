"""The user commands' checks that run before anything is asked of the master: `-w hh:mm:ss`
(bpbackup, bparchive, bprestore) and bpimagelist's -hoursago."""

from __future__ import annotations

import pytest

from nbcli.commands._userreq import parse_wait
from nbcli.commands.bpimagelist import time_range
from nbcli.status import NbuError


@pytest.mark.parametrize("given,seconds", [(None, None), ("", None), ("00:00:00", None),
                                           ("01:02:03", 3723.0), ("5:00", 300.0),
                                           ("59", 59.0), ("99:59:59", 359999.0)])
def test_wait_clocks(given: str | None, seconds: float | None) -> None:
    assert parse_wait(given) == seconds


@pytest.mark.parametrize("given", ["99:99:99", "00:60:00", "00:00:60", "1:2:3:4", "a:b",
                                   "-1:00", "100:00:00", "1e3", " 5", "5:"])
def test_a_wait_clock_out_of_range_is_status_20(given: str) -> None:
    with pytest.raises(NbuError) as e:
        parse_wait(given)
    assert e.value.status == 20


def test_hoursago_before_1970_is_status_20() -> None:
    with pytest.raises(NbuError) as e:
        time_range(None, None, 10**20, None)
    assert e.value.status == 20
    start, _ = time_range(None, None, 1, None)
    assert start is not None and start > 0
