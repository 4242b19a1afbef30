"""bpretlevel: list the retention levels 0-100 with their periods, or change a level's period.

NetBackup changes a period in the Retention Periods host properties (or bpretlevel's
interactive menu on UNIX); runbooks need a command line, so nbcli's bpretlevel takes
`-r level -p days` (or `-p infinity`, or `-s seconds`). Levels 9 (infinity) and 25 (expires
immediately) are fixed: changing them is status 20. A new period applies to backups made
from then on; images keep the expiration they were given.
"""

from __future__ import annotations

import click

from nbcli.cli import admin_log, entry, root_option
from nbcli.commands import retentionfmt
from nbcli.commands.policyfmt import form_options, master_db, master_option, policy_command
from nbcli.model import retention
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = """bpretlevel [-L | -l | -U] [-M master]
bpretlevel -r retention_level -p days | infinity [-M master]
bpretlevel -r retention_level -s seconds [-M master]"""

INFINITY_WORDS = ("infinity", "infinite")
MAX_DAYS = retention.MAX_SECONDS // retention.DAY


def period_seconds(days: str | None, seconds: int | None) -> int | None:
    """The period the command line gives, in seconds (None = infinity); status 20 if it is
    not a number of days, "infinity" or seconds."""
    if (days is None) == (seconds is None):
        raise NbuError(INVALID_PARAMETER, "-r needs one of -p days|infinity or -s seconds")
    if seconds is not None:
        return seconds
    assert days is not None
    if days.lower() in INFINITY_WORDS:
        return None
    if not days.isdigit() or int(days) > MAX_DAYS:
        raise NbuError(INVALID_PARAMETER,
                       f"-p takes 0 to {MAX_DAYS} days or infinity, not {days!r}")
    return int(days) * retention.DAY


@policy_command("bpretlevel", SYNOPSIS)
@form_options
@click.option("-r", "level", type=int, metavar="LEVEL", help="The level to change (0-100).")
@click.option("-p", "days", metavar="DAYS", help="Its new period in days, or infinity.")
@click.option("-s", "seconds", type=int, metavar="SECONDS", help="Its new period in seconds.")
@master_option
@root_option
def cli(form: str | None, verbose: bool, level: int | None, days: str | None,
        seconds: int | None, master: str | None, root: str | None) -> int:
    """List the retention levels and their periods, or change one level's period.

    \b
    EXIT STATUS
      0    listed or changed
      20   invalid option or value, a fixed level (9, 25), or a change with a display form
      25   cannot connect to bpdbm on the master
      46   this host is not a server of the master
      153  this host is not the master server (and no -M names one)
      238  the retention file is damaged
    """
    changing = level is not None or days is not None or seconds is not None
    if changing and form:
        raise NbuError(INVALID_PARAMETER, "a display form (-L, -l, -U) cannot be combined with -r")
    if changing and level is None:
        raise NbuError(INVALID_PARAMETER, "-p and -s need -r retention_level")
    db = master_db(root, master)
    if level is None:
        levels = [(n, s) for n, s in db("retention_list")["levels"]]
        echo_lines(retentionfmt.show(levels, form or "L"))
        return 0
    period = period_seconds(days, seconds)
    db("retention_set", level=level, seconds=period, infinity=period is None)
    admin_log(db.cfg).info("bpretlevel: level %d set to %s", level, retention.period_text(period))
    return 0


main = entry(cli)
