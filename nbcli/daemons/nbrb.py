"""nbrb: the resource broker - job limits, then physical resources from nbemm.

nbjm asks for a job's resources with the job's constraints (seed backup step 3): max jobs per
policy, max jobs per client (the global limit or the client's own). nbrb keeps every waiting
request in one queue ordered by priority, then arrival, and grants a request when its limits
allow and nbemm allocates a storage unit for it (steps 4-5). A request that must wait stays
queued, and nbrb tells nbjm why in NetBackup's words; it is looked at again whenever a
resource is released, so jobs start by priority, first come first served within a priority,
and a job blocked by its own limit does not hold up the others.

All of a job's resources are granted at once or not at all, so jobs never hold a part while
waiting for the rest: there is nothing to deadlock on.

A tape backup names its volume pool and retention level; nbemm picks a drive and a medium for
it. "No drive free" (2001), "the drives are down" (2009) and "no usable medium" (2000) are not
now, as a full storage unit (2040) is: the job waits, saying why in its details and in
bpdbjobs. A job that waits for a medium longer than MEDIA_WAIT seconds (bp.toml; NetBackup's
media mount timeout plays that part) ends with status 96.

nbemm's allocations outlive nbrb; at start nbrb takes them over, and every RECONCILE seconds it
releases those whose job bpjobd has seen closed (its owner died before step 16, or bpjobd ended
an orphan), so a lost release never holds a limit for ever.
"""

from __future__ import annotations

import itertools
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nbcli import clock, jobreport
from nbcli.daemons import orphans
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import (
    DRIVES_DOWN_MEDIA_AVAILABLE,
    ENTITY_EXISTS,
    MEDIA_IN_USE,
    MEDIA_UNAVAILABLE,
    NO_DRIVES,
    NO_MEDIA_AVAILABLE,
    STU_MAX_JOBS_REACHED,
    STUS_NOT_AVAILABLE,
    TERMINATED_BY_ADMIN,
    WINDOW_CLOSED,
    NbuError,
)
from nbcli.wire import frames
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

# nbemm's answers that mean "not now" rather than "never" (134: resources busy).
# 2104: every unit asked for is on a paused or disabled media server (nbemmcmd -updatehost
# -machinestateop): the job waits until the state is cleared.
BUSY = {STU_MAX_JOBS_REACHED, NO_DRIVES, DRIVES_DOWN_MEDIA_AVAILABLE, MEDIA_UNAVAILABLE, 134,
        STUS_NOT_AVAILABLE}
DEFAULT_POOL = "NetBackup"
RECHECK = 2.0  # seconds between looks at a queue that nothing has changed
RECONCILE = 5.0  # seconds between looks at bpjobd for closed jobs still holding resources
JOBID = req(int, lo=1)


