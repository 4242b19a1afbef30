"""nbemm: the Enterprise Media Manager on the master: hosts, storage units, allocations, and
the removable media (robots, drives, pools, media: nbemm_media.py's ops, in the same service).

Serves the `nbemm` ops of docs/protocol.md ("EMM") over PBX. Its state is db/emm/emm.db
(nbcli/catalog/emmdb.py), owned by this daemon alone: the commands (bpstuadd, bpstulist,
bpstudel, nbemmcmd) and nbrb ask here. Handlers only check the request's shape and hand the
values to EmmDB, where the rules live; a malformed request gets status 143 and leaves the
database untouched.

Allocations live in emm.db and outlive every process; every RECONCILE seconds nbemm releases
those of jobs bpjobd has seen closed (a release lost while nbemm or nbrb was down).

On start nbemm makes sure the EMM database knows this master (machine type master, and media
when this host has the media role) and every MEDIA_SERVER of bp.toml as a media server.
"""

from __future__ import annotations

from typing import Any

import nbcli
from nbcli import clock
from nbcli.catalog import emm_hosts, emmdb
from nbcli.catalog.emmdb import EmmDB
from nbcli.config import HostConfig
from nbcli.daemons import orphans
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.nbemm_media import MediaOps
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, audited, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import (
    CANNOT_CONNECT,
    CLIENT_HOSTNAME_NOT_FOUND,
    CONNECTION_TIMED_OUT,
    DATABASE_ERROR,
    HANDSHAKE_FAILED,
    INVALID_PARAMETER,
    NO_ENTITY,
    NbuError,
)
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

DB_NAME = "emm.db"
JOBID_MAX = 2**63 - 1  # SQLite's largest integer
RECONCILE = 10.0  # seconds between looks at bpjobd for closed jobs still allocated
LTID_TIMEOUT = 1800.0  # ltid sends cartridges home before a delete: robot moves
# ltid could not be asked (not its refusal): the media server is down or gone
UNREACHABLE = (CANNOT_CONNECT, CLIENT_HOSTNAME_NOT_FOUND, CONNECTION_TIMED_OUT,
               HANDSHAKE_FAILED)


