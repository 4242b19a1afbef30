"""nbpem: the policy execution manager - turns policies, clients and schedules into jobs.

Every tick it reads the policies (so a change made with the policy commands counts at once),
the catalog's successful backups and its own record of failed tries, asks the scheduling
library (nbcli.sched) what is due inside an open window, and sends nbjm a Job Start for each
(seed backup step 1) with the policy's and schedule's parameters and the limits nbrb must
enforce. nbjm tells it how each try ended (step 17); on a failure nbpem decides about a retry:
another try after the job retry delay while the schedule has tries left in its period
(bpconfig -tries/-period) and its window is still open.

Manual backups (`bpbackup -i`) and user backups and archives (`bpbackup`, `bparchive` on a
client) come in through bprd.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from nbcli import atomic, clock, kinds
from nbcli.catalog import policies
from nbcli.catalog.policy_model import Policy, Schedule
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.nbjm_job import RUN_AS
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Op, Ops, op
from nbcli.net.trust import ADMIN, ANYONE
from nbcli.status import (
    CLIENT_MAX_JOBS_ZERO,
    CLIENT_NOT_IN_ACTIVE_POLICY,
    NO_FILES_SPECIFIED,
    NO_POLICY_SCHEDULE,
    OUTSIDE_WINDOW,
    WRONG_SCHEDULE_TYPE,
    NbuError,
)
from nbcli.wire.frames import Message

if TYPE_CHECKING:
    from nbcli.catalog.globals import Globals
    from nbcli.config import HostConfig
from nbcli.wire.schema import obj, opt, req

AUTOMATIC = {0, 1, 4}  # FULL, INCR, CINC: what the scheduler and `bpbackup -i` run
TICK = 1.0  # seconds between looks at what is due
HISTORY_TTL = 30.0  # seconds a read of the catalog's backups is trusted when nothing ended

Key = tuple[str, str, str]  # (policy, client, schedule label)


def _globals(cfg: HostConfig) -> Globals:
    from nbcli.catalog.globals import load_globals

    return load_globals(cfg.paths)


def client_limit(cfg: Any, name: str) -> int:
    """Max jobs for this client: its own setting (bpclient), else the global one (bpconfig)."""
    from nbcli.catalog.clientattrs import load_client

    attrs = load_client(cfg.paths, name)
    if attrs is not None and attrs.max_jobs is not None:
        return int(attrs.max_jobs)
    return int(_globals(cfg).max_jobs_per_client)


class Nbpem(Daemon):
    """the policy execution manager: due times, job starts, retries"""

    name = "nbpem"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        # One look at a time: the periodic tick and a `wake` must not both start a due job.
        self.tick_lock = threading.Lock()
        self.running: dict[Key, int] = {}  # scheduled jobs in flight (waiting retries too)
        self.attempts: dict[Key, list[float]] = {}  # failed tries, for "N tries per H hours"
        self._history: dict[Key, list[int]] | None = None
        self._history_at = 0.0
        self._last_now = 0.0
        self._recovered = False

    @property
    def _attempts_file(self) -> Any:
        return self.paths.db / "failure_history" / "attempts.json"

    def services(self) -> dict[str, Ops]:
        from nbcli.sched import ops as sched_ops  # nbpemreq's views of the schedule

        return {"nbpem": {
            "manual_backup": op(self.manual_backup, ADMIN, policy=req(str), schedule=req(str),
                                client=opt(str), owner=opt(str, "root")),
            "user_backup": op(self.user_backup, ADMIN, client=req(str), policy=opt(str),
                              schedule=opt(str), paths=opt(list, [], items=req(str)),
                              archive=opt(bool, False), run_as=obj(RUN_AS, required=False),
                              owner=opt(str, "root")),
            # nbjm, when a try ended (seed step 17).
            "job_done": op(self.job_done, ADMIN, jobid=req(int, lo=1), status=req(int, lo=0),
                           policy=opt(str), schedule=opt(str), client=opt(str),
                           sched_type=opt(int, 0), subtype=opt(int, 0), backupid=opt(str),
                           deadline=opt(float)),
            "wake": op(self.wake, ADMIN),
            "predict": Op(lambda m, c: sched_ops.predict(self.cfg, m), ADMIN, sched_ops.PREDICT),
            "due": Op(lambda m, c: sched_ops.due(self.cfg, m, self._attempts()),
                      ADMIN, sched_ops.DUE),
            "ping": op(lambda m, c: {"host": self.cfg.client_name}, ANYONE)}}

    def on_start(self) -> None:
        try:
            data = json.loads(self._attempts_file.read_text())
            self.attempts = {tuple(k.split("\0")): v for k, v in data.items()}
        except (FileNotFoundError, ValueError):
            self.attempts = {}

    def _attempts(self) -> dict[Key, list[float]]:
        with self.lock:
            return {k: list(v) for k, v in self.attempts.items()}

    def periodic(self) -> list[tuple[float, Any]]:
        return [(TICK, self.tick)]

    # --- scheduled backups ---------------------------------------------------------------------

    def tick(self) -> None:
        """Start every job that is due now inside an open window (one per policy/client)."""
        with self.tick_lock:
            self._tick()

    def _tick(self) -> None:
        from nbcli.sched.due import due_now

        if not self._recovered:
            self._recover()
        now = clock.now()
        pols = [p for p in self._policies() if p.active]
        if not pols:
            return
        g = _globals(self.cfg)
        attempts = self._attempts()
        with self.lock:
            busy = set(self.running)
        due = due_now(pols, self.history(now), now, attempts, g.tries, g.period_hours)
        by_name = {p.name: p for p in pols}
        for d in sorted(due, key=lambda d: (-d.priority, d.due_time)):
            if (d.policy, d.client, d.schedule) in busy:
                continue
            pol = by_name[d.policy]
            try:
                jobid = self.start_job(pol, pol.find_schedule(d.schedule), d.client,
                                       kinds.SUBTYPE_SCHEDULED, "root", deadline=d.window_close)
            except NbuError as e:
                self.log.warning("cannot start %s/%s/%s: %s", d.policy, d.schedule, d.client, e)
                continue
            with self.lock:
                self.running[(d.policy, d.client, d.schedule)] = jobid
            self.log.info("started job %d: %s, schedule %s, client %s (due %s)", jobid,
                          d.policy, d.schedule, d.client, time.ctime(d.due_time))

    def _recover(self) -> None:
        """After a restart: the scheduled jobs still in flight are not started a second time."""
        try:
            jobs = client.call(self.cfg, self.cfg.client_name, "bpjobd", "job_list")["jobs"]
        except NbuError as e:
            self.log.warning("cannot read the jobs in flight yet: %s", e)
            return
        with self.lock:
            for j in jobs:
                if j.get("state") != kinds.DONE and j.get("subtype") == kinds.SUBTYPE_SCHEDULED:
                    self.running[(str(j["policy"]), str(j["client"]), str(j["schedule"]))] = \
                        int(j["jobid"])
        self._recovered = True

    def _policies(self) -> list[Policy]:
        out = []
        for name in policies.list_names(self.paths):
            try:
                out.append(policies.load(self.paths, name))
            except NbuError as e:  # one broken policy must not stop the others
                self.log.warning("skipping policy %s: %s", name, e)
        return out

    def history(self, now: float) -> dict[Key, list[int]]:
        """Backup times of the catalog's successful images, by policy, client and schedule."""
        with self.lock:
            fresh = self._history is not None and time.monotonic() - self._history_at < \
                HISTORY_TTL and abs(now - self._last_now) < 3 * TICK + HISTORY_TTL
            self._last_now = now
            if fresh:
                return self._history  # type: ignore[return-value]  # not None when fresh
        images = client.call(self.cfg, self.cfg.client_name, "bpdbm", "image_list")["images"]
        hist: dict[Key, list[int]] = {}
        for im in images:
            key = (str(im["policy"]), str(im["client"]), str(im["sched_label"]))
            hist.setdefault(key, []).append(int(im["backup_time"]))
        with self.lock:
            self._history, self._history_at = hist, time.monotonic()
        return hist

    def wake(self, msg: Message, conn: Connection) -> Message:
        """Look at what is due now (the catalog read again), without waiting for the tick."""
        with self.lock:
            self._history = None
        self.tick()
        return {}

    # --- the Job Start ---------------------------------------------------------------------------

    def start_job(self, pol: Policy, sched: Schedule, client_name: str, subtype: int,
                  owner: str, paths: list[str] | None = None,
                  deadline: float | None = None, run_as: dict[str, Any] | None = None) -> int:
        """Seed step 1: the Job Start to nbjm with everything the job needs."""
        limit = client_limit(self.cfg, client_name)
        if limit == 0:
            raise NbuError(CLIENT_MAX_JOBS_ZERO,
                           f"the maximum number of jobs for client {client_name} is 0")
        since = self.reference_time(pol, sched, client_name)
        level = "full" if sched.sched_type == 0 or since is None else \
            kinds.SCHED_WORDS[sched.sched_type].lower()
        reply = client.call(
            self.cfg, self.cfg.client_name, "nbjm", "job_start",
            policy=pol.name, schedule=sched.label, sched_type=sched.sched_type,
            client=client_name, paths=paths or list(pol.includes), policy_type=pol.policy_type,
            priority=pol.priority, max_jobs_policy=pol.max_jobs, max_jobs_client=limit,
            retention_level=sched.retention, retention_seconds=self.retention(sched.retention),
            stu=sched.copies[0].residence or pol.residence or "*ANY*",
            pool=sched.copies[0].pool or pol.volume_pool or "NetBackup", keyword=pol.keyword,
            tir=bool(pol.collect_tir), cross_mount_points=pol.cross_mount_points,
            subtype=subtype, owner=owner, since=since, deadline=deadline, run_as=run_as,
            nbpem_step={"pid": os.getpid(), "host": self.cfg.client_name, "time": clock.now(),
                        "msg": f"Job Start to nbjm for policy {pol.name}, schedule "
                               f"{sched.label} ({level}), client {client_name}"})
        return int(reply["jobid"])

    def retention(self, level: int) -> int | None:
        """The retention period of a level in seconds (None: infinity), as bpretlevel says."""
        from nbcli.catalog.retention import retention_seconds

        return retention_seconds(self.paths, level)

    def reference_time(self, pol: Policy, sched: Schedule, client_name: str) -> int | None:
        """What an incremental backs up changes since: None for a full (or no full yet).

        Differential (INCR): the last successful backup of any level of the policy; cumulative
        (CINC): the last successful full.
        """
        if sched.sched_type not in (1, 4):
            return None
        images = client.call(self.cfg, self.cfg.client_name, "bpdbm", "image_list",
                             client=client_name, policy=pol.name)["images"]
        fulls = [int(i["backup_time"]) for i in images if int(i["sched_type"]) == 0]
        if not fulls:
            return None
        if sched.sched_type == 4:
            return max(fulls)
        return max(int(i["backup_time"]) for i in images if int(i["sched_type"]) in AUTOMATIC)

    # --- the end of a try: retry or done ---------------------------------------------------------

    def job_done(self, msg: Message, conn: Connection) -> Message:
        """Seed step 17: a try ended. A scheduled job that failed gets a retry if it can."""
        status = msg["status"]
        key = (str(msg["policy"]), str(msg["client"]), str(msg["schedule"]))
        self.log.info("job %s for %s/%s/%s ended with status %d", msg["jobid"], key[0],
                      key[2], key[1], status)
        with self.lock:
            self._history = None  # a new image, or a failure: look at the catalog again
        if msg["subtype"] != kinds.SUBTYPE_SCHEDULED:
            return {}
        retry_at = None
        # An administrator's cancel (150) and a closed window (196) are not failures to retry.
        if status not in (0, 1, 150, 196):
            retry_at = self._retry_time(key, msg["deadline"])
        with self.lock:
            if retry_at is None:
                self.running.pop(key, None)
        return {"retry_at": retry_at} if retry_at is not None else {}

    def _retry_time(self, key: Key, deadline: float | None) -> float | None:
        """Record the failed try; when to try again, or None when the tries are used up."""
        g = _globals(self.cfg)
        now = clock.now()
        with self.lock:
            recent = [t for t in self.attempts.get(key, []) if now - t < g.period_hours * 3600]
            recent.append(now)
            self.attempts[key] = recent
            data = {"\0".join(k): v for k, v in self.attempts.items()}
        atomic.makedirs(self._attempts_file.parent)
        atomic.write_text(self._attempts_file, json.dumps(data))
        if len(recent) >= g.tries:
            return None
        retry_at = now + g.job_retry_delay_minutes * 60
        if deadline and retry_at >= deadline:
            return None  # the window closes first: the next window's due job will try again
        return retry_at

    # --- manual and user requests, through bprd --------------------------------------------------

    def manual_backup(self, msg: Message, conn: Connection) -> Message:
        """`bpbackup -i`: the policy's schedule now, for one client or all of them."""
        pol = policies.load(self.paths, msg["policy"])
        pol.check_active()
        sched = pol.find_schedule(msg["schedule"])
        if sched.sched_type not in AUTOMATIC:
            raise NbuError(WRONG_SCHEDULE_TYPE,
                           f"schedule {sched.label} is a user schedule; bpbackup -i needs "
                                f"an automatic (FULL, INCR or CINC) schedule")
        wanted = msg["client"]
        clients = [pol.find_client(wanted)] if wanted else list(pol.clients)
        if not clients:
            raise NbuError(CLIENT_NOT_IN_ACTIVE_POLICY, f"policy {pol.name} has no clients")
        if not pol.includes:
            raise NbuError(NO_FILES_SPECIFIED, f"policy {pol.name} has no backup selections")
        jobids = [self.start_job(pol, sched, c.name, kinds.SUBTYPE_IMMEDIATE,
                                 msg["owner"]) for c in clients]
        return {"jobids": jobids}

    def user_backup(self, msg: Message, conn: Connection) -> Message:
        """`bpbackup`/`bparchive` on a client: its files, under a user schedule whose window is
        open now (else 199), in a policy that lists the client."""
        client_name = msg["client"]
        wanted_type = 3 if msg["archive"] else 2
        paths = msg["paths"]
        if not paths:
            raise NbuError(NO_FILES_SPECIFIED, "no files to back up were given")
        pol, sched = self._user_schedule(client_name, wanted_type, msg["policy"],
                                         msg["schedule"])
        jobid = self.start_job(pol, sched, client_name, kinds.SUBTYPE_USER, msg["owner"],
                               paths=paths, run_as=msg["run_as"])
        return {"jobids": [jobid]}

    def _user_schedule(self, client_name: str, sched_type: int, policy: object,
                       schedule: object) -> tuple[Policy, Schedule]:
        """The user schedule to run under: named, or the first whose window is open now."""
        from nbcli.sched.windows import window_at

        if policy:
            pols = [policies.load(self.paths, str(policy))]
            pols[0].check_active()
            pols[0].find_client(client_name)
            if schedule:
                pols[0].find_schedule(str(schedule))
        else:
            pols = [p for p in self._policies()
                    if p.active and any(c.name == client_name for c in p.clients)]
        candidates = [(p, s) for p in pols for s in p.schedules
                      if (not schedule or s.label == schedule)]
        if schedule and candidates and all(s.sched_type != sched_type for _, s in candidates):
            raise NbuError(WRONG_SCHEDULE_TYPE,
                           f"schedule {schedule} is not a {kinds.SCHED_TYPES[sched_type]} "
                                f"schedule")
        candidates = [(p, s) for p, s in candidates if s.sched_type == sched_type]
        if not candidates:
            raise NbuError(NO_POLICY_SCHEDULE,
                           f"no active policy has a {kinds.SCHED_TYPES[sched_type]} "
                                f"schedule for client {client_name}")
        now = clock.now()
        for pol, sched in candidates:
            if window_at(sched, now) is not None:
                return pol, sched
        pol, sched = candidates[0]
        raise NbuError(OUTSIDE_WINDOW, f"schedule {sched.label} of policy {pol.name} has no open "
                                       f"window now")


main = daemon_main(Nbpem)
