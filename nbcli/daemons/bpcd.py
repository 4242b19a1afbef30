"""bpcd: starts programs for servers, inetd-style, and answers config requests.

It also carries a local user's backup request (bpbackup, bparchive) to the master, vouching
for the user the kernel says is asking.

A server (a host in this host's SERVER or MEDIA_SERVER list) asks bpcd to launch one of the
per-job agents (bpbrm, bpbkar, tar-restore). bpcd replies, then starts the program with the
connection itself as its stdin and stdout: from then on the asker talks to the program, not to
bpcd. A program launched once is kept as a spare for the next time (nbcli.net.spare).
Anyone else gets status 46 and nothing runs. Only those programs can be launched
(programs.BPCD_LAUNCHES); arguments are passed as a list, never through a shell.
"""

from __future__ import annotations

import pwd
from collections.abc import Callable

from nbcli import config, exclude_lists, programs
from nbcli.client import identity
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.bprd import apply_renames
from nbcli.net import client, enrol
from nbcli.net.conn import Connection
from nbcli.net.service import DETACHED, Ops, Result, audited, op
from nbcli.net.spare import Spares
from nbcli.net.trust import ADMIN, ANYONE, USER, server_of
from nbcli.status import CLIENT_NOT_VALIDATED_FOR_OP, EXEC_FAILED, SERVER_NOT_ALLOWED, NbuError
from nbcli.wire.frames import MAX_FRAME, Message
from nbcli.wire.schema import opt, req

STRINGS = opt(list, [], items=req(str))
LIST = {"kind": req(str, choices=frozenset(exclude_lists.KINDS)), "policy": opt(str),
        "schedule": opt(str)}


