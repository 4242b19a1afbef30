"""nbrb: the resource broker: enforces job limits and asks nbemm for resources."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Nbrb(Daemon):
    """the resource broker: enforces job limits and asks nbemm for resources"""

    name = "nbrb"

    def services(self) -> dict[str, Ops]:
        return {"nbrb": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Nbrb)
