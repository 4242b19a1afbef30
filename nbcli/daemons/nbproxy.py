"""nbproxy: nbjm's way to bpdbm: relays catalog requests."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Nbproxy(Daemon):
    """nbjm's way to bpdbm: relays catalog requests"""

    name = "nbproxy"

    def services(self) -> dict[str, Ops]:
        return {"nbproxy": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Nbproxy)
