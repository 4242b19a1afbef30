"""Which client may list and restore whose backups: NetBackup's rules, on the master.

Place: bprd's restore and bpdbm's image and file lists ask `check` for a caller that is not
root here or a server (nbcli.net.trust.own_client says which client it is); servers may list
and restore anything. It reads the master's altnames folder, the client's attributes
(bpclient -list_restore) and bp.conf; it writes nothing and imports no daemon.

- A client lists and restores its own backups; `db/altnames/No.Restrictions` (an empty file)
  lets any client list and restore any client's; `db/altnames/<client>` (one client name a
  line) lets that client list and restore those clients'.
- `bpclient -client C -list_restore N`: 1 both allowed, 2 list only, 3 neither; 0 (the
  default) follows bp.conf: DISALLOW_CLIENT_LIST_RESTORE (neither) or DISALLOW_CLIENT_RESTORE
  (list only), else both.
"""

from __future__ import annotations

from nbcli.catalog import clientattrs
from nbcli.config import HostConfig
from nbcli.status import CLIENT_NOT_VALIDATED_FOR_OP, NbuError

BOTH, LIST_ONLY, NEITHER = 1, 2, 3
NO_RESTRICTIONS = "No.Restrictions"


def list_restore(cfg: HostConfig, client: str) -> int:
    """What `client` may do with backups: BOTH, LIST_ONLY or NEITHER."""
    attrs = clientattrs.load_client(cfg.paths, client)
    if attrs is not None and attrs.list_restore in (BOTH, LIST_ONLY, NEITHER):
        return attrs.list_restore
    if _flag(cfg, "DISALLOW_CLIENT_LIST_RESTORE"):
        return NEITHER
    if _flag(cfg, "DISALLOW_CLIENT_RESTORE"):
        return LIST_ONLY
    return BOTH


def may_see(cfg: HostConfig, requester: str, owner: str) -> bool:
    """`requester` may list (and, rights allowing, restore) `owner`'s backups."""
    if requester == owner:
        return True
    folder = cfg.paths.db / "altnames"
    if (folder / NO_RESTRICTIONS).is_file():
        return True
    if "/" in requester or requester in ("", ".", ".."):
        return False
    try:
        names = (folder / requester).read_text(errors="replace").split()
    except OSError:
        return False
    return owner in names


def check(cfg: HostConfig, requester: str, owner: str, *, restore: bool) -> None:
    """Return when `requester` may list (or restore) `owner`'s backups; 135 otherwise."""
    rights = list_restore(cfg, requester)
    what = "restore" if restore else "list"
    if rights == NEITHER or (restore and rights == LIST_ONLY):
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                       f"client {requester} is not allowed to {what} backups "
                       f"(list_restore {rights})")
    if not may_see(cfg, requester, owner):
        raise NbuError(CLIENT_NOT_VALIDATED_FOR_OP,
                       f"client {requester} may not {what} the backups of {owner} "
                       f"(no altnames entry on the master)")


def _flag(cfg: HostConfig, key: str) -> bool:
    value = cfg.get(key, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "")
    return bool(value)
