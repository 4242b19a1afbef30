"""`ltid` typed by an administrator: start this media server's Media Manager daemons, as
NetBackup's ltid does, and return.

NetBackup's `ltid` starts the device daemon and, with it, avrd, the robotic daemons of the
robots configured on the host and vmd; `stopltid` stops them. Runbooks restart device
management after a device change with `stopltid; ltid -v`. Here the daemon itself is
`ltid -serve` (what `netbackup start` runs, procs.start_daemon), and `ltid` has `netbackup
start` start those of them that are not running (vmd only on a master, where nbcli runs it),
each detached, and waits until each serves. It prints nothing unless -v is given or
something failed. -logmounts reaches the ltid it starts (ltid_logmounts); an ltid already
running keeps what it was started with, as every daemon already running is left alone.

Place: a part of ltid's program (nbcli/daemons/ltid.py main); imports cli, config, programs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click

from nbcli import programs
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.daemons import ltid_logmounts
from nbcli.status import INVALID_PARAMETER, NbuError

SYNOPSIS = "ltid [-v] [-logmounts [minutes]] [-noverify] [--root DIR]"
MEDIA_MANAGER = ("vmd", *programs.LTID_STARTS, "ltid")


@command("ltid", SYNOPSIS)
@click.option("-v", "verbose", is_flag=True, help="Say which daemons were started.")
@click.option("-noverify", is_flag=True,
              help="Accepted: nbcli's ltid never checks the minor numbers of drive paths.")
@click.option("-logmounts", "logmounts", type=click.IntRange(0, 10_000), is_flag=False,
              flag_value=ltid_logmounts.DEFAULT_MINUTES, default=None, metavar="[minutes]",
              help="Log the mount requests that wait this many minutes (3 if none are "
                   "given; 0: each one) through syslogd and in logs/ltid.")
@root_option
def cli(verbose: bool, noverify: bool, logmounts: int | None, root: str | None) -> int:
    """Start the Media Manager device daemon (ltid), avrd and the robotic daemons of this
    media server (and vmd on a master), detached; the ones already running are left alone.
    `stopltid` stops them.

    \b
    EXIT STATUS
      0    every daemon runs
      20   not a media server, or -logmounts minutes that are not a count
      110  the host root has no bp.toml
      n    netbackup start's status, when a daemon did not start
    """
    cfg = load_cfg(root)
    names = [n for n in programs.daemons_for(cfg.roles) if n in MEDIA_MANAGER]
    if "ltid" not in names:
        raise NbuError(INVALID_PARAMETER, f"{cfg.client_name} is not a media server (roles: "
                                          f"{', '.join(cfg.roles)}): no device daemon runs here")
    env = dict(os.environ)
    env.pop(ltid_logmounts.ENV, None)
    if logmounts is not None:  # for the daemons netbackup start starts (ltid reads it)
        env[ltid_logmounts.ENV] = str(logmounts)
    r = subprocess.run(programs.argv_for("netbackup") + [
        "start", "--only", ",".join(names), "--root", str(cfg.root)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if verbose or r.returncode:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
    return r.returncode


main = entry(cli)
