"""Host roots and bp.toml: where a host keeps everything, and what its bp.conf says.

A host is one root folder laid out like /usr/openv (see `Paths`). Its configuration is
`netbackup/bp.toml`, which holds bp.conf's keys (CLIENT_NAME, SERVER, MEDIA_SERVER, VERBOSE,
NUMBER_DATA_BUFFERS, SIZE_DATA_BUFFERS, ...) plus nbcli's own: PBX_PORT, MEDIA_WAIT (seconds
a tape backup waits for a medium), ROLES and a [hosts] table that maps host names to
"address:port" (names not in it are looked up in DNS).

The first SERVER entry is the master, as in NetBackup. Only the config commands and
`netbackup init` write bp.toml, always atomically.

Place: the bottom floor (docs/architecture.md): imports only nbcli.atomic and nbcli.status.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbcli import atomic
from nbcli.status import (
    CLIENT_HOSTNAME_NOT_FOUND,
    INIT_ERROR,
    INVALID_PARAMETER,
    NO_CONFIGURATION,
    NbuError,
)

DEFAULT_PBX_PORT = 1556
ROLES = ("master", "media", "client")

# bp.conf keys that may appear on several lines; bpsetconfig replaces (or --add/--remove edits)
# the whole list, as NetBackup does.
LIST_KEYS = frozenset({"SERVER", "MEDIA_SERVER", "EXCLUDE", "INCLUDE", "ROLES",
                       "BPDBJOBS_COLDEFS", "HOSTS"})
INT_KEYS = frozenset({"VERBOSE", "NUMBER_DATA_BUFFERS", "SIZE_DATA_BUFFERS", "PBX_PORT",
                      "MEDIA_WAIT"})
# Keys that take one of a few words (nbcli.net.dte's modes): bpsetconfig refuses any other (20)
# before it changes anything, rather than a job failing on it later.
WORD_KEYS: dict[str, tuple[str, ...]] = {
    "MEDIA_DTE_MODE": ("ON", "OFF"),
    "DTE_IGNORE_IMAGE_MODE": ("NEVER", "WHERE_UNSUPPORTED", "ALWAYS"),
}

DEFAULTS: dict[str, Any] = {
    "VERBOSE": 0,
    # 16 x 1 MiB: large blocks amortise the cross-core hand-off (reference/perf-baseline.md).
    "NUMBER_DATA_BUFFERS": 16,
    "SIZE_DATA_BUFFERS": 1 << 20,
    "PBX_PORT": DEFAULT_PBX_PORT,
    # nbcli's: seconds a tape backup waits for a usable medium before it ends with status 96
    "MEDIA_WAIT": 300,
    # data-in-transit encryption (nbcli.net.dte): the master's, each client's own, each media
    # server's own, and the master's say on how a restore honours an image's DTE mode
    "DTE_GLOBAL_MODE": "PREFERRED_ON",
    "DTE_CLIENT_MODE": "AUTOMATIC",
    "MEDIA_DTE_MODE": "ON",
    "DTE_IGNORE_IMAGE_MODE": "NEVER",
    "MEDIA_SERVER": [],
    "ROLES": list(ROLES),
}


def default_root() -> Path:
    """--root, else NB_ROOT, else the user's data folder (the all-in-one default host)."""
    env = os.environ.get("NB_ROOT")
    if env:
        return Path(env)
    import platformdirs  # only here: every agent starts faster without it

    return Path(platformdirs.user_data_dir("nbcli", appauthor=False)) / "openv"


