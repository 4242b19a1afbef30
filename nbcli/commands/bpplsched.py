"""bpplsched: list a policy's schedules, add one, delete some or all.

A new schedule gets NetBackup's defaults (FULL, weekly, retention level 1, one copy, no start
window) changed by the options given; bpplschedrep changes an existing one.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands.policyfmt import (
    FLAG01,
    SCHEDULE_LISTS,
    check_reason,
    form_options,
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
from nbcli.model import policy_raw, schedule_text, schedules
from nbcli.model.policy import Schedule, check_generation
from nbcli.model.schedule_text import Periods
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpplsched policy_name [-v] [-M master_server,...] [-L | -l | -U] [-label sched_label]
    [-generation generation]
bpplsched policy_name [-v] [-M master_server,...] -delete sched_label,... [-reason "string"]
    [-generation generation]
bpplsched policy_name [-v] [-M master_server,...] -deleteall [-reason "string"]
    [-generation generation]
bpplsched policy_name [-v] [-M master_server,...] -add sched_label [-st sched_type]
    [-freq frequency] [-mpxmax mpx_factor] [-number_copies number] [-synthetic 0|1]
    [-pfi_fast_recovery 0|1] [-rl retention_level[,rl_copy,...]]
    [-residence storage_unit_label[,stunit_copy,...]] [-pool volume_pool_label[,pool_copy,...]]
    [-res_is_stl 0|1] [-fail_on_error 0|1[,0|1,...]] [-sg share_group[,share_copy,...]]
    [-window start duration] [-cal 0|1|2] [-ut] [-incl mm/dd/yyyy] [-excl mm/dd/yyyy]
    [-weekday day_name week] [-dayomonth value | l] [-checksum_change_detection 0|1]
    [-reason "string"] [-generation generation]"""
# NetBackup's options for features nbcli does not have: accepted and checked, no effect.
IGNORED = (("-pfi_fast_recovery", FLAG01), ("-res_is_stl", FLAG01),
           ("-checksum_change_detection", FLAG01))


def show(chosen: list[Schedule], form: str | None, periods: Periods | None = None) -> list[str]:
    """The schedules in `form`; labelled retention levels name the master's `periods`."""
    if form == "l":
        return [line for s in chosen for line in policy_raw.schedule_lines(s)]
    if form == "L":
        return [line for s in chosen for line in schedule_text.schedule_l(s, periods)]
    blocks = [schedule_text.schedule_u(s, periods) for s in chosen]
    return [line for i, block in enumerate(blocks) for line in ([""] if i else []) + block]


@policy_command("bpplsched", SYNOPSIS, SCHEDULE_LISTS)
@click.argument("name")
@form_options
@click.option("-label", "label", metavar="LABEL", help="List only this schedule.")
@click.option("-add", "add", metavar="LABEL", help="Add a schedule.")
@click.option("-delete", "delete", metavar="LABEL[,LABEL]", help="Delete these schedules.")
@click.option("-deleteall", "deleteall", is_flag=True, help="Delete every schedule.")
@schedule_options
@click.option("-ut", "ut", is_flag=True, help="-incl and -excl dates are seconds since 1970.")
@ignored_options(*IGNORED)
@reason_option
@generation_option
@master_option
@root_option
def cli(name: str, form: str | None, verbose: bool, label: str | None, add: str | None,
        delete: str | None, deleteall: bool, reason: str | None, generation: int | None,
        master: str | None, root: str | None, **opts: Any) -> int:
    """List, add or delete the schedules of a policy.

    \b
    EXIT STATUS
      0    listed or changed
      20   invalid option or value (schedule type, window, copies, ...)
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      109  invalid date
      153  this host is not the master server (and no -M names one)
      197  -label/-delete: the policy has no such schedule
      219  -residence: no such storage unit
      226  -add: the policy already has a schedule of that name
      230  the policy does not exist
      231  the start windows overlap
    """
    ignored = pop_ignored(opts)
    why = check_reason(reason)
    if sum(map(bool, (add, delete, deleteall))) > 1:
        raise NbuError(INVALID_PARAMETER, "-add, -delete and -deleteall exclude each other")
    given = sorted(k for k, v in opts.items() if v not in (None, (), False))
    if given and not add:
        raise NbuError(INVALID_PARAMETER,
                       f"-{' -'.join(given)} only go with -add (or use bpplschedrep)")
    db = master_db(root, master)
    if not (add or delete or deleteall):
        p = db.policy(name)
        check_generation(p, generation)
        echo_lines(show([p.find_schedule(label)] if label else p.schedules, form, db.periods))
        return 0
    if add:
        schedules.new_schedule(add, schedules.changes_from(opts))  # bad values: fail here
        db("policy_sched_add", policy=name, label=add, options=given_options(opts),
           generation=generation)
    elif delete:
        db("policy_sched_delete", policy=name, labels=schedules.split_list(delete),
           generation=generation)
    else:
        db("policy_sched_delete", policy=name, all=True, generation=generation)
    admin_log(db.cfg).info("bpplsched: %s %s%s%s", name, f"-add {add}" if add else
                           f"-delete {delete}" if delete else "-deleteall",
                           f" (without effect: {sorted(ignored)})" if ignored else "",
                           f" reason: {why}" if why else "")
    return 0


main = entry(cli)
