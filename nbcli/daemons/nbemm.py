"""nbemm: the Enterprise Media Manager: hosts, storage units, media; allocates them."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Nbemm(Daemon):
    """the Enterprise Media Manager: hosts, storage units, media; allocates them"""

    name = "nbemm"

    def services(self) -> dict[str, Ops]:
        return {"nbemm": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Nbemm)