class Nbemm(Daemon):
    """the Enterprise Media Manager: hosts, storage units, media; allocates them"""

    name = "nbemm"

    def __init__(self, cfg: HostConfig) -> None:
        super().__init__(cfg)
        self.db: EmmDB | None = None

    def services(self) -> dict[str, Ops]:
        name, kind = req(str), req(str)
        jobid = req(int, lo=1, hi=JOBID_MAX)
        ops = {
            "ping": op(self.ping, ANYONE),
            "host_add": op(self.host_add, ADMIN, name=name, machinetype=kind,
                           master=opt(str), version=opt(str)),
            "host_delete": op(self.host_delete, ADMIN, name=name, machinetype=kind),
            "host_list": op(self.host_list, ADMIN, name=opt(str), machinetype=opt(str)),
            "host_update": op(self.host_update, ADMIN, name=name, machinetype=kind,
                              master=opt(str), version=opt(str), os=opt(str),
                              state_op=opt(str, choices=frozenset(emm_hosts.STATE_OPS))),
            "host_devices_delete": op(self.host_devices_delete, ADMIN, name=name,
                                      machinetype=kind, all_robots=opt(bool, False)),
            "host_rename": op(self.host_rename, ADMIN, name=name, machinetype=kind,
                              new_name=req(str)),
            "host_alias": op(self.host_alias, ADMIN, name=name, machinetype=kind,
                             action=req(str, choices=("add", "delete", "get")),
                             alias=opt(str)),
            "errors_probe": op(self.errors_probe, ADMIN, media_id=opt(str)),
            "stu_add": op(self.stu_add, ADMIN, label=req(str), host=opt(str),
                          path=opt(str, ""), cj=opt(int, emmdb.DEFAULT_CJ), mfs_mb=opt(int),
                          stype=opt(int, emmdb.BASIC_DISK), odo=opt(int, 0), rt=opt(str),
                          rn=opt(int), density=opt(str)),
            "stu_delete": op(self.stu_delete, ADMIN, label=req(str)),
            "stu_list": op(self.stu_list, ADMIN, label=opt(str)),
            "allocate": op(self.allocate, ADMIN, jobid=jobid, kind=req(str, max_len=32),
                           stu=opt(str), host=opt(str), policy=opt(str), client=opt(str),
                           pool=opt(str, emmdb.DEFAULT_POOL, max_len=128),
                           rl=opt(int, -1, lo=-1, hi=100), media_id=opt(str, max_len=32)),
            "release": op(self.release, ADMIN, jobid=jobid),
            "allocations": op(self.allocations, ADMIN),
        }
        media = MediaOps(lambda: self.emm, self.log)
        ops.update(media.ops())
        ops = audited(ops, "host_add", "host_delete", "host_update", "host_rename",
                      "host_devices_delete",
                      "host_alias", "stu_add", "stu_delete", *media.AUDITED)
        return {"nbemm": ops}

    def on_start(self) -> None:
        self.db = EmmDB(self.paths.emm / DB_NAME)
        me, version = self.cfg.client_name, nbcli.__version__
        wanted = [(me, "master")] + ([(me, "media")] if "media" in self.cfg.roles else [])
        wanted += [(m, "media") for m in self.cfg.media_servers]
        for name, kind in wanted:
            try:
                if self.db.add_host(name, kind, master=me, version=version, exist_ok=True):
                    self.log.info("added %s host %s to the EMM database", kind, name)
            except NbuError as e:
                self.log.error("cannot add %s host %s from bp.toml: %s", kind, name, e)

    def on_stop(self) -> None:
        if self.db is not None:
            self.db.close()

    @property
    def emm(self) -> EmmDB:
        if self.db is None:
            raise NbuError(DATABASE_ERROR, "the EMM database is not open")
        return self.db

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    # --- hosts -------------------------------------------------------------------------------

    def host_add(self, msg: Message, conn: Connection) -> Message:
        name, kind = msg["name"], msg["machinetype"]
        master = msg["master"] or self.cfg.client_name
        self.emm.add_host(name, kind, master=master, version=msg["version"] or "")
        self.log.info("host %s (%s) added by %s", name, kind, conn.peer)
        return {}

    def host_delete(self, msg: Message, conn: Connection) -> Message:
        name, kind = msg["name"], msg["machinetype"]
        self.emm.delete_host(name, kind)
        self.log.info("host %s (%s) deleted by %s", name, kind, conn.peer)
        return {}

    def host_list(self, msg: Message, conn: Connection) -> Message:
        name, kind = msg["name"], msg["machinetype"]
        hosts = self.emm.hosts(name, kind)
        if name is not None and not hosts:
            raise NbuError(NO_ENTITY, f"host {name} is not in the EMM database")
        return {"hosts": hosts}

    def host_update(self, msg: Message, conn: Connection) -> Message:
        name, kind = msg["name"], emmdb.machine_type(msg["machinetype"])
        master, version, os_name = msg["master"], msg["version"], msg["os"]
        if master is not None:
            emmdb.check_name("master server name", master)
        if version is not None:
            emmdb.check_version(version)
        if os_name is not None:
            emmdb.check_os(os_name)
        state = self.emm.host_edits.update(name, kind, master, version, os_name,
                                           msg["state_op"])
        self.log.info("host %s (%s) updated by %s (machine state: %s)", name, kind, conn.peer,
                      emm_hosts.state_words(state))
        return {}

    def host_devices_delete(self, msg: Message, conn: Connection) -> Message:
        """nbemmcmd -deletealldevices. A drive a job holds refuses the delete (97). Before the
        delete, the host's ltid withdraws the drives (ltid_withdraw.py): it refuses too while
        a user's tpreq holds one, and sends the cartridges it keeps loaded between jobs
        (MEDIA_UNMOUNT_DELAY) home. NetBackup's documents do not say what tpconfig -delete
        -drive does with such a cartridge; they say device changes take effect when the
        Device Manager (ltid) restarts - Veritas tech note 281317, "situations where it is
        necessary to restart daemons", II. Changing the device (robot/drive) configuration -
        and that a restart fails the jobs in progress (NetBackup Administrator's Guide, "About
        the NetBackup Device Manager"). So a job's drive refuses, as a restart would fail the
        job, and an idle drive is emptied as vmoprcmd -reset empties it (the cartridge was
        due home after the delay anyway); ltid learns at once instead of at its restart. An
        ltid that does not answer (the media server is gone: the usual reason to delete all
        its devices) does not stop the delete; the cartridges EMM saw in its drives are
        reported as left there."""
        name, kind = msg["name"], emmdb.machine_type(msg["machinetype"])
        if kind not in ("media", "ndmp"):
            raise NbuError(INVALID_PARAMETER, "-deletealldevices takes -machinetype media or "
                                              "ndmp")
        all_robots = msg["all_robots"]
        planned = self.emm.media.host_devices(name, kind, all_robots)  # the refusals first
        names = [str(d["name"]) for d in planned]
        cartridges = self._ltid_withdraw(name, names, planned) if names else []
        try:
            drives, robots = self.emm.media.delete_host_devices(name, kind, all_robots)
        finally:
            if names:
                self._ltid_settle(name, names)
        self.log.info("all devices of %s (%s) deleted by %s: %d drives, %d robots; "
                      "cartridges %s", name, kind, conn.peer, drives, robots, cartridges)
        return {"drives": drives, "robots": robots, "cartridges": cartridges}

    def _ltid_withdraw(self, host: str, names: list[str],
                       planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """ltid's `begin` on `host`; its refusals (97, a robot error) stop the delete. When
        it cannot be reached, the cartridges EMM last saw in the drives, as left there."""
        try:
            reply = client.call(self.cfg, host, "ltid", "devices_delete", names=names,
                                stage="begin", recv_timeout=LTID_TIMEOUT)
        except NbuError as e:
            if e.status not in UNREACHABLE:
                raise
            self.log.warning("ltid on %s did not answer (%s): deleting its drives anyway", host,
                             e)
            return [{"drive": d["name"], "media_id": d["media_id"], "barcode": "", "home": False}
                    for d in planned if d.get("media_id")]
        return list(reply.get("cartridges", []))

    def _ltid_settle(self, host: str, names: list[str]) -> None:
        try:
            client.call(self.cfg, host, "ltid", "devices_delete", names=names, stage="end")
        except NbuError as e:  # its hold lapses by itself (ltid_withdraw.HOLD)
            self.log.warning("ltid on %s: end of the device deletion: %s", host, e)

    def host_rename(self, msg: Message, conn: Connection) -> Message:
        old, kind = msg["name"], emmdb.machine_type(msg["machinetype"])
        new = emmdb.check_name("new machine name", msg["new_name"])
        if old == self.cfg.client_name:
            # nbemm adds this host back under its bp.toml name on the next start.
            raise NbuError(INVALID_PARAMETER, f"{old} is this master: rename it in bp.toml")
        self.emm.host_edits.rename(old, new, kind)
        self.log.info("host %s (%s) renamed %s by %s", old, kind, new, conn.peer)
        return {}

    def host_alias(self, msg: Message, conn: Connection) -> Message:
        name, kind = msg["name"], emmdb.machine_type(msg["machinetype"])
        action, alias = msg["action"], msg["alias"]
        edits = self.emm.host_edits
        if action == "get":
            return {"aliases": edits.aliases(name, kind)}
        if not alias:
            raise NbuError(INVALID_PARAMETER, f"-{action}alias needs -alias")
        if action == "add":
            edits.add_alias(name, kind, emmdb.check_name("alias", alias))
        else:
            edits.delete_alias(name, kind, alias)
        self.log.info("alias %s of %s (%s): %s by %s", alias, name, kind, action, conn.peer)
        return {}

    def errors_probe(self, msg: Message, conn: Connection) -> Message:
        return {"errors": self.emm.media_errors(msg["media_id"])}

    # --- storage units -----------------------------------------------------------------------

    def stu_add(self, msg: Message, conn: Connection) -> Message:
        row = emmdb.check_stu(
            msg["label"], msg["host"] or self.cfg.client_name, msg["path"], msg["cj"],
            msg["mfs_mb"], msg["stype"], msg["odo"], msg["rt"], msg["rn"], msg["density"])
        self.emm.add_stu(row)
        self.log.info("storage unit %s added by %s: %s", row["label"], conn.peer, row)
        return {}

    def stu_delete(self, msg: Message, conn: Connection) -> Message:
        label = msg["label"]
        self.emm.delete_stu(label)
        self.log.info("storage unit %s deleted by %s", label, conn.peer)
        return {}

    def stu_list(self, msg: Message, conn: Connection) -> Message:
        return {"stus": self.emm.stus(msg["label"])}

    # --- allocations -------------------------------------------------------------------------

    def allocate(self, msg: Message, conn: Connection) -> Message:
        jobid, kind = msg["jobid"], msg["kind"]
        stu = msg["stu"] or emmdb.ANY
        try:
            granted = self.emm.allocate(jobid, kind, stu, msg["host"], int(clock.now()),
                                        msg["pool"], msg["rl"], msg["media_id"])
        except NbuError as e:
            self.log.debug("allocation for %s job %d on %s refused: %s", kind, jobid, stu, e,
                           extra={"jobid": jobid})
            raise
        unit = granted["stu"]
        tape = f", drive {unit['drive_name']}, media {unit['media_id']}" \
            if unit.get("media_id") else ""
        self.log.info("allocated %s on %s%s to %s job %d", unit["label"], granted["host"],
                      tape, kind, jobid, extra={"jobid": jobid})
        return granted

    def release(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        if self.emm.release(jobid):
            self.log.info("released the allocation of job %d", jobid, extra={"jobid": jobid})
        return {}

    def allocations(self, msg: Message, conn: Connection) -> Message:
        return {"allocations": self.emm.allocations()}

    def periodic(self) -> list[tuple[float, Any]]:
        return [(RECONCILE, self.reconcile)]

    def reconcile(self) -> None:
        """Release the allocations of jobs bpjobd has seen closed: their release was lost
        (nbemm or nbrb was down at the job's step 16, or the job's owner died)."""
        if self.db is None:
            return
        ids = sorted({int(a["jobid"]) for a in self.emm.allocations()})
        if not ids:
            return
        jobs = orphans.jobs_in_bpjobd(self.cfg, ids, self.log)
        for job in jobs or []:
            if job["closed"] and self.emm.release(int(job["jobid"])):
                self.log.warning("released the allocation of closed job %d", job["jobid"],
                                 extra={"jobid": job["jobid"]})


main = daemon_main(Nbemm)
