"""nbemmcmd: add, delete and list the hosts of the EMM database, list and delete its media, and
change its media settings (through the master's nbemm).

Output is framed as NetBackup frames it, because scripts strip the frame by position or by
text (`grep -v NBEMMCMD | grep -v "Command completed successfully"`, or lines 2 to n-1):

    NBEMMCMD, Version: <version>
    The following hosts were found:          (-listhosts only)
    <machinetype>     <hostname>             (one line a host record)
    Command completed successfully.

A failure ends with "Command did not complete successfully." instead, then the usual
EXIT STATUS line on stderr. The master is listed as `master` (NetBackup 7-9's word, which
`nbemmcmd -listhosts | grep master | awk '{print $2}'` finds); NetBackup 10 prints `primary`,
which nbcli accepts as an input alias only. A host that is both master and media server has
two records, so `grep media` finds it too.
"""

from __future__ import annotations

from typing import Any

import click

import nbcli
from nbcli import config, timefmt
from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.commands.mediacodes import state_words
from nbcli.commands.stufmt import emm_request
from nbcli.net import client
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NO_ENTITY, NbuError

SYNOPSIS = """nbemmcmd -addhost -machinename name -machinetype master|media|client|ndmp|cluster
         [-masterserver name] [-netbackupversion level[.major[.minor]]]
nbemmcmd -deletehost -machinename name -machinetype master|media|client|ndmp|cluster
nbemmcmd -updatehost -machinename name -machinetype type [-masterserver name]
         [-netbackupversion level[.major[.minor]]] [-operatingsystem os]
         [-machinestateop set_admin_pause|clr_admin_pause|set_master_pause|
          clr_master_pause|set_disabled|clr_disabled|reset_all]
nbemmcmd -deletealldevices -machinename name -machinetype media|ndmp [-allrobots]
nbemmcmd -setemmserver -emmservername name -newemmservername name
         [-masterserver name] [-timeout seconds]
nbemmcmd -renamehost -machinename name -newmachinename name -machinetype type
nbemmcmd -machinealias -machinename name -machinetype type
         -addalias -alias alias | -deletealias -alias alias | -getaliases
nbemmcmd -listhosts [-verbose] [-parsable] [-nbservers | -machinetype type |
         -display_server -machinename name -machinetype type]
nbemmcmd -errorsprobe [-mediaid id]
nbemmcmd -getemmserver [-masterserver name] [-timeout seconds]
nbemmcmd -listsettings -machinename name -machinetype type
nbemmcmd -listmedia [-mediaid id] [-conflicts] [-poolname name] [-mediatype type]
nbemmcmd -deletemedia -mediaid id [-originhost name]
nbemmcmd -changesetting [-machinename name] [-media_error_threshold n]
         [-drive_error_threshold n] [-time_window hours]"""

DONE, FAILED = "Command completed successfully.", "Command did not complete successfully."
SERVER_TYPES = ("master", "media")
# Numbers shown after the type word by -listhosts -verbose; scripts read the word.
NBU_TYPE_CODES = {"media": 1, "client": 2, "master": 3, "ndmp": 4, "cluster": 5}
INDENT = " " * 8
# -updatehost -machinestateop (nbemm keeps the state as bits; the words are nbcli's, shown by
# -listhosts -verbose as `MachineState = <words> (<bits>)`).
STATE_OPS = ("set_admin_pause", "clr_admin_pause", "set_master_pause", "clr_master_pause",
             "set_disabled", "clr_disabled", "reset_all")
STATE_WORDS = ((1, "administrative pause"), (2, "master pause"), (4, "disabled"))


def machine_state(state: int) -> str:
    words = ", ".join(word for bit, word in STATE_WORDS if state & bit) or "active"
    return f"{words} ({state})"


def banner() -> str:
    return f"NBEMMCMD, Version: {nbcli.__version__}"


def host_line(host: dict[str, Any]) -> str:
    return f"{host['machinetype']:<16} {host['name']}"


def version_number(version: str) -> int:
    """NetBackup's packed form of a version: 10.1.1 -> 1011000 (8.1.2 -> 812000)."""
    parts = [int(p) for p in version.split(".") if p.isdigit()][:4]
    parts += [0] * (4 - len(parts))
    return parts[0] * 100000 + parts[1] * 10000 + parts[2] * 1000 + parts[3]


