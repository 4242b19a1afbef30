"""vmd: the Media Manager volume daemon on the master - remote media-database requests.

Media servers and their commands (vmupdate run on a media server, robtest, tpreq) reach the
volume database through vmd, as NetBackup's Media Manager commands do: vmd checks the request
(fields and who asks: a server of this master, or root here) and forwards it to nbemm, which
owns the EMM database; nbemm's answer (or its status) goes back unchanged. Fields left out
stay out, so nbemm's own defaults apply.

    media_list / media_add / media_change / media_delete     volumes
    pool_list                                                volume pools
    robot_list / drive_list                                  devices

Place: a daemon; imports net, status.
"""

from __future__ import annotations

from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Handler, Ops, audited, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.wire.frames import Message
from nbcli.wire.schema import Field, opt, req

MEDIA_ID = 6


class Vmd(Daemon):
    """the Media Manager volume daemon: the media database for other hosts"""

    name = "vmd"

    def services(self) -> dict[str, Ops]:
        media_id = req(str, max_len=MEDIA_ID)
        text = opt(str, None, max_len=256)
        number = opt(int, None, lo=-1, hi=2**31 - 1)
        fields: dict[str, dict[str, Field]] = {
            "media_list": {"media_id": opt(str, None, max_len=MEDIA_ID), "pool": text,
                           "rn": number},
            "media_add": {"media_id": media_id, "type": req(str, max_len=32),
                          "barcode": opt(str, None, max_len=16), "pool": text,
                          "rt": opt(str, None, max_len=16), "rn": number, "slot": number,
                          "max_mounts": number, "description": text},
            "media_change": {"media_id": media_id, "pool": text, "rn": number,
                             "slot": number, "max_mounts": number, "description": text},
            "media_delete": {"media_id": media_id},
            "pool_list": {},
            "robot_list": {},
            "drive_list": {"host": opt(str, None, max_len=256)},
        }
        ops: Ops = {"ping": op(self.ping, ANYONE)}
        for name, declared in fields.items():
            ops[name] = op(self._forward(name), ADMIN, **declared)
        return {"vmd": audited(ops, "media_add", "media_change", "media_delete")}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def _forward(self, name: str) -> Handler:
        def forward(msg: Message, conn: Connection) -> Message:
            fields = {k: v for k, v in msg.items() if k != "op" and v is not None}
            reply = client.call(self.cfg, self.cfg.client_name, "nbemm", name, **fields)
            self.log.info("%s for %s: forwarded to nbemm", name, conn.peer)
            return {k: v for k, v in reply.items() if k not in ("status", "msg")}

        forward.__name__ = name
        return forward


main = daemon_main(Vmd)
