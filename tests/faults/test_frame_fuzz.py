"""Every op of every daemon, fed malformed requests built from its own op table: each gets a
clear status (never success, never 256 - a handler's bug), no daemon dies, no traceback reaches
a log, and a backup works afterwards.

The requests come from the declared fields (tests/unit/test_op_tables.op_table), so a new op
is fuzzed the day it is added. Each request breaks its op's declaration at least once - a
required field left out, a field of another JSON type, a number out of its bounds, a field the
op does not declare - and may carry more garbage besides: the validator, not the handler, must
answer it. The caller is root on this host, whom every op admits, so the requests reach the
validator of every op, the admin ones included.

CI sends COUNT requests per service; NBCLI_FAULTS=all sends FULL_COUNT (the issue's 10,000).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli import config
from nbcli.net import client
from nbcli.net.service import Op
from nbcli.status import LOGIC_ERROR, NbuError
from nbcli.wire.schema import Field
from tests.faults.faultkit import FULL, SMALL, Site, next_backup_ends_0, sized
from tests.unit.test_op_tables import op_table

COUNT = 300
FULL_COUNT = 10_000
GARBAGE: list[Any] = [None, True, False, 0, -1, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0, "",
                      "x" * 5000, "\x00\x01", "../../etc/passwd", "*ANY*", [], [1, "a", None],
                      [[[[]]]], {}, {"op": "ping"}, {"a": {"b": {"c": [1]}}}]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, Op]]]:
    """service -> its (op, entry) rows, read from daemons built (not started) on a spare root."""
    cfg = config.init_root(tmp_path_factory.mktemp("tables") / "netbackup", name="aio")
    out: dict[str, list[tuple[str, Op]]] = {}
    for _, service, name, entry in op_table(cfg):
        assert isinstance(entry, Op)
        out.setdefault(service, []).append((name, entry))
    return out


def wrong_type(rng: random.Random, spec: Field) -> Any:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    choices = [v for v in GARBAGE if v is not None and not _fits(v, kinds)]
    return rng.choice(choices)


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def broken_request(rng: random.Random, name: str, entry: Op) -> dict[str, Any]:
    """A request of `name` that breaks its declaration at least once."""
    fields = dict(entry.fields)
    msg: dict[str, Any] = {"op": name}
    for field_name in fields:  # a plausible start: garbage, or nothing
        if rng.random() < 0.5:
            msg[field_name] = rng.choice(GARBAGE)
    ways = ["undeclared"] if entry.rest is None else []
    required = [f for f, s in fields.items() if s.required]
    bounded = [f for f, s in fields.items() if s.lo is not None or s.hi is not None]
    ways += ["missing"] * bool(required) + ["type"] * bool(fields) + ["range"] * bool(bounded)
    if not ways:  # an op of no fields (ping): only an undeclared field breaks it
        ways = ["undeclared"]
    way = rng.choice(ways)
    if way == "missing":
        msg.pop(rng.choice(required), None)
    elif way == "type":
        field_name = rng.choice(list(fields))
        msg[field_name] = wrong_type(rng, fields[field_name])
    elif way == "range":
        field_name = rng.choice(bounded)
        spec = fields[field_name]
        msg[field_name] = (spec.hi + 1 + rng.randrange(10**12)) if spec.hi is not None \
            else (spec.lo - 1 - rng.randrange(10**12))  # type: ignore[operator]  # lo is set
    else:
        msg[f"no_such_field_{rng.randrange(1000)}"] = rng.choice(GARBAGE)
    return msg


def requests(seed: int, rows: list[tuple[str, Op]], count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for _ in range(count):
        name, entry = rng.choice(rows)
        yield broken_request(rng, name, entry)


def fuzz_service(site: Site, service: str, rows: list[tuple[str, Op]], count: int,
                 seed: int) -> dict[int, int]:
    """Send `count` broken requests to `service`; the statuses they got, counted."""
    cfg = site.host.cfg
    seen: dict[int, int] = {}
    conn = client.connect(cfg, site.host.name, service)
    try:
        for msg in requests(seed, rows, count):
            try:
                conn.send(msg)
                reply = conn.recv(timeout=30)
            except (NbuError, EOFError):  # the daemon may end a connection it cannot trust
                conn.close()
                conn = client.connect(cfg, site.host.name, service)
                continue
            status = int(reply.get("status", -1))
            assert status not in (0, LOGIC_ERROR), (service, msg, reply)
            seen[status] = seen.get(status, 0) + 1
    finally:
        conn.close()
    return seen


def test_every_op_refuses_broken_requests_and_every_daemon_lives(
        site: Site, tables: dict[str, list[tuple[str, Op]]]) -> None:
    host = site.host
    pids = {p.proc.pid for p in host.processes(spares=False)}
    count = FULL_COUNT if FULL else COUNT
    statuses: dict[str, dict[int, int]] = {}
    for seed, (service, rows) in enumerate(sorted(tables.items())):
        statuses[service] = fuzz_service(site, service, rows, count, seed)
    # Every service answered each request with a refusal: mostly the validator's two statuses,
    # else who-may-call's (131, 135 for ops root does not make as a client), never 0 or 256.
    for service, seen in statuses.items():
        assert sum(seen.values()) > count // 2, (service, seen)
        assert set(seen) <= {143, 20, 131, 135}, (service, seen)
        assert seen.get(143, 0) + seen.get(20, 0) > sum(seen.values()) // 2, (service, seen)
    assert {p.proc.pid for p in host.processes(spares=False)} == pids
    logs = Path(host.cfg.paths.logs)
    for log in logs.glob("*/log.*"):
        assert "Traceback" not in log.read_text(errors="replace"), log
    sized(site, SMALL)
    next_backup_ends_0(site)
