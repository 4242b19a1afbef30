"""A client's exclude and include lists: where each one lives and which one a backup uses.

NetBackup's UNIX client keeps `exclude_list` and `include_list` (the exceptions to the exclude
list) in /usr/openv/netbackup, and lists for one policy, or one policy and schedule, beside
them as `exclude_list.POLICY` and `exclude_list.POLICY.SCHEDULE` (bpsetconfig -e/-i with
-c/-s writes them, bpgetconfig -e/-i reads them). When several exist, a backup uses the most
specific one only: POLICY.SCHEDULE, else POLICY, else the client's (NetBackup Administrator's
Guide, "Exclude Lists properties": "If more than one exclude or include list exists for a
client, NetBackup uses only the most specific one."). An empty specific list counts: it is how
an administrator lets one policy back up what the client's list excludes.

In nbcli the client's own lists are bp.toml's EXCLUDE and INCLUDE keys (so `bpgetconfig -M
client EXCLUDE` and bpsetconfig keep working); the specific ones are files under the host
root's netbackup/ folder, with NetBackup's names, one pattern a line (blank lines and `#`
lines are not patterns).

Base floor: imports only nbcli's atomic, config and status.
"""

from __future__ import annotations

from pathlib import Path

from nbcli import atomic
from nbcli.config import HostConfig
from nbcli.status import FILE_OPEN_FAILED, INVALID_PARAMETER, NbuError

KINDS = {"exclude": "EXCLUDE", "include": "INCLUDE"}


def check(kind: str, policy: str | None, schedule: str | None) -> None:
    """20 for a kind that is not one, a schedule without its policy, or a name that is not a
    file-name part (NetBackup's policy and schedule names never hold '/' or start with '.')."""
    if kind not in KINDS:
        raise NbuError(INVALID_PARAMETER, f"no {kind!r} list: exclude or include")
    if schedule and not policy:
        raise NbuError(INVALID_PARAMETER, "-s schedule needs -c policy")
    for name in (policy, schedule):
        if name is not None and (not name or "/" in name or name.startswith(".")
                                 or "\0" in name):
            raise NbuError(INVALID_PARAMETER, f"not a policy or schedule name: {name!r}")


def path(cfg: HostConfig, kind: str, policy: str, schedule: str | None = None) -> Path:
    """The file of a policy's (or a policy and schedule's) list on this host."""
    suffix = f".{policy}" + (f".{schedule}" if schedule else "")
    return cfg.paths.netbackup / f"{kind}_list{suffix}"


def read(cfg: HostConfig, kind: str, policy: str | None = None,
         schedule: str | None = None) -> list[str] | None:
    """That one list's lines as stored, None when it does not exist (the client's own list
    exists when its key holds a value)."""
    check(kind, policy, schedule)
    if not policy:
        values = cfg.data.get(KINDS[kind]) or []
        return [str(v) for v in values] or None
    try:
        return path(cfg, kind, policy, schedule).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot read the {kind} list: {e.strerror}") from e


def write(cfg: HostConfig, kind: str, lines: list[str], policy: str | None = None,
          schedule: str | None = None) -> None:
    """Replace that one list (atomically); the client's own list goes to bp.toml (saved)."""
    check(kind, policy, schedule)
    if not policy:
        patterns = patterns_of(lines)
        if patterns:
            cfg.data[KINDS[kind]] = patterns
        else:
            cfg.data.pop(KINDS[kind], None)
        cfg.save()
        return
    try:
        atomic.makedirs(cfg.paths.netbackup)
        atomic.write_text(path(cfg, kind, policy, schedule), "".join(f"{x}\n" for x in lines))
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot write the {kind} list: {e.strerror}") from e


def patterns_of(lines: list[str]) -> list[str]:
    """The patterns of a list: blank lines and `#` lines are not (NetBackup's syntax rules)."""
    return [x for x in lines if x.strip() and not x.lstrip().startswith("#")]


def effective(cfg: HostConfig, kind: str, policy: str | None,
              schedule: str | None) -> list[str]:
    """The patterns a backup of this policy and schedule uses: the most specific list."""
    if policy:
        for sched in ((schedule, None) if schedule else (None,)):
            found = read(cfg, kind, policy, sched)
            if found is not None:
                return patterns_of(found)
    return patterns_of(read(cfg, kind) or [])
