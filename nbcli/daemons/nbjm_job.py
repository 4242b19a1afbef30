"""What nbjm's job threads share with nbjm itself: the Job Start's fields, the way to nbrb,
and the little of nbjm a backup job may use.

Place: below nbcli/daemons/nbjm.py (the daemon and its op table) and nbjm_backup.py (one backup
job); both import this module and nbjm imports nbjm_backup, never the other way round. Imports
no daemon.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from nbcli import jobreport, kinds
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import RESOURCE_BROKER_UNREACHABLE, NbuError
from nbcli.wire.frames import Message
from nbcli.wire.schema import Fields, obj, opt, req

LOST_BPBRM = 40  # network connection broken

# Whose rights a user backup runs with (nbpem passes on what bprd and the client's bpcd said).
RUN_AS: Fields = {"uid": req(int, lo=0), "gid": opt(int, lo=0), "user": opt(str)}
# The Job Start (seed step 1), as nbpem sends it: the policy's and schedule's parameters and
# the limits nbrb must enforce. A backup job reads its parameters from the checked request.
JOB_START: Fields = {
    "policy": req(str), "schedule": req(str), "client": req(str),
    "sched_type": opt(int, 0, choices=frozenset(kinds.SCHED_TYPES)),
    "policy_type": opt(int, 0), "subtype": opt(int, kinds.SUBTYPE_IMMEDIATE),
    "paths": opt(list, [], items=req(str)), "exclude": opt(list, [], items=req(str)),
    "priority": opt(int, 0), "max_jobs_policy": opt(int, 0, lo=0),
    "max_jobs_client": opt(int, 0, lo=0),
    "retention_level": opt(int, kinds.DEFAULT_RETENTION_LEVEL),
    "retention_seconds": opt(int, lo=0),  # null: the level keeps images for ever
    "stu": opt(str), "pool": opt(str, "NetBackup"), "keyword": opt(str, ""),
    "tir": opt(bool, False),
    "cross_mount_points": opt(bool, False), "owner": opt(str, "root"),
    "since": opt(int, lo=0), "deadline": opt(float),
    "run_as": obj(RUN_AS, required=False),
    "nbpem_step": obj({"pid": opt(int), "host": opt(str), "time": opt(float),
                       "msg": opt(str)}, required=False),
}


class JobManager(Protocol):
    """The part of nbjm a backup job uses."""

    cfg: HostConfig
    log: logging.Logger

    def backup_time(self, client_name: str) -> int:
        """A backup time that makes a new backup id for this client."""
        ...


def request_resources(cfg: HostConfig, report: jobreport.JobReporter, jobid: int,
                      cancel: threading.Event | None = None, **fields: Any) -> Message:
    """Ask nbrb and wait for the grant, recording why the job waits while it does."""
    with client.connect(cfg, cfg.client_name, "nbrb") as nbrb:
        nbrb.send({"op": "allocate", "jobid": jobid, **fields})
        while True:
            try:
                reply = nbrb.recv()
            except EOFError as e:
                raise NbuError(RESOURCE_BROKER_UNREACHABLE, "nbrb closed the connection") from e
            if reply.get("status"):
                raise NbuError(int(reply["status"]), str(reply.get("msg", "")))
            if "waiting" in reply:
                # queuereason is NetBackup's reason code; the words go in reasonstring.
                report.update(jobid, queuereason=int(reply.get("code", 0)),
                              reasonstring=str(reply["waiting"]))
                report.log(jobid, str(reply["waiting"]))
                continue
            return dict(reply["granted"])
