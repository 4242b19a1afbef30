"""bpplschedrep: change the attributes of an existing schedule.

Only what is on the command line changes. Calendar rules are edited item by item (-incl,
-delincl, -weekday, -delweekday, ...) or cleared whole (-ci, -ce, -cw, -cd); start windows are
set per day (-0 .. -6, Sunday = 0) or for every day (-window). The rest of the schedule, and
every other schedule, stay as they were.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands.policyfmt import (
    FLAG01,
    SCHEDULE_LISTS,
    check_reason,
    generation_option,
    given_options,
    ignored_options,
    master_db,
    master_option,
    policy_command,
    pop_ignored,
    reason_option,
    schedule_options,
)
from nbcli.model import schedules
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpplschedrep policy_name sched_label [-st sched_type] [-freq backup_frequency]
    [-mpxmax mpx_factor] [-cal 0|1|2] [-incl mm/dd/yyyy] [-excl mm/dd/yyyy]
    [-delincl mm/dd/yyyy] [-delexcl mm/dd/yyyy] [-weekday day_name week [day_name week]...]
    [-dayomonth 1-31 [1-31]... | l] [-deldayomonth 1-31 [1-31]... | l]
    [-delweekday day_name week [day_name week]...]
    [-xweekday day_name week [day_name week]...] [-xdayomonth 1-31 [1-31]... | l]
    [-ci] [-ce] [-cw] [-cd] [-generation generation]
    [-number_copies number] [-rl retention_level[,rl-copy2,...]]
    [-fail_on_error 0|1[,0|1,...]] [-residence storage_unit_label[,stunit_copy2,...]]
    [-pool volume_pool_label[,pool_copy2,...]] [-sg share_group[,share_copy2,...]]
    [-synthetic 0|1] [-(0..6) start duration] [-window start duration] [-res_is_stl 0|1]
    [-checksum_change_detection 0|1] [-slpwindow] [-reason "string"] [-v]
    [-M master_server,...]"""
# NetBackup's options for features nbcli does not have (storage lifecycle policies,
# accelerator): accepted and checked, without effect (man/bpplschedrep.8).
IGNORED = (("-res_is_stl", FLAG01), ("-checksum_change_detection", FLAG01),
           ("-slpwindow", None))

_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _rep_options(f: Any) -> Any:
    """The options only bpplschedrep has: deletions, clears and per-day windows."""
    for day in reversed(range(7)):
        f = click.option(f"-{day}", f"day{day}", nargs=2, metavar="START DURATION",
                         help=f"The {_DAY_NAMES[day]} start window, in seconds.")(f)
    for flag, text in (("-cd", "days of the month"), ("-cw", "weekdays"),
                       ("-ce", "exclude dates"), ("-ci", "include dates")):
        f = click.option(flag, flag[1:], is_flag=True, help=f"Clear all {text}.")(f)
    f = click.option("-xdayomonth", "xdayomonth", multiple=True, metavar="1-31|l",
                     help="Never run on this day of the month (l: the last).")(f)
    f = click.option("-xweekday", "xweekday", nargs=2, multiple=True, metavar="DAY WEEK",
                     help="Never run on this weekday (week 1-5, 0: every week).")(f)
    f = click.option("-deldayomonth", "deldayomonth", multiple=True, metavar="1-31|l",
                     help="Stop running on this day of the month.")(f)
    f = click.option("-delweekday", "delweekday", nargs=2, multiple=True,
                     metavar="DAY WEEK", help="Stop running on this weekday.")(f)
    f = click.option("-delexcl", "delexcl", multiple=True, metavar="mm/dd/yyyy",
                     help="Remove an exclude date.")(f)
    return click.option("-delincl", "delincl", multiple=True, metavar="mm/dd/yyyy",
                        help="Remove an include date.")(f)


@policy_command("bpplschedrep", SYNOPSIS, SCHEDULE_LISTS)
@click.argument("name")
@click.argument("label")
@schedule_options
@_rep_options
@click.option("-v", "verbose", is_flag=True, hidden=True)
@ignored_options(*IGNORED)
@reason_option
@generation_option
@master_option
@root_option
def cli(name: str, label: str, verbose: bool, reason: str | None, generation: int | None,
        master: str | None, root: str | None, **opts: Any) -> int:
    """Change the attributes of a schedule.

    \b
    EXIT STATUS
      0    changed
      20   invalid option or value (schedule type, window, copies, ...), or nothing to change
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      109  invalid date
      153  this host is not the master server (and no -M names one)
      197  the policy has no such schedule
      219  -residence: no such storage unit
      230  the policy does not exist
      231  the start windows overlap
    """
    ignored = pop_ignored(opts)
    why = check_reason(reason)
    if all(v in (None, (), False) for v in opts.values()) and not ignored:
        raise NbuError(INVALID_PARAMETER, "nothing to change: give at least one attribute")
    schedules.changes_from(opts)  # bad values fail here, before any request
    db = master_db(root, master)
    db("policy_sched_change", policy=name, label=label, options=given_options(opts),
       generation=generation)
    admin_log(db.cfg).info("bpplschedrep: %s %s %s%s%s", name, label,
                           sorted(k for k, v in opts.items() if v not in (None, (), False)),
                           f" (without effect: {sorted(ignored)})" if ignored else "",
                           f" reason: {why}" if why else "")
    return 0


main = entry(cli)
