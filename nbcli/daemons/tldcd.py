"""tldcd: the robotic control process of TLD robots, on the robot control host.

The only process that drives a changer: tldd (the robotic process on each host with drives in
the robot), robtest and vmupdate ask it for inventories and single moves. Moves of one robot
are serialised here (one at a time, each taking the library's move time), as a SCSI changer
takes one MOVE MEDIUM at a time; a failed move leaves the cartridge where it was and answers
with the changer's status (nbcli.vtl.api.status_for).

Robots come from EMM (mmconf.RobotBook): a request names the robot number, tldcd looks up
its device. Nothing of its own outlives it: the library's state is the library's (a move is
one atomic replace of library.toml), so a tldcd killed mid-move leaves the cartridge where
it was or where it went, never in between.

Place: a daemon; imports robots (the devices), mmconf, net, status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from nbcli.config import HostConfig
from nbcli.daemons import robots
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.mmconf import RobotBook
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, audited, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import INVALID_PARAMETER, NbuError
from nbcli.vtl.api import Changer, ChangerError
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

ELEMENT_MAX = 100_000


class Tldcd(Daemon):
    """the TLD robotic control process: the one that moves cartridges"""

    name = "tldcd"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.robots = RobotBook(cfg)
        self._locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def services(self) -> dict[str, Ops]:
        rn = req(int, lo=0, hi=32767)  # as EMM numbers robots
        element = req(int, lo=0, hi=ELEMENT_MAX)
        ops = {
            "ping": op(self.ping, ANYONE),
            "inventory": op(self.inventory, ADMIN, rn=rn, settled=opt(bool, False)),
            "load": op(self.load, ADMIN, rn=rn, slot=element, drive=element),
            "unload": op(self.unload, ADMIN, rn=rn, drive=element,
                         slot=opt(int, None, lo=1, hi=ELEMENT_MAX)),
            "transfer": op(self.transfer, ADMIN, rn=rn, source=element, target=element),
            "learn": op(self.learn, ADMIN),
        }
        return {"tldcd": audited(ops, "transfer")}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def learn(self, msg: Message, conn: Connection) -> Message:
        """EMM's robots again now (tpconfig changed one), not FRESH_SECONDS later."""
        return {"robots": len(self.robots.refresh())}

    def _lock(self, rn: int) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(rn, threading.Lock())

    def _changer(self, rn: int) -> Changer:
        robot = self.robots.get(rn)
        if robot.host and not self.cfg.is_local(robot.host):
            raise NbuError(INVALID_PARAMETER, f"robot {rn} is controlled from {robot.host}, "
                           f"not from {self.cfg.client_name}")
        return robots.changer(robot.device)

    def inventory(self, msg: Message, conn: Connection) -> Message:
        """The robot's elements. A virtual library's state is read without waiting for a
        move in progress (its file is replaced whole), unless `settled`: tldd plans a
        mount's moves from it, and a move still in progress (asked by a tldd that died, or
        by another media server's) would make the plan wrong ("source element is empty").
        A real changer is always asked between moves."""
        rn = msg["rn"]
        changer = self._changer(rn)
        try:
            if robots.is_virtual(self.robots.get(rn).device) and not msg["settled"]:
                return robots.inventory_record(changer.inventory())
            with self._lock(rn):
                return robots.inventory_record(changer.inventory())
        except ChangerError as e:
            raise robots.changer_error(e, f"robot {rn}: inventory") from e

    def load(self, msg: Message, conn: Connection) -> Message:
        what = f"robot {msg['rn']}: slot {msg['slot']} to drive {msg['drive']}"
        return self._move(msg["rn"], what, lambda c: c.load(msg["slot"], msg["drive"]))

    def unload(self, msg: Message, conn: Connection) -> Message:
        into = f"slot {msg['slot']}" if msg["slot"] else "its home slot"
        what = f"robot {msg['rn']}: drive {msg['drive']} to {into}"
        return self._move(msg["rn"], what, lambda c: c.unload(msg["drive"], msg["slot"]))

    def transfer(self, msg: Message, conn: Connection) -> Message:
        what = f"robot {msg['rn']}: element {msg['source']} to {msg['target']}"
        return self._move(msg["rn"], what, lambda c: c.transfer(msg["source"], msg["target"]))

    def _move(self, rn: int, what: str, move: Callable[[Changer], None]) -> Message:
        changer = self._changer(rn)
        with self._lock(rn):
            try:
                move(changer)
            except ChangerError as e:
                self.log.warning("%s failed: %s", what, e)
                raise robots.changer_error(e, what) from e
        self.log.info("%s done", what)
        return {}


main = daemon_main(Tldcd)
