"""Helpers of the tests that drive nbpem with the test clock."""

from __future__ import annotations

import time

from nbcli.net import client
from tests.conftest import Host

DAY = 86400


def local_midnight_in_a_year() -> int:
    """A day boundary in the future: files changed now are older than every simulated backup,
    so only the mtimes the test sets decide what an incremental takes."""
    t = time.localtime(time.time() + 366 * DAY)
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))


def jobs(host: Host) -> list[dict]:
    return client.call(host.cfg, host.name, "bpjobd", "job_list")["jobs"]


def wake(host: Host) -> None:
    """One look by nbpem at what is due, now (the same as its tick, without waiting for it)."""
    client.call(host.cfg, host.name, "nbpem", "wake")
