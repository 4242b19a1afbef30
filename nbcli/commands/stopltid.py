"""stopltid: stop the Media Manager device daemon (ltid), avrd and the robotic daemons of this
media server, as NetBackup's stopltid does.

ltid first and alone: it starts avrd and the robot daemons again when they die
(nbcli.daemons.ltid_children), so they are stopped only once it is gone. Each gets SIGTERM and
procs.STOP_DEADLINE seconds, then SIGKILL. vmd and the other daemons keep running. A drive
that a job holds is freed by the job's end; a job that needs a drive meanwhile waits or ends
with the Media Manager's status, and `ltid` starts the daemons again.
"""

from __future__ import annotations

import click

from nbcli import procs, programs
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.status import PARTIAL_SUCCESS

SYNOPSIS = "stopltid [--root DIR]"
PHASES = (frozenset({"ltid"}), frozenset(programs.LTID_STARTS))


@command("stopltid", SYNOPSIS)
@root_option
def cli(root: str | None) -> int:
    """Stop ltid, then avrd and the robotic daemons (tldd, tldcd) of this host.

    \b
    EXIT STATUS
      0    none of them runs any more (also when none ran)
      1    one of them still runs (another user's processes: the kernel refused the
           signals); if it is ltid, the others are left running too
      110  the host root has no bp.toml
    """
    cfg = load_cfg(root)
    for phase in PHASES:
        victims = [p for p in procs.find(cfg.root) if p.program in phase and not p.spare]
        procs.terminate(victims, click.echo)
        left = procs.survivors(victims)
        for p in left:
            click.echo(f"stopltid: could not stop {p.program} (pid {p.proc.pid}): not "
                       f"permitted, or it does not die", err=True)
        if left:  # ltid left running would start the others again
            return PARTIAL_SUCCESS
    return 0


main = entry(cli)
