"""bpplinclude: list or change a policy's backup selections (its ordered include list).

Entries are kept as given and in order, directives included (NEW_STREAM may repeat), so
-add never merges duplicates; -delete removes every occurrence of a path.
"""

from __future__ import annotations

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands.policyfmt import (
    check_reason,
    form_options,
    generation_option,
    include_l,
    includes_u,
    master_db,
    master_option,
    policy_command,
    reason_option,
)
from nbcli.model import policy_raw
from nbcli.render import echo_lines
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NbuError

SYNOPSIS = """bpplinclude policy_name [-L | -l | -U] [-v] [-M master_server,...]
bpplinclude policy_name -add path_name... | -add -f file [-reason "string"] [-generation generation]
    [-v] [-M master_server,...]
bpplinclude policy_name -delete path_name... | -delete -f file [-reason "string"]
    [-generation generation]
    [-v] [-M master_server,...]
bpplinclude policy_name -modify old_path_name new_path_name [-reason "string"]
    [-generation generation]
    [-v] [-M master_server,...]"""

MAX_PATH = 4096


def _entry(text: str) -> str:
    if not text.strip() or "\n" in text or len(text) > MAX_PATH:
        raise NbuError(INVALID_PARAMETER, f"invalid backup selection {text!r}")
    return text


def _from_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"{path}: {e.strerror}") from e
    return [line for line in lines if line.strip()]


def _show(includes: list[str], form: str | None) -> list[str]:
    if form == "l":
        return [policy_raw.include_line(i) for i in includes]
    if form == "L":
        return [include_l(i) for i in includes]
    return includes_u(includes)


@policy_command("bpplinclude", SYNOPSIS)
@click.argument("name")
@click.argument("paths_given", nargs=-1, metavar="[path_name ...]")
@form_options
@click.option("-add", "action", flag_value="add", help="Append the paths, in order.")
@click.option("-delete", "action", flag_value="delete", help="Remove the paths.")
@click.option("-modify", "action", flag_value="modify", help="Replace OLD by NEW.")
@click.option("-f", "listfile", metavar="FILE",
              help="With -add or -delete: the paths, one per line.")
@reason_option
@generation_option
@master_option
@root_option
def cli(name: str, paths_given: tuple[str, ...], form: str | None, verbose: bool,
        action: str | None, listfile: str | None, reason: str | None, generation: int | None,
        master: str | None, root: str | None) -> int:
    """List or change the backup selections of a policy.

    \b
    EXIT STATUS
      0    listed or changed
      12   -f: the file cannot be read
      20   invalid option or path, or wrong number of paths
      141  a Standard policy's selection that is not an absolute path or a directive
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      227  -delete/-modify: the path is not in the selections
      230  the policy does not exist
    """
    why = check_reason(reason)
    db = master_db(root, master)
    if action is None:
        if paths_given or listfile:
            raise NbuError(INVALID_PARAMETER, "paths need -add, -delete or -modify")
        echo_lines(_show(db.policy(name).includes, form))
        return 0
    given = [_entry(p) for p in paths_given]
    if listfile is not None:
        if action == "modify":
            raise NbuError(INVALID_PARAMETER, "-f goes with -add or -delete")
        given += [_entry(p) for p in _from_file(listfile)]
    if not given or (action == "modify" and len(given) != 2):
        raise NbuError(INVALID_PARAMETER,
                       f"-{action} needs {'OLD NEW' if action == 'modify' else 'paths'}")
    db("policy_include", policy=name, action=action, paths=given, generation=generation)
    admin_log(db.cfg).info("bpplinclude: %s -%s %s%s", name, action, " ".join(given),
                           f" reason: {why}" if why else "")
    return 0


main = entry(cli)
