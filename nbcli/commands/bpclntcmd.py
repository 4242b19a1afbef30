"""bpclntcmd: check host names as NetBackup resolves them (-hn, -ip, -self, -is_local_host),
ask the master how it sees this host (-pn), print the version (-sv).

Names resolve as the daemons resolve them (nbcli.config.HostConfig.address_of): the [hosts]
table of bp.toml first, then DNS. The line forms are NetBackup's: scripts parse
`host <name>: <canonical name> at <address>` with /.+: (.*) at (.*)/ (reference §1.17).
"""

from __future__ import annotations

import os
import socket

import click

import nbcli
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import CLIENT_HOSTNAME_NOT_FOUND, INVALID_PARAMETER, NbuError

SYNOPSIS = """bpclntcmd -hn hostname | -ip ip_address | -pn | -self | -sv
          | -is_local_host hostname"""


def resolve(cfg: HostConfig, name: str) -> tuple[str, list[str]]:
    """(canonical name, addresses) of `name`: bp.toml's [hosts] table, else DNS."""
    if name in cfg.hosts:
        return name, [cfg.address_of(name)[0]]
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM,
                                   flags=socket.AI_CANONNAME)
    except (socket.gaierror, UnicodeError) as e:
        raise NbuError(CLIENT_HOSTNAME_NOT_FOUND, f"host {name} cannot be resolved") from e
    canonical = next((i[3] for i in infos if i[3]), name)
    return canonical, list(dict.fromkeys(str(i[4][0]) for i in infos))


def reverse(cfg: HostConfig, address: str) -> str:
    """The name of `address`: the [hosts] entry that has it, else DNS."""
    for name in cfg.hosts:
        if cfg.address_of(name)[0] == address:
            return name
    try:
        return socket.gethostbyaddr(address)[0]
    except (socket.herror, socket.gaierror, OSError) as e:
        raise NbuError(CLIENT_HOSTNAME_NOT_FOUND, f"address {address} has no name") from e


def host_lines(query: str, canonical: str, addresses: list[str]) -> list[str]:
    return [f"host {query}: {canonical} at {a}" for a in addresses]


def is_local(cfg: HostConfig, name: str) -> bool:
    """Whether `name` is this host: its own name, or an address of this machine."""
    if cfg.is_local(name):
        return True
    try:
        _, addresses = resolve(cfg, name)
    except NbuError:
        return False
    own = {cfg.own_address()} if cfg.own_address() else set()
    try:
        own |= {str(i[4][0]) for i in socket.getaddrinfo(socket.gethostname(), None)}
    except socket.gaierror:
        pass
    if cfg.client_name not in cfg.hosts:
        own |= {"127.0.0.1", "::1"}  # no address fixed for us: loopback is ours
    return bool(own & set(addresses))


@command("bpclntcmd", SYNOPSIS)
@click.option("-hn", "hostname", metavar="NAME", help="Resolve a host name.")
@click.option("-ip", "address", metavar="ADDRESS", help="Resolve an address to its name.")
@click.option("-pn", "ask_master", is_flag=True, help="How the master sees this host.")
@click.option("-self", "self_", is_flag=True, help="This host's names and addresses.")
@click.option("-sv", "version", is_flag=True, help="The NetBackup version of this host.")
@click.option("-is_local_host", "local_name", metavar="NAME",
              help="Whether NAME is this host (exit 0) or not (exit 1).")
@root_option
def cli(hostname: str | None, address: str | None, ask_master: bool, self_: bool,
        version: bool, local_name: str | None, root: str | None) -> int:
    """Check host names as NetBackup resolves them.

    \b
    EXIT STATUS
      0    resolved (-is_local_host: NAME is this host)
      1    -is_local_host: NAME is not this host
      20   no option, or more than one
      25   -pn: the master's nbevtmgr cannot be reached
      48   the name or address cannot be resolved
    """
    given = [x is not None for x in (hostname, address, local_name)]
    if sum(given) + sum((ask_master, self_, version)) != 1:
        raise NbuError(INVALID_PARAMETER, "give exactly one of -hn, -ip, -pn, -self, -sv, "
                                          "-is_local_host")
    cfg = load_cfg(root)
    if hostname is not None:
        canonical, addresses = resolve(cfg, hostname)
        lines = host_lines(hostname, canonical, addresses)
    elif address is not None:
        lines = host_lines(address, reverse(cfg, address), [address])
    elif self_:
        canonical, addresses = resolve(cfg, cfg.client_name)
        lines = [f"gethostname() returned: {socket.gethostname()}",
                 *host_lines(cfg.client_name, canonical, addresses)]
    elif version:
        u = os.uname()
        lines = [f"NetBackup-{u.sysname}{u.release.split('-')[0]} {nbcli.__version__}"]
    elif ask_master:
        seen = client.call(cfg, cfg.master, "nbevtmgr", "whoami")
        lines = [f"expecting response from server {cfg.master}",
                 f"{seen['name']} {seen['name']} {seen['address']} {seen['port']}"]
    else:
        assert local_name is not None
        local = is_local(cfg, local_name)
        click.echo(f"{local_name} is {'' if local else 'not '}a local host")
        return 0 if local else 1
    for line in lines:
        click.echo(line)
    return 0


main = entry(cli)