@dataclass(frozen=True)
class Paths:
    """Every on-disk path of a host, derived from its root (mirrors /usr/openv)."""

    root: Path

    @property
    def netbackup(self) -> Path:
        return self.root / "netbackup"

    @property
    def bp_toml(self) -> Path:
        return self.netbackup / "bp.toml"

    @property
    def db(self) -> Path:
        return self.netbackup / "db"

    @property
    def policies(self) -> Path:
        return self.db / "class"

    @property
    def images(self) -> Path:
        return self.db / "images"

    @property
    def jobs(self) -> Path:
        return self.db / "jobs"

    @property
    def emm(self) -> Path:
        return self.db / "emm"

    @property
    def neededimage(self) -> Path:
        return self.db / "neededimage"

    @property
    def db_config(self) -> Path:
        return self.db / "config"

    @property
    def logs(self) -> Path:
        return self.netbackup / "logs"

    @property
    def user_ops(self) -> Path:
        return self.logs / "user_ops"

    @property
    def volmgr(self) -> Path:
        return self.root / "volmgr"

    @property
    def run(self) -> Path:
        return self.root / "var" / "run"

    @property
    def pbx_socket(self) -> Path:
        """Local clients connect here (the same protocol as PBX's TCP port)."""
        return self.run / "pbx.sock"

    @property
    def cmd_socket(self) -> Path:
        """nbcmdd's socket (nbcli.launcher finds it by the same relative path)."""
        return self.run / "nbcmdd.sock"

    @property
    def pbx_register(self) -> Path:
        """Local services register here (SOCK_SEQPACKET: one handed-over socket per packet)."""
        return self.run / "pbx.reg"

    def pidfile(self, process: str) -> Path:
        return self.run / f"{process}.pid"

    def layout(self) -> list[Path]:
        return [self.netbackup, self.policies, self.images, self.jobs, self.emm,
                self.neededimage, self.db_config, self.logs, self.user_ops, self.volmgr,
                self.run]


@dataclass
class HostConfig:
    """A host's bp.toml, read once; `save` writes it back atomically."""

    root: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> Paths:
        return Paths(self.root)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, DEFAULTS.get(key, default))

    @property
    def client_name(self) -> str:
        return str(self.data.get("CLIENT_NAME") or socket.gethostname().split(".")[0])

    @property
    def servers(self) -> list[str]:
        return list(self.data.get("SERVER") or [self.client_name])

    @property
    def master(self) -> str:
        return self.servers[0]

    @property
    def media_servers(self) -> list[str]:
        return list(self.get("MEDIA_SERVER"))

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if r in self.get("ROLES")]

    @property
    def verbose(self) -> int:
        return int(self.get("VERBOSE"))

    @property
    def pbx_port(self) -> int:
        return int(self.get("PBX_PORT"))

    @property
    def hosts(self) -> dict[str, str]:
        return dict(self.data.get("hosts", {}))

    def is_local(self, host: str) -> bool:
        return host in (self.client_name, "localhost")

    def address_of(self, host: str) -> tuple[str, int]:
        """Where `host`'s PBX listens: the [hosts] table first, then DNS on PBX_PORT."""
        entry = self.hosts.get(host)
        if entry:
            addr, _, port = entry.rpartition(":")
            if addr and port.isdigit():
                return addr.strip("[]"), int(port)
            return entry, self.pbx_port
        try:
            info = socket.getaddrinfo(host, self.pbx_port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise NbuError(CLIENT_HOSTNAME_NOT_FOUND, f"cannot resolve host {host}") from e
        return str(info[0][4][0]), self.pbx_port

    def addresses_of(self, host: str) -> set[str]:
        """Every address `host` may connect from (for bpcd's SERVER check)."""
        entry = self.hosts.get(host)
        if entry:
            return {self.address_of(host)[0]}
        try:
            return {str(i[4][0]) for i in socket.getaddrinfo(host, None)}
        except socket.gaierror:
            return set()

    def own_address(self) -> str | None:
        """The address this host's outgoing connections come from, when the config fixes it."""
        entry = self.hosts.get(self.client_name)
        return self.address_of(self.client_name)[0] if entry else None

    def save(self) -> None:
        import tomli_w  # writers are few; readers (every process) need only tomllib

        atomic.makedirs(self.paths.netbackup)
        atomic.write_bytes(self.paths.bp_toml, tomli_w.dumps(self.data).encode())


def load(root: str | os.PathLike[str] | None = None) -> HostConfig:
    """Read a host's bp.toml; status 110 when the host has not been set up."""
    root = Path(root) if root else default_root()
    path = Paths(root).bp_toml
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as e:
        raise NbuError(NO_CONFIGURATION, f"{path} not found (run: netbackup init)") from e
    except tomllib.TOMLDecodeError as e:
        raise NbuError(INIT_ERROR, f"{path}: {e}") from e
    return HostConfig(root, data)


def init_root(root: str | os.PathLike[str], *, name: str | None = None,
              roles: list[str] | None = None, servers: list[str] | None = None,
              address: str = "127.0.0.1", port: int = DEFAULT_PBX_PORT,
              hosts: dict[str, str] | None = None,
              media_servers: list[str] | None = None) -> HostConfig:
    """Create a host root with its folders and a bp.toml (an all-in-one host by default)."""
    root = Path(root)
    name = name or socket.gethostname().split(".")[0]
    roles = roles or list(ROLES)
    data: dict[str, Any] = {
        "CLIENT_NAME": name,
        "SERVER": servers or [name],
        "MEDIA_SERVER": media_servers if media_servers is not None
        else ([name] if "media" in roles else []),
        "VERBOSE": DEFAULTS["VERBOSE"],
        "NUMBER_DATA_BUFFERS": DEFAULTS["NUMBER_DATA_BUFFERS"],
        "SIZE_DATA_BUFFERS": DEFAULTS["SIZE_DATA_BUFFERS"],
        "PBX_PORT": port,
        "ROLES": [r for r in ROLES if r in roles],
        "hosts": {name: f"{address}:{port}", **(hosts or {})},
    }
    cfg = HostConfig(root, data)
    for p in cfg.paths.layout():
        atomic.makedirs(p)
    cfg.save()
    return cfg


def ensure_default_root() -> HostConfig:
    """The embedded all-in-one host: created on first use under the default root."""
    root = default_root()
    if not Paths(root).bp_toml.exists():
        return init_root(root)
    return load(root)


# --- bp.conf text form (bpgetconfig / bpsetconfig) ------------------------------------------

def to_bpconf_lines(cfg: HostConfig, keys: list[str] | None = None) -> list[str]:
    """`KEY = value` lines, one per value of a list key, in bp.conf's order of keys."""
    data = dict(cfg.data)
    hosts = data.pop("hosts", {})
    data["HOSTS"] = [f"{n} {a}" for n, a in hosts.items()]
    for k, v in DEFAULTS.items():
        data.setdefault(k, v)
    lines = []
    for key in keys or list(data):
        value = data.get(key)
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key} = {v}")
    return lines


