"""nbpem's `predict` and `due` ops: the scheduler's decisions fed from the store and catalog.

nbpem routes both ops here (nbcli/daemons/nbpem.py) with the fields declared below, checked;
nbpemreq sends them. Policies come from
the policy store, history from bpdbm's image_list (complete images: status 0 or 1), so the
answer is what nbpem's own loop decides at that time. Fields and replies are in
docs/protocol.md, "Scheduling".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nbcli import clock
from nbcli.catalog import policies
from nbcli.catalog.policy_model import Policy
from nbcli.config import HostConfig
from nbcli.net import client as net
from nbcli.sched import predict as forecast
from nbcli.sched.due import Attempts, History, due_now
from nbcli.wire.frames import Message
from nbcli.wire.schema import Fields, opt, req

# The ops' fields (checked by nbpem's op table before they get here): epoch seconds and names.
PREDICT: Fields = {"start": opt(int), "date": req(int), "client": opt(str),
                   "policy": opt(str), "all": opt(bool, False)}
DUE: Fields = {"date": opt(int), "client": opt(str), "policy": opt(str)}


def load_policies(cfg: HostConfig, policy: str | None, client: str | None) -> list[Policy]:
    """Every policy (or the one named), each with only `client` when a client is named."""
    found = [p for p in policies.load_all(cfg.paths) if policy in (None, p.name)]
    if client:
        found = [replace(p, clients=[c for c in p.clients if c.name == client])
                 for p in found]
    return found


def load_history(cfg: HostConfig, client: str | None, policy: str | None,
                 until: int) -> History:
    """Backup times of the complete images up to `until`, by (policy, client, label)."""
    images = net.call(cfg, cfg.client_name, "bpdbm", "image_list", client=client,
                      policy=policy, end=until)["images"]
    history: History = {}
    for h in images:
        key = (str(h["policy"]), str(h["client"]), str(h["sched_label"]))
        history.setdefault(key, []).append(int(h["backup_time"]))
    return history


def predict(cfg: HostConfig, msg: Message) -> dict[str, Any]:
    """`date` (end, required), `start` (default now), `client`, `policy`, `all` (inactive
    policies too) -> {jobs: [Due as dict]} in time order."""
    start = int(clock.now()) if msg["start"] is None else msg["start"]
    client, policy = msg["client"] or None, msg["policy"] or None
    jobs = forecast.predict(load_policies(cfg, policy, client),
                            load_history(cfg, client, policy, start), start, msg["date"],
                            include_inactive=msg["all"])
    return {"jobs": [d.as_dict() for d in jobs]}


def due(cfg: HostConfig, msg: Message, attempts: Attempts | None = None) -> dict[str, Any]:
    """`date` (default now), `client`, `policy` -> {jobs: [Due as dict]}: due_now then.

    `attempts` are nbpem's failed tries, when nbpem has them to give."""
    at = int(clock.now()) if msg["date"] is None else msg["date"]
    client, policy = msg["client"] or None, msg["policy"] or None
    from nbcli.catalog.globals import load_globals

    g = load_globals(cfg.paths)  # the tries nbpem itself applies (bpconfig -tries/-period)
    jobs = due_now(load_policies(cfg, policy, client),
                   load_history(cfg, client, policy, at), at, attempts, g.tries,
                   g.period_hours)
    return {"jobs": [d.as_dict() for d in jobs]}
