"""netbackup init|start|stop|status: set up a host, start and stop its daemons.

`start` starts the daemons of the host's roles (programs.daemons_for), detached, each writing
its pid file; a daemon already running is left alone, so starting twice starts no duplicates.
`stop` stops the host as bp.kill_all does (see `stop`): running jobs end with status 150 and
let go of what they held, users' waiting commands end with their job's status, then every
nbcli process of the host gets SIGTERM, and what is left after procs.STOP_DEADLINE is killed,
so that nothing of that root keeps running.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import click
import psutil

from nbcli import config, procs, programs
from nbcli.cli import command, entry, root_option
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.pidfile import read_pidfile
from nbcli.status import (
    DAEMON_RUNNING,
    ENTITY_EXISTS,
    INIT_ERROR,
    INVALID_PARAMETER,
    PARTIAL_SUCCESS,
    NbuError,
)
from nbcli.unixaddr import Reach

SYNOPSIS = """netbackup start [--only DAEMON,...] | stop | status [--root DIR]
netbackup init [--force] [--name HOST] [--roles master,media,client] [--address ADDR] [--port N]
               [--server HOST]... [--media-server HOST]... [--host NAME=ADDR:PORT]..."""

START_DEADLINE = 30.0
# `stop`'s order: what starts jobs, then what runs them (they end their jobs), then ltid
# (which starts avrd and the robot daemons again when they die), then the rest.
STOP_PHASES = (frozenset({"nbpem"}), frozenset({"nbjm", "bprd"}), frozenset({"ltid"}))
COMMAND_GRACE = 10.0  # for users' commands to end with their jobs before they are stopped too

# The service each daemon registers first: `start` waits until PBX hands it a connection.
READY_SERVICE = {"bpcd": "bpcd", "nbevtmgr": "nbevtmgr", "nbemm": "nbemm", "bpjobd": "bpjobd",
                 "bpdbm": "bpdbm", "nbproxy": "nbproxy", "nbrb": "nbrb", "nbjm": "nbjm",
                 "nbpem": "nbpem", "bprd": "bprd", "ltid": "ltid", "nbwmc": "nbwmc",
                 "vmd": "vmd", "tldcd": "tldcd", "tldd": "tldd", "avrd": "avrd"}


def _cfg(root: str | None, create: bool) -> HostConfig:
    """The host to act on; `start` on a root without bp.toml makes it an all-in-one host
    (the embedded default), the other actions want an existing host (status 110)."""
    path = config.Paths(Path(root) if root else config.default_root())
    if create and not path.bp_toml.exists():
        return config.init_root(path.root)
    return config.load(path.root)


def _cfg_to_stop(root: str | None) -> HostConfig:
    """The host to stop. Its processes and pid files need its root alone: a bp.toml that no
    longer parses (status 103, as every command now says) must not keep its daemons
    running. A root that holds no host is still status 110."""
    try:
        return _cfg(root, create=False)
    except NbuError as e:
        if e.status != INIT_ERROR:
            raise
        click.echo(f"netbackup: {e.detail or e.message}; stopping the host all the same",
                   err=True)
        return HostConfig(config.Paths(Path(root) if root else config.default_root()).root)


def _ready(cfg: HostConfig, name: str) -> bool:
    if name in ("pbx_exchange", "nbcmdd"):
        path = cfg.paths.pbx_register if name == "pbx_exchange" else cfg.paths.cmd_socket
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with Reach(path) as address:
                s.connect(address)
            s.close()
            return name == "nbcmdd" or cfg.paths.pbx_socket.exists()
        except OSError:
            return False
    try:
        client.connect(cfg, cfg.client_name, READY_SERVICE[name], timeout=2.0).close()
        return True
    except NbuError:
        return False


def _wait_ready(cfg: HostConfig, names: list[str], started: dict[str, psutil.Popen]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    waiting = list(names)
    raced: set[str] = set()  # started at the same moment by another `netbackup start`
    while waiting:
        for name in list(waiting):
            if _ready(cfg, name):
                waiting.remove(name)
                click.echo(f"{name} is already running (started meanwhile)." if name in raced
                           else f"Started {name}." if name in started else
                           f"{name} serves again through the new pbx_exchange.")
            elif name in started and started[name].poll() is not None:
                if started[name].returncode == DAEMON_RUNNING:
                    raced.add(name)  # the other copy is the one to wait for
                    del started[name]
                    continue
                raise NbuError(INIT_ERROR,
                               f"{name} exited with {started[name].returncode} at start; "
                                    f"see {cfg.paths.logs / name}")
        if waiting and time.monotonic() > deadline:
            raise NbuError(INIT_ERROR, f"daemons not ready after {START_DEADLINE:.0f}s: "
                                       f"{', '.join(waiting)}; see {cfg.paths.logs}")
        if waiting:
            time.sleep(0.05)


def start(cfg: HostConfig, only: list[str] | None = None) -> None:
    """Start the host's daemons (or only those named, with PBX), waiting until each serves;
    when PBX itself was started again, also until the daemons that kept running serve
    through it (they register again): a job started right after is not refused (58)."""
    names = programs.daemons_for(cfg.roles)
    if only is not None:
        names = [n for n in names if n == "pbx_exchange" or n in only]
    started: dict[str, psutil.Popen] = {}
    # PBX first and alone: every other daemon registers its services with it.
    for batch in (names[:1], names[1:]):
        todo = []
        for name in batch:
            running = read_pidfile(cfg.paths, name)
            if running is not None:
                click.echo(f"{name} is already running (pid {running.pid}).")
                if "pbx_exchange" in started:
                    todo.append(name)  # it registers again with the new PBX: wait for that
                continue
            click.echo(f"Starting {name}...")
            started[name] = procs.start_daemon(cfg, name)
            todo.append(name)
        _wait_ready(cfg, todo, started)


def stop(cfg: HostConfig) -> int:
    """Stop the host's daemons and agents as NetBackup's bp.kill_all does; return how many
    had to be killed.

    In order: nbpem (no new job starts), then the jobs' owners nbjm and bprd, which cancel
    their running jobs (150) and wait for them to end - image removed, resources released,
    the end recorded in bpjobd - while the other daemons still serve. Users' commands (a
    waiting `bpbackup -w`, also one nbcmdd forked) are not signaled: they get their job's
    status from bpjobd and end by themselves, for which they have COMMAND_GRACE seconds.
    Then everything of the host that is left, commands that still run included."""
    killed = 0
    for phase in STOP_PHASES:
        killed += procs.terminate([p for p in _stoppable(cfg) if p.program in phase], click.echo)
    # Not this `netbackup stop` (nor its launcher): it would wait COMMAND_GRACE for itself.
    commands = [p.proc for p in procs.find(cfg.root)
                if _is_command(cfg, p) and p.program != "netbackup" and p.proc.pid != os.getpid()]
    procs.wait_gone(commands, COMMAND_GRACE)
    killed += procs.terminate(_all_but_stops(cfg), click.echo)
    # Agents started while we were stopping (a job in flight) go too.
    late = _all_but_stops(cfg)
    for p in late:
        try:
            p.proc.kill()
        except psutil.Error:
            pass
    procs.wait_gone([p.proc for p in late], 5)
    return killed + len(late)


def _all_but_stops(cfg: HostConfig) -> list[procs.NbProcess]:
    """The host's processes but other `netbackup stop` commands: one run at the same moment
    ends the same processes, and ending it made it exit 143 in the middle of its work. Told
    by the command line `find` read: read again, that of a stop that is ending is empty, and
    the other stop, finishing a moment later, reported it as a process it could not stop."""
    return not_stops(procs.find(cfg.root))


def not_stops(found: list[procs.NbProcess]) -> list[procs.NbProcess]:
    return [p for p in found if not (p.program == "netbackup" and "stop" in p.cmdline[1:])]


def _stoppable(cfg: HostConfig) -> list[procs.NbProcess]:
    """The host's daemons and agents, not its users' commands."""
    return [p for p in procs.find(cfg.root) if not _is_command(cfg, p)]


def _is_command(cfg: HostConfig, p: procs.NbProcess) -> bool:
    """A user's command: its own program, or one nbcmdd forked (its command line is
    nbcmdd's; nbcmdd itself is the process its pid file names). Before nbcmdd has written
    its pid file (a stop right after a start) a command is a child of an nbcmdd: the
    starting nbcmdd is none, and taking it for one had the stop wait COMMAND_GRACE for a
    daemon that never ends by itself."""
    if p.program in programs.COMMANDS:
        return True
    if p.program != "nbcmdd":
        return False
    cmdd = read_pidfile(cfg.paths, "nbcmdd")
    if cmdd is not None:
        return p.proc.pid != cmdd.pid
    try:
        parent = p.proc.parent()
        return parent is not None and procs.program_of(parent.cmdline()) == "nbcmdd"
    except psutil.Error:
        return False


@command("netbackup", SYNOPSIS)
@click.argument("action", type=click.Choice(["start", "stop", "status", "init"]))
@click.option("--name", help="init: this host's name (CLIENT_NAME).")
@click.option("--roles", default="master,media,client", show_default=True,
              help="init: comma-separated roles.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="init: the address this host's PBX listens on.")
@click.option("--port", type=int, default=config.DEFAULT_PBX_PORT, show_default=True,
              help="init: the PBX port.")
@click.option("--server", "servers", multiple=True,
              help="init: SERVER entry (repeat; the first is the master).")
@click.option("--media-server", "media_servers", multiple=True, help="init: MEDIA_SERVER entry.")
@click.option("--host", "hosts", multiple=True, help="init: NAME=ADDR:PORT for the [hosts] table.")
@click.option("--only", "only", help="start: only these daemons (comma-separated; PBX too).")
@click.option("--force", "force", is_flag=True, help="init: replace an existing bp.toml.")
@root_option
def cli(action: str, name: str | None, roles: str, address: str, port: int,
        servers: tuple[str, ...], media_servers: tuple[str, ...], hosts: tuple[str, ...],
        only: str | None, force: bool, root: str | None) -> int:
    """Start, stop or show the daemons of a host, or set up a new host root.

    \b
    EXIT STATUS
      0    done (status: every daemon of the host's roles is running)
      1    status: some daemons are not running
      103  a daemon did not come up; its log folder says why
      110  stop/status: the root is not a host (no bp.toml)
      226  init: the root is already a host (use --force)
    """
    if action == "init":
        table = {}
        for h in hosts:
            hname, sep, addr = h.partition("=")
            if not sep:
                raise NbuError(INVALID_PARAMETER, f"--host needs NAME=ADDR:PORT, not {h!r}")
            table[hname] = addr
        target = Path(root) if root else config.default_root()
        if config.Paths(target).bp_toml.exists() and not force:
            raise NbuError(ENTITY_EXISTS,
                           f"{target} is already a host; --force replaces its bp.toml")
        role_list = [r.strip() for r in roles.split(",") if r.strip()]
        bad = [r for r in role_list if r not in config.ROLES]
        if bad:
            raise NbuError(INVALID_PARAMETER, f"unknown role(s): {', '.join(bad)}")
        cfg = config.init_root(target, name=name, roles=role_list,
                               servers=list(servers) or None, address=address, port=port,
                               hosts=table, media_servers=list(media_servers) or None)
        click.echo(f"Created host {cfg.client_name} ({', '.join(cfg.roles)}) in {cfg.root}")
        return 0
    cfg = _cfg_to_stop(root) if action == "stop" else _cfg(root, create=action == "start")
    if action == "start":
        names = [n.strip() for n in only.split(",")] if only else None
        unknown = [n for n in names or [] if n not in programs.DAEMONS]
        if unknown:
            raise NbuError(INVALID_PARAMETER, f"not a daemon: {', '.join(unknown)}")
        start(cfg, only=names)
        return 0
    if action == "stop":
        stop(cfg)
        left = _all_but_stops(cfg)  # another user's processes: the kernel refused the signals
        for p in left:
            click.echo(f"netbackup: could not stop {p.program} (pid {p.proc.pid}): not "
                       f"permitted, or it does not die", err=True)
        return PARTIAL_SUCCESS if left else 0
    down = 0
    for dname in programs.daemons_for(cfg.roles):
        proc = read_pidfile(cfg.paths, dname)
        if proc is None:
            down += 1
            click.echo(f"{dname:14s} not running")
        else:
            click.echo(f"{dname:14s} running (pid {proc.pid})")
    return 1 if down else 0


main = entry(cli)
