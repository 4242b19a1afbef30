"""Every nbcli program, where its code lives, and how to start one as a real process.

Daemons and per-job agents are started by name (`netbackup start`, bpcd, bpbrm). The console
scripts pip installs next to the interpreter are preferred, so that ps, bpps and the kernel's
process name show `nbjm`, `bptm`, ...; without them `python -m nbcli <name>` does the same job.

Place: the bottom floor (docs/architecture.md); imports nothing from nbcli. It is the one module
that names command modules, as strings: the launcher and nbcmdd run commands through it, and
nothing imports nbcli.commands.
"""

from __future__ import annotations

import os
import sys

# Long-running daemons per role, in start order: PBX first (the others register with it),
# bpcd next, the event manager (so the others' start events reach the error log),
# then the master's databases before the managers that use them.
DAEMONS: dict[str, str] = {
    "pbx_exchange": "nbcli.daemons.pbx_exchange:main",
    "bpcd": "nbcli.daemons.bpcd:main",
    "nbevtmgr": "nbcli.daemons.nbevtmgr:main",
    "nbemm": "nbcli.daemons.nbemm:main",
    "vmd": "nbcli.daemons.vmd:main",
    "nbwmc": "nbcli.daemons.nbwmc:main",
    "bpjobd": "nbcli.daemons.bpjobd:main",
    "bpdbm": "nbcli.daemons.bpdbm:main",
    "nbproxy": "nbcli.daemons.nbproxy:main",
    "nbrb": "nbcli.daemons.nbrb:main",
    "nbjm": "nbcli.daemons.nbjm:main",
    "nbpem": "nbcli.daemons.nbpem:main",
    "bprd": "nbcli.daemons.bprd:main",
    "tldcd": "nbcli.daemons.tldcd:main",
    "tldd": "nbcli.daemons.tldd:main",
    "avrd": "nbcli.daemons.avrd:main",
    "ltid": "nbcli.daemons.ltid:main",
    "nbcmdd": "nbcli.daemons.nbcmdd:main",
}

# Arguments a daemon is started with (procs.start_daemon): `ltid` typed by an administrator
# starts the Media Manager daemons, as NetBackup's ltid does; `ltid -serve` is the daemon.
SERVE_ARGS: dict[str, tuple[str, ...]] = {"ltid": ("-serve",)}
# The daemons ltid starts and keeps running (NetBackup's ltid; stopltid stops them after it).
LTID_STARTS = ("tldcd", "tldd", "avrd")

ROLE_DAEMONS: dict[str, list[str]] = {
    "every": ["pbx_exchange", "bpcd", "nbcmdd"],
    "master": ["nbevtmgr", "nbemm", "vmd", "nbwmc", "bpjobd", "bpdbm", "nbproxy", "nbrb", "nbjm",
               "nbpem", "bprd"],
    # The robot control process first, the robotic process, avrd, then ltid, which asks them.
    "media": ["tldcd", "tldd", "avrd", "ltid"],
    "client": [],
}

# Per-job programs (bpbrm starts bptm itself; bpcd launches the others for a server).
AGENTS: dict[str, str] = {
    "bpbrm": "nbcli.media.bpbrm:main",
    "bptm": "nbcli.media.bptm:main",
    "bpbkar": "nbcli.client.bpbkar:main",
    "tar-restore": "nbcli.client.tar_restore:main",
}

