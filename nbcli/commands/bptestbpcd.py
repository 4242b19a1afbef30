"""bptestbpcd: check that a host's bpcd answers through its PBX, as NetBackup's does."""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.net import client


@command("bptestbpcd", "bptestbpcd [-host host] [-verbose]")
@click.option("-host", "host", help="The host to test (default: this one).")
@click.option("-verbose", "verbose", is_flag=True, help="Also print the peer's name and version.")
@root_option
def cli(host: str | None, verbose: bool, root: str | None) -> int:
    """Connect to bpcd on a host and report the connection.

    \b
    EXIT STATUS
      0    bpcd answered
      25   cannot connect (PBX or bpcd not running there)
    """
    cfg = load_cfg(root)
    target = host or cfg.client_name
    with client.connect(cfg, target, "bpcd") as conn:
        info = conn.request("ping")
        local = conn.sock.getsockname()
        remote = conn.sock.getpeername()
    click.echo("1 1 1")
    if isinstance(local, tuple):
        click.echo(f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]} PBX")
    else:
        click.echo(f"{cfg.paths.pbx_socket} PBX (local)")
    if verbose:
        click.echo(f"PEER_NAME = {info['host']}")
        click.echo(f"SERVER_VERSION = nbcli {info['version']}")
    return 0


main = entry(cli)
