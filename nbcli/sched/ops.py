"""nbpem's `predict` and `due` ops: the scheduler's decisions fed from the store and catalog.

nbpem routes both ops here (nbcli/daemons/nbpem.py); nbpemreq sends them. Policies come from
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
from nbcli.status import INVALID_PARAMETER, NbuError
from nbcli.wire.frames import Message


def _epoch(msg: Message, key: str, default: int | None) -> int:
    value = msg.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise NbuError(INVALID_PARAMETER,
                       f"{msg.get('op', 'request')}: {key} must be an epoch time")
    return value


def _name(msg: Message, key: str) -> str | None:
    value = msg.get(key)
    if value is not None and not isinstance(value, str):
        raise NbuError(INVALID_PARAMETER, f"{msg.get('op', 'request')}: {key} must be a name")
    return value or None


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
    start = _epoch(msg, "start", int(clock.now()))
    end = _epoch(msg, "date", None)
    client, policy = _name(msg, "client"), _name(msg, "policy")
    jobs = forecast.predict(load_policies(cfg, policy, client),
                            load_history(cfg, client, policy, start), start, end,
                            include_inactive=bool(msg.get("all")))
    return {"jobs": [d.as_dict() for d in jobs]}


def due(cfg: HostConfig, msg: Message, attempts: Attempts | None = None) -> dict[str, Any]:
    """`date` (default now), `client`, `policy` -> {jobs: [Due as dict]}: due_now then.

    `attempts` are nbpem's failed tries, when nbpem has them to give."""
    at = _epoch(msg, "date", int(clock.now()))
    client, policy = _name(msg, "client"), _name(msg, "policy")
    from nbcli.catalog.globals import load_globals

    g = load_globals(cfg.paths)  # the tries nbpem itself applies (bpconfig -tries/-period)
    jobs = due_now(load_policies(cfg, policy, client),
                   load_history(cfg, client, policy, at), at, attempts, g.tries,
                   g.period_hours)
    return {"jobs": [d.as_dict() for d in jobs]}