class Bpcd(Daemon):
    """the client daemon: launches per-job programs for servers"""

    name = "bpcd"

    def __init__(self, cfg: config.HostConfig) -> None:
        super().__init__(cfg)
        self.spares = Spares(self.cfg.root, new_session=True)

    def on_stop(self) -> None:
        self.spares.close()

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        # Every host keeps its certificate renewed and its CRL fresh (hourly by default).
        return [*super().periodic(), *enrol.periodic(lambda: self.cfg, self.log)]

    def services(self) -> dict[str, Ops]:
        return {"bpcd": audited({
            "launch": op(self.launch, ADMIN, program=req(str), args=STRINGS),
            # bpbackup/bparchive: what bprd's user_backup takes from a user (bpcd adds who).
            "user_request": op(self.user_request, USER, policy=opt(str), schedule=opt(str),
                               paths=STRINGS, archive=opt(bool, False)),
            # bprestore by a user: what bprd's restore takes (bpcd adds who, and the client)
            "user_restore": op(self.user_restore, USER, client=opt(str), paths=STRINGS,
                               start=opt(int), end=opt(int),
                               renames=opt(list, [], items=req(list, items=req(str))),
                               keep_existing=opt(bool, False)),
            "ping": op(self.ping, ANYONE),
            "getconfig": op(self.getconfig, ADMIN, keys=opt(list, items=req(str))),
            "setconfig": op(self.setconfig, ADMIN, text=req(str, max_len=MAX_FRAME),
                            add=opt(bool, False), remove=opt(bool, False)),
            # bpgetconfig / bpsetconfig -e|-i [-c policy [-s schedule]]: one list, whole
            "getlist": op(self.getlist, ADMIN, **LIST),
            "setlist": op(self.setlist, ADMIN, **LIST, lines=STRINGS)},
            "setconfig", "setlist")}

    def _require_server(self, conn: Connection, what: str) -> str:
        who = server_of(self.cfg, conn)
        if who is None:
            self.log.warning("refused %s from %s (%s): not in SERVER list", what,
                             conn.address, conn.peer)
            raise NbuError(SERVER_NOT_ALLOWED,
                           f"{conn.peer} ({conn.address}) is not in the SERVER list of "
                               f"{self.cfg.client_name}")
        return who

    def launch(self, msg: Message, conn: Connection) -> Result:
        who = self._require_server(conn, "launch")
        program, args = msg["program"], msg["args"]
        if program not in programs.BPCD_LAUNCHES:
            raise NbuError(EXEC_FAILED, f"bpcd does not launch {program!r}")
        # Reply first: once the program owns the socket, bpcd must not write to it again.
        conn.send({"status": 0, "host": self.cfg.client_name})
        try:
            child = self.spares.launch(program, conn.sock.fileno(), args)
        except OSError as e:
            self.log.error("cannot start %s: %s", program, e)
            conn.close()
            return DETACHED
        conn.close()  # the child holds the connection now (self.spares reaps it)
        self.log.info("launched %s (pid %d) for %s", program, child.pid, who)
        return DETACHED

    def user_request(self, msg: Message, conn: Connection) -> Message:
        """A user's bpbackup/bparchive on this host, to the master's bprd, with the user's
        identity as the kernel gave it to PBX - the master cannot see it, bpcd vouches for it
        by speaking from a privileged port."""
        if conn.address != "local" or conn.uid is None:
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           "user requests are taken from users of this host only")
        try:
            user = pwd.getpwuid(conn.uid).pw_name
        except KeyError:
            user = str(conn.uid)
        fields = {k: msg[k] for k in ("policy", "schedule", "paths", "archive")}
        with client.connect(self.cfg, self.cfg.master, "bprd", privileged=True) as bprd:
            return bprd.request("user_backup", **fields, client=self.cfg.client_name,
                                uid=conn.uid, gid=conn.gid, user=user)

    def user_restore(self, msg: Message, conn: Connection) -> Message:
        """A user's bprestore on this host, to the master's bprd, with the user's identity
        as the kernel gave it: the files come back to this client, where the user may write
        them (checked here, and tar-restore writes as the user)."""
        if conn.address != "local" or conn.uid is None:
            raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                           "user requests are taken from users of this host only")
        uid = int(conn.uid)
        gid = int(conn.gid) if conn.gid is not None else uid
        user, groups = identity.user_groups(uid, gid)
        for path in msg["paths"]:
            target = apply_renames(path, msg["renames"])
            if uid != 0 and not identity.may_write(target, uid, groups):
                raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                               f"uid {uid} may not write {target}: restore refused")
        fields = {k: msg[k] for k in ("paths", "start", "end", "renames", "keep_existing")}
        with client.connect(self.cfg, self.cfg.master, "bprd", privileged=True) as bprd:
            return bprd.request("restore", **fields, client=msg["client"] or self.cfg.client_name,
                                dest_client=self.cfg.client_name, owner=user,
                                uid=uid, gid=gid, user=user)

    def ping(self, msg: Message, conn: Connection) -> Message:
        # system, release, install_path: what `bpgetconfig -g` prints of this host.
        u = __import__("os").uname()
        return {"host": self.cfg.client_name, "roles": self.cfg.roles,
                "version": __import__("nbcli").__version__, "system": u.sysname,
                "release": u.release, "install_path": str(self.cfg.paths.netbackup / "bin")}

    def getconfig(self, msg: Message, conn: Connection) -> Message:
        self._require_server(conn, "getconfig")
        keys = msg["keys"] or None
        return {"lines": config.to_bpconf_lines(self.cfg, keys)}

    def setconfig(self, msg: Message, conn: Connection) -> Message:
        self._require_server(conn, "setconfig")
        cfg = config.load(self.cfg.root)
        settings = config.parse_bpconf(msg["text"])
        config.apply_settings(cfg, settings, add=msg["add"], remove=msg["remove"])
        cfg.save()
        self.cfg = cfg
        return {}

    def getlist(self, msg: Message, conn: Connection) -> Message:
        """One exclude or include list as stored (None: there is none)."""
        self._require_server(conn, "getlist")
        return {"lines": exclude_lists.read(config.load(self.cfg.root), msg["kind"],
                                            msg["policy"], msg["schedule"])}

    def setlist(self, msg: Message, conn: Connection) -> Message:
        """Replace one exclude or include list (the client's own one is in bp.toml)."""
        self._require_server(conn, "setlist")
        cfg = config.load(self.cfg.root)
        exclude_lists.write(cfg, msg["kind"], msg["lines"], msg["policy"], msg["schedule"])
        self.cfg = cfg
        return {}


main = daemon_main(Bpcd)
