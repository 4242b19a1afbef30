"""ltid: the Media Manager device daemon of a media server.

Serves mount and unmount requests (bptm), drive states and the drive status table
(vmoprcmd), user mounts (tpreq/tpunmount), and avrd's reads of drives it did not mount. The
rules live in ltid_mount.py (Mounter) and ltid_drives.py; this module is the op table and the
real ports: nbemm on the master (drive_list, robot_list, drive_loaded, drive_update,
media_list), tldd (moves) and avrd (media headers) on this host.

ltid learns its drives and robots from nbemm at start (when nbemm does not answer yet - it may
be starting too, or the master be away - again every LEARN_TICK seconds until it does), when
told (`learn`, after tpconfig), when a mount names a drive it does not know, and before each
`drive_status` (vmoprcmd shows EMM's UP/DOWN as tpconfig left them). It does not poll nbemm
otherwise: an idle media server costs the master nothing. A cartridge stays
in its drive MEDIA_UNMOUNT_DELAY seconds (bp.toml, default 180) after an unmount; a periodic
task sends it home. Every SYNC_EVERY seconds it reads the robots' inventories again, so that
a cartridge an operator moved (nbvtl, robtest) shows, and avrd reads it. Every REAP_EVERY
seconds it frees the drives whose mounting process died without unmounting (Mounter.reap).

Started by `ltid -logmounts [minutes]`, it logs the mount requests that wait that long
through syslogd and in its log (ltid_logmounts).

ltid keeps avrd and the robot daemons of this host running (ltid_children: started again
within WATCH_EVERY seconds when one dies). `ltid -serve` is the daemon; `ltid` typed by an
administrator starts the Media Manager daemons and returns (ltid_command), as NetBackup's.

Place: a daemon; imports ltid_mount, ltid_drives, ltid_withdraw, ltid_children,
ltid_command, mm_again, net, status (and psutil, for the processes that hold mounts).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from nbcli.config import HostConfig
from nbcli.daemons import ltid_command, ltid_logmounts, ltid_withdraw, mm_again
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.ltid_children import WATCH_EVERY, Children
from nbcli.daemons.ltid_drives import Drive
from nbcli.daemons.ltid_mount import Mounter, check_state
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, audited, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import INVALID_PARAMETER, MEDIA_NOT_IN_POOL, NO_ENTITY, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

UNMOUNT_DELAY = 180.0  # NetBackup's MEDIA_UNMOUNT_DELAY default
LEARN_TICK = 1.0
SYNC_EVERY = 5.0  # a cartridge an operator moved shows in vmoprcmd (and avrd reads it)
MOVE_TIMEOUT = 1800.0  # tldd may unload, then load: two slow robot moves
JOBID_MAX = 2**63 - 1
REAP_EVERY = 1.0  # how soon a drive whose mounting process died is free again
HOLDER_WAIT = 60.0  # how long a job's mount waits for another job's bptm to let go


def owner_of(conn: Connection) -> tuple[int, float] | None:
    """The local process that asks for a mount (pid, start time), None when the kernel does
    not name one (a TCP peer): a pid alone could be another process's by the time it is
    looked at again."""
    pid = conn.local_pid()
    if pid is None:
        return None
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(owner: tuple[int, float]) -> bool:
    """Whether the process `owner` names still runs (a zombie does not: it is dead, only
    not reaped yet); True when psutil cannot tell, so that no live mount is freed."""
    pid, started = owner
    try:
        p = psutil.Process(pid)
        return p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


class Ports:
    """Mounter's ports over PBX: nbemm on the master, tldd and avrd here."""

    def __init__(self, cfg: HostConfig) -> None:
        self.cfg = cfg

    @property
    def me(self) -> str:
        return self.cfg.client_name

    def emm_drives(self) -> list[dict[str, Any]]:
        reply = client.master_call(self.cfg, "nbemm", "drive_list", host=self.me)
        return [d for d in reply.get("drives", []) if d.get("host", self.me) == self.me]

    def emm_robots(self) -> list[dict[str, Any]]:
        return list(client.master_call(self.cfg, "nbemm", "robot_list").get("robots", []))

    def emm_loaded(self, name: str, media_id: str) -> None:
        client.master_call(self.cfg, "nbemm", "drive_loaded", name=name, host=self.me,
                           media_id=media_id)

    def emm_state(self, name: str, state: str) -> None:
        client.master_call(self.cfg, "nbemm", "drive_update", name=name, host=self.me,
                           state=state)

    # avrd, tldd and tldcd are started again when they die (ltid_children): a mount asks
    # once more rather than failing (mm_again says why each of these may be asked twice)

    def robot_mount(self, rn: int, drnum: int, barcode: str) -> None:
        mm_again.again(self.cfg, self.me, "tldd", lambda: client.call(
            self.cfg, self.me, "tldd", "mount", recv_timeout=MOVE_TIMEOUT, rn=rn,
            drive=drnum, barcode=barcode))

    def robot_unmount(self, rn: int, drnum: int) -> None:
        mm_again.again(self.cfg, self.me, "tldd", lambda: client.call(
            self.cfg, self.me, "tldd", "unmount", recv_timeout=MOVE_TIMEOUT, rn=rn,
            drive=drnum))

    def robot_inventory(self, rn: int) -> dict[str, Any]:
        return client.call(self.cfg, self.me, "tldd", "inventory", rn=rn)

    def read_label(self, drive: Drive) -> dict[str, Any]:
        return mm_again.again(self.cfg, self.me, "avrd", lambda: client.call(
            self.cfg, self.me, "avrd", "read", recv_timeout=300.0, rn=drive.rn,
            drnum=drive.drnum, path=drive.path))


