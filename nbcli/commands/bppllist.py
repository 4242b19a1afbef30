"""bppllist: list policies - their names, or whole policies raw (-l, the default) or labelled.

    bppllist                       names, one per line (`for i in $(bppllist); do ...`)
    bppllist P                     P in raw form (`bppllist P | grep INCLUDE | cut -d' ' -f2`)
    bppllist -allpolicies -U       every policy, labelled
    bppllist -byclient C           the policies that back up client C
    bppllist -keyword K            the policies whose keyword phrase contains K
    bppllist -M m1,m2              the same on each master in turn
    bppllist -hwos                 the hardware/OS pairs clients may have, one `hw os` a line
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
    policy_type,
)
from nbcli.model.policy import Policy
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """bppllist [policy_name] [-L | -l | -U] [-allpolicies] [-byclient client]
    [-keyword "keyword phrase"] [-pt policy_type] [-v | -verbose] [-M master_server,...]
bppllist -hwos [-M master_server,...]"""

# The client types of NetBackup's usual installations (hardware, operating system), as
# bpplclients -add takes them; -hwos adds those the master's policies use.
CLIENT_TYPES = (("Linux", "RedHat"), ("Linux", "SuSE"), ("Linux", "Debian"),
                ("Linux", "Ubuntu"), ("Solaris", "Solaris11"), ("RS6000", "AIX7"),
                ("HP-UX-IA64", "HP-UX11.31"), ("Windows-x64", "Windows"),
                ("VMware", "VMware"), ("NDMP", "NDMP"))


def hwos_lines(policies: list[Policy]) -> list[str]:
    """-hwos: the known client types and those in use, `hardware os` a line, sorted."""
    pairs = set(CLIENT_TYPES) | {(c.hardware, c.os) for p in policies for c in p.clients}
    return [f"{hw} {os_name}" for hw, os_name in sorted(pairs)]


def _selected(db: MasterDb, name: str | None, every: bool, client: str | None,
              keyword: str | None, ptype: int | None) -> list[Policy]:
    if name:
        chosen = [db.policy(name)]
    else:
        chosen = db.policies() if every or client or keyword is not None \
            or ptype is not None else []
    if client:
        chosen = [p for p in chosen if any(c.name == client for c in p.clients)]
        if not chosen:
            raise NbuError(NO_ENTITY, f"no policy has client {client}")
    if keyword is not None:
        chosen = [p for p in chosen if keyword in p.keyword]
    if ptype is not None:
        chosen = [p for p in chosen if p.policy_type == ptype]
    return chosen


@policy_command("bppllist", SYNOPSIS)
@click.argument("name", required=False, metavar="[policy_name]")
@form_options
@click.option("-allpolicies", "every", is_flag=True, help="List every policy.")
@click.option("-byclient", "client", metavar="CLIENT",
              help="Only the policies that contain this client.")
@click.option("-keyword", "keyword", metavar="PHRASE",
              help="Only the policies whose keyword phrase contains PHRASE.")
@click.option("-pt", "ptype", metavar="TYPE", help="Only the policies of this type.")
@click.option("-verbose", "verbose_long", is_flag=True, hidden=True)
@click.option("-hwos", "hwos", is_flag=True,
              help="The hardware/OS pairs a client may have, one `hardware os` a line.")
@master_option
@root_option
def cli(name: str | None, form: str | None, verbose: bool, every: bool,
        client: str | None, keyword: str | None, ptype: str | None, verbose_long: bool,
        hwos: bool, master: str | None, root: str | None) -> int:
    """List policies: names, or their whole definition.

    Without arguments, the policy names, one per line. With a policy name, -allpolicies,
    -byclient, -keyword or -pt, the policies themselves: raw records (-l, the default), or
    labelled (-L, -U). -v and -verbose change nothing in the output.

    \b
    EXIT STATUS
      0    listed (nothing at all when there is no policy)
      20   invalid option, policy name or policy type
      25   cannot connect to bpdbm on the master
      153  this host is not the master server (and no -M names one)
      227  -byclient: no policy contains that client
      230  the policy does not exist
    """
    kind = None if ptype is None else policy_type(ptype)
    db = master_db(root, master)
    if hwos:
        if name or every or client or keyword is not None or kind is not None or form:
            raise NbuError(INVALID_PARAMETER, "-hwos takes no policy selection or form")
        echo_lines(hwos_lines(db.policies()))
        return 0
    if not (name or every or client or keyword is not None or kind is not None):
        echo_lines(db("policy_names")["names"])
        return 0
    for p in _selected(db, name, every, client, keyword, kind):
        echo_lines(policy_lines(p, form, db.periods))
    return 0


main = entry(cli)
