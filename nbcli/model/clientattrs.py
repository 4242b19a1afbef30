"""A client's attributes (bpclient): the record, NetBackup's codes for its values, the check.

bpdbm keeps one per client in db/client (nbcli.catalog.clientattrs, which nbpem reads) and
sends them to bpclient as tables (nbcli.model.records), rebuilt here. Pure: imports only
nbcli.status and nbcli.model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nbcli.model.policy import check_name
from nbcli.status import INVALID_PARAMETER, NbuError

MAX_JOBS = range(1, 100)  # bpclient -max_jobs [1-99]

# Codes of the 0|1|2 options and the words bpclient -L shows for them.
FREE_BROWSE = {0: "Allow", 1: "Deny", 2: "Use"}
LIST_RESTORE = {0: "Not Specified", 1: "Allow Both", 2: "List Only", 3: "Deny Both"}
# -connect_options: BPCD connect-back (0 random port, 1 VNETD port, 2 default), ports
# (0 reserved, 1 non-reserved, 2 default), daemon connection (0 automatic, 1 VNETD only,
# 2 daemon port only, 3 default).
CONNECT_RANGES = (range(0, 3), range(0, 3), range(0, 4))
DEFAULT_CONNECT = [2, 2, 3]
MAX_ADDRESS = 255


@dataclass
class ClientAttrs:
    """One client's entry; defaults are NetBackup's for a client bpclient just added."""

    name: str
    max_jobs: int | None = None  # "max jobs this client"; None = not set (global applies)
    current_host: str = ""  # the host name it is reached at now ("" = its name)
    ip_address: str = ""  # with a dynamic address: the one it last had
    port: int = 0  # connect on port (0 = the usual one)
    dynamic_address: bool = False
    free_browse: int = 0
    list_restore: int = 0
    connect_options: list[int] = field(default_factory=lambda: list(DEFAULT_CONNECT))
    offline_backup: bool = False  # backups of this client are not started
    offline_restore: bool = False  # restores to this client are refused

    @property
    def hostname(self) -> str:
        return self.current_host or self.name


def check(attrs: ClientAttrs) -> ClientAttrs:
    """`attrs` if every value is one bpclient accepts; status 20 (225 for a long name)."""
    check_name(attrs.name, "client name")
    if attrs.current_host:
        check_name(attrs.current_host, "host name")
    if attrs.max_jobs is not None and attrs.max_jobs not in MAX_JOBS:
        raise NbuError(INVALID_PARAMETER, f"max jobs must be {MAX_JOBS[0]} to {MAX_JOBS[-1]}, "
                                          f"not {attrs.max_jobs}")
    if attrs.free_browse not in FREE_BROWSE or attrs.list_restore not in LIST_RESTORE:
        raise NbuError(INVALID_PARAMETER, "free browse is 0, 1 or 2 and list restore 0 to 3")
    if len(attrs.connect_options) != 3 or any(
            v not in r for v, r in zip(attrs.connect_options, CONNECT_RANGES)):
        raise NbuError(INVALID_PARAMETER, "connect options are three numbers: 0-2 0-2 0-3")
    if not 0 <= attrs.port <= 65535 or len(attrs.ip_address) > MAX_ADDRESS \
            or not attrs.ip_address.isprintable() or any(c.isspace() for c in attrs.ip_address):
        raise NbuError(INVALID_PARAMETER, "bad port or IP address")
    return attrs