def verbose_block(host: dict[str, Any]) -> list[str]:
    """One host as -listhosts -verbose prints it: its name, then indented `Key = value` lines."""
    kind, version = host["machinetype"], host["version"] or "0.0.0.0"
    pairs = [("ClusterName", '""'),
             ("MachineName", f'"{host["name"]}"'),
             ("FQName", f'"{host["name"]}"'),
             ("MachineDescription", '""'),
             ("MachineNbuType", f"{kind} ({NBU_TYPE_CODES.get(kind, 0)})"),
             ("MasterServerName", f'"{host["master"]}"'),
             ("OperatingSystem", f'"{host.get("os") or ""}"'),
             ("NetBackupVersion", f"{version} ({version_number(version)})")]
    if kind == "media":  # after the type: the last lines stay the OS and the version
        pairs.insert(5, ("MachineState", machine_state(int(host.get("state") or 0))))
    return [host["name"]] + [f"{INDENT}{key} = {value}" for key, value in pairs]


def parsable_line(host: dict[str, Any]) -> str:
    """-listhosts -parsable: one line a host record, fields joined by " - " after the record
    word and the version (the shape NetBackup's users report; the fields after the name are
    nbcli's: machine type, master, operating system)."""
    fields = [host["name"], host["machinetype"], host["master"] or "-", host.get("os") or "-"]
    return " - ".join([f"EMMHOST{host['version'] or '0.0.0.0'}"] + fields)


def probe_lines(errors: list[dict[str, Any]]) -> list[str]:
    """-errorsprobe: the media and drive errors nbemm recorded, oldest first, or a line saying
    there are none (then `bperror -media` has the master's whole media log)."""
    if not errors:
        return ["No media or drive errors were found."]
    lines = ["The following media and drive errors were found:",
             f"{'Time':<20} {'Media ID':<8} {'Drive':<16} {'Media Server':<16} {'Job ID':>8} "
             "Error"]
    lines += [f"{timefmt.fmt(e['time']):<20} {e['media_id']:<8} {e['drive']:<16} "
              f"{e['host']:<16} {e['jobid']:>8} {e['kind']}" for e in errors]
    return lines


def host_change(cfg: Any, action: str, name: str, kind: str, master: str | None,
                version: str | None, os_name: str | None, new_name: str | None,
                alias_action: str | None, alias: str | None,
                state_op: str | None = None) -> list[str]:
    """-updatehost, -renamehost, -machinealias: one request to nbemm; the lines to print."""
    if action == "updatehost":
        emm_request(cfg, cfg.master, "host_update", name=name, machinetype=kind,
                    master=master, version=version, os=os_name, state_op=state_op)
    elif action == "renamehost":
        emm_request(cfg, cfg.master, "host_rename", name=name, machinetype=kind,
                    new_name=new_name)
    else:
        reply = emm_request(cfg, cfg.master, "host_alias", name=name, machinetype=kind,
                            action=alias_action, alias=alias)
        if alias_action == "get":
            return list(reply["aliases"])
    return []


def delete_devices(cfg: Any, name: str, kind: str, all_robots: bool) -> list[str]:
    """-deletealldevices: nbemm deletes the host's drives (and robots) in one transaction,
    or nothing when one of its drives is allocated to a job or held by a tpreq (97); a
    line for each cartridge the host's ltid had loaded in them (sent home first)."""
    reply = emm_request(cfg, cfg.master, "host_devices_delete", name=name, machinetype=kind,
                        all_robots=all_robots)
    lines = [f"Media {c['media_id']} in drive {c['drive']} " +
             ("was returned to its slot." if c["home"] else
              f"was left in the drive: ltid on {name} did not move it.")
             for c in reply.get("cartridges", [])]
    return lines + [f"Deleted {reply['drives']} drive(s) and {reply['robots']} robot(s) of "
                    f"{name}."]


def set_emm_server(cfg: Any, old: str | None, new: str | None) -> list[str]:
    """-setemmserver: nbcli has one EMM server, the master's nbemm, and it cannot move; the
    master's own name is accepted (nothing to change), any other is refused (20)."""
    if not old or not new:
        raise NbuError(INVALID_PARAMETER, "-setemmserver needs -emmservername and "
                                          "-newemmservername")
    for server in (old, new):
        if not cfg.is_local(server) and server != cfg.master:
            raise NbuError(INVALID_PARAMETER,
                           f"{server} is not this domain's EMM server: nbcli's EMM is the "
                           f"master's nbemm on {cfg.master} and cannot move to another host")
    return [f"The EMM server of this domain is {cfg.master}; nothing was changed."]


