"""The policy records (Policy, Client, Schedule, Copy, Window) and their TOML form.

This is the data nbpem schedules from and bprd checks user requests against; the store
(`nbcli.catalog.policies`, bpdbm's) reads and writes it, and the policy commands rebuild it from
bpdbm's replies (the TOML text travels as it is stored). It imports only nbcli's tables (kinds,
status) and nothing that touches the disk, so every part can use it, commands included.

The TOML layout is documented in docs/protocol.md, "Policies". Codes are NetBackup's: a schedule
type is stored by its -st keyword, a policy type by its name, days are 0 = Sunday .. 6 = Saturday.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import tomli_w

from nbcli import kinds
from nbcli.status import (
    CLIENT_NOT_IN_POLICY,
    DATABASE_INCONSISTENT,
    ENTITY_EXISTS,
    INVALID_PARAMETER,
    NO_ENTITY,
    NO_SUCH_SCHEDULE,
    POLICY_NOT_ACTIVE,
    TEXT_TOO_LONG,
    NbuError,
)

FORMAT_VERSION = 1
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
DEFAULT_POOL = "NetBackup"
ANY_GROUP = "*ANY*"
MAX_COPIES = 10  # raw RES/SCHEDRES lines carry ten per-copy slots
USER_TYPES = frozenset({2, 3})  # UBAK, UARC: started by users, never due by frequency

MAX_NAME = 128

# NetBackup's naming rule: letters, digits, period, plus, hyphen, underscore; no leading
# hyphen. nbcli also refuses a leading period, which marks its staging folders.
_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_+.\-]*")


def check_name(name: str, what: str = "policy name") -> str:
    """`name` if NetBackup accepts it (status 20 for bad characters, 225 when too long)."""
    if len(name) > MAX_NAME:
        raise NbuError(TEXT_TOO_LONG, f"{what} longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(name):
        raise NbuError(INVALID_PARAMETER,
                       f"invalid {what} {name!r}: use letters, digits and . + - _ "
                           "(no spaces, not starting with - or .)")
    return name


@dataclass
class Client:
    name: str
    hardware: str
    os: str
    priority: int = 0


@dataclass
class Copy:
    """One copy a schedule writes: "" residence/pool/share group means the policy's own."""

    retention: int = kinds.DEFAULT_RETENTION_LEVEL
    residence: str = ""
    pool: str = ""
    fail_on_error: bool = False
    share_group: str = ""


@dataclass(frozen=True, order=True)
class Weekday:
    """A recurring calendar day: `day` 0-6 (Sunday first) of week `week` 1-5, 0 = every week."""

    day: int
    week: int


@dataclass
class Window:
    """A start window: opens `start` seconds after midnight, stays open `duration` seconds."""

    start: int = 0
    duration: int = 0


def _no_windows() -> list[Window]:
    return [Window() for _ in DAYS]


@dataclass
class Schedule:
    label: str
    sched_type: int = 0
    frequency: int = kinds.WEEK
    calendar: int = 0  # 0 frequency-based, 1 calendar, 2 calendar with retries after run day
    max_mpx: int = 1
    synthetic: bool = False
    copies: list[Copy] = field(default_factory=lambda: [Copy()])
    included_dates: list[datetime.date] = field(default_factory=list)
    excluded_dates: list[datetime.date] = field(default_factory=list)
    weekdays: list[Weekday] = field(default_factory=list)
    days_of_month: list[int] = field(default_factory=list)
    last_day_of_month: bool = False
    windows: list[Window] = field(default_factory=_no_windows)
    # bpplschedrep -xweekday / -xdayomonth: recurring days that are never run days and open no
    # window, whatever the schedule's type (as excluded_dates).
    excluded_weekdays: list[Weekday] = field(default_factory=list)
    excluded_days_of_month: list[int] = field(default_factory=list)
    excluded_last_day: bool = False

    @property
    def retention(self) -> int:
        """The first copy's retention level: the one a backup image gets."""
        return self.copies[0].retention

    @property
    def is_calendar(self) -> bool:
        return self.calendar in (1, 2)

    @property
    def is_user(self) -> bool:
        return self.sched_type in USER_TYPES


