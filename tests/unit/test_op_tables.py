"""Every op of every daemon's service table, as one table: its fields are declared.

The daemons are built (not started) against a host root made as `netbackup init` makes one;
their services() are the tables PBX would route to. OP_TABLE has one row per (daemon, service,
op) - the place for more columns about each op (who may call it) when they come.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config, programs
from nbcli.client import agent
from nbcli.daemons.base import Daemon
from nbcli.net.service import Op
from nbcli.status import INVALID_PROTOCOL, NbuError
from nbcli.wire import schema

UNDECLARED = "no_such_field_anywhere"


def daemon_class(name: str) -> type[Daemon]:
    """The Daemon subclass a programs.DAEMONS entry runs."""
    module = importlib.import_module(programs.DAEMONS[name].partition(":")[0])
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
              if issubclass(c, Daemon) and c is not Daemon and c.__module__ == module.__name__]
    return cls


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[config.HostConfig]:
    cfg = config.init_root(tmp_path_factory.mktemp("root") / "netbackup", name="aio")
    yield cfg
    for name in programs.DAEMONS:  # the daemons' log handlers hold files in the root
        for handler in logging.getLogger(name).handlers[:]:
            handler.close()


def op_table(cfg: config.HostConfig) -> list[tuple[str, str, str, object]]:
    """(daemon, service, op, entry) of every daemon of programs.DAEMONS."""
    rows: list[tuple[str, str, str, object]] = []
    for name in programs.DAEMONS:
        daemon = daemon_class(name)(cfg)
        try:
            for service, ops in daemon.services().items():
                rows += [(name, service, op_name, entry) for op_name, entry in ops.items()]
        finally:
            spares = getattr(daemon, "spares", None)
            if spares is not None:
                spares.close()
    return rows


def test_every_daemon_serves_a_table(host: config.HostConfig) -> None:
    rows = op_table(host)
    served = {name for name, *_ in rows}
    # pbx_exchange and nbcmdd speak their own packets (hello, cmdreq), not ops.
    assert served == set(programs.DAEMONS) - {"pbx_exchange", "nbcmdd"}
    assert len(rows) > 60


def test_every_op_is_an_op_with_declared_fields(host: config.HostConfig) -> None:
    for name, service, op_name, entry in op_table(host):
        where = f"{name}/{service}/{op_name}"
        assert isinstance(entry, Op), where
        assert callable(entry.handler), where
        assert all(isinstance(f, schema.Field) for f in entry.fields.values()), where
        assert UNDECLARED not in entry.fields, where


def test_every_op_refuses_an_undeclared_field(host: config.HostConfig) -> None:
    for name, service, op_name, entry in op_table(host):
        assert isinstance(entry, Op)
        with pytest.raises(NbuError) as e:
            entry.validate(op_name, {"op": op_name, UNDECLARED: 1})
        assert e.value.status == INVALID_PROTOCOL, f"{name}/{service}/{op_name}"


def test_every_op_takes_a_request_of_its_required_fields(host: config.HostConfig) -> None:
    """A request with each required field (of its declared kind) passes the validator."""
    samples = {str: "x", int: 1, float: 1.5, bool: True, list: [], dict: {}}
    for name, service, op_name, entry in op_table(host):
        assert isinstance(entry, Op)
        if entry.rest is not None:
            continue  # bpjobd's job fields: tests/integration/test_jobs.py
        msg: dict[str, object] = {"op": op_name}
        for field_name, field in entry.fields.items():
            if field.required:
                kind = field.kind[0] if isinstance(field.kind, tuple) else field.kind
                msg[field_name] = next(iter(field.choices)) if field.choices else \
                    (field.lo if field.lo is not None and kind is int else samples[kind])
        checked = entry.validate(op_name, msg)
        assert set(checked) == {"op", *entry.fields}, f"{name}/{service}/{op_name}"


def test_agents_control_ops_refuse_undeclared_fields() -> None:
    for op_name, fields in agent.CONTROL_OPS.items():
        with pytest.raises(NbuError) as e:
            schema.validate(op_name, {"op": op_name, UNDECLARED: 1}, fields)
        assert e.value.status == INVALID_PROTOCOL, op_name


def test_host_root_is_a_real_root(host: config.HostConfig) -> None:
    assert Path(host.paths.bp_toml).is_file()


def requests_in_source() -> set[tuple[str, str, str]]:
    """(file:line, service, op) of every request nbcli's code sends with literal names:
    `call(cfg, host, "service", "op", ...)`, `request`-style helpers alike - any call whose
    arguments hold a service name followed by an op name as string literals."""
    import ast

    services = {"bpcd", "bpdbm", "bpjobd", "bprd", "nbemm", "nbjm", "nbpem", "nbproxy", "nbrb",
                "nbevtmgr", "nbwmc", "ltid"}
    found: set[tuple[str, str, str]] = set()
    for path in sorted(Path(programs.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            words = [a.value for a in node.args
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for first, second in zip(words, words[1:]):
                if first in services:
                    found.add((f"{path.name}:{node.lineno}", first, second))
            # The policy commands' MasterDb: db("policy_get", ...) goes to the master's bpdbm.
            callee = node.func
            name = callee.id if isinstance(callee, ast.Name) else \
                callee.attr if isinstance(callee, ast.Attribute) else ""
            if path.parent.name == "commands" and name in ("db", "self") and words and \
                    node.args and node.args[0] == _first_literal(node):
                found.add((f"{path.name}:{node.lineno}", "bpdbm", words[0]))
    return found


def _first_literal(node: object) -> object:
    import ast
    assert isinstance(node, ast.Call)
    first = node.args[0]
    return first if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def test_every_request_the_code_sends_has_an_op(host: config.HostConfig) -> None:
    """A caller whose op no daemon serves would get 143 at run time (as bpdbm's policy ops did
    once, lost in a merge): every literal (service, op) the code sends is in some table."""
    served = {(service, op_name) for _, service, op_name, _ in op_table(host)}
    sent = requests_in_source()
    assert len(sent) > 30
    missing = sorted(f"{where}: {service} {op_name}" for where, service, op_name in sent
                     if (service, op_name) not in served)
    assert not missing, "requests no daemon serves:\n" + "\n".join(missing)
