"""Running as the user who asked: user backups and archives read (and delete) files with that
user's rights, never with those of bpcd, which runs as root.

The user comes in the request as {uid, gid, user}; the master only passes it on when the
client's bpcd vouched for it (bpcd read it from the kernel). A bpbkar that is not root cannot
become someone else: then the request is refused unless it is already that user.
"""

from __future__ import annotations

import os
import pwd
from typing import Any

from nbcli.status import INVALID_PARAMETER, PERMISSION_DENIED_BY_CLIENT, NbuError


def become(run_as: Any) -> None:
    """Drop to `run_as` for good (groups, gid, then uid), or do nothing when it is None."""
    if run_as is None:
        return
    if not isinstance(run_as, dict) or not isinstance(run_as.get("uid"), int):
        raise NbuError(INVALID_PARAMETER, "run_as must be {uid, gid, user}")
    uid = int(run_as["uid"])
    gid = run_as.get("gid")
    gid = int(gid) if isinstance(gid, int) else uid
    if os.geteuid() == uid:
        return
    if os.geteuid() != 0:
        raise NbuError(PERMISSION_DENIED_BY_CLIENT,
                       f"bpbkar runs as uid {os.geteuid()} and cannot act for uid {uid}")
    user = run_as.get("user")
    try:
        groups = os.getgrouplist(str(user), gid) if isinstance(user, str) and user \
            and not user.isdigit() else [gid]
    except (KeyError, OSError):
        groups = [gid]
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)


def user_groups(uid: int, gid: int) -> tuple[str, set[int]]:
    """A user's name and groups (the uid as a name, and `gid` alone, when unknown)."""
    try:
        user = pwd.getpwuid(uid).pw_name
        return user, set(os.getgrouplist(user, gid))
    except (KeyError, OSError):
        return str(uid), {gid}


def may_write(path: str, uid: int, groups: set[int]) -> bool:
    """The user may create or replace `path`: write and search rights on the nearest
    existing folder at or above it, search rights on every folder above that one."""
    probe = os.path.normpath(path) or "/"
    while not os.path.isdir(probe) and probe != "/":
        probe = os.path.dirname(probe)
    parts = [probe]
    while parts[-1] != "/":
        parts.append(os.path.dirname(parts[-1]))
    for n, folder in enumerate(parts):
        try:
            st = os.stat(folder)
        except OSError:
            return False
        need = 0o3 if n == 0 else 0o1  # write+search on the folder written in, search above
        if st.st_uid == uid:
            bits = (st.st_mode >> 6) & 0o7
        elif st.st_gid in groups:
            bits = (st.st_mode >> 3) & 0o7
        else:
            bits = st.st_mode & 0o7
        if bits & need != need:
            return False
    return True
