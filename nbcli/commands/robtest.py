"""robtest: the robot test utility - drive a TLD robot by hand, one move at a time.

Lists the robots this host controls (EMM's robots through vmd on the master), lets the
operator pick one (or -rn picks it), then reads tldtest's commands from stdin until `q`:

    s s | s d | s i          slots, drives, inports (mail slots)
    m sN dM | m dM sN        slot to drive, drive to slot (drives numbered from 1, as
    m sN sM | m iN sM ...    tldtest numbers them); slots and inports to one another
    unload dM                drive M back to the slot its cartridge came from
    q                        quit

Every status and move goes to tldcd, the robot control process, which serialises them with
the moves ltid asks for. A refused move prints its reason and the session goes on.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import mmfmt
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import NO_ENTITY, NbuError

SYNOPSIS = "robtest [-rn robot_number]"


def _robots(cfg: HostConfig) -> list[dict[str, Any]]:
    robots = client.master_call(cfg, "vmd", "robot_list").get("robots", [])
    return [r for r in robots if not r.get("host") or cfg.is_local(str(r["host"]))]


def _pick(robots: list[dict[str, Any]], rn: int | None) -> dict[str, Any] | None:
    click.echo("Configured robots with local control supporting test utilities:")
    for r in robots:
        click.echo(f"  TLD({r['rn']})     robotic path = {r.get('device', '')}")
    click.echo("")
    if rn is not None:
        chosen = [r for r in robots if int(r["rn"]) == rn]
        if not chosen:
            raise NbuError(NO_ENTITY, f"robot {rn} is not controlled from this host")
        return chosen[0]
    click.echo("Robot Selection")
    click.echo("---------------")
    for i, r in enumerate(robots, 1):
        click.echo(f"  {i})  TLD {r['rn']}")
    click.echo(f"  {len(robots) + 1})  none/quit")
    click.echo("Enter choice: ", nl=False)
    answer = sys.stdin.readline().strip()
    click.echo("")
    if not answer.isdigit() or not 1 <= int(answer) <= len(robots):
        return None
    return robots[int(answer) - 1]


class Session:
    """One robot's test session: each command line to tldcd, its lines back."""

    def __init__(self, cfg: HostConfig, robot: dict[str, Any]) -> None:
        self.cfg = cfg
        self.rn = int(robot["rn"])
        self.host = str(robot.get("host") or cfg.client_name)

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        return client.call(self.cfg, self.host, "tldcd", op, rn=self.rn, **fields)

    def run(self, line: str) -> list[str]:
        verb, args = mmfmt.parse_robtest(line)
        if verb == "help":
            return mmfmt.ROBTEST_HELP.splitlines()
        if verb == "status":
            inv = self.call("inventory")
            kind = args[0][0]
            if kind == "s":
                return mmfmt.robtest_slots(inv["slots"])
            if kind == "d":
                return mmfmt.robtest_drives(inv["drives"])
            return mmfmt.robtest_inports(inv["mailslots"])
        if verb == "unload":
            drive = args[0][1] - 1
            self.call("unload", drive=drive)
            return [f"Unloading drive {args[0][1]} (addr {drive}) to its home slot",
                    "MOVE_MEDIUM complete"]
        if verb == "move":
            return self.move(args[0], args[1])
        return []

    def move(self, src: tuple[str, int], dst: tuple[str, int]) -> list[str]:
        a, b = self.address(src), self.address(dst)
        lines = [f"Initiating MOVE_MEDIUM from address {a} to {b}"]
        if src[0] == "d" and dst[0] == "d":
            raise ValueError("a cartridge moves between a drive and a slot, not two drives")
        if dst[0] == "d":
            self.call("load", slot=a, drive=b)
        elif src[0] == "d":
            self.call("unload", drive=a, slot=b)
        else:
            self.call("transfer", source=a, target=b)
        return lines + ["MOVE_MEDIUM complete"]

    def address(self, element: tuple[str, int]) -> int:
        kind, n = element
        if kind == "d":
            return n - 1
        if kind == "s":
            return n
        mail = self.call("inventory")["mailslots"]
        if n > len(mail):
            raise ValueError(f"no inport {n}")
        return int(mail[n - 1]["number"])


@command("robtest", SYNOPSIS)
@click.option("-rn", "rn", type=click.IntRange(0, 32767), default=None,
              help="Test this robot (nbcli's: skips the selection menu).")
@root_option
def cli(rn: int | None, root: str | None) -> int:
    """Test a robot interactively: commands on stdin, `?` for help, `q` to quit.

    \b
    EXIT STATUS
      0    the session ended (q, or the end of stdin)
      227  no robot is controlled from this host (or not the one -rn names)
    """
    cfg = load_cfg(root)
    robots = _robots(cfg)
    if not robots:
        raise NbuError(NO_ENTITY, "no robots with local control are configured on "
                       f"{cfg.client_name} (tpconfig adds them)")
    robot = _pick(robots, rn)
    if robot is None:
        return 0
    click.echo(f"Robot selected: TLD({robot['rn']})   robotic path = {robot.get('device')}")
    click.echo("")
    click.echo(f"Opening {robot.get('device')}")
    click.echo("Enter tld commands (? returns help information)")
    session = Session(cfg, robot)
    for line in sys.stdin:
        if line.split() and line.split()[0].lower() in ("q", "quit", "exit"):
            break
        try:
            out = session.run(line)
        except ValueError as e:
            out = [f"Error: {e}"]
        except NbuError as e:
            out = [f"Error: {e.detail or e}"]
        for text in out:
            click.echo(text)
    return 0


main = entry(cli)
