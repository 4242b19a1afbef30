"""bpdbm's policy and configuration ops in-process (validated as the service layer does), the
command side's choice of master, and the import rules of the commands that use them."""

from __future__ import annotations

import ast
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import nbcli
from nbcli import config
from nbcli.commands import imagefmt
from nbcli.commands.policyfmt import MasterDb
from nbcli.daemons.bpdbm_config import ConfigOps
from nbcli.model.policy import from_toml
from nbcli.net.service import Op
from nbcli.status import NbuError
from nbcli.wire import schema

COMMANDS = ["bpclient", "bpconfig", "bpplclients", "bpplinclude", "bpplinfo", "bppllist",
            "bpplsched", "bpplschedrep", "bppolicynew", "bpretlevel", "policyfmt",
            "clientattrfmt", "globalsfmt", "retentionfmt", "imagefmt"]
PACKAGE = Path(nbcli.__file__).parent


@pytest.fixture
def ops(tmp_path: Path) -> dict[str, Op]:
    cfg = config.init_root(tmp_path / "m", name="m")  # all-in-one: SERVER = [m]
    return ConfigOps(lambda: cfg, cfg.paths, logging.getLogger("test")).ops()


def ask(ops: dict[str, Op], op: str, address: str = "local", **fields: Any) -> dict[str, Any]:
    """One request as bpdbm's service layer runs it: validated, then handled."""
    conn: Any = SimpleNamespace(address=address, peer=f"test@{address}", cert_names=[])
    entry = ops[op]
    result = entry.handler(schema.validate(op, {"op": op, **fields}, entry.fields), conn)
    assert isinstance(result, dict)
    return result


def status(ops: dict[str, Op], op: str, address: str = "local", **fields: Any) -> int:
    try:
        ask(ops, op, address, **fields)
    except NbuError as e:
        return e.status
    return 0


def includes(ops: dict[str, Op], policy: str) -> list[str]:
    (p,) = ask(ops, "policy_get", policy=policy)["policies"]
    return from_toml(p["name"], p["toml"]).includes


def test_a_policy_is_created_edited_and_read_back(ops: dict[str, Op]) -> None:
    ask(ops, "policy_create", policy="web")
    ask(ops, "policy_include", policy="web", action="add", paths=["/etc", "/srv"])
    ask(ops, "policy_include", policy="web", action="modify", paths=["/srv", "/var"])
    ask(ops, "policy_client_add", policy="web",
        clients=[{"name": "c1", "hardware": "Linux", "os": "RedHat", "priority": 0}])
    ask(ops, "policy_sched_add", policy="web", label="full",
        options={"st": "FULL", "rl": "3", "window": ["3600", "7200"], "ci": True})
    ask(ops, "policy_set_info", policy="web", changes={"priority": 5, "active": False})
    (got,) = ask(ops, "policy_get", policy="web")["policies"]
    p = from_toml("web", got["toml"])
    assert (p.includes, [c.name for c in p.clients], p.priority, p.active) == \
        (["/etc", "/var"], ["c1"], 5, False)
    assert (p.schedules[0].retention, p.schedules[0].windows[0].duration) == (3, 7200)
    assert ask(ops, "policy_names") == {"names": ["web"]}


def test_concurrent_edits_of_one_policy_all_land(ops: dict[str, Op]) -> None:
    ask(ops, "policy_create", policy="busy")
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            ask(ops, "policy_include", policy="busy", action="add", paths=[f"/d{n}"])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(includes(ops, "busy")) == sorted(f"/d{n}" for n in range(16))


@pytest.mark.parametrize("op, fields", [
    ("policy_create", {"policy": "x"}), ("policy_rename", {"policy": "kept", "new_name": "y"}),
    ("policy_include", {"policy": "kept", "action": "add", "paths": ["/etc"]}),
    ("policy_set_info", {"policy": "kept", "changes": {"active": False}}),
    ("policy_sched_delete", {"policy": "kept", "all": True}),
    ("client_add", {"client": "c", "attrs": {}}), ("globals_set", {"changes": {"tries": 3}}),
    ("retention_set", {"level": 3, "seconds": 60})])
