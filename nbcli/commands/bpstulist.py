"""bpstulist: list storage units, as NetBackup prints them (raw line, or -U / -L blocks).

The units come from nbemm (stu_list) on each master of -M; stufmt renders them. nbcli has no
storage unit groups yet, so -go prints nothing and -g prints the units alone.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, master_list, root_option
from nbcli.commands import stufmt
from nbcli.render import echo_lines

SYNOPSIS = """bpstulist [-label storage_unit_label] [-L | -l | -U] [-g | -go]
          [-M master_server,...] [-verbose]"""


@command("bpstulist", SYNOPSIS)
@click.option("-label", "label", help="List only this storage unit.")
@click.option("-L", "form", flag_value="long", help="Long form: one 'Label: value' block a unit.")
@click.option("-l", "form", flag_value="raw", help="Raw form: one line a unit (the default).")
@click.option("-U", "form", flag_value="user", help="User form: 'Label: value' blocks.")
@click.option("-g", "groups", flag_value="also", help="Also list storage unit groups.")
@click.option("-go", "groups", flag_value="only", help="List storage unit groups only.")
@click.option("-M", "master", help="Master server(s) to list, comma-separated.")
@click.option("-verbose", is_flag=True, help="Accepted; every form is complete already.")
@root_option
def cli(label: str | None, form: str | None, groups: str | None, master: str | None,
        verbose: bool, root: str | None) -> int:
    """List storage units.

    \b
    EXIT STATUS
      0     listed (nothing is printed when there are no storage units)
      20    invalid parameter
      25    the master's nbemm (or its PBX) is not running
      227   no storage unit has the -label given
    """
    cfg = load_cfg(root)
    if groups == "only":
        return 0
    for m in master_list(cfg, master):
        for stu in stufmt.emm_request(cfg, m, "stu_list", label=label)["stus"]:
            if form in ("long", "user"):
                # NetBackup starts every block with a blank line, the first one too:
                # collectors step a fixed number of lines per unit from the top.
                click.echo("")
                echo_lines(stufmt.labelled(stu))
            else:
                click.echo(stufmt.raw_line(stu))
    return 0


main = entry(cli)