def emm_server_lines(cfg: Any) -> list[str]:
    """-getemmserver: the servers of the domain and the EMM server each uses (the master's)."""
    hosts = [h for h in emm_request(cfg, cfg.master, "host_list")["hosts"]
             if h["machinetype"] in SERVER_TYPES]
    names = list(dict.fromkeys(h["name"] for h in hosts))
    lines = [f"These hosts were found in this domain: {', '.join(names)}", ""]
    lines += [f'Checking with the host "{n}"...' for n in names] + [""]
    lines.append(f"{'Server Type':<16}{'Host Version':<16}{'Host Name':<16}EMM Server")
    # The server type in capitals: health scripts read `grep "^MASTER\s" | awk '{print $2}'`
    # for the master's version and "^MEDIA\s" lines for the media servers'.
    lines += [f"{h['machinetype'].upper():<16}{(h['version'] or '-'):<16}{h['name']:<16}"
              f"{cfg.master}" for h in hosts]
    return lines + [""]


def settings_lines(cfg: Any, name: str, kind: str) -> list[str]:
    """-listsettings: the host's configuration entries as `KEY="value"` lines (its bpcd
    answers for another host, as bpgetconfig -M reads them)."""
    hosts = emm_request(cfg, cfg.master, "host_list", name=name, machinetype=kind)["hosts"]
    if not hosts:
        raise NbuError(NO_ENTITY, f"host {name} ({kind}) is not in the EMM database")
    if cfg.is_local(name):
        lines = config.to_bpconf_lines(cfg)
    else:
        lines = client.call(cfg, name, "bpcd", "getconfig", keys=None)["lines"]
    out = ["The following configuration settings were found:"]
    for line in lines:
        key, _, value = line.partition(" = ")
        out.append(f'{key}="{value}"')
    return out


def media_blocks(cfg: Any, media_id: str | None, pool: str | None,
                 mtype: str | None) -> list[str]:
    """-listmedia: a labelled block a volume (conflicts: nbcli's EMM has none to list)."""
    media = emm_request(cfg, cfg.master, "media_list", media_id=media_id, pool=pool)["media"]
    lines: list[str] = []
    for m in media:
        if mtype and m["type"] != mtype.lower():
            continue
        pairs = [("Media ID", m["media_id"]), ("Media Type", m["type"].upper()),
                 ("Barcode", m["barcode"] or "-"), ("Description", m["description"] or "---"),
                 ("Volume Pool", m["pool"]), ("Robot Type", m["rt"].upper()),
                 ("Robot Number", m["rn"]), ("Slot", m["slot"]),
                 ("Media Status", media_status(m)),
                 ("Number of Mounts", m["mounts"]), ("Maximum Mounts", m["max_mounts"]),
                 ("Media Flags", f"0x{m['state']:x}")]
        lines += ["=" * 68] + [f"{k + ':':<32}{v}" for k, v in pairs]
    return lines


def media_status(m: dict[str, Any]) -> str:
    """FROZEN, SUSPENDED, FULL, IMPORTED (the bits set), else ASSIGNED or UNASSIGNED: scripts
    find frozen media with `nbemmcmd -listmedia -mediaid ID | Where-Object {$_ -match
    "FROZEN"}`."""
    words = state_words(int(m.get("state") or 0))
    return " ".join(words) if words else "ASSIGNED" if m["assigned"] else "UNASSIGNED"


def settings_change(cfg: Any, threshold: int | None, window: int | None,
                    drive_threshold: int | None) -> list[str]:
    settings = emm_request(cfg, cfg.master, "settings", media_error_threshold=threshold,
                           time_window=window,
                           drive_error_threshold=drive_threshold)["settings"]
    return [f'MEDIA_ERROR_THRESHOLD="{settings["media_error_threshold"]}"',
            f'DRIVE_ERROR_THRESHOLD="{settings["drive_error_threshold"]}"',
            f'TIME_WINDOW="{settings["time_window"]}"']


def _require(ctx: click.Context, action: str, name: str | None, kind: str | None) -> None:
    if not name or not kind:
        raise click.UsageError(f"-{action} needs -machinename and -machinetype", ctx)


def list_hosts(cfg: Any, name: str | None, kind: str | None, verbose: bool,
               nbservers: bool, parsable: bool = False) -> list[str]:
    """The body of -listhosts: the header line, then one line (or block) a host record."""
    hosts = emm_request(cfg, cfg.master, "host_list", name=name, machinetype=kind)["hosts"]
    if nbservers:
        hosts = [h for h in hosts if h["machinetype"] in SERVER_TYPES]
    if parsable:  # -parsable wins over -verbose: every attribute is on the line already
        return [parsable_line(host) for host in hosts]
    lines = ["The following hosts were found:"]
    for host in hosts:
        lines += verbose_block(host) if verbose else [host_line(host)]
    return lines


