"""nbpem: the policy execution manager: due times, job starts, retries."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Nbpem(Daemon):
    """the policy execution manager: due times, job starts, retries"""

    name = "nbpem"

    def services(self) -> dict[str, Ops]:
        return {"nbpem": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Nbpem)