def test_writes_from_a_host_not_in_the_server_list_are_46(ops: dict[str, Op], op: str,
                                                          fields: dict[str, Any]) -> None:
    ask(ops, "policy_create", policy="kept")
    assert status(ops, op, "10.9.9.9", **fields) == 46
    assert ask(ops, "policy_names", "10.9.9.9") == {"names": ["kept"]}  # reading is fine
    assert includes(ops, "kept") == []
    assert ask(ops, "globals_get")["globals"]["tries"] == 2


@pytest.mark.parametrize("op, fields, expected", [
    ("policy_set_info", {"policy": "p", "changes": {"bogus": 1}}, 143),
    ("policy_set_info", {"policy": "p", "changes": {"priority": "high"}}, 143),
    ("policy_set_info", {"policy": "p", "changes": {"active": 1}}, 143),
    ("policy_set_info", {"policy": "p", "changes": {"priority": 100000}}, 20),
    ("policy_set_info", {"policy": "p", "changes": {"policy_type": 999}}, 20),
    ("policy_set_info", {"policy": "p", "changes": {"residence": "a b"}}, 20),
    ("policy_set_info", {"policy": "ghost", "changes": {}}, 230),
    ("policy_include", {"policy": "p", "action": "move", "paths": ["/a"]}, 20),
    ("policy_include", {"policy": "p", "action": "modify", "paths": ["/a"]}, 20),
    ("policy_client_add", {"policy": "p", "clients": [{"name": "c"}]}, 143),
    ("policy_client_add", {"policy": "p", "clients": [{"name": "c", "hardware": "a b",
                                                       "os": "x"}]}, 20),
    ("policy_sched_add", {"policy": "p", "label": "s", "options": {"rm": "-rf"}}, 143),
    ("policy_sched_add", {"policy": "p", "label": "s", "options": {"incl": ["13/45/2020"]}},
     109),
    ("policy_sched_delete", {"policy": "p"}, 20),
    ("policy_create", {"policy": "x" * 129}, 225),
    ("policy_create", {"policy": "p", "extra": 1}, 143),
    ("client_add", {"client": "c", "attrs": {"max_jobs": 0}}, 20),
    ("client_add", {"client": "c", "attrs": {"max_jobs": "2"}}, 20),
    ("client_add", {"client": "c", "attrs": {"name": "d"}}, 143),
    ("client_update", {"client": "nobody", "attrs": {}}, 227),
    ("globals_set", {"changes": {"job_retry_delay_minutes": 61}}, 20),
    ("globals_set", {"changes": {"nope": 1}}, 143),
    ("retention_set", {"level": 3}, 20),
    ("retention_set", {"level": 3, "seconds": 60, "infinity": True}, 20),
    ("retention_set", {"level": 9, "seconds": 60}, 20),
    ("policy_include", {"policy": "p", "action": "add", "paths": ["etc"]}, 141),
    ("policy_include", {"policy": "p", "action": "add", "paths": ["/a", "./b"]}, 141),
    ("policy_include", {"policy": "p", "action": "modify", "paths": ["/a", "a"]}, 141),
    ("policy_set_info", {"policy": "p", "changes": {"keyword": "tab\there"}}, 20),
    ("policy_set_info", {"policy": "p", "changes": {"keyword": "k" * 129}}, 225),
    ("policy_client_add", {"policy": "p", "clients": [{"name": "c", "hardware": "a\x01",
                                                       "os": "x"}]}, 20),
    ("client_add", {"client": "c", "attrs": {"ip_address": "1.2.3.4\x07"}}, 20),
    ("globals_set", {"changes": {"admin_mail": "a\x01b"}}, 20),
])
def test_bad_requests_get_netbackups_statuses(ops: dict[str, Op], op: str,
                                              fields: dict[str, Any], expected: int) -> None:
    ask(ops, "policy_create", policy="p")
    with pytest.raises(NbuError) as e:
        ask(ops, op, **fields)
    assert e.value.status == expected


