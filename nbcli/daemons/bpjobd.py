"""bpjobd: the jobs database: what bpdbjobs (the Activity Monitor) shows."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Bpjobd(Daemon):
    """the jobs database: what bpdbjobs (the Activity Monitor) shows"""

    name = "bpjobd"

    def services(self) -> dict[str, Ops]:
        return {"bpjobd": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Bpjobd)
