"""Who may ask a host to do what: NetBackup's SERVER list check.

A request's origin is the address PBX saw the connection come from (never the name the peer
claims in its hello). It is a server of this host when that address belongs to a name in the
host's SERVER or MEDIA_SERVER list; a connection over PBX's Unix socket comes from this host
itself, which is a server only when it lists itself.
"""

from __future__ import annotations

from nbcli.config import HostConfig


def server_name(cfg: HostConfig, address: str) -> str | None:
    """The SERVER/MEDIA_SERVER entry `address` belongs to, or None."""
    names = list(dict.fromkeys(cfg.servers + cfg.media_servers))
    if address == "local":
        return cfg.client_name if cfg.client_name in names else None
    for name in names:
        if address in cfg.addresses_of(name):
            return name
    return None
