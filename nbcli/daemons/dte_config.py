"""The master's global data-in-transit encryption mode, read and set through bprd.

NetBackup keeps the global DTE mode in the master's security configuration and changes it with
`nbseccmd -setsecurityconfig -dteglobalmode 0|1|2`; the command then asks bprd to refresh the
mode the running daemons hold ("Refresh DTE Cache"), so the next job decides with the new mode
and nothing restarts. Here the mode is the master's bp.toml `DTE_GLOBAL_MODE` (nbcli.net.dte);
bprd writes it (atomically, config.save), reads its configuration again (its caller, bprd's
op) and has nbjm do the same (SIGHUP): those two hand the mode to every backup and restore.

Place: a master daemon helper used by bprd; imports config, net.dte and procs, never commands.
"""

from __future__ import annotations

import logging
import os
import signal

from nbcli import config, procs
from nbcli.config import HostConfig
from nbcli.net import dte


def current(cfg: HostConfig) -> str:
    """The global mode in effect (its default when bp.toml has none)."""
    return dte.normal(str(cfg.get("DTE_GLOBAL_MODE") or dte.DEFAULT_GLOBAL), dte.GLOBAL_MODES)


def set_mode(cfg: HostConfig, mode: str, log: logging.Logger) -> str:
    """Write the global mode (20 for one that is not a mode) and have the holders read it;
    returns the mode as written."""
    mode = dte.normal(mode, dte.GLOBAL_MODES)
    fresh = config.load(cfg.root)  # another command may have changed bp.toml meanwhile
    config.apply_settings(fresh, {"DTE_GLOBAL_MODE": mode})
    fresh.save()
    refresh(cfg, log)
    log.info("global data-in-transit encryption mode is now %s", mode)
    return mode


def refresh(cfg: HostConfig, log: logging.Logger) -> None:
    """SIGHUP to this host's nbjm (never to a bprd: its restore children have no handler)."""
    for p in procs.find(cfg.root):
        if p.program == "nbjm" and not p.spare:
            try:
                os.kill(p.proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                log.debug("%s (pid %d) ended before its refresh", p.program, p.proc.pid)
