"""tldd: the TLD robotic process on a host with drives in a TLD robot.

ltid asks it to put a cartridge into a drive or to take one out; tldd plans the moves from
the robot's inventory and has tldcd (the robotic control process, on the robot control host)
make them one by one:

    mount rn drive barcode     the cartridge is already there: nothing; it sits in another
                               drive (kept loaded after an unmount): that drive goes home
                               first; the drive holds another cartridge: it goes home first;
                               then slot -> drive
    unmount rn drive           drive -> the slot the cartridge came from
    inventory rn               what tldcd sees

ltid has checked that the drives involved are not in use; tldcd refuses to pull a cartridge
out of a drive a process still has open (97). tldd keeps no state: a tldd killed mid-mount
leaves the robot as its last finished move left it, and ltid's next mount plans again from
the inventory.

Place: a daemon; imports mmconf, mm_again, net, status.
"""

from __future__ import annotations

from typing import Any

from nbcli.config import HostConfig
from nbcli.daemons import mm_again
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.mmconf import RobotBook
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import MEDIA_REQUEST_FAILED, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import req

MOVE_TIMEOUT = 900.0  # a real robot's slowest move, with retries


def plan(inventory: dict[str, Any], drive: int, barcode: str) -> list[tuple[str, int, int]]:
    """The moves that put `barcode` into drive `drive`: ("unload", drive, 0) and
    ("load", slot, drive) steps; [] when it is there. NbuError 98 when the robot does not
    hold it in a drive or a slot (a cartridge in the mail slot is not in the library yet:
    vmupdate moves it in)."""
    drives = {int(d["number"]): d for d in inventory.get("drives", [])}
    if drive not in drives:
        raise NbuError(MEDIA_REQUEST_FAILED, f"the robot has no drive {drive}")
    here = drives[drive]
    if here["full"] and here["barcode"] == barcode:
        return []
    steps: list[tuple[str, int, int]] = []
    elsewhere = [n for n, d in drives.items() if d["full"] and d["barcode"] == barcode]
    if elsewhere:
        source = drives[elsewhere[0]].get("source")
        if not source:
            raise NbuError(MEDIA_REQUEST_FAILED, f"cartridge {barcode} is in drive "
                           f"{elsewhere[0]} and its home slot is unknown")
        steps.append(("unload", elsewhere[0], 0))
        slot = int(source)
    else:
        slots = [int(s["number"]) for s in inventory.get("slots", [])
                 if s["full"] and s["barcode"] == barcode]
        if not slots:
            raise NbuError(MEDIA_REQUEST_FAILED, f"cartridge {barcode} is not in a slot of "
                           f"the robot")
        slot = slots[0]
    if here["full"]:
        steps.append(("unload", drive, 0))
    steps.append(("load", slot, drive))
    return steps


class Tldd(Daemon):
    """the TLD robotic process: mounts and unmounts for ltid"""

    name = "tldd"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.robots = RobotBook(cfg)

    def services(self) -> dict[str, Ops]:
        rn = req(int, lo=0, hi=32767)  # as EMM numbers robots
        drive = req(int, lo=0, hi=100_000)
        return {"tldd": {
            "ping": op(self.ping, ANYONE),
            "inventory": op(self.inventory, ADMIN, rn=rn),
            "mount": op(self.mount, ADMIN, rn=rn, drive=drive, barcode=req(str, max_len=16)),
            "unmount": op(self.unmount, ADMIN, rn=rn, drive=drive),
            "learn": op(self.learn, ADMIN),
        }}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def learn(self, msg: Message, conn: Connection) -> Message:
        """EMM's robots again now (tpconfig changed one), not FRESH_SECONDS later."""
        return {"robots": len(self.robots.refresh())}

    def _tldcd(self, rn: int, op_name: str, **fields: Any) -> Message:
        robot = self.robots.get(rn)
        host = robot.host or self.cfg.client_name
        # a tldcd not reached (dead, being started again by ltid) is waited for and asked
        # once more; one that died during a move is not: the move may have been made
        return mm_again.again(self.cfg, host, "tldcd", lambda: client.call(
            self.cfg, host, "tldcd", op_name, recv_timeout=MOVE_TIMEOUT, rn=rn, **fields),
            when=mm_again.NOT_REACHED)

    def inventory(self, msg: Message, conn: Connection) -> Message:
        return self._tldcd(msg["rn"], "inventory")

    def mount(self, msg: Message, conn: Connection) -> Message:
        rn, drive, barcode = msg["rn"], msg["drive"], msg["barcode"]
        steps = plan(self._tldcd(rn, "inventory", settled=True), drive, barcode)
        for kind, a, b in steps:
            if kind == "unload":
                self._tldcd(rn, "unload", drive=a)
            else:
                self._tldcd(rn, "load", slot=a, drive=b)
        self.log.info("robot %d: %s in drive %d (%d moves)", rn, barcode, drive, len(steps))
        return {"moved": len(steps)}

    def unmount(self, msg: Message, conn: Connection) -> Message:
        rn, drive = msg["rn"], msg["drive"]
        inv = self._tldcd(rn, "inventory", settled=True)
        held = [d for d in inv.get("drives", []) if int(d["number"]) == drive and d["full"]]
        if not held:
            return {"barcode": ""}
        self._tldcd(rn, "unload", drive=drive)
        self.log.info("robot %d: drive %d unloaded (%s)", rn, drive, held[0]["barcode"])
        return {"barcode": held[0]["barcode"]}


main = daemon_main(Tldd)
