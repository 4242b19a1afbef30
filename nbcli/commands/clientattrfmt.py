"""bpclient's displays of client attributes: -L (a labelled block) and -l (one raw line).

The -L block of a client is always 20 lines with `Hostname: <name>` on the third, since scripts
read `bpclient -All -L` 20 lines at a time and take the host name from line 3
(reference/netbackup-cli.md §1.13); the labels are NetBackup's. Attributes nbcli does not
model (open file backup, client direct, OST proxy) show NetBackup's defaults, so the block
keeps its shape.

The raw line is nbcli's own ([I]: no public sample of NetBackup's was found), numbers as
bpclient's options take them, -1 for "not specified" and *NULL* for an empty string:

    CLIENT <name> <hostname> <ip> <port> <dynamic_address> <free_browse> <list_restore>
           <max_jobs> <connect_options x3> <offline_backup> <offline_restore>
"""

from __future__ import annotations

from nbcli.model.clientattrs import FREE_BROWSE, LIST_RESTORE, ClientAttrs
from nbcli.render import raw_field

BLOCK_LINES = 20
NOT_SPECIFIED = "Not Specified"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def long_block(c: ClientAttrs) -> list[str]:
    """The 20 lines of `bpclient -client C -L`."""
    lines = [
        f"Client Name: {c.name}",
        "Current Host:",
        f"  Hostname: {c.hostname}",
        f"  IP Address: {c.ip_address or '0.0.0.0'}",
        f"  Connect on port: {c.port}",
        f"Dynamic Address: {_yes(c.dynamic_address)}",
        f"Free Browse: {FREE_BROWSE[c.free_browse]}",
        f"List Restore: {LIST_RESTORE[c.list_restore]}",
        f"Max Jobs This Client: {NOT_SPECIFIED if c.max_jobs is None else c.max_jobs}",
        "WOFB Enabled: no",
        "WOFB FIM: VSP",
        "WOFB Usage: Individual Drive Snapshot",
        "WOFB Error Control: Abort on Error",
        "Client Direct: Prefer to use conventional data transfer",
        "Client Direct Restore: Move data via media server",
        "OST Proxy: Off",
        "OST Proxy Server: Unspecified",
        "Connect options: " + " ".join(str(v) for v in c.connect_options),
        f"Offline Backup: {_yes(c.offline_backup)}",
        f"Offline Restore: {_yes(c.offline_restore)}",
    ]
    assert len(lines) == BLOCK_LINES
    return lines


def raw_line(c: ClientAttrs) -> str:
    """The line of `bpclient -client C -l`."""
    fields = ["CLIENT", c.name, c.hostname, raw_field(c.ip_address), c.port,
              int(c.dynamic_address), c.free_browse, c.list_restore,
              -1 if c.max_jobs is None else c.max_jobs, *c.connect_options,
              int(c.offline_backup), int(c.offline_restore)]
    return " ".join(str(f) for f in fields)


def show(clients: list[ClientAttrs], form: str) -> list[str]:
    """The lines for `clients` in form "L" (blocks, one after another) or "l"."""
    if form == "l":
        return [raw_line(c) for c in clients]
    return [line for c in clients for line in long_block(c)]