def test_attributes_round_trip(ops: dict[str, Op]) -> None:
    ask(ops, "client_add", client="db01", attrs={"max_jobs": 4, "connect_options": [0, 1, 2]})
    ask(ops, "client_update", client="db01", attrs={"offline_backup": True})
    (c,) = ask(ops, "client_attrs", client="db01")["clients"]
    assert (c["max_jobs"], c["connect_options"], c["offline_backup"]) == (4, [0, 1, 2], True)
    assert ask(ops, "client_attrs", client="other") == {"clients": []}
    ask(ops, "globals_set", changes={"tries": 5, "admin_mail": "ops@example.com"})
    g = ask(ops, "globals_get")["globals"]
    assert (g["tries"], g["admin_mail"], g["period_hours"]) == (5, "ops@example.com", 12)
    ask(ops, "retention_set", level=4, infinity=True)
    ask(ops, "retention_set", level=5, seconds=3600)
    levels = ask(ops, "retention_list")["levels"]
    assert (levels[4], levels[5], len(levels)) == ([4, None], [5, 3600], 101)


def test_a_standard_policy_takes_absolute_paths_and_directives(ops: dict[str, Op]) -> None:
    ask(ops, "policy_create", policy="std")
    ask(ops, "policy_include", policy="std", action="add",
        paths=["/etc", "NEW_STREAM", "/home", "SET X=1", "UNSET X", "UNSET_ALL"])
    assert includes(ops, "std")[:3] == ["/etc", "NEW_STREAM", "/home"]
    ask(ops, "policy_create", policy="win")
    ask(ops, "policy_set_info", policy="win", changes={"policy_type": 13})
    ask(ops, "policy_include", policy="win", action="add", paths=["C:\\", "System_State:\\"])
    assert includes(ops, "win") == ["C:\\", "System_State:\\"]


def test_listings_carry_the_configured_retention_periods(ops: dict[str, Op]) -> None:
    ask(ops, "policy_create", policy="p")
    ask(ops, "retention_set", level=3, seconds=45 * 86400)
    levels = dict(map(tuple, ask(ops, "policy_get", policy="p")["levels"]))
    assert (levels[3], levels[9], len(levels)) == (45 * 86400, None, 101)


def test_master_lists() -> None:
    from nbcli.commands.policyfmt import split_masters
    assert split_masters(None) == [None]
    assert split_masters("m1") == ["m1"]
    assert split_masters("m1, m2,m3") == ["m1", "m2", "m3"]
    for bad in ("m1,,m2", ",", "m1,"):
        with pytest.raises(NbuError) as e:
            split_masters(bad)
        assert e.value.status == 20


def test_the_master_a_command_asks(tmp_path: Path) -> None:
    client = config.init_root(tmp_path / "c", name="c", roles=["client"])
    with pytest.raises(NbuError) as e:
        MasterDb(client, None)  # its SERVER list is itself, and it is no master
    assert e.value.status == 153
    assert MasterDb(client, "m1").host == "m1"
    for bad in ("", "m1,m2", "m 1"):
        with pytest.raises(NbuError) as e:
            MasterDb(client, bad)
        assert e.value.status == 20
    aio = config.init_root(tmp_path / "a", name="a")
    assert MasterDb(aio, None).host == "a"


def test_bpimagelist_names_the_period_the_reply_carries() -> None:
    h = {"retention_level": 3}
    assert imagefmt.retention_words(h) == "1 month"  # no period in the reply: the default
    assert imagefmt.retention_words({**h, "retention_period": 45 * 86400}) == "45 days"
    assert imagefmt.retention_words({**h, "retention_period": None}) == "infinity"
    assert imagefmt.retention_words({"retention_level": 25}) == "expires immediately"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module:
            names.add(n.module)
            names.update(f"{n.module}.{a.name}" for a in n.names if n.module == "nbcli")
    return {m for m in names if m.startswith("nbcli")}


@pytest.mark.parametrize("module", COMMANDS)
def test_the_commands_reach_the_files_only_through_bpdbm(module: str) -> None:
    used = _imports(PACKAGE / "commands" / f"{module}.py")
    assert not {m for m in used if (m.split(".") + [""])[1] in ("catalog", "daemons", "media",
                                                                 "client")}


def test_the_model_is_pure() -> None:
    allowed = ("nbcli.status", "nbcli.kinds", "nbcli.timefmt", "nbcli.render", "nbcli.model")
    for path in sorted((PACKAGE / "model").glob("*.py")):
        assert all(m.startswith(allowed) or m == "nbcli" for m in _imports(path)), path