class Ltid(Daemon):
    """the Media Manager device daemon: mounts, drive states, user tape requests"""

    name = "ltid"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        delay = float(cfg.get("MEDIA_UNMOUNT_DELAY", UNMOUNT_DELAY))
        self.mounter = Mounter(Ports(cfg), max(delay, 0.0), self.log, alive=alive,
                               holder_wait=HOLDER_WAIT)
        self._tpreqs: dict[str, tuple[int, str]] = {}  # file -> (reqid, drive)
        self._tp_lock = threading.Lock()
        self._learnt = False
        self._warned = False
        self.children = Children(cfg, self.log, self.stop)
        minutes = ltid_logmounts.minutes_from_env()
        self.mountlog = None if minutes is None else ltid_logmounts.MountLog(minutes, self.log)
        if self.mountlog is not None and minutes == 0:
            self.mounter.on_request = self.mountlog.write

    def services(self) -> dict[str, Ops]:
        jobid = req(int, lo=0, hi=JOBID_MAX)
        media = req(str, max_len=6)
        mode = opt(str, "w", choices=frozenset({"r", "w"}))
        ops = {
            "ping": op(self.ping, ANYONE),
            "mount": op(self.mount, ADMIN, jobid=jobid, media_id=media,
                        barcode=opt(str, "", max_len=16), drive=req(str, max_len=128),
                        mode=mode, user=opt(str, "root", max_len=64)),
            "unmount": op(self.unmount, ADMIN, jobid=jobid, drive=req(str, max_len=128),
                          reqid=opt(int, 0, lo=0), orphan=opt(bool, False)),
            "drive_status": op(self.drive_status, ADMIN),
            "drive_state": op(self.drive_state, ADMIN, index=opt(int, None, lo=0, hi=100_000),
                              name=opt(str, "", max_len=128),
                              state=req(str, choices=frozenset({"UP", "DOWN", "RESET"}))),
            "tpreq": op(self.tpreq, ADMIN, media_id=media, file=req(str),
                        mode=opt(str, "r", choices=frozenset({"r", "w"})),
                        density=opt(str, "", max_len=32), pool=opt(str, "", max_len=64),
                        user=opt(str, "root", max_len=64)),
            "tpunmount": op(self.tpunmount, ADMIN, file=req(str)),
            "avr_next": op(self.avr_next, ADMIN),
            "avr_label": op(self.avr_label, ADMIN, name=req(str, max_len=128),
                            barcode=req(str, max_len=16), recmid=opt(str, "", max_len=6),
                            blank=opt(bool, False), foreign=opt(bool, False),
                            write_protected=opt(bool, False), failed=opt(int, 0)),
            "robot_list": op(self.robot_list, ADMIN),
            "learn": op(self.learn, ADMIN),
            # nbemm on the master (a server of this host), while nbemmcmd -deletealldevices
            # deletes this host's drives: ltid_withdraw.py
            "devices_delete": op(self.devices_delete, ADMIN,
                                 names=req(list, max_len=10_000, items=req(str, max_len=128)),
                                 stage=req(str, choices=frozenset({"begin", "end"}))),
        }
        return {"ltid": audited(ops, "drive_state", "devices_delete")}

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        tick = min(1.0, max(self.mounter.delay / 4, 0.2))
        return [(tick, self.mounter.unload_due), (LEARN_TICK, self._learn_until_learnt),
                (SYNC_EVERY, self.mounter.sync_all), (REAP_EVERY, self._reap),
                (WATCH_EVERY, self._watch)] + \
            ([(ltid_logmounts.CHECK_EVERY, self._log_mounts)]
             if self.mountlog is not None and self.mountlog.minutes else [])

    def _log_mounts(self) -> None:
        assert self.mountlog is not None
        with self.mounter.cond:
            pending = {r: dict(p) for r, p in self.mounter.pending.items()}
        self.mountlog.check(pending, time.time())

    def _watch(self) -> None:
        self.children.check()

    def _reap(self) -> None:
        self.mounter.reap()

    def reload(self) -> None:
        super().reload()
        self.mounter.set_delay(float(self.cfg.get("MEDIA_UNMOUNT_DELAY", UNMOUNT_DELAY)))

    def on_start(self) -> None:
        self._learn_until_learnt()

    def _learn_until_learnt(self) -> None:
        if self._learnt:
            return
        try:
            self.mounter.learn()
            self._learnt = True
        except NbuError as e:
            if not self._warned:
                self.log.warning("cannot learn the drives of this host from nbemm yet: %s", e)
            self._warned = True

    # --- ops ---------------------------------------------------------------------------------

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    def mount(self, msg: Message, conn: Connection) -> Message:
        return self.mounter.mount(msg["jobid"], msg["media_id"], msg["barcode"], msg["drive"],
                                  msg["mode"], msg["user"], owner_of(conn))

    def unmount(self, msg: Message, conn: Connection) -> Message:
        self.mounter.unmount(msg["jobid"], msg["drive"], msg["reqid"], msg["orphan"])
        return {}

    def drive_status(self, msg: Message, conn: Connection) -> Message:
        try:
            self.mounter.learn(inventories=False)  # never wait for a move in progress
            self._learnt = True
        except NbuError as e:  # show what ltid knows
            self.log.warning("drive status without nbemm: %s", e)
        return {"host": self.cfg.client_name, **self.mounter.status()}

    def drive_state(self, msg: Message, conn: Connection) -> Message:
        key: str | int | None = msg["index"] if msg["index"] is not None else msg["name"]
        if key is None or key == "":
            raise NbuError(INVALID_PARAMETER, "drive_state names a drive by index or name")
        self.mounter.set_state(key, check_state(msg["state"]))
        return {}

    def tpreq(self, msg: Message, conn: Connection) -> Message:
        media_id, path = msg["media_id"], msg["file"]
        with self._tp_lock:
            if path in self._tpreqs:
                raise NbuError(INVALID_PARAMETER, f"{path} is already bound to a tape "
                               f"(tpunmount it first)")
        found = client.master_call(self.cfg, "nbemm", "media_list",
                                   media_id=media_id).get("media", [])
        if not found:
            raise NbuError(NO_ENTITY, f"media {media_id} is not in the EMM database")
        media = found[0]
        if msg["pool"] and media.get("pool") != msg["pool"]:
            raise NbuError(MEDIA_NOT_IN_POOL, f"media {media_id} is in pool "
                           f"{media.get('pool')}, not {msg['pool']}")
        rn = media.get("rn")
        if rn is None or int(rn) < 0:
            raise NbuError(NO_ENTITY, f"media {media_id} is not in a robot")
        busy = {d["name"] for d in client.master_call(
            self.cfg, "nbemm", "drive_list", host=self.cfg.client_name).get("drives", [])
            if d.get("jobid")}
        reply = self.mounter.tpreq(media_id, str(media.get("barcode") or media_id), int(rn),
                                   msg["density"], msg["mode"], msg["user"], busy)
        with self._tp_lock:
            self._tpreqs[path] = (int(reply["reqid"]), str(reply["drive"]))
        return reply

    def tpunmount(self, msg: Message, conn: Connection) -> Message:
        with self._tp_lock:
            held = self._tpreqs.pop(msg["file"], None)
        if held is None:
            raise NbuError(NO_ENTITY, f"{msg['file']} is not bound to a tape by tpreq")
        reqid, drive = held
        self.mounter.unmount(0, drive, reqid)
        return {"drive": drive}

    def avr_next(self, msg: Message, conn: Connection) -> Message:
        return self.mounter.avr_next()

    def avr_label(self, msg: Message, conn: Connection) -> Message:
        label = {} if msg["failed"] else msg
        self.mounter.avr_label(msg["name"], msg["barcode"], label)
        return {}

    def robot_list(self, msg: Message, conn: Connection) -> Message:
        with self.mounter.cond:
            robots = [dict(r) for _, r in sorted(self.mounter.robots.items())]
        return {"robots": robots}

    def devices_delete(self, msg: Message, conn: Connection) -> Message:
        names = list(dict.fromkeys(msg["names"]))
        if msg["stage"] == "end":
            ltid_withdraw.end(self.mounter, names)
            return {}
        return {"cartridges": ltid_withdraw.begin(self.mounter, names)}

    def learn(self, msg: Message, conn: Connection) -> Message:
        self.mounter.learn()
        return {"drives": len(self.mounter.drives)}


_serve = daemon_main(Ltid)


def main() -> None:
    """`ltid -serve [--root DIR]` is the daemon (what `netbackup start` runs); `ltid` typed by
    an administrator starts it and the daemons it relies on (ltid_command)."""
    if "-serve" in sys.argv[1:]:
        sys.argv.remove("-serve")
        _serve()
    else:
        ltid_command.main()
