"""nbproxy: nbjm's way to bpdbm - relays each catalog request and its reply frames.

Place: a master daemon between nbjm and bpdbm (docs/protocol.md "Catalog"). It holds no state.
It checks each request against bpdbm's own declaration of the op's fields (image_ops.py), then
looks at nothing but the `status` field: each request goes to bpdbm on this host over a
connection of its own, and every frame bpdbm sends back is passed on unchanged until the one
that carries a status (a plain reply, an error, or the last frame of a file_list stream).
"""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.image_ops import CATALOG_OPS, IMAGE_OPS
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Op, Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import CONNECTION_BROKEN, NbuError
from nbcli.wire.frames import Message


class Nbproxy(Daemon):
    """nbjm's way to bpdbm: relays catalog requests"""

    name = "nbproxy"

    def services(self) -> dict[str, Ops]:
        # bpdbm's own fields: a request nbproxy passes on is one bpdbm takes.
        # nbjm's relay to bpdbm speaks as root: only this host's root and servers may use it
        ops: Ops = {name: Op(self.relay, ADMIN, IMAGE_OPS[name]) for name in CATALOG_OPS}
        ops["ping"] = op(self.ping, ANYONE)
        return {"nbproxy": ops}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def relay(self, msg: Message, conn: Connection) -> None:
        with client.connect(self.cfg, self.cfg.client_name, "bpdbm") as bpdbm:
            # Defaults filled in are null or bpdbm's own defaults: the same request to bpdbm.
            bpdbm.send(msg)
            while True:
                try:
                    reply = bpdbm.recv()
                except EOFError as e:
                    raise NbuError(CONNECTION_BROKEN,
                                   f"bpdbm closed the connection during {msg['op']}") from e
                conn.send(reply)
                if "status" in reply:
                    return None


main = daemon_main(Nbproxy)
