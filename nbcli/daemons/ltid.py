"""ltid: the Media Manager device daemon. Disk storage units need no mounting, so for now it
only answers ping: tape drives and robots are not part of nbcli yet."""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ANYONE
from nbcli.wire.frames import Message


class Ltid(Daemon):
    """the Media Manager device daemon (tape support is not there yet: it answers ping)"""

    name = "ltid"

    def services(self) -> dict[str, Ops]:
        return {"ltid": {"ping": op(self.ping, ANYONE)}}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}


main = daemon_main(Ltid)