COMMANDS: dict[str, str] = {
    "netbackup": "nbcli.commands.netbackup:main",
    "bpps": "nbcli.commands.bpps:main",
    "bpgetconfig": "nbcli.commands.bpgetconfig:main",
    "bpsetconfig": "nbcli.commands.bpsetconfig:main",
    "bptestbpcd": "nbcli.commands.bptestbpcd:main",
    "bpstuadd": "nbcli.commands.bpstuadd:main",
    "bpstulist": "nbcli.commands.bpstulist:main",
    "bpstudel": "nbcli.commands.bpstudel:main",
    "nbemmcmd": "nbcli.commands.nbemmcmd:main",
    "bppolicynew": "nbcli.commands.bppolicynew:main",
    "bpplinfo": "nbcli.commands.bpplinfo:main",
    "bpplclients": "nbcli.commands.bpplclients:main",
    "bpplinclude": "nbcli.commands.bpplinclude:main",
    "bpplsched": "nbcli.commands.bpplsched:main",
    "bpplschedrep": "nbcli.commands.bpplschedrep:main",
    "bppllist": "nbcli.commands.bppllist:main",
    "bpbackup": "nbcli.commands.bpbackup:main",
    "bprestore": "nbcli.commands.bprestore:main",
    "bpimagelist": "nbcli.commands.bpimagelist:main",
    "bpimmedia": "nbcli.commands.bpimmedia:main",
    "bplist": "nbcli.commands.bplist:main",
    "bpdbjobs": "nbcli.commands.bpdbjobs:main",
    "nbpemreq": "nbcli.commands.nbpemreq:main",
    "bpconfig": "nbcli.commands.bpconfig:main",
    "bpclient": "nbcli.commands.bpclient:main",
    "bpretlevel": "nbcli.commands.bpretlevel:main",
    "bpexpdate": "nbcli.commands.bpexpdate:main",
    "bpimage": "nbcli.commands.bpimage:main",
    "bparchive": "nbcli.commands.bparchive:main",
    "nbvtl": "nbcli.commands.nbvtl:main",
    "tpconfig": "nbcli.commands.tpconfig:main",
    "vmadd": "nbcli.commands.vmadd:main",
    "vmchange": "nbcli.commands.vmchange:main",
    "vmdelete": "nbcli.commands.vmdelete:main",
    "vmpool": "nbcli.commands.vmpool:main",
    "nbcertcmd": "nbcli.commands.nbcertcmd:main",
    "nbseccmd": "nbcli.commands.nbseccmd:main",
    "bperror": "nbcli.commands.bperror:main",
    "bpclntcmd": "nbcli.commands.bpclntcmd:main",
    "vmquery": "nbcli.commands.vmquery:main",
    "bpmedialist": "nbcli.commands.bpmedialist:main",
    "bpmedia": "nbcli.commands.bpmedia:main",
    "bplabel": "nbcli.commands.bplabel:main",
    "available_media": "nbcli.commands.available_media:main",
    "vmoprcmd": "nbcli.commands.vmoprcmd:main",
    "tpreq": "nbcli.commands.tpreq:main",
    "tpunmount": "nbcli.commands.tpunmount:main",
    "robtest": "nbcli.commands.robtest:main",
    "vmupdate": "nbcli.commands.vmupdate:main",
    "stopltid": "nbcli.commands.stopltid:main",
}

ALL: dict[str, str] = {**DAEMONS, **AGENTS, **COMMANDS}

# Scripts of bin/ that are not nbcli programs: standalone, Python's standard library only,
# for when nbcli itself cannot run (tapcat: an image's tape files out of a cartridge).
TOOLS = frozenset({"tapcat"})

# What bpcd launches when a server asks - and nothing else.
BPCD_LAUNCHES = frozenset({"bpbrm", "bpbkar", "tar-restore"})


def daemons_for(roles: list[str]) -> list[str]:
    """The daemons a host with `roles` runs, in start order."""
    wanted = set(ROLE_DAEMONS["every"])
    for role in roles:
        wanted.update(ROLE_DAEMONS.get(role, []))
    return [d for d in DAEMONS if d in wanted]


def argv_for(name: str) -> list[str]:
    """The argv that starts program `name` as its own process."""
    import sysconfig  # here: the command launcher imports this module on every start

    if name not in ALL:
        raise KeyError(name)
    script = os.path.join(sysconfig.get_path("scripts"), name)
    if os.path.exists(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "nbcli", name]


def run(name: str) -> None:
    """Run program `name` in this process (`python -m nbcli <name>`)."""
    import importlib

    module, _, func = ALL[name].partition(":")
    sys.argv[0] = name
    getattr(importlib.import_module(module), func)()
