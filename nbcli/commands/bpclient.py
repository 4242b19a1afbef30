"""bpclient: list, add, update or delete the client attributes kept on the master.

`-All` lists every client that has an entry; `-client C` shows, adds (-add), changes (-update)
or removes (-delete) one. Listing forms are -L (the default) and -l. Adding an entry that
exists is status 226, and any other request for a client without one is 227, as NetBackup's.
The entries live on the master, in bpdbm's care: this command asks it (-M master, else the
first SERVER), which checks the changes (nbcli.model.clientattrs) before anything is written.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands import clientattrfmt
from nbcli.commands.policyfmt import (
    FLAG01,
    MasterDb,
    ignored_options,
    master_db,
    master_option,
    policy_command,
    pop_ignored,
)
from nbcli.model.clientattrs import ClientAttrs
from nbcli.model.records import from_table
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """bpclient -All [-L | -l] [-v] [-M master_server,...]
bpclient -client client_name [-L | -l] [-v] [-M master_server,...]
bpclient -client client_name -add | -update [-max_jobs 1-99] [-current_host host_name]
    [-ip address] [-port number] [-dynamic_address 0|1] [-free_browse 0|1|2]
    [-list_restore 0|1|2|3] [-connect_options 0|1|2 0|1|2 0|1|2|3]
    [-online | -offline | -online_backup | -offline_backup | -online_restore |
     -offline_restore] [-ut] [-WOFB_enabled 0|1] [-WOFB_FIM 0|1] [-WOFB_usage 0|1]
    [-WOFB_error 0|1] [-client_direct 0|1|2] [-client_direct_restore 0|1|2]
    [-M master_server,...]
bpclient -client client_name -delete [-M master_server,...]"""
# NetBackup's options for features nbcli does not have (Windows open file backup, client
# direct): accepted and checked, without effect (man/bpclient.8).
IGNORED = (("-ut", None), ("-WOFB_enabled", FLAG01), ("-WOFB_FIM", FLAG01),
           ("-WOFB_usage", FLAG01), ("-WOFB_error", FLAG01),
           ("-client_direct", click.IntRange(0, 2)),
           ("-client_direct_restore", click.IntRange(0, 2)))

# option destination -> ClientAttrs attribute, for the plain values
SIMPLE = {"max_jobs": "max_jobs", "current_host": "current_host", "ip": "ip_address",
          "port": "port", "free_browse": "free_browse", "list_restore": "list_restore"}
# -online... / -offline...: which flags each one sets, to what
STATES = {"online": {"offline_backup": False, "offline_restore": False},
          "offline": {"offline_backup": True, "offline_restore": True},
          "online_backup": {"offline_backup": False},
          "offline_backup": {"offline_backup": True},
          "online_restore": {"offline_restore": False},
          "offline_restore": {"offline_restore": True}}


def changes_from(opts: dict[str, Any]) -> dict[str, Any]:
    """The ClientAttrs attributes the command line sets, by attribute name."""
    out = {attr: opts[k] for k, attr in SIMPLE.items() if opts[k] is not None}
    if opts["dynamic_address"] is not None:
        out["dynamic_address"] = bool(opts["dynamic_address"])
    if opts["connect_options"] is not None:
        out["connect_options"] = list(opts["connect_options"])
    for state in opts["states"]:
        out.update(STATES[state])
    return out


def _state_options(f: Any) -> Any:
    for state in reversed(STATES):
        f = click.option(f"-{state}", "states", flag_value=state, multiple=True,
                         help=f"Mark the client {state.replace('_', ' for ')}.")(f)
    return f


def _list(db: MasterDb, client: str | None, form: str) -> int:
    clients = [from_table(ClientAttrs, c, "client_attrs")
               for c in db("client_attrs", client=client)["clients"]]
    if not clients:
        raise NbuError(NO_ENTITY, "no client has attributes on this master" if client is None
                       else f"client {client} does not exist")
    echo_lines(clientattrfmt.show(clients, form))
    return 0


@policy_command("bpclient", SYNOPSIS)
@click.option("-All", "all_clients", is_flag=True, help="Every client with attributes.")
@click.option("-client", "client", metavar="NAME", help="The client to show or change.")
@click.option("-L", "form", flag_value="L", help="Long form (the default): a 20-line block.")
@click.option("-l", "form", flag_value="l", help="Raw form: one line per client.")
@click.option("-add", "mode", flag_value="add", help="Add the client's entry.")
@click.option("-update", "mode", flag_value="update", help="Change the client's entry.")
@click.option("-delete", "mode", flag_value="delete", help="Remove the client's entry.")
@click.option("-max_jobs", "max_jobs", type=int, metavar="1-99",
              help="Maximum concurrent jobs of this client (overrides bpconfig -mj).")
@click.option("-current_host", "current_host", metavar="HOST", help="Host name it has now.")
@click.option("-ip", "ip", metavar="ADDRESS", help="Its address (dynamic address clients).")
@click.option("-port", "port", type=int, metavar="N", help="Port to connect on (0 = usual).")
@click.option("-dynamic_address", "dynamic_address", type=click.IntRange(0, 1),
              help="1: the client's address changes (DHCP).")
@click.option("-free_browse", "free_browse", type=int, metavar="0|1|2",
              help="Browse: 0 allow, 1 deny, 2 use the global setting.")
@click.option("-list_restore", "list_restore", type=int, metavar="0-3",
              help="0 not specified, 1 allow both, 2 list only, 3 deny both.")
@click.option("-connect_options", "connect_options", type=int, nargs=3, metavar="A B C",
              help="BPCD connect-back, ports, daemon connection (default 2 2 3).")
@_state_options
@ignored_options(*IGNORED)
@click.option("-v", "verbose", is_flag=True, hidden=True)
@master_option
@root_option
def cli(all_clients: bool, client: str | None, form: str | None, mode: str | None,
        verbose: bool, master: str | None, root: str | None, **opts: Any) -> int:
    """List, add, update or delete client attributes.

    \b
    EXIT STATUS
      0    listed or changed
      20   invalid option or value (-max_jobs is 1 to 99), or options that do not go together
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      225  name longer than 128 characters
      226  -add: the client already has an entry
      227  no entry for the client (or, with -All, for any client)
    """
    ignored = pop_ignored(opts)
    changes = changes_from(opts)
    if ignored and mode not in ("add", "update"):
        raise NbuError(INVALID_PARAMETER, "attribute options go with -client NAME -add or -update")
    if all_clients == (client is not None):
        raise NbuError(INVALID_PARAMETER, "give one of -All or -client NAME")
    if (mode is None or mode == "delete" or all_clients) and changes:
        raise NbuError(INVALID_PARAMETER, "attribute options go with -client NAME -add or -update")
    if mode and form:
        raise NbuError(INVALID_PARAMETER,
                       "-L and -l list; they do not go with -add, -update or -delete")
    db = master_db(root, master)
    if mode is None:
        return _list(db, client, form or "L")
    assert client is not None
    if mode == "delete":
        db("client_delete", client=client)
    else:
        db(f"client_{mode}", client=client, attrs=changes)
    admin_log(db.cfg).info("bpclient: %s %s %s%s", mode, client, changes,
                           f" (without effect: {sorted(ignored)})" if ignored else "")
    return 0


main = entry(cli)