def parse_bpconf(text: str) -> dict[str, Any]:
    """Parse bp.conf lines; list keys collect every line, others keep the last one."""
    out: dict[str, Any] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise NbuError(INVALID_PARAMETER, f"line {n}: not a KEY = value line: {raw!r}")
        if key in LIST_KEYS:
            out.setdefault(key, []).append(value)
        elif key in INT_KEYS:
            try:
                out[key] = int(value)
            except ValueError as e:
                raise NbuError(INVALID_PARAMETER,
                               f"line {n}: {key} needs a number, not {value!r}") from e
        elif key in WORD_KEYS:
            if value.upper() not in WORD_KEYS[key]:
                raise NbuError(INVALID_PARAMETER, f"line {n}: {key} is one of "
                                                  f"{', '.join(WORD_KEYS[key])}, not {value!r}")
            out[key] = value.upper()
        else:
            out[key] = value
    return out


def apply_settings(cfg: HostConfig, settings: dict[str, Any], *, add: bool = False,
                   remove: bool = False) -> None:
    """Set keys as bpsetconfig does (a list key's whole list is replaced), or add/remove values."""
    for key, value in settings.items():
        if key == "HOSTS":
            hosts = {} if not (add or remove) else dict(cfg.data.get("hosts", {}))
            for entry in value:
                name, _, addr = entry.partition(" ")
                if remove:
                    hosts.pop(name, None)
                elif not addr.strip():
                    raise NbuError(INVALID_PARAMETER,
                                   f"HOSTS needs 'name address:port', not {entry!r}")
                else:
                    hosts[name] = addr.strip()
            cfg.data["hosts"] = hosts
            continue
        if (add or remove) and key not in LIST_KEYS:
            raise NbuError(INVALID_PARAMETER, f"{key} is not a list key; --add/--remove apply to "
                                              f"{', '.join(sorted(LIST_KEYS))}")
        if add:
            current = list(cfg.get(key) or [])
            cfg.data[key] = current + [v for v in value if v not in current]
        elif remove:
            cfg.data[key] = [v for v in cfg.get(key) or [] if v not in value]
        else:
            cfg.data[key] = value
