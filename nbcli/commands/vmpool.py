"""vmpool: list, add and delete volume pools, and choose the scratch pool (through the master's
nbemm).

`-listall` prints a block a pool (tapecfgfmt.pool_block) - None (0), NetBackup (1), DataStore
(2) and CatalogBackup (3) always, then the pools added, numbered next. `-add` takes NetBackup's
five words: name, description, host (ANYHOST), user id and group id (-1 is ANY, -2 NONE).
There is at most one scratch pool, and it is never NetBackup or DataStore: backups take media
from it when their own pool has none, and expired media go back to it.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import tapecfgfmt
from nbcli.commands.options import emm_server_option
from nbcli.commands.stufmt import emm_request
from nbcli.render import echo_lines

SYNOPSIS = """vmpool [-h EMM_server] -listall [-b | -bx]
vmpool [-h EMM_server] -add pool_name "description" host uid gid
vmpool [-h EMM_server] -delete pool_name
vmpool [-h EMM_server] -set_scratch pool_name | -unset_scratch pool_name | -list_scratch"""

IDS = {"-1": "ANY", "-2": "NONE"}


@command("vmpool", SYNOPSIS, context_settings={"ignore_unknown_options": True})
@emm_server_option
@click.option("-listall", "action", flag_value="listall", help="List every pool.")
@click.option("-b", "brief", flag_value="b", help="-listall: one line a pool.")
@click.option("-bx", "brief", flag_value="bx", help="-listall: as -b.")
@click.option("-add", "action", flag_value="add",
              help="Add a pool: name, description, host, uid, gid.")
@click.option("-delete", "action", flag_value="delete", help="Delete an empty pool.")
@click.option("-set_scratch", "action", flag_value="set_scratch",
              help="Make the pool the scratch pool.")
@click.option("-unset_scratch", "action", flag_value="unset_scratch",
              help="The pool is no longer the scratch pool.")
@click.option("-list_scratch", "action", flag_value="list_scratch",
              help="List the scratch pool.")
@click.argument("words", nargs=-1)
@root_option
@click.pass_context
def cli(ctx: click.Context, emm_server: str | None, action: str | None, brief: str | None,
        words: tuple[str, ...], root: str | None) -> int:
    """Manage volume pools.

    \b
    EXIT STATUS
      0     done
      20    invalid parameter (pool name, usage)
      25    the master's nbemm (or its PBX) is not running
      133   a default pool or one with media cannot go; NetBackup is never scratch
      167   no such pool
      225   the description is too long
      226   the pool exists, or another pool is the scratch pool
    """
    wanted = {"listall": 0, "list_scratch": 0, "add": 5, "delete": 1, "set_scratch": 1,
              "unset_scratch": 1}
    if action is None:
        raise click.UsageError("give -listall, -add, -delete, -set_scratch, -unset_scratch "
                               "or -list_scratch", ctx)
    if len(words) != wanted[action]:
        raise click.UsageError(f"-{action} takes {wanted[action]} word(s), not "
                               f"{len(words)}", ctx)
    cfg = load_cfg(root)
    server = emm_server or cfg.master

    def ask(op: str, **fields: Any) -> dict[str, Any]:
        return emm_request(cfg, server, op, **fields)

    if action == "listall":
        pools = ask("pool_list")["pools"]
        echo_lines(tapecfgfmt.pools_brief(pools) if brief else
                   [line for p in pools for line in tapecfgfmt.pool_block(p)])
    elif action == "list_scratch":
        echo_lines(tapecfgfmt.scratch_list(ask("pool_list")["pools"]))
    elif action == "add":
        name, description, host, uid, gid = words
        ask("pool_add", name=name, description=description, host=host,
            user=IDS.get(uid, uid), group=IDS.get(gid, gid))
    elif action == "delete":
        ask("pool_delete", name=words[0])
    else:
        ask("pool_scratch", name=words[0], on=action == "set_scratch")
    return 0


main = entry(cli)