@dataclass
class Policy:
    name: str
    policy_type: int = 0
    active: bool = True
    effective_date: int = 0
    residence: str = ""  # "" = any storage unit
    volume_pool: str = DEFAULT_POOL
    max_jobs: int = 0  # 0 = unlimited
    priority: int = 0
    collect_tir: int = 0  # 0 no, 1 yes, 2 yes with move detection
    keyword: str = ""
    compress: bool = False
    encrypt: bool = False
    follow_nfs: bool = False
    cross_mount_points: bool = False
    block_incremental: bool = False
    multiple_streams: bool = False
    checkpoint: bool = False
    checkpoint_interval: int = 15  # minutes
    data_classification: str = ""
    server_group: str = ANY_GROUP
    generation: int = 0  # counts saves, so a reader can tell that a policy changed
    clients: list[Client] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)

    def find_schedule(self, label: str) -> Schedule:
        """The schedule `label`; status 197 when the policy has none of that name."""
        for s in self.schedules:
            if s.label == label:
                return s
        raise NbuError(NO_SUCH_SCHEDULE, f"schedule {label} is not in policy {self.name}")

    def find_client(self, name: str) -> Client:
        """The client `name`; status 239 when it is not in this policy."""
        for c in self.clients:
            if c.name == name:
                return c
        raise NbuError(CLIENT_NOT_IN_POLICY, f"client {name} is not in policy {self.name}")

    def add_client(self, client: Client) -> None:
        """Status 226 when a client of that name is already in the policy."""
        if any(c.name == client.name for c in self.clients):
            raise NbuError(ENTITY_EXISTS, f"client {client.name} is already in policy {self.name}")
        self.clients.append(client)

    def delete_client(self, name: str) -> None:
        self.clients.remove(self.find_client(name))

    def _check_include(self, path: str) -> None:
        if path not in self.includes:
            raise NbuError(NO_ENTITY, f"{path} is not in the backup selections of {self.name}")

    def delete_include(self, path: str) -> None:
        """Remove every occurrence of `path` (status 227 when there is none)."""
        self._check_include(path)
        self.includes = [i for i in self.includes if i != path]

    def modify_include(self, old: str, new: str) -> None:
        """Replace `old` by `new` where it stands, keeping the order of the list."""
        self._check_include(old)
        self.includes = [new if i == old else i for i in self.includes]

    def add_schedule(self, schedule: Schedule) -> None:
        """Status 226 when the policy already has a schedule of that label."""
        if any(s.label == schedule.label for s in self.schedules):
            raise NbuError(ENTITY_EXISTS,
                           f"schedule {schedule.label} is already in policy {self.name}")
        self.schedules.append(schedule)

    def delete_schedule(self, label: str) -> None:
        self.schedules.remove(self.find_schedule(label))

    def check_active(self) -> None:
        """Status 247 unless the policy is active."""
        if not self.active:
            raise NbuError(POLICY_NOT_ACTIVE, f"policy {self.name} is not active")

    def reset_attributes(self, effective_date: int) -> None:
        """Every attribute back to its default (bpplinfo -set); lists and name are kept."""
        fresh = Policy(self.name, effective_date=effective_date)
        for f in fields(Policy):
            if f.name not in ("name", "generation", "clients", "includes", "schedules"):
                setattr(self, f.name, getattr(fresh, f.name))


# --- TOML ----------------------------------------------------------------------------------

_KEPT_AS_IS = ("clients", "includes", "schedules", "name", "policy_type")


def check_generation(policy: Policy, generation: int | None) -> None:
    """-generation N of the policy commands: status 20 unless the policy is still at
    generation N (each saved change adds one, so another one has changed it since N was read)."""
    if generation is not None and policy.generation != generation:
        raise NbuError(INVALID_PARAMETER, f"policy {policy.name} is at generation "
                                          f"{policy.generation}, not {generation}: it changed "
                                          "since it was read")


def to_toml(policy: Policy) -> str:
    """The policy.toml text of `policy` (its name is the folder's, so it is not stored)."""
    data: dict[str, Any] = {"version": FORMAT_VERSION,
                            "policy_type": kinds.POLICY_TYPES.get(policy.policy_type,
                                                                  policy.policy_type)}
    for f in fields(Policy):
        if f.name not in _KEPT_AS_IS:
            data[f.name] = getattr(policy, f.name)
    data["includes"] = list(policy.includes)
    data["clients"] = [vars(c) for c in policy.clients]
    data["schedules"] = [_schedule_data(s) for s in policy.schedules]
    return tomli_w.dumps(data)