def check_usage(ctx: click.Context, action: str, name: str | None, kind: str | None,
                new_name: str | None, alias_action: str | None, alias: str | None,
                changes: tuple[str | None, ...]) -> None:
    """The host-changing forms' required flags (a usage error, 20, before any request)."""
    if action == "updatehost" and all(c is None for c in changes):
        raise click.UsageError("-updatehost needs -masterserver, -netbackupversion, "
                               "-operatingsystem or -machinestateop", ctx)
    if action == "renamehost" and not new_name:
        raise click.UsageError("-renamehost needs -newmachinename", ctx)
    if action == "machinealias":
        if alias_action is None:
            raise click.UsageError("-machinealias needs -addalias, -deletealias or "
                                   "-getaliases", ctx)
        if alias_action != "get" and not alias:
            raise click.UsageError(f"-{alias_action}alias needs -alias", ctx)


@command("nbemmcmd", SYNOPSIS)
@click.option("-addhost", "action", flag_value="addhost", help="Add a host record.")
@click.option("-deletehost", "action", flag_value="deletehost", help="Delete a host record.")
@click.option("-listhosts", "-listh", "action", flag_value="listhosts", help="List host records.")
@click.option("-updatehost", "action", flag_value="updatehost",
              help="Change a host record's master, version or operating system.")
@click.option("-renamehost", "action", flag_value="renamehost",
              help="Rename a host record (refused when the new name is in use).")
@click.option("-newmachinename", "new_name", metavar="NAME", help="-renamehost: the new name.")
@click.option("-machinealias", "action", flag_value="machinealias",
              help="Add, delete or list a host's aliases.")
@click.option("-addalias", "alias_action", flag_value="add", help="-machinealias: add -alias.")
@click.option("-deletealias", "alias_action", flag_value="delete",
              help="-machinealias: delete -alias.")
@click.option("-getaliases", "alias_action", flag_value="get",
              help="-machinealias: list the aliases.")
@click.option("-alias", metavar="NAME", help="-addalias/-deletealias: the alias.")
@click.option("-machinestateop", "state_op", type=click.Choice(STATE_OPS),
              help="-updatehost: pause, disable or resume a media server's allocations.")
@click.option("-deletealldevices", "action", flag_value="deletealldevices",
              help="Delete every drive of a media or NDMP host (refused while one is in use).")
@click.option("-allrobots", is_flag=True,
              help="-deletealldevices: also the robots the host controls.")
@click.option("-setemmserver", "action", flag_value="setemmserver",
              help="Accepted for the master itself only (nbcli's EMM cannot move).")
@click.option("-emmservername", "emm_old", metavar="NAME", help="-setemmserver: the old one.")
@click.option("-newemmservername", "emm_new", metavar="NAME",
              help="-setemmserver: the new one.")
@click.option("-errorsprobe", "action", flag_value="errorsprobe",
              help="List the media and drive errors the EMM recorded.")
@click.option("-parsable", is_flag=True, help="-listhosts: one EMMHOST line a host.")
@click.option("-operatingsystem", "os_name", metavar="OS",
              help="-updatehost: the host's operating system.")
@click.option("-getemmserver", "-getemm", "action", flag_value="getemmserver",
              help="The domain's servers and their EMM server.")
@click.option("-timeout", type=int, metavar="SECONDS", help="-getemmserver: accepted.")
@click.option("-listsettings", "action", flag_value="listsettings",
              help="A host's configuration entries as KEY=\"value\" lines.")
@click.option("-listmedia", "action", flag_value="listmedia",
              help="List removable media (-conflicts: none).")
@click.option("-deletemedia", "action", flag_value="deletemedia",
              help="Delete an unassigned medium.")
@click.option("-changesetting", "action", flag_value="changesetting",
              help="Change the media and drive error settings.")
@click.option("-media_error_threshold", "threshold", type=int, metavar="N",
              help="-changesetting: errors allowed on a medium in the window [2].")
@click.option("-drive_error_threshold", "drive_threshold", type=int, metavar="N",
              help="-changesetting: errors allowed on a drive in the window, on different "
                   "media, before it goes DOWN [2].")
@click.option("-time_window", "window", type=int, metavar="HOURS",
              help="-changesetting: the window of both error thresholds [12].")
@click.option("-mediaid", metavar="ID", help="-listmedia/-deletemedia: the medium.")
@click.option("-originhost", metavar="NAME", help="-deletemedia: accepted.")
@click.option("-conflicts", is_flag=True, help="-listmedia: media in conflict (none).")
@click.option("-poolname", metavar="NAME", help="-listmedia: only this pool's.")
@click.option("-mediatype", metavar="TYPE", help="-listmedia: only this type's.")
@click.option("-machinename", "name", help="Host name.")
@click.option("-machinetype", "kind",
              help="master (or primary), media (or mediaserver), client, ndmp, cluster.")
