"""What the Media Manager daemons know of robots: EMM's robot list, fetched from nbemm on the
master and cached, fetched again when a request names a robot the cache does not have (an
administrator ran tpconfig since) or the cache is older than FRESH_SECONDS (a robot's path
changed: tpconfig -update -robot); while the master does not answer, the cache serves.

Place: used by ltid, tldd and tldcd. Imports net (the client) and status.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import NO_ENTITY, NbuError

FRESH_SECONDS = 5.0  # a robot's path may change under a running tldcd or tldd


@dataclass(frozen=True)
class Robot:
    rn: int
    rt: str        # robot type: "tld"
    host: str      # the robot control host (where tldcd drives it)
    device: str    # the virtual library's home, or /dev/sgN

    @classmethod
    def of(cls, rec: dict[str, Any]) -> Robot:
        return cls(int(rec["rn"]), str(rec.get("rt") or "tld"), str(rec.get("host") or ""),
                   str(rec.get("device") or ""))


class RobotBook:
    """EMM's robots, as this host last heard of them."""

    def __init__(self, cfg: HostConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._robots: dict[int, Robot] = {}
        self._fetched = float("-inf")  # time.monotonic() of the last fetch

    def refresh(self) -> dict[int, Robot]:
        reply = client.master_call(self.cfg, "nbemm", "robot_list")
        robots = {r.rn: r for r in (Robot.of(x) for x in reply.get("robots", []))}
        with self._lock:
            self._robots = robots
            self._fetched = time.monotonic()
        return robots

    def get(self, rn: int) -> Robot:
        """Robot `rn` (NbuError 227 when EMM has no such robot)."""
        with self._lock:
            found = self._robots.get(rn)
            stale = time.monotonic() - self._fetched > FRESH_SECONDS
        if found is None:
            found = self.refresh().get(rn)
        elif stale:
            try:
                found = self.refresh().get(rn)
            except NbuError:
                pass  # the master away: the robot as last heard of
        if found is None:
            raise NbuError(NO_ENTITY, f"robot number {rn} is not configured in EMM")
        return found

    def known(self) -> list[Robot]:
        with self._lock:
            return sorted(self._robots.values(), key=lambda r: r.rn)
