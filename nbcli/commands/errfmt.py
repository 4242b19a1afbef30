"""bperror's output forms: raw lines, the -U tables (-backstat's columns and truncations), the
-L blocks, -by_statcode, and the recommendation text of `bperror -S code -r`.

Pure functions from error-log entries (dicts with nbevtmgr's `query` fields: time, type,
severity, server, jobid, group, client, who, message) to lines. The raw line is the stored
one (reference/netbackup-cli.md §1.11: $5 server, $6 job id, $9 client, $10 who, message from
$11). The -U -backstat table keeps NetBackup's column starts and cuts (policy 16 characters,
schedule 10), which `bperror -U -backstat -hoursago 24 | grep Full | awk '$1 > "1"'` relies on.
"""

from __future__ import annotations

import re
from typing import Any

from nbcli import timefmt
from nbcli.status import message

Entry = dict[str, Any]
VERSION = 1
TYPE_WORDS = {1: "Unknown", 2: "General", 4: "Backup", 8: "Archive", 16: "Retrieve",
              32: "Security", 64: "Backup Status", 128: "Media Device"}
SEVERITY_WORDS = {1: "Unknown", 2: "Debug", 4: "Info", 8: "Warning", 16: "Error",
                  32: "Critical"}
BACKSTAT = re.compile(r"CLIENT (?P<client>\S+)\s+POLICY (?P<policy>\S+)\s+SCHED (?P<sched>\S+)"
                      r"\s+EXIT STATUS (?P<status>\d+)")
BACKSTAT_HEADER = "STATUS CLIENT        POLICY           SCHED      SERVER      TIME COMPLETED"
TABLE_HEADER = "TIME                SERVER/CLIENT     TEXT"


def _word(text: str) -> str:
    return "_".join(str(text).split()) or "*NULL*"


def raw_line(e: Entry) -> str:
    return (f"{e['time']} {VERSION} {e['type']} {e['severity']} {_word(e['server'])} "
            f"{e['jobid']} {e['group']} 0 {_word(e['client'])} {_word(e['who'])} {e['message']}")


def backstat_fields(e: Entry) -> dict[str, str] | None:
    m = BACKSTAT.search(e["message"])
    return m.groupdict() if m else None


def backstat_row(e: Entry) -> str | None:
    """` 71    SRV002        Linux_filebackup Week       NBUSRV      12/03/2010 18:17:54`"""
    f = backstat_fields(e)
    if f is None:
        return None
    return (f"{f['status']:>3}    {f['client'][:13]:<13} {f['policy'][:16]:<16} "
            f"{f['sched'][:10]:<10} {e['server'][:11]:<11} {timefmt.fmt(e['time'])}")


def backstat_table(entries: list[Entry]) -> list[str]:
    rows = [r for r in (backstat_row(e) for e in entries) if r is not None]
    return [BACKSTAT_HEADER, *rows] if rows else []


def user_table(entries: list[Entry]) -> list[str]:
    """-U for -all, -problems and -media: time, server, client, text."""
    if not entries:
        return []
    return [TABLE_HEADER, *(f"{timefmt.fmt(e['time'])} {e['server'][:8]:<8} "
                            f"{(e['client'] or '')[:8]:<8} {e['message']}" for e in entries)]


def long_block(e: Entry) -> list[str]:
    return [f"Time: {timefmt.fmt(e['time'])}",
            f"Server: {e['server']}",
            f"Client: {e['client']}",
            f"Job ID: {e['jobid']}",
            f"Job Group ID: {e['group']}",
            f"Type: {TYPE_WORDS.get(e['type'], e['type'])}",
            f"Severity: {SEVERITY_WORDS.get(e['severity'], e['severity'])}",
            f"Who: {e['who']}",
            f"Message: {e['message']}",
            ""]


def by_statcode(entries: list[Entry]) -> list[str]:
    """-backstat -by_statcode: each status once, its message, then the clients that had it."""
    clients: dict[int, list[str]] = {}
    for e in entries:
        f = backstat_fields(e)
        if f is not None:
            seen = clients.setdefault(int(f["status"]), [])
            if f["client"] not in seen:
                seen.append(f["client"])
    out = []
    for status in sorted(clients):
        out += [f"{status:>3} {message(status)}", "    " + " ".join(clients[status])]
    return out


# `bperror -S code -r`: what the status means and what to do, in nbcli's own words, for the
# statuses nbcli's jobs end with; the others get the general advice.
RECOMMENDATIONS: dict[int, str] = {
    0: "The operation completed. No action is needed.",
    1: "Some files were not backed up or restored. Look at the job's status lines "
       "(bpdbjobs -all_columns -jobid N) for the files that failed and why, correct the cause "
       "(permissions, files removed during the backup) and run the job again if needed.",
    2: "No file in the file list could be backed up. Check that the client can read the "
       "paths of the policy's file list.",
    6: "The backup did not complete. The job's status lines and bperror -problems -jobid N "
       "name the process that failed; correct the cause and run the backup again.",
    25: "A daemon could not be reached. Check that NetBackup runs on the host named in the "
        "error (bpps -x, netbackup start) and that its PBX port is reachable.",
    40: "The connection between two NetBackup processes broke. Check for a process that "
        "ended (bperror -problems) and for network trouble between the hosts, then retry.",
    41: "A NetBackup process did not answer in time. Check the load of the host and the "
        "network, then retry.",
    46: "The host that asked is not in the SERVER or MEDIA_SERVER list of the host it asked. "
        "Add it with bpsetconfig on that host.",
    48: "The host name could not be resolved. Add it to the [hosts] table of bp.toml or to "
        "DNS; bpclntcmd -hn name shows what NetBackup resolves.",
    50: "The client's backup process (bpbkar) ended before the backup did: killed, crashed "
        "or out of resources. Look at the client's bpbkar log and bperror -problems for the "
        "job, then run the backup again.",
    58: "The client could not be reached. Check that bpcd runs on the client (bptestbpcd "
        "-client name) and that the client's name resolves.",
    71: "None of the files in the policy's file list exist on the client. Correct the file "
        "list (bpplinclude) or the client's paths.",
    82: "The media manager process (bptm) was killed or crashed. Look at bperror -problems "
        "for the job and the media server's bptm log, then run the backup again.",
    84: "Writing the backup to its storage failed. Check the storage unit's path, its "
        "permissions and its free space.",
    129: "The disk storage unit is full. Free space, expire images (bpexpdate) or add "
         "another storage unit.",
    150: "An administrator cancelled the job. No action is needed.",
    196: "The schedule's window closed before the job could start. Widen the window or "
         "lower the load so that jobs start sooner.",
    219: "The storage unit the policy names is not available. Check it with bpstulist -U.",
    227: "Nothing matches what was asked. Check the names and dates given.",
    239: "The client is not in the policy. Add it with bpplclients or name another client.",
    247: "The policy is not active. Activate it with bpplinfo policy -modify -active.",
}
GENERAL_ADVICE = ("Look at the job's status lines (bpdbjobs -all_columns -jobid N), at bperror "
                  "-problems for the time of the failure, and at the debug log of the process "
                  "named there; correct the cause and retry.")


def status_lines(status: int, recommendation: bool) -> list[str]:
    """`bperror -S code [-r]`: the message; with -r, what to do about it."""
    lines = [message(status)]
    if recommendation:
        lines += ["", RECOMMENDATIONS.get(status, GENERAL_ADVICE)]
    return lines
