"""bpplclients: list the clients of one policy or of all, or add, delete, modify clients.

The default listing is the -U table (Hardware, OS, Client; the client name starts at column
44), so `bpplclients | tail -n +3 | awk '{print $3}'` gives the client names.
"""

from __future__ import annotations

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands.policyfmt import (
    MasterDb,
    check_reason,
    client_l,
    form_options,
    generation_option,
    master_db,
    master_option,
    policy_command,
    policy_type,
    reason_option,
)
from nbcli.model import policy_raw
from nbcli.model.policy import MAX_NAME, Client, check_name
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpplclients [policy_name | -allunique [-pt policy_type]] [-L | -l | -U | -noheader]
    [-v] [-M master_server,...]
bpplclients policy_name -add host_name hardware os [priority]
bpplclients policy_name -add host_name hardware os [host_name hardware os]... [-priority n]
    [-reason "string"] [-generation generation] [-v] [-M master_server,...]
bpplclients policy_name -delete host_name... [-reason "string"] [-v] [-M master_server,...]
    [-generation generation]
bpplclients policy_name -modify host_name [-hardware hardware] [-os os] [-priority n]
    [-reason "string"] [-generation generation] [-v] [-M master_server,...]"""

MAX_PRIORITY = 99999
HEADER = ["Hardware         OS                         Client",
          "---------------  -------------------------  --------------"]


def _word(text: str, what: str) -> str:
    if not text or len(text) > MAX_NAME or not text.isprintable() \
            or any(ch.isspace() for ch in text):
        raise NbuError(INVALID_PARAMETER, f"invalid {what} {text!r}: one word of at most "
                                          f"{MAX_NAME} characters")
    return text


def _new_clients(operands: tuple[str, ...], priority: int | None) -> list[Client]:
    # NetBackup's own form: `-add host_name hardware os [priority]`, the priority positional.
    if len(operands) == 4 and priority is None:
        priority = _priority(operands[3])
        operands = operands[:3]
    if not operands or len(operands) % 3:
        raise NbuError(INVALID_PARAMETER, "-add takes one or more 'host_name hardware os' triples")
    return [Client(check_name(operands[i], "client name"),
                   _word(operands[i + 1], "hardware"), _word(operands[i + 2], "os"),
                   priority or 0) for i in range(0, len(operands), 3)]


def _priority(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_PRIORITY:
        raise NbuError(INVALID_PARAMETER, f"a client's priority is 0 to {MAX_PRIORITY}, not "
                                          f"{text!r}")
    return int(text)


def rows(clients: list[Client], form: str | None, noheader: bool) -> list[str]:
    if form == "l":
        return [policy_raw.client_line(c) for c in clients]
    if form == "L":
        return [client_l(c) for c in clients]
    table = [f"{c.hardware:<15}  {c.os:<25}  {c.name}" for c in clients]
    return table if noheader else HEADER + table


def _listed(db: MasterDb, name: str | None, unique: bool, kind: int | None) -> list[Client]:
    chosen = [db.policy(name)] if name else db.policies()
    if kind is not None:
        chosen = [p for p in chosen if p.policy_type == kind]
    clients = [c for p in chosen for c in p.clients]
    if unique:
        first: dict[str, Client] = {}
        for c in clients:
            first.setdefault(c.name, c)
        clients = list(first.values())
    return clients


@policy_command("bpplclients", SYNOPSIS)
@click.argument("operands", nargs=-1, metavar="[policy_name] [host_name ...]")
@form_options
@click.option("-allunique", "unique", is_flag=True, help="Each client once, over all policies.")
@click.option("-noheader", "noheader", is_flag=True, help="No heading lines in the table.")
@click.option("-add", "action", flag_value="add", help="Add host_name hardware os triples.")
@click.option("-delete", "action", flag_value="delete", help="Delete the named clients.")
@click.option("-modify", "action", flag_value="modify", help="Change one client.")
@click.option("-hardware", "hardware", help="With -modify: the new hardware.")
@click.option("-os", "os_name", help="With -modify: the new operating system.")
@click.option("-priority", "priority", type=click.IntRange(0, 99999),
              help="With -add/-modify: the client's priority in the policy.")
@click.option("-pt", "ptype", metavar="TYPE", help="List only the clients of policies of "
                                                  "this type.")
@reason_option
@generation_option
@master_option
@root_option
def cli(operands: tuple[str, ...], form: str | None, verbose: bool, unique: bool,
        noheader: bool, action: str | None, hardware: str | None, os_name: str | None,
        priority: int | None, ptype: str | None, reason: str | None, generation: int | None,
        master: str | None, root: str | None) -> int:
    """List the clients of policies, or add, delete or modify clients of a policy.

    \b
    EXIT STATUS
      0    listed or changed
      20   invalid option, name or value
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      226  -add: the client is already in the policy
      230  the policy does not exist
      239  -delete/-modify: the client is not in the policy
    """
    kind = None if ptype is None else policy_type(ptype)
    why = check_reason(reason)
    db = master_db(root, master)
    if action is None:
        if len(operands) > 1:
            raise NbuError(INVALID_PARAMETER, f"unexpected arguments: {' '.join(operands[1:])}")
        echo_lines(rows(_listed(db, operands[0] if operands else None, unique, kind), form,
                        noheader))
        return 0
    if kind is not None:
        raise NbuError(INVALID_PARAMETER, "-pt goes with a listing")
    if not operands:
        raise NbuError(INVALID_PARAMETER, f"-{action} needs a policy name")
    name, rest = operands[0], operands[1:]
    if action == "add":
        added = _new_clients(rest, priority)
        db("policy_client_add", policy=name, clients=[vars(c) for c in added],
           generation=generation)
    elif action == "delete":
        if not rest:
            raise NbuError(INVALID_PARAMETER, "-delete needs one or more client names")
        db("policy_client_delete", policy=name, names=list(rest), generation=generation)
    else:
        _modify(db, name, rest, hardware, os_name, priority, generation)
    admin_log(db.cfg).info("bpplclients: %s -%s %s%s", name, action, " ".join(rest),
                           f" reason: {why}" if why else "")
    return 0


def _modify(db: MasterDb, name: str, rest: tuple[str, ...], hardware: str | None,
            os_name: str | None, priority: int | None, generation: int | None) -> None:
    if len(rest) != 1 or (hardware, os_name, priority) == (None, None, None):
        raise NbuError(INVALID_PARAMETER,
                       "-modify takes one client and -hardware, -os or -priority")
    db("policy_client_modify", policy=name, client=rest[0],
       hardware=None if hardware is None else _word(hardware, "hardware"),
       os=None if os_name is None else _word(os_name, "os"), priority=priority,
       generation=generation)


main = entry(cli)
