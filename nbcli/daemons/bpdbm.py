"""bpdbm: the image catalog manager: header and .f files of every backup image."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Bpdbm(Daemon):
    """the image catalog manager: header and .f files of every backup image"""

    name = "bpdbm"

    def services(self) -> dict[str, Ops]:
        return {"bpdbm": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Bpdbm)
