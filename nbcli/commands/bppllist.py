"""bppllist: list policies - their names, or whole policies raw (-l, the default) or labelled.

    bppllist                       names, one per line (`for i in $(bppllist); do ...`)
    bppllist P                     P in raw form (`bppllist P | grep INCLUDE | cut -d' ' -f2`)
    bppllist -allpolicies -U       every policy, labelled
    bppllist -byclient C           the policies that back up client C
"""

from __future__ import annotations

import click

from nbcli.catalog import policies
from nbcli.catalog.policy_model import Policy
from nbcli.cli import entry, load_cfg, root_option
from nbcli.commands.policyfmt import form_options, policy_command, policy_lines
from nbcli.config import Paths
from nbcli.render import echo_lines
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = "bppllist [policy_name] [-L | -l | -U] [-allpolicies] [-byclient client]"


def _selected(paths: Paths, name: str | None, every: bool,
              client: str | None) -> list[Policy]:
    if name:
        chosen = [policies.load(paths, name)]
    else:
        chosen = policies.load_all(paths) if every or client else []
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
@root_option
def cli(name: str | None, form: str | None, verbose: bool, every: bool,
        client: str | None, root: str | None) -> int:
    """List policies: names, or their whole definition.

    Without arguments, the policy names, one per line. With a policy name, -allpolicies or
    -byclient, the policies themselves: raw records (-l, the default), or labelled (-L, -U).

    \b
    EXIT STATUS
      0    listed (nothing at all when there is no policy)
      20   invalid option or policy name
      153  this host is not the master server
      227  -byclient: no policy contains that client
      230  the policy does not exist
    """
    paths = policies.master_paths(load_cfg(root))
    if not (name or every or client):
        echo_lines(policies.list_names(paths))
        return 0
    for p in _selected(paths, name, every, client):
        echo_lines(policy_lines(p, form))
    return 0


main = entry(cli)
