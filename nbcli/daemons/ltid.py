"""ltid: the Media Manager device daemon: mounts tapes in drives."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.wire.frames import Message


class Ltid(Daemon):
    """the Media Manager device daemon: mounts tapes in drives"""

    name = "ltid"

    def services(self) -> dict[str, Ops]:
        return {"ltid": {"ping": self.ping}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Ltid)
