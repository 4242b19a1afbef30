"""nbjm: the job manager: queues jobs, gets their resources, runs them, completes them."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Nbjm(Daemon):
    """the job manager: queues jobs, gets their resources, runs them, completes them"""

    name = "nbjm"

    def services(self) -> dict[str, Ops]:
        return {"nbjm": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Nbjm)
