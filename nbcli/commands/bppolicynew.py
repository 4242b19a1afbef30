"""bppolicynew: create a policy with NetBackup's defaults, copy one (-sameas), or rename one.

A new policy is Standard, active, volume pool NetBackup, server group *ANY*, unlimited jobs,
with no clients, selections or schedules; it runs nothing until it has all three.
"""

from __future__ import annotations

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands.policyfmt import check_reason, master_db, master_option, policy_command
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bppolicynew policy_name [-verbose] [-M master_server,...] [-reason "string"]
bppolicynew policy_name -sameas existing_policy_name [-verbose] [-M master_server,...]
    [-reason "string"]
bppolicynew existing_policy_name -renameto policy_name [-verbose] [-M master_server,...]
    [-reason "string"]"""


@policy_command("bppolicynew", SYNOPSIS)
@click.argument("name")
@click.option("-sameas", "sameas", metavar="EXISTING",
              help="Copy the attributes, clients, selections and schedules of this policy.")
@click.option("-renameto", "renameto", metavar="NEW", help="Rename policy NAME to NEW.")
@click.option("-verbose", "-v", "verbose", is_flag=True, help="Accepted for compatibility.")
@click.option("-reason", "reason", metavar="TEXT", help="Why (written to the admin log).")
@master_option
@root_option
def cli(name: str, sameas: str | None, renameto: str | None, verbose: bool,
        reason: str | None, master: str | None, root: str | None) -> int:
    """Create, copy or rename a NetBackup policy.

    \b
    EXIT STATUS
      0    done
      20   invalid name (letters, digits, . + - _ only) or -sameas with -renameto
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      225  name longer than 128 characters
      226  a policy of that name already exists
      230  the existing policy does not exist
    """
    why = check_reason(reason)
    if sameas and renameto:
        raise NbuError(INVALID_PARAMETER, "-sameas and -renameto exclude each other")
    db = master_db(root, master)
    if renameto:
        db("policy_rename", policy=name, new_name=renameto)
        done = f"policy {name} renamed to {renameto}"
    else:
        db("policy_create", policy=name, sameas=sameas)
        done = f"policy {name} created" + (f" as a copy of {sameas}" if sameas else "")
    admin_log(db.cfg).info("bppolicynew: %s%s", done, f" (reason: {why})" if why else "")
    return 0


main = entry(cli)