@dataclass
class Request:
    jobid: int
    kind: str
    policy: str
    client: str
    stu: str
    host: str
    priority: int
    max_policy: int
    max_client: int
    seq: int
    deadline: float = 0.0  # the backup window's close: still queued then means status 196
    done: threading.Event = field(default_factory=threading.Event)
    grant: Message | None = None
    error: NbuError | None = None
    reason: str = ""
    code: int = 0  # the status that says why it waits (2040, 194...)
    asked_emm: bool = False
    pool: str = DEFAULT_POOL  # a tape backup's volume pool
    rl: int = -1  # and retention level (nbemm prefers media of the same level)
    media_since: float = 0.0  # monotonic time nbemm first said no medium (0: it has not)
    media_id: str = ""  # a restore from tape: the medium it reads
    again: bool = False  # and not its first: log lines, not seed steps again

    def key(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


class Nbrb(Daemon):
    """the resource broker: enforces job limits and asks nbemm for resources"""

    name = "nbrb"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.queue: list[Request] = []
        self.active: dict[int, Request] = {}
        self.seq = itertools.count()
        self._tls = threading.local()

    def services(self) -> dict[str, Ops]:
        return {"nbrb": {
            # nbjm: a backup's resources with its limits, or a restore's read access.
            "allocate": op(self.allocate, ADMIN, jobid=JOBID,
                           kind=opt(str, "backup", choices=frozenset({"backup", "restore"})),
                           policy=opt(str, ""), client=opt(str, ""), stu=opt(str),
                           host=opt(str, ""), priority=opt(int, 0),
                           max_jobs_policy=opt(int, 0, lo=0), max_jobs_client=opt(int, 0, lo=0),
                           deadline=opt(float), pool=opt(str, DEFAULT_POOL),
                           rl=opt(int, -1, lo=-1), media_id=opt(str, ""),
                           again=opt(bool, False)),
            # again: a restore's next medium (its steps were recorded for the first)
            "release": op(self.release, ADMIN, jobid=JOBID, again=opt(bool, False)),
            "cancel": op(self.cancel, ADMIN, jobid=JOBID),
            "queue": op(self.list_queue, ADMIN),
            "ping": op(lambda m, c: {"host": self.cfg.client_name}, ANYONE)}}

    def periodic(self) -> list[tuple[float, Any]]:
        return [(RECHECK, self.evaluate), (RECONCILE, self.reconcile)]

    def on_start(self) -> None:
        # nbemm's allocations outlive nbrb: count again those whose job is still open (its
        # owner runs it, or reconciles it at its own start); release those of closed jobs.
        try:
            held = client.call(self.cfg, self.cfg.client_name, "nbemm", "allocations")
        except NbuError as e:
            self.log.warning("could not read nbemm's allocations: %s", e)
            return
        for a in held.get("allocations", []):
            jobid = int(a["jobid"])
            self.active[jobid] = Request(jobid, str(a.get("kind", "backup")), "", "",
                                         str(a.get("stu", "")), "", 0, 0, 0, -1)
        self.reconcile()

    def reconcile(self) -> None:
        """Release what jobs bpjobd has seen closed still hold (their owner died before its
        step 16, or bpjobd ended an orphan); fill in the limits' policy and client of
        allocations taken over at start. Nothing changes while bpjobd cannot be asked."""
        with self.lock:
            ids = sorted(self.active)
        if not ids:
            return
        jobs = orphans.jobs_in_bpjobd(self.cfg, ids, self.log)
        if jobs is None:
            return
        closed = []
        with self.lock:
            for job in jobs:
                req = self.active.get(int(job["jobid"]))
                if req is None:
                    continue
                if job["closed"]:
                    closed.append(req.jobid)
                elif req.seq < 0 and not req.policy:
                    req.policy, req.client = str(job["policy"] or ""), str(job["client"] or "")
        for jobid in closed:
            self.log.warning("job %d is closed but held resources; releasing them", jobid)
            try:
                self.release({"jobid": jobid}, None)
            except NbuError as e:
                self.log.warning("job %d not released: %s", jobid, e)

    # --- ops -----------------------------------------------------------------------------------

    def allocate(self, msg: Message, conn: Connection) -> None:
        """Blocks until granted; sends {waiting: reason} frames while the job is queued."""
        req = Request(msg["jobid"], msg["kind"], msg["policy"], msg["client"],
                      msg["stu"] or "*ANY*", msg["host"], msg["priority"],
                      msg["max_jobs_policy"], msg["max_jobs_client"], next(self.seq),
                      float(msg["deadline"] or 0), pool=msg["pool"], rl=msg["rl"],
                      media_id=msg["media_id"], again=msg["again"])
        with self.lock:
            if req.jobid in self.active or any(r.jobid == req.jobid for r in self.queue):
                raise NbuError(ENTITY_EXISTS, f"job {req.jobid} already has a resource request")
            self.queue.append(req)
        self.evaluate()
        told = ""
        while not req.done.wait(0.5):
            if req.reason and req.reason != told:
                told = req.reason
                conn.send(frames.reply(0, waiting=req.reason, code=req.code))
            if _peer_gone(conn):
                self._drop(req, NbuError(TERMINATED_BY_ADMIN, "the requester went away"))
                return None
        if req.error is not None:
            conn.send(frames.error(req.error))
        else:
            conn.send(frames.reply(0, granted=req.grant))
        return None

    def release(self, msg: Message, conn: Connection | None) -> Message:
        jobid = msg["jobid"]
        with self.lock:
            req = self.active.pop(jobid, None)
            client.call(self.cfg, self.cfg.client_name, "nbemm", "release", jobid=jobid)
            if req is not None:
                req.again = bool(msg.get("again", False))  # reconcile passes only jobid
                self._step(req, "released the job's resources with nbemm", 16)
        self.evaluate()
        return {}

    def cancel(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        with self.lock:
            waiting = [r for r in self.queue if r.jobid == jobid]
        for r in waiting:
            self._drop(r, NbuError(TERMINATED_BY_ADMIN, "canceled while waiting for resources"))
        return {"canceled": bool(waiting)}

    def list_queue(self, msg: Message, conn: Connection) -> Message:
        with self.lock:
            return {"queued": [{"jobid": r.jobid, "reason": r.reason} for r in self.queue],
                    "active": sorted(self.active)}

    # --- the broker ------------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Grant what can be granted, in priority order; note why the rest waits."""
        now = clock.now()
        with self.lock:
            for req in [r for r in self.queue if r.deadline and now >= r.deadline]:
                self.queue.remove(req)
                req.error = NbuError(WINDOW_CLOSED,
                                     "the backup window closed before resources came free")
                req.done.set()
            for req in sorted(self.queue, key=Request.key):
                reason = self._limit_reason(req)
                if reason:
                    req.reason, req.code = reason, 0
                    continue
                self._try_emm(req)

    def _limit_reason(self, req: Request) -> str:
        """Why a job waits for one of its limits, in the words of NetBackup's job details
        (its limits are "logical resources" named <master>.NBU_POLICY.MAXJOBS.<policy> ...)."""
        if req.kind != "backup":
            return ""
        running = list(self.active.values())
        if req.max_policy and sum(r.policy == req.policy for r in running) >= req.max_policy:
            return self._waiting_for(f"NBU_POLICY.MAXJOBS.{req.policy}")
        if req.max_client and sum(r.client == req.client and r.kind == "backup"
                                  for r in running) >= req.max_client:
            return self._waiting_for(f"NBU_CLIENT.MAXJOBS.{req.client}")
        return ""

    def _waiting_for(self, resource: str) -> str:
        name = f"{self.cfg.client_name}.{resource}"
        return f"awaiting resource {name}. Waiting for resources. Reason: Limit has been " \
               f"reached for the logical resource {name}"

    def _try_emm(self, req: Request) -> None:
        if not req.asked_emm:
            req.asked_emm = True
            self._step(req, f"requesting storage unit {req.stu} from nbemm",
                       4 if req.kind == "backup" else 10)
        try:
            grant = self._emm_allocate(req)
        except NbuError as e:
            # A restore waits for its medium while a backup writes it (NetBackup's "media in
            # use" wait); a backup is given another medium instead.
            busy = e.status in BUSY or (req.kind == "restore" and e.status == MEDIA_IN_USE)
            if busy and not self._media_wait_over(req, e):
                req.reason = f"awaiting resource {req.stu}. Waiting for resources. Reason: " \
                             f"{e.message}, {self._what_waits(req, e)}"
                req.code = e.status
                return
            self.queue.remove(req)
            req.error = e if e.status != MEDIA_UNAVAILABLE else NbuError(
                NO_MEDIA_AVAILABLE, f"no usable medium in volume pool {req.pool} for "
                                    f"{self._media_wait():g} seconds: {e.detail or e.message}")
            req.done.set()
            return
        self.queue.remove(req)
        self.active[req.jobid] = req
        req.grant = grant
        # Recorded under the broker's lock: the order of grants and releases in bpjobd is the
        # order they happened, so a job's history proves no limit was exceeded.
        self._step(req, f"granted storage unit {grant['stu']['label']} on "
                        f"{grant['stu']['host']}{tape_words(grant['stu'])}; answering nbjm",
                   5 if req.kind == "backup" else 11)
        req.done.set()

    def _emm_allocate(self, req: Request) -> Message:
        fields: dict[str, Any] = {"jobid": req.jobid, "kind": req.kind, "stu": req.stu,
                                  "host": req.host, "policy": req.policy, "client": req.client}
        if req.kind == "backup":  # the volume pool and retention level a tape unit picks by
            fields.update(pool=req.pool, rl=req.rl)
        if req.media_id:  # a restore from tape names its medium
            fields["media_id"] = req.media_id
        return client.call(self.cfg, self.cfg.client_name, "nbemm", "allocate", **fields)

    def _media_wait(self) -> float:
        return float(self.cfg.get("MEDIA_WAIT"))

    def _media_wait_over(self, req: Request, e: NbuError) -> bool:
        """Whether a job nbemm has no medium for has waited MEDIA_WAIT seconds (the clock
        starts at the first such answer and stops at any other)."""
        if e.status != MEDIA_UNAVAILABLE:
            req.media_since = 0.0
            return False
        now = time.monotonic()
        if not req.media_since:
            req.media_since = now
        return now - req.media_since >= self._media_wait()

    @staticmethod
    def _what_waits(req: Request, e: NbuError) -> str:
        """The rest of the reason, as NetBackup's details name it: the unit, and for the
        tape statuses the volume pool and nbemm's own words."""
        if e.status in (NO_DRIVES, DRIVES_DOWN_MEDIA_AVAILABLE, MEDIA_UNAVAILABLE):
            detail = f" ({e.detail})" if e.detail else ""
            return f"Volume Pool: {req.pool}, Storage Unit: {req.stu}{detail}"
        if e.status == STUS_NOT_AVAILABLE:  # which media server is paused or disabled
            return f"storage unit {req.stu} ({e.detail})"
        if req.media_id:  # a restore's medium (in use: by which job)
            return f"Media ID: {req.media_id}, Storage Unit: {req.stu} ({e.detail})"
        return f"storage unit {req.stu}"

    def _drop(self, req: Request, err: NbuError) -> None:
        with self.lock:
            if req in self.queue:
                self.queue.remove(req)
                req.error = err
                req.done.set()

    def _step(self, req: Request, msg: str, step: int) -> None:
        """A seed step nbrb performs (4/10 ask nbemm, 5/11 answer nbjm, 16 release)."""
        if req.seq < 0:
            return  # an allocation taken over after a restart: its job is not ours to report
        report = getattr(self._tls, "report", None)
        if report is None:
            report = self._tls.report = jobreport.JobReporter(self.cfg, "nbrb", patience=0)
        try:
            if req.again:
                report.log(req.jobid, msg)
            else:
                report.step(req.jobid, step, msg)
        except NbuError as e:
            self.log.warning("job %d: cannot record step: %s", req.jobid, e)


def tape_words(stu: Message) -> str:
    """", drive D, media M (pool P)" for a tape grant; "" for a disk unit."""
    if not stu.get("media_id"):
        return ""
    return f", drive {stu.get('drive_name') or stu.get('drive')}, media {stu['media_id']} " \
           f"(volume pool {stu.get('pool') or DEFAULT_POOL})"


def _peer_gone(conn: Connection) -> bool:
    """True when the requester closed its connection while its request waited."""
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        return conn.sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


main = daemon_main(Nbrb)
