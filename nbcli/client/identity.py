"""Running as the user who asked: user backups and archives read (and delete) files with that
user's rights, never with those of bpcd, which runs as root.

The user comes in the request as {uid, gid, user}; the master only passes it on when the
client's bpcd vouched for it (bpcd read it from the kernel). A bpbkar that is not root cannot
become someone else: then the request is refused unless it is already that user.
"""

from __future__ import annotations

import os
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