def _schedule_data(s: Schedule) -> dict[str, Any]:
    return {
        "label": s.label, "type": kinds.SCHED_TYPES[s.sched_type], "frequency": s.frequency,
        "calendar": s.calendar, "max_mpx": s.max_mpx, "synthetic": s.synthetic,
        "included_dates": list(s.included_dates), "excluded_dates": list(s.excluded_dates),
        "weekdays": [{"day": DAYS[w.day], "week": w.week} for w in s.weekdays],
        "days_of_month": list(s.days_of_month), "last_day_of_month": s.last_day_of_month,
        "windows": [{"day": DAYS[d], "start": w.start, "duration": w.duration}
                    for d, w in enumerate(s.windows)],
        "copies": [vars(c) for c in s.copies],
    } | _exclusions_data(s)


def _exclusions_data(s: Schedule) -> dict[str, Any]:
    """The recurring exclusions, only when there are some (older files stay byte-identical)."""
    data: dict[str, Any] = {}
    if s.excluded_weekdays:
        data["excluded_weekdays"] = [{"day": DAYS[w.day], "week": w.week}
                                     for w in s.excluded_weekdays]
    if s.excluded_days_of_month:
        data["excluded_days_of_month"] = list(s.excluded_days_of_month)
    if s.excluded_last_day:
        data["excluded_last_day"] = True
    return data


def from_toml(name: str, text: str) -> Policy:
    """Parse policy.toml; status 238 when it is not a policy nbcli can read."""
    try:
        data = tomllib.loads(text)
        return _policy(name, data)
    except (tomllib.TOMLDecodeError, ValueError, TypeError, KeyError, IndexError) as e:
        raise NbuError(DATABASE_INCONSISTENT, f"policy {name}: policy.toml: {e}") from e


T = TypeVar("T")


def _take(data: dict[str, Any], key: str, default: T) -> T:
    """data[key] if present and of the default's type (a bool is not an int here)."""
    if key not in data:
        return default
    value = data[key]
    kind = type(default)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise TypeError(f"{key} should be {kind.__name__}, not {value!r}")
    return value


def _list(data: dict[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    return _take(data, key, default if default is not None else [])


def _policy(name: str, data: dict[str, Any]) -> Policy:
    if _take(data, "version", FORMAT_VERSION) > FORMAT_VERSION:
        raise ValueError(f"format version {data['version']} is newer than this nbcli")
    p = Policy(name)
    for f in fields(Policy):
        if f.name not in _KEPT_AS_IS:
            setattr(p, f.name, _take(data, f.name, getattr(p, f.name)))
    ptype = data.get("policy_type", "Standard")
    p.policy_type = ptype if isinstance(ptype, int) else kinds.POLICY_CODES[str(ptype).lower()]
    p.includes = [str(i) for i in _list(data, "includes")]
    p.clients = [Client(str(c["name"]), str(c["hardware"]), str(c["os"]),
                        _take(c, "priority", 0)) for c in _list(data, "clients")]
    p.schedules = [_schedule(s) for s in _list(data, "schedules")]
    return p


def _schedule(d: dict[str, Any]) -> Schedule:
    s = Schedule(str(d["label"]))
    s.sched_type = kinds.SCHED_CODES[str(d.get("type", "FULL"))]
    for key in ("frequency", "calendar", "max_mpx", "synthetic", "last_day_of_month",
                "excluded_last_day"):
        setattr(s, key, _take(d, key, getattr(s, key)))
    s.included_dates = [_date(x) for x in _list(d, "included_dates")]
    s.excluded_dates = [_date(x) for x in _list(d, "excluded_dates")]
    s.weekdays = [Weekday(DAYS.index(w["day"]), int(w["week"]))
                  for w in _list(d, "weekdays")]
    s.days_of_month = [int(x) for x in _list(d, "days_of_month")]
    s.excluded_weekdays = [Weekday(DAYS.index(w["day"]), int(w["week"]))
                           for w in _list(d, "excluded_weekdays")]
    s.excluded_days_of_month = [int(x) for x in _list(d, "excluded_days_of_month")]
    windows = _list(d, "windows")
    if windows:
        if len(windows) != len(DAYS):
            raise ValueError(f"schedule {s.label}: windows needs one entry per day")
        s.windows = [Window(_take(w, "start", 0), _take(w, "duration", 0)) for w in windows]
    copies = [Copy(**{k: _take(c, k, v) for k, v in vars(Copy()).items()})
              for c in _list(d, "copies", [{}])]
    if not 1 <= len(copies) <= MAX_COPIES:
        raise ValueError(f"schedule {s.label}: 1 to {MAX_COPIES} copies")
    s.copies = copies
    return s


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise TypeError(f"{value!r} is not a date")
    return value
