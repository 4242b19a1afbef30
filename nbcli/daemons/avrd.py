"""avrd: automatic volume recognition on a media server - reads the media header of loaded
tapes and reports the media id it records (RecMID).

Two ways a tape gets read:
- ltid's mount asks (`read`) once the robot has loaded the cartridge; ltid compares the
  recorded id with the one it mounts for (status 93 when they differ);
- every AVRD_SCAN_DELAY seconds (bp.toml, default 15) avrd asks ltid for a loaded drive it
  did not mount and has not had read (`avr_next`), reads it and reports (`avr_label`): so
  `vmoprcmd -d` shows what a cartridge an operator loaded by hand really is. ltid hands out
  one drive at a time and holds mounts of that drive until the report comes back, so avrd
  and the robot never reach for the same cartridge at once.

Reading opens the drive read-only, rewinds, reads the first record, rewinds and closes
(nbcli.daemons.robots.read_label); a drive a process has open is never touched (97).

Place: a daemon; imports robots, mmconf, net, status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from nbcli.config import HostConfig
from nbcli.daemons import robots
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.mmconf import RobotBook
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import INVALID_PARAMETER, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

SCAN_DELAY = 15.0


class Avrd(Daemon):
    """the automatic volume recognition daemon: reads media headers"""

    name = "avrd"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.robots = RobotBook(cfg)
        self._busy = threading.Lock()  # one read at a time: a host's drives share its bus

    def services(self) -> dict[str, Ops]:
        return {"avrd": {
            "ping": op(self.ping, ANYONE),
            "read": op(self.read, ADMIN, rn=req(int, lo=-1, hi=32767),
                       drnum=req(int, lo=0, hi=100_000), path=opt(str, "")),
        }}

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        delay = float(self.cfg.get("AVRD_SCAN_DELAY", SCAN_DELAY))
        return [(max(delay, 0.2), self.scan)]

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def read(self, msg: Message, conn: Connection) -> Message:
        label = self._read(msg["rn"], msg["drnum"], msg["path"])
        self.log.info("drive %d of robot %d (%s): %s", msg["drnum"], msg["rn"], msg["path"],
                      label)
        return label.record()

    def _read(self, rn: int, drnum: int, path: str) -> robots.Label:
        """A robot's drive by EMM's device of the robot, a standalone one by its /dev path:
        never a file a request names."""
        if rn >= 0:
            device = self.robots.get(rn).device
        elif path.startswith("/dev/"):
            device = ""
        else:
            raise NbuError(INVALID_PARAMETER, f"a standalone drive's path is a device "
                           f"(/dev/nstN), not {path!r}")
        with self._busy:
            return robots.read_label(robots.drive(device, drnum, path))

    def scan(self) -> None:
        """Read the loaded drives ltid has not mounted and not had read, one at a time."""
        me = self.cfg.client_name
        for _ in range(64):
            try:
                todo = client.call(self.cfg, me, "ltid", "avr_next")
            except NbuError as e:
                self.log.debug("ltid: %s", e)
                return
            if not todo.get("name"):
                return
            report: Message = {"name": todo["name"], "barcode": todo["barcode"]}
            try:
                label = self._read(todo["rn"], todo["drnum"], todo["path"])
                report.update(label.record())
                self.log.info("drive %s holds %s: %s", todo["name"], todo["barcode"], label)
            except NbuError as e:
                self.log.warning("drive %s: %s", todo["name"], e)
                report["failed"] = e.status
            try:
                client.call(self.cfg, me, "ltid", "avr_label", **report)
            except NbuError as e:
                self.log.warning("ltid did not take the label of %s: %s", todo["name"], e)
                return


main = daemon_main(Avrd)
