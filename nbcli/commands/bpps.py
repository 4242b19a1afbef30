"""bpps: list the host's NetBackup processes, ps -ef style, under NetBackup's headings.

Scripts take the pid from column 2 (`bpps -x | awk '{print $2}' | egrep -v "Processes|Veritas"`),
so each line keeps ps -ef's columns: UID PID PPID C STIME TTY TIME CMD.

Spares (agents started ahead of need, waiting for a job: nbcli.net.spare) are not NetBackup's
and run nothing, so `bpps` and `bpps -a` leave them out, where a runbook's `bpps | grep bpbkar`
asks whether a backup is running. `-x` lists them too, under the heading of their program's kind
(a spare bpbkar under "NB Processes"), so that a script killing every pid it prints leaves none
behind. The only headings are NetBackup's: a heading of ours would reach `kill` through the
runbook's `egrep -v "Processes|Veritas"`.
"""

from __future__ import annotations

import pwd
import time
from collections.abc import Callable

import click
import psutil

from nbcli import procs
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.status import INVALID_PARAMETER, NbuError

MM = {"ltid", "vmd", "avrd", "tldd", "tldcd"}
SHARED = {"pbx_exchange"}


def _line(p: procs.NbProcess) -> str:
    proc = p.proc
    with proc.oneshot():
        try:
            user = pwd.getpwuid(proc.uids().real).pw_name
        except KeyError:
            user = str(proc.uids().real)
        started = proc.create_time()
        stime = time.strftime("%H:%M" if time.time() - started < 86400 else "%b%d",
                              time.localtime(started))
        cpu = proc.cpu_times()
        total = int(cpu.user + cpu.system)
        cputime = f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
        try:
            tty = proc.terminal() or "?"
        except psutil.Error:
            tty = "?"
        tty = tty.replace("/dev/", "")
        cmd = " ".join(proc.cmdline())
        return f"{user:>8s} {proc.pid:5d} {proc.ppid():5d}  0 {stime:5s} {tty:8s} {cputime} {cmd}"


@command("bpps", "bpps [-a | -x] [host] [--root DIR]")
@click.option("-a", "show_all", is_flag=True, help="Also list Media Manager processes.")
@click.option("-x", "extended", is_flag=True,
              help="Also list Media Manager and shared (PBX) processes, and spares.")
@click.argument("host", required=False)
@root_option
def cli(show_all: bool, extended: bool, host: str | None, root: str | None) -> int:
    """List the NetBackup processes of this host (HOST, when given, must name it).

    \b
    EXIT STATUS
      0    listed (an empty section means no such process runs)
    """
    cfg = load_cfg(root)
    if host is not None and not cfg.is_local(host):
        raise NbuError(INVALID_PARAMETER, f"bpps lists the processes of this host only, not "
                                          f"of {host} (run it there)")
    found = sorted(procs.find(cfg.root), key=lambda p: p.proc.pid)
    if not extended:
        found = [p for p in found if not p.spare]
    sections: list[tuple[str, Callable[[procs.NbProcess], bool]]] = [
        ("NB Processes", lambda p: p.program not in MM | SHARED)]
    if show_all or extended:
        sections.append(("MM Processes", lambda p: p.program in MM))
    if extended:
        sections.append(("Shared Veritas Processes", lambda p: p.program in SHARED))
    for i, (title, wanted) in enumerate(sections):
        if i:
            click.echo("")
        click.echo(title)
        click.echo("-" * len(title))
        for p in found:
            if wanted(p):
                try:
                    click.echo(_line(p))
                except psutil.Error:
                    continue
    return 0


main = entry(cli)
