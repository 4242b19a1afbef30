"""tpconfig: configure this media server's robots and drives in the EMM database, and list them.

Runs on the media server; its robots and drives are recorded by the master's nbemm (robot_add,
drive_add, drive_update, drive_delete ...). A robot's path is its changer: a SCSI generic
device (/dev/sgN, used through mtx) or this host's virtual library home (<root>/volmgr/vtl,
made by `nbvtl create`; the default). A drive's path is its device (/dev/nstN), or for a drive
of the virtual library HOME:N, N being the library's drive number, which is the robot drive
number too (the default path). tapecfgfmt prints the lists.
"""

from __future__ import annotations

from typing import Any

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands import tapecfgfmt
from nbcli.commands.stufmt import emm_request
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError
from nbcli.vtl.library import Library, home_of

SYNOPSIS = """tpconfig -d | -l | -dl [-noverbose]
tpconfig -add -robot robot_number -robtype tld [-robpath path]
tpconfig -add -drive -type density -path drive_path [-asciiname drive_name]
         [-robot robot_number -robtype tld -robdrnum robot_drive_number]
         [-comment text] [-drstatus UP|DOWN]
tpconfig -update -drive drive_index [-up | -down | -drstatus UP|DOWN] [-path drive_path]
         [-comment text]
tpconfig -update -robot robot_number -robpath path
tpconfig -delete -drive drive_index | -delete -robot robot_number"""

