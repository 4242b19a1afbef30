"""bppllist: list policies - their names, or whole policies raw (-l, the default) or labelled.

    bppllist                       names, one per line (`for i in $(bppllist); do ...`)
    bppllist P                     P in raw form (`bppllist P | grep INCLUDE | cut -d' ' -f2`)
    bppllist -allpolicies -U       every policy, labelled
    bppllist -byclient C           the policies that back up client C
"""

from __future__ import annotations

import click

from nbcli.cli import entry, root_option
from nbcli.commands.policyfmt import (
    MasterDb,
    form_options,
    master_db,
    master_option,
    policy_command,
    policy_lines,
)
from nbcli.model.policy import Policy
from nbcli.render import echo_lines
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = """bppllist [policy_name] [-L | -l | -U] [-allpolicies] [-byclient client]
    [-M master]"""


def _selected(db: MasterDb, name: str | None, every: bool,
              client: str | None) -> list[Policy]:
    if name:
        chosen = [db.policy(name)]
    else:
        chosen = db.policies() if every or client else []
    if client:
        chosen = [p for p in chosen if any(c.name == client for c in p.clients)]
        if not chosen:
            raise NbuError(NO_ENTITY, f"no policy has client {client}")
    return chosen


@policy_command("bppllist", SYNOPSIS)
@click.argument("name", required=False, metavar="[policy_name]")
@form_options
@click.option("-allpolicies", "every", is_flag=True, help="List every policy.")
@click.option("-byclient", "client", metavar="CLIENT",
              help="Only the policies that contain this client.")
@master_option
@root_option
def cli(name: str | None, form: str | None, verbose: bool, every: bool,
        client: str | None, master: str | None, root: str | None) -> int:
    """List policies: names, or their whole definition.

    Without arguments, the policy names, one per line. With a policy name, -allpolicies or
    -byclient, the policies themselves: raw records (-l, the default), or labelled (-L, -U).

    \b
    EXIT STATUS
      0    listed (nothing at all when there is no policy)
      20   invalid option or policy name
      25   cannot connect to bpdbm on the master
      153  this host is not the master server (and no -M names one)
      227  -byclient: no policy contains that client
      230  the policy does not exist
    """
    db = master_db(root, master)
    if not (name or every or client):
        echo_lines(db("policy_names")["names"])
        return 0
    for p in _selected(db, name, every, client):
        echo_lines(policy_lines(p, form))
    return 0


main = entry(cli)
