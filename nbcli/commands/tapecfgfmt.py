"""Device and volume pool configuration as tpconfig and vmpool print it (pure formatting).

The records are nbemm's (robot_list, drive_list, pool_list: TAPE-PLAN §1). Column positions
follow the verbatim NetBackup samples of reference/netbackup-cli.md §1.9: `tpconfig -l`'s rows
start the robot number at column 11, the drive index at 16, the type ending at column 24, the
status ending at 37, the comment at 39, the drive name at 50 and the path at 72 (centreon's
parser reads `drive\\s+\\S+\\s+(\\d+)\\s+\\S+\\s+\\S+\\s+(\\S+)` for index and status); `tpconfig
-dl` has one `Status` line a drive whose second word is UP or DOWN (`awk '/Status/ {print
$2}'`). `vmpool -listall` prints a block a pool, each opened by a line of 80 '=', and
`-list_scratch` prints "Scratch Pools", a rule, and the names.

Imports nothing from nbcli: the callers hand it the records.
"""

from __future__ import annotations

from typing import Any

L_HEADER = (
    "Device Robot Drive       Robot                    Drive                 Device"
    + " " * 62 + "Second",
    "Type     Num Index  Type DrNum Status  Comment    Name                  Path"
    + " " * 64 + "Device Path")
D_HEADER = ("Id  DriveName           Type   Residence",
            "      Drive Path                                                       Status",
            "*" * 76)
RULE = "=" * 80
DL_INDENT = " " * 8
STANDALONE = -1  # EMM's robot number of a drive or medium in no robot


def dash(value: Any) -> str:
    return "-" if value is None or value == "" or value == STANDALONE else str(value)


def residence(drive: dict[str, Any], robots: dict[int, dict[str, Any]]) -> str:
    """`TLD(0)  DRIVE=1`, or `-` for a standalone drive."""
    robot = robots.get(drive["rn"])
    if drive["rn"] == STANDALONE or robot is None:
        return "-"
    return f"{robot['rt'].upper()}({drive['rn']})  DRIVE={drive['drnum']}"


def l_row(kind: str, rn: Any, index: Any, dtype: str, drnum: Any, status: str,
          comment: str, name: str, path: str) -> str:
    return (f"{kind:<7}{dash(rn):>5}{dash(index):>5}{dtype:>7}{dash(drnum):>5}"
            f"{dash(status):>8}  {dash(comment)[:10]:<11}{dash(name):<20}  {path}")


def tpconfig_l(robots: list[dict[str, Any]], drives: list[dict[str, Any]]) -> list[str]:
    """`tpconfig -l`: the two header lines, then each robot and its drives, then the
    standalone drives (only the header when nothing is configured)."""
    lines = list(L_HEADER)
    for robot in robots:
        lines.append(l_row("robot", robot["rn"], None, robot["rt"].upper(), None, "", "",
                           "", robot["device"]))
        lines += [_l_drive(d) for d in drives if d["rn"] == robot["rn"]]
    known = {r["rn"] for r in robots}
    lines += [_l_drive(d) for d in drives if d["rn"] not in known]
    return lines


def _l_drive(d: dict[str, Any]) -> str:
    return l_row("  drive", None if d["rn"] == STANDALONE else "-", d["index"], d["type"],
                 d["drnum"] if d["rn"] != STANDALONE else None, d["state"], d["comment"],
                 d["name"], d["path"])


def robots_section(robots: list[dict[str, Any]]) -> list[str]:
    if not robots:
        return []
    return ["Currently defined robotics are:"] + [
        f"  {robot['rt'].upper()}({robot['rn']})".ljust(13) + f"robotic path = {robot['device']}"
        for robot in robots]


def tpconfig_d(robots: list[dict[str, Any]], drives: list[dict[str, Any]],
               emm_server: str) -> list[str]:
    """`tpconfig -d`: a two-line entry a drive under a starred rule, the robots, the EMM
    server."""
    by_rn = {r["rn"]: r for r in robots}
    lines = list(D_HEADER) if drives else []
    for d in drives:
        lines.append(f"{d['index']:<4}{d['name']:<20} {d['type']:<6} {residence(d, by_rn)}")
        lines.append(f"      {d['path']:<64} {d['state']}")
    lines += robots_section(robots)
    return lines + ["", f"EMM Server = {emm_server}"]


def tpconfig_dl(robots: list[dict[str, Any]], drives: list[dict[str, Any]],
                emm_server: str) -> list[str]:
    """`tpconfig -dl`: a labelled block a drive, then the robots and the EMM server."""
    by_rn = {r["rn"]: r for r in robots}
    lines: list[str] = []
    for d in drives:
        robot = by_rn.get(d["rn"])
        pairs = [("Drive Name", d["name"]), ("Index", d["index"]), ("Type", d["type"]),
                 ("Residence", residence(d, by_rn).replace("DRIVE=", "Drive = "))]
        lines += [f"{DL_INDENT}{k:<24}{v}" for k, v in pairs]
        lines += [f"{DL_INDENT}Hosts configured for this device:",
                  f"{DL_INDENT}  Host = {d['host']}",
                  f"{DL_INDENT}    Path = {d['path']}"]
        pairs = [("Robotic Path", robot["device"] if robot else "-"),
                 ("Comment", dash(d["comment"])),
                 ("Loaded Media", dash(d["media_id"])),
                 ("Status", d["state"])]
        lines += [f"{DL_INDENT}{k:<24}{v}" for k, v in pairs] + [""]
    lines += robots_section(robots)
    return lines + ["", f"EMM Server = {emm_server}"]


def pool_block(pool: dict[str, Any]) -> list[str]:
    """One pool as `vmpool -listall` prints it."""
    return [RULE,
            f"pool number: {pool['number']}",
            f"pool name: {pool['name']}",
            f"description: {pool['description']}",
            f"pool host: {pool['host']}",
            f"pool user: {pool['user']}",
            f"pool group: {pool['group']}",
            "max partially full: 0"]


def pools_brief(pools: list[dict[str, Any]]) -> list[str]:
    """`vmpool -listall -b`: a line a pool under a two-line header."""
    lines = ["pool number  pool name             description",
             "-----------  --------------------  " + "-" * 30]
    lines += [f"{p['number']:>11}  {p['name']:<20}  {p['description']}" for p in pools]
    return lines


def scratch_list(pools: list[dict[str, Any]]) -> list[str]:
    return ["Scratch Pools", RULE] + [p["name"] for p in pools if p["scratch"]]
