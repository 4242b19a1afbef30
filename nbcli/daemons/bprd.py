"""bprd: the request daemon: manual and user backups, restores."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Bprd(Daemon):
    """the request daemon: manual and user backups, restores"""

    name = "bprd"

    def services(self) -> dict[str, Ops]:
        return {"bprd": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Bprd)