def devices(cfg: HostConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    robots = emm_request(cfg, cfg.master, "robot_list")["robots"]
    drives = emm_request(cfg, cfg.master, "drive_list", host=cfg.client_name)["drives"]
    mine = {d["rn"] for d in drives} | {r["rn"] for r in robots if r["host"] == cfg.client_name}
    return [r for r in robots if r["rn"] in mine], drives


def robot_device(cfg: HostConfig, path: str | None) -> str:
    """-robpath, checked: a /dev path, or a virtual library home that exists on this host."""
    home = path or str(home_of(cfg.root))
    if home.startswith("/dev/"):
        return home
    if not Library(home).exists():
        raise NbuError(NO_ENTITY, f"no virtual tape library in {home} (create one with "
                                  "nbvtl create)")
    return home


def drive_path(cfg: HostConfig, rn: int | None, drnum: int | None, path: str | None) -> str:
    """-path, or HOME:drnum for a drive of a virtual library; a virtual drive must exist."""
    robot = None
    if rn is not None:
        robots = {r["rn"]: r for r in emm_request(cfg, cfg.master, "robot_list")["robots"]}
        robot = robots.get(rn)
        if robot is None:
            raise NbuError(NO_ENTITY, f"robot {rn} is not configured (tpconfig -add -robot)")
    if robot is None or robot["device"].startswith("/dev/"):
        if not path:
            raise NbuError(INVALID_PARAMETER, "-add -drive needs -path")
        return path
    home = robot["device"]
    path = path or f"{home}:{drnum}"
    where, _, number = path.rpartition(":")
    if where != home or number != str(drnum):
        raise NbuError(INVALID_PARAMETER, f"a drive of the virtual library {home} has path "
                                          f"{home}:{drnum} (its robot drive number)")
    drives = Library(home).state().geometry.drives
    if drnum is None or not 0 <= drnum < drives:
        raise NbuError(INVALID_PARAMETER, f"the virtual library has drives 0 to {drives - 1}, "
                                          f"not {drnum}")
    return path


def default_name(cfg: HostConfig, density: str) -> str:
    """A drive name unique on this host: <DENSITY>.DRIVE.000, .001 ..."""
    taken = {d["name"] for d in emm_request(cfg, cfg.master, "drive_list")["drives"]}
    n = 0
    while f"{density.upper()}.DRIVE.{n:03d}" in taken:
        n += 1
    return f"{density.upper()}.DRIVE.{n:03d}"


def add(ctx: click.Context, cfg: HostConfig, o: dict[str, Any]) -> None:
    if o["robot_flag"] and not o["drive"]:
        if o["robot"] is None or not o["robtype"]:
            raise click.UsageError("-add -robot needs a robot number and -robtype", ctx)
        emm_request(cfg, cfg.master, "robot_add", rn=o["robot"], rt=o["robtype"],
                    host=cfg.client_name, device=robot_device(cfg, o["robpath"]))
        return
    if not o["dtype"]:
        raise click.UsageError("-add -drive needs -type", ctx)
    rn = o["robot"]
    if rn is not None and o["robdrnum"] is None:
        raise click.UsageError("a robotic drive needs -robdrnum", ctx)
    path = drive_path(cfg, rn, o["robdrnum"], o["path"])
    name = o["asciiname"] or default_name(cfg, o["dtype"])
    emm_request(cfg, cfg.master, "drive_add", name=name, host=cfg.client_name,
                type=o["dtype"], rn=-1 if rn is None else rn,
                drnum=-1 if rn is None else o["robdrnum"], path=path,
                state=o["drstatus"] or "UP", comment=o["comment"] or "")


def update(ctx: click.Context, cfg: HostConfig, o: dict[str, Any]) -> None:
    if o["robot_flag"] and not o["drive"]:
        if o["robot"] is None or not o["robpath"]:
            raise click.UsageError("-update -robot needs a robot number and -robpath", ctx)
        emm_request(cfg, cfg.master, "robot_update", rn=o["robot"],
                    device=robot_device(cfg, o["robpath"]))
        return
    if o["index"] is None:
        raise click.UsageError("-update -drive needs the drive index", ctx)
    state = o["drstatus"] or o["updown"]
    emm_request(cfg, cfg.master, "drive_update", name=o["index"], host=None, state=state,
                path=o["path"], comment=o["comment"])


def delete(ctx: click.Context, cfg: HostConfig, o: dict[str, Any]) -> None:
    if o["drive"] and o["index"] is not None:
        emm_request(cfg, cfg.master, "drive_delete", name=o["index"], host=None)
    elif o["robot_flag"] and o["robot"] is not None:
        emm_request(cfg, cfg.master, "robot_delete", rn=o["robot"])
    else:
        raise click.UsageError("-delete needs -drive INDEX or -robot NUMBER", ctx)


@command("tpconfig", SYNOPSIS)
@click.option("-d", "listing", flag_value="d", help="List drives and robots.")
@click.option("-l", "listing", flag_value="l", help="List devices, one line each.")
@click.option("-dl", "listing", flag_value="dl", help="List drives in labelled blocks.")
@click.option("-noverbose", is_flag=True, help="Accepted.")
@click.option("-add", "action", flag_value="add", help="Add a robot or a drive.")
@click.option("-update", "action", flag_value="update", help="Change a drive or a robot's "
              "path.")
@click.option("-delete", "action", flag_value="delete", help="Delete a robot or a drive.")
@click.option("-robot", "robot_flag", is_flag=True, help="The robot (its number follows).")
@click.option("-drive", "drive", is_flag=True, help="A drive (-update/-delete: its index "
              "follows).")
@click.argument("number", type=int, required=False)
@click.option("-robtype", "robtype", help="Robot type (tld).")
@click.option("-robpath", "robpath", help="Robot path: /dev/sgN or a virtual library home "
              "[<root>/volmgr/vtl].")
@click.option("-type", "dtype", help="Drive type (density): hcart, hcart2, hcart3 ...")
@click.option("-path", "path", help="Drive path: /dev/nstN, or HOME:N for a virtual drive.")
@click.option("-robdrnum", "robdrnum", type=int, help="Robot drive number.")
@click.option("-asciiname", "asciiname", help="Drive name [<TYPE>.DRIVE.nnn].")
@click.option("-comment", "comment", help="Drive comment.")
@click.option("-up", "updown", flag_value="UP", help="-update: set the drive UP.")
@click.option("-down", "updown", flag_value="DOWN", help="-update: set the drive DOWN.")
@click.option("-drstatus", "drstatus", type=click.Choice(["UP", "DOWN", "up", "down"]),
              help="Drive status.")
@root_option
@click.pass_context
def cli(ctx: click.Context, listing: str | None, noverbose: bool, action: str | None,
        robot_flag: bool, drive: bool, number: int | None, robtype: str | None,
        robpath: str | None, dtype: str | None, path: str | None, robdrnum: int | None,
        asciiname: str | None, comment: str | None, updown: str | None,
        drstatus: str | None, root: str | None) -> int:
    """Configure and list robots and drives.

    \b
    EXIT STATUS
      0     done
      20    invalid parameter (usage, robot type, density, drive path)
      25    the master's nbemm (or its PBX) is not running
      97    the drive (-update -robot: one of its drives) is in use by a job
      133   the robot still has drives
      141   the robot path is not absolute
      225   a name or path is too long
      226   the robot number, robot drive number, drive name or path exists
      227   no such robot, drive or virtual library
    """
    if bool(listing) == bool(action):
        raise click.UsageError("give one of -d, -l, -dl, -add, -update, -delete", ctx)
    cfg = load_cfg(root)
    if listing:
        robots, drives = devices(cfg)
        lines = tapecfgfmt.tpconfig_l(robots, drives) if listing == "l" else \
            tapecfgfmt.tpconfig_d(robots, drives, cfg.master) if listing == "d" else \
            tapecfgfmt.tpconfig_dl(robots, drives, cfg.master)
        echo_lines(lines)
        return 0
    # The one number on the line is the robot's (-robot N) or the drive's index (-drive N);
    # -add -drive ... -robot N names the drive's robot.
    o = {"robot_flag": robot_flag, "drive": drive, "robot": number if robot_flag else None,
         "index": number if drive and not robot_flag else None, "robtype": robtype,
         "robpath": robpath,
         "dtype": dtype, "path": path, "robdrnum": robdrnum, "asciiname": asciiname,
         "comment": comment, "updown": updown,
         "drstatus": drstatus.upper() if drstatus else None}
    {"add": add, "update": update, "delete": delete}[str(action)](ctx, cfg, o)
    _tell_daemons(cfg)
    return 0


def _tell_daemons(cfg: HostConfig) -> None:
    """This host's ltid, tldd and tldcd learn the change now (ltid would keep the old path of
    a drive it knows until its restart); one that is not running learns it at start."""
    for daemon in ("ltid", "tldd", "tldcd"):
        try:
            client.call(cfg, cfg.client_name, daemon, "learn")
        except NbuError:
            pass


main = entry(cli)
