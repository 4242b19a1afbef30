"""bpplinfo: show a policy's attributes (-L, -l, -U) or change them (-set, -modify).

`-modify` changes only the attributes on the command line; `-set` first puts every attribute
back to its default (effective date: now), then applies the ones given - NetBackup's warning
about -set holds here too. Clients, selections and schedules are never touched.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli import timefmt
from nbcli.cli import admin_log, join_date_times, root_option
from nbcli.commands.policyfmt import (
    FLAG01,
    NameType,
    TextType,
    attributes_u,
    bpplinfo_l,
    check_reason,
    form_options,
    generation_option,
    header,
    ignored_options,
    master_db,
    master_option,
    policy_command,
    policy_type,
    pop_ignored,
    reason_option,
)
from nbcli.model import policy_raw
from nbcli.model.policy import ANY_GROUP, MAX_NAME, Policy, check_generation, check_name
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, TEXT_TOO_LONG, NbuError

INT_MAX = 2147483647
# NetBackup's options for features nbcli does not have (snapshots, BMR, accelerator, virtual
# machines...): accepted and checked, without effect (man/bpplinfo.8).
IGNORED = (("-collect_bmr_info", FLAG01), ("-disaster", FLAG01),
           ("-granular_restore_info", FLAG01),
           ("-job_subtype", click.Choice(["DUPLICATE", "LIVE"], case_sensitive=False)),
           ("-rfile", FLAG01), ("-ignore_client_direct", FLAG01), ("-use_accelerator", FLAG01),
           ("-application_discovery", FLAG01),
           ("-discovery_lifetime", click.IntRange(0, INT_MAX)),
           ("-use_virtual_machine", click.IntRange(0, 3)),
           ("-alt_client_name", NameType("alternate client name")),
           ("-snapshot_method", NameType("snapshot method")),
           ("-snapshot_method_args", TextType(1024)), ("-application_consistent", FLAG01))

SYNOPSIS = """bpplinfo policy_name -L | -l | -U [-v] [-generation generation] [-M master_server,...]
bpplinfo policy_name -set | -modify [-v] [-active | -inactive] [-pt policy_type]
    [-residence label] [-pool label] [-priority number] [-policyjobs max_jobs]
    [-collect_tir_info 0|1|2] [-keyword "keyword phrase"] [-compress 0|1] [-crossmp 0|1]
    [-follownfs 0|1] [-blkincr 0|1] [-multiple_streams 0|1] [-encrypt 0|1] [-chkpt 0|1]
    [-chkpt_intrvl minutes] [-ef effective_time] [-ut] [-sg server_group | *ANY* | *NONE*]
    [-data_class class | *NULL*] [-collect_bmr_info 0|1] [-disaster 0|1]
    [-granular_restore_info 0|1] [-job_subtype DUPLICATE | LIVE] [-rfile 0|1]
    [-ignore_client_direct 0|1] [-use_accelerator 0|1] [-application_discovery 0|1]
    [-discovery_lifetime seconds] [-use_virtual_machine 0|1|2|3] [-alt_client_name name]
    [-snapshot_method method] [-snapshot_method_args args] [-application_consistent 0|1]
    [-reason "string"] [-generation generation] [-M master_server,...]"""

FLAG = click.IntRange(0, 1)
# option destination -> Policy attribute, for the 0|1 flags
FLAGS = {"compress": "compress", "crossmp": "cross_mount_points", "follownfs": "follow_nfs",
         "blkincr": "block_incremental", "multiple_streams": "multiple_streams",
         "encrypt": "encrypt", "chkpt": "checkpoint"}
NULLS = ("*NULL*", "*null*")


def _pool_or_label(value: str, what: str) -> str:
    if value in NULLS or value == "":
        return ""
    return check_name(value, what)


def changes_from(opts: dict[str, Any]) -> dict[str, Any]:
    """The Policy attributes the command line sets (checked), by attribute name."""
    out: dict[str, Any] = {FLAGS[k]: bool(v) for k, v in opts.items()
                           if k in FLAGS and v is not None}
    if opts["active"] is not None:
        out["active"] = opts["active"]
    simple = {"priority": "priority", "policyjobs": "max_jobs", "maxjobs": "max_jobs",
              "collect_tir_info": "collect_tir", "chkpt_intrvl": "checkpoint_interval"}
    out.update({attr: opts[k] for k, attr in simple.items() if opts[k] is not None})
    if opts["pt"] is not None:
        out["policy_type"] = policy_type(opts["pt"])
    if opts["residence"] is not None:
        out["residence"] = _pool_or_label(opts["residence"], "storage unit")
    if opts["pool"] is not None:
        out["volume_pool"] = _pool_or_label(opts["pool"], "volume pool") or "NetBackup"
    if opts["sg"] is not None:
        sg = opts["sg"]
        out["server_group"] = sg if sg in (ANY_GROUP, "*NONE*") else \
            _pool_or_label(sg, "server group")
    if opts["data_class"] is not None:
        out["data_classification"] = _pool_or_label(opts["data_class"], "data classification")
    if opts["keyword"] is not None:
        out["keyword"] = _keyword(opts["keyword"])
    if opts["ef"] is not None:
        out["effective_date"] = _epoch(opts["ef"]) if opts["ut"] else timefmt.parse(opts["ef"])
    return out


def _keyword(text: str) -> str:
    if len(text) > MAX_NAME:
        raise NbuError(TEXT_TOO_LONG, "the keyword phrase is at most 128 characters")
    if not text.isprintable():
        raise NbuError(INVALID_PARAMETER, "the keyword phrase is one line of printable text")
    return text


def _epoch(text: str) -> int:
    """-ef with -ut: seconds since 1970 (0 to 2147483647)."""
    if not text.isdigit() or int(text) > INT_MAX:
        raise NbuError(INVALID_PARAMETER, f"-ef with -ut takes seconds since 1970, not {text!r}")
    return int(text)


def _show(p: Policy, form: str) -> list[str]:
    if form == "l":
        return policy_raw.attribute_lines(p)
    if form == "L":
        return bpplinfo_l(p)
    return header(p, blank_after=True) + attributes_u(p)


@policy_command("bpplinfo", SYNOPSIS)
@click.argument("name")
@form_options
@click.option("-set", "mode", flag_value="set", help="Reset to defaults, then apply.")
@click.option("-modify", "mode", flag_value="modify", help="Change only what is given.")
@click.option("-active", "active", flag_value=True, default=None, help="Activate the policy.")
@click.option("-inactive", "active", flag_value=False, help="Deactivate the policy.")
@click.option("-pt", "pt", metavar="TYPE", help="Policy type (Standard, MS-Windows, ...).")
@click.option("-residence", "residence", metavar="STU", help="Storage unit (*NULL* = any).")
@click.option("-pool", "pool", metavar="POOL", help="Volume pool.")
@click.option("-priority", "priority", type=click.IntRange(0, 99999), help="Job priority.")
@click.option("-policyjobs", "policyjobs", type=click.IntRange(0, 999),
              help="Maximum concurrent jobs (0 = unlimited).")
@click.option("-maxjobs", "maxjobs", type=click.IntRange(0, 999), help="Same as -policyjobs.")
@click.option("-collect_tir_info", "collect_tir_info", type=click.IntRange(0, 2),
              help="True image restore info: 0 no, 1 yes, 2 with move detection.")
@click.option("-keyword", "keyword", metavar="TEXT", help="Keyword phrase.")
@click.option("-compress", "compress", type=FLAG, help="Client compression.")
@click.option("-crossmp", "crossmp", type=FLAG, help="Cross mount points.")
@click.option("-follownfs", "follownfs", type=FLAG, help="Follow NFS mounts.")
@click.option("-blkincr", "blkincr", type=FLAG, help="Block-level incrementals.")
@click.option("-multiple_streams", "multiple_streams", type=FLAG, help="Multiple streams.")
@click.option("-encrypt", "encrypt", type=FLAG, help="Client encryption.")
@click.option("-chkpt", "chkpt", type=FLAG, help="Checkpoint restart.")
@click.option("-chkpt_intrvl", "chkpt_intrvl", type=click.IntRange(5, 180),
              help="Checkpoint interval in minutes.")
@click.option("-ef", "ef", metavar="DATE", help="Effective time, mm/dd/yyyy [hh:mm:ss].")
@click.option("-sg", "sg", metavar="GROUP", help="Server group (*ANY*, *NONE*).")
@click.option("-data_class", "data_class", metavar="CLASS", help="Data classification.")
@click.option("-ut", "ut", is_flag=True, help="-ef is in seconds since 1970 (UNIX time).")
@ignored_options(*IGNORED)
@reason_option
@generation_option
@master_option
@root_option
def cli(name: str, form: str | None, verbose: bool, mode: str | None, reason: str | None,
        generation: int | None, master: str | None, root: str | None, **opts: Any) -> int:
    """Display or change the attributes of a policy.

    \b
    EXIT STATUS
      0    displayed or changed
      20   invalid option or value, or neither a display form nor -set/-modify
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      109  invalid -ef date
      153  this host is not the master server (and no -M names one)
      219  -residence: no such storage unit
      225  keyword or name too long
      230  the policy does not exist
    """
    ignored = pop_ignored(opts)
    why = check_reason(reason)
    if bool(form) == bool(mode):
        raise NbuError(INVALID_PARAMETER,
                       "give one of -L, -l, -U, or -set / -modify with attributes")
    db = master_db(root, master)
    if form:
        shown = db.policy(name)
        check_generation(shown, generation)
        echo_lines(_show(shown, form))
        return 0
    changes = changes_from(opts)
    db("policy_set_info", policy=name, changes=changes, reset=mode == "set",
       generation=generation)
    admin_log(db.cfg).info("bpplinfo: %s %s %s%s%s", name, mode, sorted(changes),
                           f" (without effect: {sorted(ignored)})" if ignored else "",
                           f" reason: {why}" if why else "")
    return 0



def main() -> None:
    # `-ef 03/01/2014 00:00:00`: the time is the next word, as NetBackup reads it.
    cli.main(args=join_date_times(sys.argv[1:], {"-ef"}), prog_name="bpplinfo")
