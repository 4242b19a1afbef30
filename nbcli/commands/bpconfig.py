"""bpconfig: show the master's global attributes (-L, -l, -U) or change them.

The two forms exclude each other, as in NetBackup: attribute options change what they name
and print nothing; a display option, or no option at all (the raw form), shows them. Values
are checked (nbcli.model.globals: status 20 for one out of NetBackup's range) by bpdbm on the
master (-M master, else the first SERVER), which owns them, before anything is written; the
change is one read-modify-write under the store's lock there, so two bpconfig runs at once
each keep the other's change.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands import globalsfmt
from nbcli.commands.policyfmt import form_options, master_db, master_option, policy_command
from nbcli.model.globals import PREP_DEFAULT, Globals
from nbcli.model.records import from_table
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpconfig [-cd seconds] [-ha hours] [-kl days] [-kt days] [-ma [address]]
    [-sto seconds] [-mj number] [-period hours] [-prep hours] [-to seconds]
    [-max_copies number] [-cleanup_int hours] [-cleanup_wait minutes] [-tries times]
    [-wi minutes] [-pui minutes] [-v] [-M master]
bpconfig [-L | -l | -U] [-v] [-M master]"""

# option -> (Globals attribute, help)
SETTINGS: dict[str, tuple[str, str]] = {
    "wi": ("job_retry_delay_minutes", "Job retry delay in minutes, 1-60 (default 10)."),
    "tries": ("tries", "Schedule backup attempts per -period (default 2)."),
    "period": ("period_hours", "Hours the -tries count over (default 12)."),
    "mj": ("max_jobs_per_client", "Maximum jobs per client, 1-32767 (default 1)."),
    "kl": ("keep_logs_days", "Days to keep error and debug logs (default 28)."),
    "cd": ("compress_after_seconds",
           "Compress catalog images older than this: 0 (never, the default) or "
           "86400-2147472000 seconds."),
    "to": ("media_mount_timeout_seconds", "Media mount timeout in seconds (0 = unlimited)."),
    "sto": ("shared_mount_timeout_seconds",
            "Multihosted media mount timeout in seconds (0 = unlimited)."),
    "ha": ("display_reports_hours", "Reports start this many hours ago (default 24)."),
    "kt": ("keep_tir_days", "Days to keep true image restore information (default 1)."),
    "prep": ("prep_hours", "Preprocessing interval in hours, 0-48; -1 = the default (4)."),
    "max_copies": ("max_copies", "Maximum backup copies, 2-10 (default 2)."),
    "cleanup_int": ("cleanup_interval_hours", "Image cleanup interval in hours (default 12)."),
    "cleanup_wait": ("cleanup_wait_minutes", "Image cleanup wait time in minutes (default 60)."),
    "pui": ("policy_update_minutes", "Policy update interval in minutes, 1-1440 (default 10)."),
}


def setting_options(f: Any) -> Any:
    for opt, (_, text) in reversed(SETTINGS.items()):
        f = click.option(f"-{opt}", opt, type=int, metavar="N", help=text)(f)
    # `-ma` alone clears the address, as NetBackup's does.
    return click.option("-ma", "ma", is_flag=False, flag_value="", default=None,
                        metavar="[ADDRESS]", help="Administrator's mail address.")(f)


def changes_from(opts: dict[str, Any]) -> dict[str, Any]:
    """The Globals attributes the command line sets, by attribute name."""
    out = {SETTINGS[k][0]: v for k, v in opts.items() if k in SETTINGS and v is not None}
    if out.get("prep_hours") == -1:
        out["prep_hours"] = PREP_DEFAULT
    if opts["ma"] is not None:
        out["admin_mail"] = opts["ma"]
    return out


@policy_command("bpconfig", SYNOPSIS)
@form_options
@setting_options
@master_option
@root_option
def cli(form: str | None, verbose: bool, master: str | None, root: str | None,
        **opts: Any) -> int:
    """Display or change the NetBackup global configuration attributes.

    \b
    EXIT STATUS
      0    displayed or changed
      20   invalid option or value out of range, or a display form with changes
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      238  the attributes file is damaged
    """
    changes = changes_from(opts)
    if form and changes:
        raise NbuError(INVALID_PARAMETER,
                       "a display form (-L, -l, -U) cannot be combined with changes")
    db = master_db(root, master)
    if not changes:
        g = from_table(Globals, db("globals_get")["globals"], "globals_get")
        echo_lines(globalsfmt.show(g, form or "l"))
        return 0
    db("globals_set", changes=changes)
    admin_log(db.cfg).info("bpconfig: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
    return 0


main = entry(cli)
