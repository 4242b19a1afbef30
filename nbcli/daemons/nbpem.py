"""nbpem: the policy execution manager - turns a policy, a client and a schedule into a job.

For every job it sends nbjm a Job Start with the policy's and schedule's parameters and the
limits nbrb must enforce (seed backup step 1); nbjm tells it how each job ended (step 17).
Policies are read from the store at every request, so a change made with the policy commands
counts at once. Manual backups (`bpbackup -i`, through bprd) come in as `manual_backup`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from nbcli import clock, codes
from nbcli.catalog import policies
from nbcli.catalog.policy_model import Policy, Schedule
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Ops
from nbcli.status import NbuError
from nbcli.wire.frames import Message

AUTOMATIC = {0, 1, 4}  # FULL, INCR, CINC: what `bpbackup -i` may run
MAX_JOBS_PER_CLIENT = 1  # NetBackup's global default (bpconfig -mj)


class Nbpem(Daemon):
    """the policy execution manager: due times, job starts, retries"""

    name = "nbpem"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.finished: list[Message] = []

    def services(self) -> dict[str, Ops]:
        from nbcli.sched import ops as sched_ops  # nbpemreq's views of the schedule

        return {"nbpem": {"manual_backup": self.manual_backup, "job_done": self.job_done,
                          "predict": lambda m, c: sched_ops.predict(self.cfg, m),
                          "due": lambda m, c: sched_ops.due(self.cfg, m),
                          "ping": lambda m, c: {"host": self.cfg.client_name}}}

    def manual_backup(self, msg: Message, conn: Connection) -> Message:
        """`bpbackup -i`: the policy's schedule now, for one client or all of them."""
        pol = policies.load(self.paths, str(msg.get("policy", "")))
        pol.check_active()
        sched = pol.find_schedule(str(msg.get("schedule", "")))
        if sched.sched_type not in AUTOMATIC:
            raise NbuError(241, f"schedule {sched.label} is a user schedule; bpbackup -i needs "
                                f"an automatic (FULL, INCR or CINC) schedule")
        wanted = msg.get("client")
        clients = [pol.find_client(str(wanted))] if wanted else list(pol.clients)
        if not clients:
            raise NbuError(236, f"policy {pol.name} has no clients")
        if not pol.includes:
            raise NbuError(112, f"policy {pol.name} has no backup selections")
        jobids = [self.start_job(pol, sched, c.name, codes.SUBTYPE_IMMEDIATE,
                                 str(msg.get("owner", "root"))) for c in clients]
        return {"jobids": jobids}

    def start_job(self, pol: Policy, sched: Schedule, client_name: str, subtype: int,
                  owner: str, paths: list[str] | None = None) -> int:
        """Seed step 1: the Job Start to nbjm with everything the job needs."""
        since = self.reference_time(pol, sched, client_name)
        level = "full" if sched.sched_type == 0 or since is None else \
            codes.SCHED_WORDS[sched.sched_type].lower()
        reply = client.call(
            self.cfg, self.cfg.client_name, "nbjm", "job_start",
            policy=pol.name, schedule=sched.label, sched_type=sched.sched_type,
            client=client_name, paths=paths or list(pol.includes), policy_type=pol.policy_type,
            priority=pol.priority, max_jobs_policy=pol.max_jobs,
            max_jobs_client=MAX_JOBS_PER_CLIENT, retention_level=sched.retention,
            stu=sched.copies[0].residence or pol.residence or "*ANY*", keyword=pol.keyword,
            tir=bool(pol.collect_tir), cross_mount_points=pol.cross_mount_points,
            subtype=subtype, owner=owner, since=since,
            nbpem_step={"pid": os.getpid(), "host": self.cfg.client_name, "time": clock.now(),
                        "msg": f"Job Start to nbjm for policy {pol.name}, schedule "
                               f"{sched.label} ({level}), client {client_name}"})
        return int(reply["jobid"])

    def reference_time(self, pol: Policy, sched: Schedule, client_name: str) -> int | None:
        """What an incremental backs up changes since: None for a full (or no full yet).

        Differential (INCR): the last successful backup of any level; cumulative (CINC): the
        last successful full.
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

    def job_done(self, msg: Message, conn: Connection) -> Message:
        """Seed step 17: nbjm reports a job's end."""
        self.log.info("job %s for %s/%s/%s ended with status %s", msg.get("jobid"),
                      msg.get("policy"), msg.get("schedule"), msg.get("client"),
                      msg.get("status"))
        with self.lock:
            self.finished.append(dict(msg))
            del self.finished[:-1000]
        return {}


main = daemon_main(Nbpem)
