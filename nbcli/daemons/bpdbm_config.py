"""bpdbm's policy and configuration ops: db/class, db/client and db/config on the master.

Place: part of bpdbm (nbcli.daemons.bpdbm registers `ConfigOps.ops()` beside its image ops).
As in NetBackup, the policy, client-attribute, global-attribute and retention commands run
anywhere whose SERVER list names the master (or with `-M master`) and ask this daemon; it is
the one writer of those files. The ops and their fields are docs/protocol.md "Policies and
configuration".

    reading                      writing (refused with 46 unless the caller is a server)
    policy_names                 policy_create  policy_rename  policy_set_info
    policy_get                   policy_client_add  policy_client_delete  policy_client_modify
    client_attrs                 policy_include  policy_sched_add  policy_sched_delete
    globals_get                  policy_sched_change
    retention_list               client_add  client_update  client_delete
                                 globals_set  retention_set

Serialization: each write is one read-modify-write inside the store's flock - a lock per policy
(db/class/<policy>/.lock; create and rename also take db/class/.lock), one for db/client and
one per document in db/config. bpdbm serves each connection on its own thread and every
thread opens the lock file itself, so flock(2) excludes threads as it excludes processes. A
lock per policy rather than one for all: edits of different policies (nbpem reads while many
bpplinclude run) need not wait for each other, and the same locks keep working against any
other writer (a tool using nbcli.catalog directly). Files are replaced atomically
(nbcli.atomic), so readers take no lock.

Requests carry what the command line said, already checked by the command; they are checked
again here with the same pure code (nbcli.model) before anything is written, so a request
from another program gets the same statuses. Policies travel as their policy.toml text,
client and global attributes as tables (nbcli.model.records).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from nbcli import clock, kinds
from nbcli.catalog import clientattrs, policies, retention
from nbcli.catalog import globals as globals_store
from nbcli.config import HostConfig, Paths
from nbcli.model import records, schedules
from nbcli.model.clientattrs import ClientAttrs
from nbcli.model.globals import Globals
from nbcli.model.policy import ANY_GROUP, MAX_NAME, Client, Policy, check_name, to_toml
from nbcli.net import client as net_client
from nbcli.net.conn import Connection
from nbcli.net.service import Op, audited, op
from nbcli.net.trust import ADMIN, server_of
from nbcli.status import (
    INVALID_PARAMETER,
    INVALID_PROTOCOL,
    NO_ENTITY,
    PATH_NOT_ABSOLUTE,
    SERVER_NOT_ALLOWED,
    STU_UNAVAILABLE,
    TEXT_TOO_LONG,
    NbuError,
)
from nbcli.wire.frames import Message
from nbcli.wire.schema import opt, req

# Names are not bounded here: the stores' check_name answers 225 for a long one, 20 for a bad one.
NAME = req(str)
OPT_NAME = opt(str)
# -generation N: the change is refused unless the policy is still at generation N.
GENERATION = opt(int, None, lo=0, hi=2**31 - 1)
POLICY = {"policy": NAME, "generation": GENERATION}  # the fields of every policy change
MAX_PATH = 4096
# Policy attributes bpplinfo sets (the lists, the name and the generation are not attributes).
INFO_ATTRS: dict[str, type[Any]] = {f.name: type(f.default) for f in fields(Policy)
              if f.name not in ("name", "generation", "clients", "includes", "schedules")}
# Those that name something: checked as names ("" = the default: any, the policy's own).
NAMED_ATTRS = {"residence": "storage unit", "volume_pool": "volume pool",
               "server_group": "server group", "data_classification": "data classification"}
SPECIAL_GROUPS = (ANY_GROUP, "*NONE*")
# bpplinfo's numeric ranges (its options say the same): attribute -> (lowest, highest).
INFO_RANGES = {"priority": (0, 99999), "max_jobs": (0, 999), "collect_tir": (0, 2),
               "checkpoint_interval": (5, 180)}
# The schedule options bpplsched -add and bpplschedrep pass on, as typed (nbcli.model.schedules).
SCHEDULE_KEYS = frozenset({"st", "freq", "mpxmax", "number_copies", "synthetic", "rl",
                           "residence", "pool", "sg", "fail_on_error", "cal", "incl", "excl",
                           "weekday", "dayomonth", "window", "delincl", "delexcl", "delweekday",
                           "deldayomonth", "xweekday", "xdayomonth", "ci", "ce", "cw",
                           "cd", "ut",
                           *(f"day{d}" for d in range(7))})


# The ops that change policies and settings: audited (who, from where, what).
WRITES = ("policy_create", "policy_rename", "policy_set_info", "policy_client_add",
          "policy_client_delete", "policy_client_modify", "policy_include", "policy_sched_add",
          "policy_sched_delete", "policy_sched_change", "client_add", "client_update",
          "client_delete", "globals_set", "retention_set")


class ConfigOps:
    """The ops; `cfg` gives bpdbm's current configuration (it may be reloaded on SIGHUP)."""

    def __init__(self, cfg: Callable[[], HostConfig], paths: Paths,
                 log: logging.Logger) -> None:
        self.cfg = cfg
        self.paths = paths
        self.log = log

    def ops(self) -> dict[str, Op]:
        return audited({
            "policy_names": op(self.policy_names, ADMIN),
            "policy_get": op(self.policy_get, ADMIN, policy=OPT_NAME),
            "policy_create": op(self.policy_create, ADMIN, policy=NAME, sameas=OPT_NAME),
            "policy_rename": op(self.policy_rename, ADMIN, policy=NAME, new_name=NAME),
            "policy_set_info": op(self.policy_set_info, ADMIN, **POLICY, changes=req(dict),
                                  reset=opt(bool, False)),
            "policy_client_add": op(self.policy_client_add, ADMIN, **POLICY,
                                    clients=req(list, items=req(dict))),
            "policy_client_delete": op(self.policy_client_delete, ADMIN, **POLICY,
                                       names=req(list, items=req(str))),
            "policy_client_modify": op(self.policy_client_modify, ADMIN, **POLICY, client=NAME,
                                       hardware=opt(str), os=opt(str),
                                       priority=opt(int, None, lo=0, hi=99999)),
            "policy_include": op(self.policy_include, ADMIN, **POLICY,
                                 action=req(str, choices=frozenset({"add", "delete", "modify"})),
                                 paths=req(list, items=req(str, max_len=MAX_PATH))),
            "policy_sched_add": op(self.policy_sched_add, ADMIN, **POLICY, label=NAME,
                                   options=req(dict)),
            "policy_sched_delete": op(self.policy_sched_delete, ADMIN, **POLICY,
                                      labels=opt(list, None, items=req(str)),
                                      all=opt(bool, False)),
            "policy_sched_change": op(self.policy_sched_change, ADMIN, **POLICY, label=NAME,
                                      options=req(dict)),
            "client_attrs": op(self.client_attrs, ADMIN, client=OPT_NAME),
            "client_add": op(self.client_add, ADMIN, client=NAME, attrs=req(dict)),
            "client_update": op(self.client_update, ADMIN, client=NAME, attrs=req(dict)),
            "client_delete": op(self.client_delete, ADMIN, client=NAME),
            "globals_get": op(self.globals_get, ADMIN),
            "globals_set": op(self.globals_set, ADMIN, changes=req(dict)),
            "retention_list": op(self.retention_list, ADMIN),
            "retention_set": op(self.retention_set, ADMIN, level=req(int), seconds=opt(int),
                                infinity=opt(bool, False)),
        }, *WRITES)

    def _writer(self, conn: Connection, what: str) -> None:
        """Only the master's servers change its policies and settings: others get 46."""
        if server_of(self.cfg(), conn) is None:
            self.log.warning("refused %s from %s (%s): not in the SERVER list", what,
                             conn.peer, conn.address)
            raise NbuError(SERVER_NOT_ALLOWED, f"{what}: {conn.peer} is not a server of this "
                                               "master")

    def _check_stus(self, labels: list[str]) -> None:
        """Status 219 unless nbemm on this master knows each storage unit ("" = any)."""
        for label in dict.fromkeys(x for x in labels if x):
            try:
                net_client.call(self.cfg(), self.cfg().client_name, "nbemm", "stu_list",
                                label=label)
            except NbuError as e:
                if e.status != NO_ENTITY:
                    raise
                raise NbuError(STU_UNAVAILABLE, f"storage unit {label} does not exist") from None

    def _done(self, conn: Connection, what: str, *detail: object) -> Message:
        self.log.info("%s from %s: %s", what, conn.peer, " ".join(map(str, detail)))
        return {}

    # --- policies: reading ----------------------------------------------------------------------

    def policy_names(self, msg: Message, conn: Connection) -> Message:
        return {"names": policies.list_names(self.paths)}

    def policy_get(self, msg: Message, conn: Connection) -> Message:
        """One policy (230 if there is none) or, without a name, every policy."""
        chosen = [policies.load(self.paths, msg["policy"])] if msg["policy"] \
            else policies.load_all(self.paths)
        # The configured retention periods come along: -U/-L name each level's period.
        return {"policies": [{"name": p.name, "toml": to_toml(p)} for p in chosen],
                "levels": [[level, s] for level, s in retention.levels(self.paths)]}

    # --- policies: writing ----------------------------------------------------------------------

    def policy_create(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_create")
        policies.create(self.paths, msg["policy"], msg["sameas"])
        return self._done(conn, "policy_create", msg["policy"], msg["sameas"] or "")

    def policy_rename(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_rename")
        policies.rename(self.paths, msg["policy"], msg["new_name"])
        return self._done(conn, "policy_rename", msg["policy"], msg["new_name"])

    def policy_set_info(self, msg: Message, conn: Connection) -> Message:
        """bpplinfo -modify (or -set: every attribute back to its default first)."""
        self._writer(conn, "policy_set_info")
        changes = info_changes(msg["changes"])
        self._check_stus([changes.get("residence", "")])
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            if msg["reset"]:
                p.reset_attributes(int(clock.now()))
            for attr, value in changes.items():
                setattr(p, attr, value)
        return self._done(conn, "policy_set_info", msg["policy"], sorted(changes))

    def policy_client_add(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_client_add")
        added = [policy_client(c) for c in msg["clients"]]
        if not added:
            raise NbuError(INVALID_PARAMETER, "policy_client_add: no clients")
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            for c in added:
                p.add_client(c)
        return self._done(conn, "policy_client_add", msg["policy"], *(c.name for c in added))

    def policy_client_delete(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_client_delete")
        if not msg["names"]:
            raise NbuError(INVALID_PARAMETER, "policy_client_delete: no clients")
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            for name in msg["names"]:
                p.delete_client(name)
        return self._done(conn, "policy_client_delete", msg["policy"], *msg["names"])

    def policy_client_modify(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_client_modify")
        hardware, os_name, priority = msg["hardware"], msg["os"], msg["priority"]
        if (hardware, os_name, priority) == (None, None, None):
            raise NbuError(INVALID_PARAMETER, "policy_client_modify: nothing to change")
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            c = p.find_client(msg["client"])
            c.hardware = word(hardware, "hardware") if hardware is not None else c.hardware
            c.os = word(os_name, "os") if os_name is not None else c.os
            c.priority = priority if priority is not None else c.priority
        return self._done(conn, "policy_client_modify", msg["policy"], msg["client"])

    def policy_include(self, msg: Message, conn: Connection) -> Message:
        """bpplinclude -add (in order, duplicates kept), -delete, -modify OLD NEW."""
        self._writer(conn, "policy_include")
        action, given = msg["action"], [include_entry(p) for p in msg["paths"]]
        if not given or (action == "modify" and len(given) != 2):
            raise NbuError(INVALID_PARAMETER,
                           f"-{action} needs {'OLD NEW' if action == 'modify' else 'paths'}")
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            for path in given[1:] if action == "modify" else given if action == "add" else []:
                check_selection(p, path)
            if action == "add":
                p.includes += given
            elif action == "delete":
                for path in given:
                    p.delete_include(path)
            else:
                p.modify_include(given[0], given[1])
        return self._done(conn, "policy_include", msg["policy"], action, *given)

    def policy_sched_add(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "policy_sched_add")
        new = schedules.new_schedule(msg["label"],
                                     schedules.changes_from(schedule_options(msg["options"])))
        self._check_stus([c.residence for c in new.copies])
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            p.add_schedule(new)
        return self._done(conn, "policy_sched_add", msg["policy"], msg["label"])

    def policy_sched_delete(self, msg: Message, conn: Connection) -> Message:
        """bpplsched -delete LABEL,... or, with `all`, -deleteall."""
        self._writer(conn, "policy_sched_delete")
        if bool(msg["labels"]) == msg["all"]:
            raise NbuError(INVALID_PARAMETER, "policy_sched_delete: give labels or all")
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            if msg["all"]:
                p.schedules = []
            for label in msg["labels"] or []:
                p.delete_schedule(label)
        return self._done(conn, "policy_sched_delete", msg["policy"], msg["labels"] or "all")

    def policy_sched_change(self, msg: Message, conn: Connection) -> Message:
        """bpplschedrep: only what the command line names changes."""
        self._writer(conn, "policy_sched_change")
        changes = schedules.changes_from(schedule_options(msg["options"]))
        self._check_stus(changes.residence or [])
        with policies.modify(self.paths, msg["policy"], msg["generation"]) as p:
            schedules.apply(p.find_schedule(msg["label"]), changes)
        return self._done(conn, "policy_sched_change", msg["policy"], msg["label"],
                          sorted(msg["options"]))

    # --- client attributes ----------------------------------------------------------------------

    def client_attrs(self, msg: Message, conn: Connection) -> Message:
        """One client's entry (none: an empty list) or every entry."""
        if msg["client"] is None:
            found = clientattrs.list_clients(self.paths)
        else:
            one = clientattrs.load_client(self.paths, msg["client"])
            found = [] if one is None else [one]
        return {"clients": [records.to_table(c) for c in found]}

    def client_add(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "client_add")
        clientattrs.add_client(self.paths, record(ClientAttrs, msg["attrs"], "client_add",
                                                  name=msg["client"]))
        return self._done(conn, "client_add", msg["client"], msg["attrs"])

    def client_update(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "client_update")
        changes = vars(record(ClientAttrs, msg["attrs"], "client_update", name=msg["client"]))
        with clientattrs.modify_client(self.paths, msg["client"]) as attrs:
            for key in msg["attrs"]:
                setattr(attrs, key, changes[key])
        return self._done(conn, "client_update", msg["client"], msg["attrs"])

    def client_delete(self, msg: Message, conn: Connection) -> Message:
        self._writer(conn, "client_delete")
        clientattrs.delete_client(self.paths, msg["client"])
        return self._done(conn, "client_delete", msg["client"])

    # --- global attributes and retention levels -----------------------------------------------

    def globals_get(self, msg: Message, conn: Connection) -> Message:
        return {"globals": records.to_table(globals_store.load_globals(self.paths))}

    def globals_set(self, msg: Message, conn: Connection) -> Message:
        """bpconfig's changes: one read-modify-write, checked as a whole (status 20)."""
        self._writer(conn, "globals_set")
        changes = vars(record(Globals, msg["changes"], "globals_set"))
        with globals_store.modify_globals(self.paths) as g:
            for key in msg["changes"]:
                setattr(g, key, changes[key])
        return self._done(conn, "globals_set", msg["changes"])

    def retention_list(self, msg: Message, conn: Connection) -> Message:
        return {"levels": [[level, s] for level, s in retention.levels(self.paths)]}

    def retention_set(self, msg: Message, conn: Connection) -> Message:
        """A level's new period: `seconds`, or `infinity`."""
        self._writer(conn, "retention_set")
        if (msg["seconds"] is None) != msg["infinity"]:
            raise NbuError(INVALID_PARAMETER, "retention_set: give seconds or infinity")
        retention.set_level(self.paths, msg["level"], msg["seconds"])
        return self._done(conn, "retention_set", msg["level"],
                          retention.period_text(msg["seconds"]))


# --- checks of what a request carries ---------------------------------------------------------

def record(cls: type[Any], table: dict[str, Any], what: str, **given: Any) -> Any:
    """A `cls` record from a request's table: 143 for a field it does not have, 20 for a value
    of the wrong type (the record's own check follows when it is written)."""
    unknown = sorted(set(table) - records.field_names(cls) - set(given))
    if unknown or set(table) & set(given):
        raise NbuError(INVALID_PROTOCOL, f"{what}: unknown attribute {(unknown or ['name'])[0]!r}")
    return records.from_table(cls, table, what, status=INVALID_PARAMETER, **given)


def word(text: str, what: str) -> str:
    """A policy client's hardware or OS: one word of at most MAX_NAME printable characters."""
    if not text or len(text) > MAX_NAME or not text.isprintable() \
            or any(ch.isspace() for ch in text):
        raise NbuError(INVALID_PARAMETER, f"invalid {what} {text!r}: one word of at most "
                                          f"{MAX_NAME} characters")
    return text


def policy_client(c: dict[str, Any]) -> Client:
    """A Client from {name, hardware, os, priority}."""
    if set(c) - {"name", "hardware", "os", "priority"}:
        raise NbuError(INVALID_PROTOCOL, "policy_client_add: a client is name, hardware, os, "
                                         "priority")
    priority = c.get("priority", 0)
    if not all(isinstance(c.get(k), str) for k in ("name", "hardware", "os")) \
            or not isinstance(priority, int) or isinstance(priority, bool):
        raise NbuError(INVALID_PROTOCOL, "policy_client_add: name, hardware and os are strings, "
                                         "priority a number")
    if not 0 <= priority <= 99999:
        raise NbuError(INVALID_PARAMETER, f"client priority must be 0 to 99999, not {priority}")
    return Client(check_name(c["name"], "client name"), word(c["hardware"], "hardware"),
                  word(c["os"], "os"), priority)


def include_entry(text: str) -> str:
    if not text.strip() or "\n" in text or "\0" in text:
        raise NbuError(INVALID_PARAMETER, f"invalid backup selection {text!r}")
    return text


# What a Standard policy's selections may hold besides absolute paths: its directives.
STANDARD_DIRECTIVES = ("NEW_STREAM", "UNSET_ALL")
STANDARD_PREFIXES = ("SET ", "UNSET ")


def check_selection(p: Policy, path: str) -> None:
    """Status 141 for a Standard policy's selection that is neither an absolute path nor one
    of its directives (other policy types have other forms: C:\\, vmware:/?filter=...)."""
    if p.policy_type != 0 or path.startswith("/") or path in STANDARD_DIRECTIVES \
            or path.startswith(STANDARD_PREFIXES):
        return
    raise NbuError(PATH_NOT_ABSOLUTE, f"{path}: a Standard policy backs up absolute paths")


def info_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """bpplinfo's attribute changes, each of its attribute's type and NetBackup's rules."""
    value: Any
    for attr, value in changes.items():
        kind = INFO_ATTRS.get(attr)
        if kind is None:
            raise NbuError(INVALID_PROTOCOL, f"policy_set_info: unknown attribute {attr!r}")
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise NbuError(INVALID_PROTOCOL, f"policy_set_info: {attr} must be {kind.__name__}")
        if attr in NAMED_ATTRS and value and not (attr == "server_group"
                                                  and value in SPECIAL_GROUPS):
            check_name(value, NAMED_ATTRS[attr])
        low, high = INFO_RANGES.get(attr, (value, value))
        if not low <= value <= high:
            raise NbuError(INVALID_PARAMETER, f"{attr} must be {low} to {high}, not {value}")
    if changes.get("policy_type", 0) not in kinds.POLICY_TYPES:
        raise NbuError(INVALID_PARAMETER, f"unknown policy type {changes['policy_type']}")
    keyword = changes.get("keyword", "")
    if len(keyword) > MAX_NAME:
        raise NbuError(TEXT_TOO_LONG, "the keyword phrase is at most 128 characters")
    if not keyword.isprintable():
        raise NbuError(INVALID_PARAMETER, "the keyword phrase is one line of printable text")
    return changes


def schedule_options(options: dict[str, Any]) -> dict[str, Any]:
    """bpplsched/bpplschedrep options as typed: each a string, a flag, or a list of strings or
    of [string, string] pairs (nbcli.model.schedules.changes_from checks the values)."""
    def fine(v: Any) -> bool:
        return isinstance(v, (str, bool)) or (isinstance(v, list) and all(
            isinstance(x, str) or (isinstance(x, list) and all(isinstance(y, str) for y in x))
            for x in v))

    bad = sorted(k for k, v in options.items() if k not in SCHEDULE_KEYS or not fine(v))
    if bad:
        raise NbuError(INVALID_PROTOCOL, f"schedule option {bad[0]!r} is unknown or mistyped")
    return options