@click.option("-masterserver", "master",
              help="-addhost/-updatehost: the host's master (default: this one).")
@click.option("-netbackupversion", "version",
              help="-addhost/-updatehost: the host's NetBackup version.")
@click.option("-verbose", "verbose", is_flag=True, help="-listhosts: every attribute.")
@click.option("-nbservers", "nbservers", is_flag=True, help="-listhosts: masters and media only.")
@click.option("-display_server", "display_server", is_flag=True,
              help="-listhosts: only the server named by -machinename and -machinetype.")
@root_option
@click.pass_context
def cli(ctx: click.Context, action: str | None, name: str | None, kind: str | None,
        master: str | None, version: str | None, timeout: int | None, verbose: bool,
        nbservers: bool, display_server: bool, mediaid: str | None, originhost: str | None,
        conflicts: bool, poolname: str | None, mediatype: str | None, threshold: int | None,
        window: int | None, drive_threshold: int | None, new_name: str | None,
        alias_action: str | None, alias: str | None, parsable: bool, os_name: str | None,
        state_op: str | None,
        allrobots: bool, emm_old: str | None, emm_new: str | None, root: str | None) -> int:
    """Manage the hosts of the EMM database.

    \b
    EXIT STATUS
      0     done
      20    invalid parameter (machine type, host name, version, a setting)
      20    -machinestateop on a host that is not a media server; -setemmserver elsewhere
      97    -deletealldevices: a drive of the host is in use by a job (nothing deleted)
      133   -deletealldevices -allrobots: a robot still has another host's drives
      25    the master's nbemm (or its PBX) is not running
      225   the host name is longer than 128 characters
      226   -addhost: the host record exists; -renamehost, -addalias: the name is in use
      168   -deletemedia: the medium is assigned
      227   no such host record (-deletehost, -listhosts) or medium
    """
    if action is None:
        raise click.UsageError("one of -addhost, -deletehost, -updatehost, -renamehost, "
                               "-machinealias, -listhosts, -getemmserver, -errorsprobe is "
                               "required", ctx)
    if action == "deletemedia" and not mediaid:
        raise click.UsageError("-deletemedia needs -mediaid", ctx)
    if action == "changesetting" and threshold is None and window is None and \
            drive_threshold is None:
        raise click.UsageError("-changesetting needs -media_error_threshold, "
                               "-drive_error_threshold or -time_window", ctx)
    if action in ("addhost", "deletehost", "listsettings", "updatehost", "renamehost",
                  "machinealias", "deletealldevices") or display_server:
        _require(ctx, "display_server" if action == "listhosts" else action, name, kind)
    check_usage(ctx, action, name, kind, new_name, alias_action, alias,
                (master, version, os_name, state_op))
    cfg = load_cfg(root)
    click.echo(banner())
    try:
        if action == "addhost":
            emm_request(cfg, cfg.master, "host_add", name=name, machinetype=kind,
                               master=master, version=version)
        elif action in ("updatehost", "renamehost", "machinealias"):
            assert name is not None and kind is not None
            echo_lines(host_change(cfg, action, name, kind, master, version, os_name,
                                   new_name, alias_action, alias, state_op))
        elif action == "deletealldevices":
            assert name is not None and kind is not None
            echo_lines(delete_devices(cfg, name, kind, allrobots))
        elif action == "setemmserver":
            echo_lines(set_emm_server(cfg, emm_old, emm_new))
        elif action == "errorsprobe":
            errors = emm_request(cfg, cfg.master, "errors_probe", media_id=mediaid)["errors"]
            echo_lines(probe_lines(errors))
        elif action == "deletehost":
            emm_request(cfg, cfg.master, "host_delete", name=name, machinetype=kind)
        elif action == "getemmserver":
            echo_lines(emm_server_lines(cfg))
        elif action == "listsettings":
            assert name is not None and kind is not None
            echo_lines(settings_lines(cfg, name, kind))
        elif action == "deletemedia":
            emm_request(cfg, cfg.master, "media_delete", media_id=mediaid)
        elif action == "listmedia":
            if not conflicts:  # nbcli's EMM keeps no conflicting records: the frame alone
                echo_lines(media_blocks(cfg, mediaid, poolname, mediatype))
        elif action == "changesetting":
            echo_lines(settings_change(cfg, threshold, window, drive_threshold))
        else:
            echo_lines(list_hosts(cfg, name, kind, verbose, nbservers, parsable))
    except Exception:
        click.echo(FAILED)
        raise
    click.echo(DONE)
    return 0


main = entry(cli)
