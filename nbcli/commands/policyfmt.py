"""What the policy commands share: their option style and the labelled (-L / -U) forms.

The raw (-l) records are nbcli/model/policy_raw.py; the labelled forms of a schedule are
nbcli/model/schedule_text.py. The commands get policies and settings from bpdbm on the master
(`MasterDb`: the one named by -M, else the first SERVER of bp.toml), never from the disk.

The labels, their order and the columns of the values follow
NetBackup's output as runbooks and parsers read it (reference/netbackup-cli.md §1.7): `-U` is
the form of the §1.7 sample (values at column 23), `bppllist -L` puts labels at column 0 and
values at column 19 (scripts cut `SubString(19)`), `bpplinfo -L` puts values at column 24 and
adds the policy type's number.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from nbcli import kinds, timefmt
from nbcli.cli import NbCommand, load_cfg
from nbcli.config import HostConfig
from nbcli.model import policy_raw, schedule_text
from nbcli.model.policy import Client, Policy, check_name, from_toml
from nbcli.net import client as net
from nbcli.status import INVALID_PARAMETER, NOT_MASTER, NbuError

RULE = "-" * 60
NONE_DEFINED = "(none defined)"
ANY_STU = "(specific storage unit not required)"

# --- command line -------------------------------------------------------------------------


class PolicyCommand(NbCommand):
    """A NetBackup command whose list options take several values: `-weekday Mon 1 Fri 2`.

    `-h` is not a help option here: `-hardware` must not be read as `-h ardware`.
    """

    def __init__(self, *args: Any, list_options: dict[str, int] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {})["help_option_names"] = ["-help", "--help"]
        super().__init__(*args, **kwargs)
        self.list_options = list_options or {}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_lists(args, self.list_options))


def expand_lists(args: list[str], spec: dict[str, int]) -> list[str]:
    """`-opt a b c d` -> `-opt a b -opt c d` for each option of `spec` (option -> arity)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        n = spec.get(arg, 0)
        out.append(arg)
        i += 1
        if not n:
            continue
        out += args[i:i + n]
        i += n
        while i + n <= len(args) and not any(a.startswith("-") for a in args[i:i + n]):
            out += [arg, *args[i:i + n]]
            i += n
    return out


def policy_command(name: str, synopsis: str,
                   list_options: dict[str, int] | None = None) -> Callable[..., PolicyCommand]:
    """Declare a policy command (see PolicyCommand)."""
    return click.command(name=name, cls=PolicyCommand, synopsis=synopsis,
                         list_options=list_options)


def form_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """-L / -l / -U, one destination `form` ("L", "l", "U" or None)."""
    for flag, text in (("-U", "User form: the labelled listing."),
                       ("-l", "Raw form: one record per line, for scripts."),
                       ("-L", "Long form: every label.")):
        f = click.option(flag, "form", flag_value=flag[1], help=text)(f)
    return click.option("-v", "verbose", is_flag=True, hidden=True)(f)


def split_masters(text: str | None) -> list[str | None]:
    """`-M a,b,c` -> ["a", "b", "c"]; no -M -> [None] (the first SERVER). Status 20 for an
    empty name in the list (`-M a,,b`)."""
    if text is None:
        return [None]
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise NbuError(INVALID_PARAMETER, f"-M takes master server names separated by commas, "
                                          f"not {text!r}")
    return list(names)


def master_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`-M master[,master...]`: the master servers whose bpdbm to ask (destination `master`).

    As NetBackup's: with a list, the command runs once for each master in turn, and stops at
    the first that fails (its status is the command's)."""
    @functools.wraps(f)
    def each_master(*args: Any, master: str | None = None, **kwargs: Any) -> Any:
        status: Any = 0
        for name in split_masters(master):
            status = f(*args, master=name, **kwargs)
            if status:
                return status
        return status

    return click.option("-M", "master", metavar="MASTER[,MASTER...]",
                        help="The master servers to ask, in turn (default: the first "
                             "SERVER).")(each_master)


IGNORED = "ignored_"  # destination prefix of the options that change nothing in nbcli


def ignored_options(*spec: tuple[str, click.ParamType[Any] | None]) -> Callable[..., Any]:
    """Options of NetBackup's synopsis for features nbcli does not have: accepted, their
    values checked (`type`; None = a flag without value), then without effect (each man page
    lists them). The callback gets them as `ignored_<name>`; `pop_ignored` takes them out."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for flag, kind in reversed(spec):
            dest = IGNORED + flag.lstrip("-")
            if kind is None:
                f = click.option(flag, dest, is_flag=True, hidden=True)(f)
            else:
                f = click.option(flag, dest, type=kind, hidden=True)(f)
        return f
    return decorate


def pop_ignored(opts: dict[str, Any]) -> dict[str, Any]:
    """The ignored options given (see ignored_options), removed from `opts`."""
    found = {k[len(IGNORED):]: opts.pop(k) for k in [k for k in opts if k.startswith(IGNORED)]}
    return {k: v for k, v in found.items() if v not in (None, False)}


class NameType(click.ParamType[str]):
    """A value that must be a NetBackup name (status 20, 225 when too long)."""

    name = "name"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return check_name(str(value), self.what)


class TextType(click.ParamType[str]):
    """Free text of one line: printable, at most `limit` characters (status 20)."""

    name = "text"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if len(text) > self.limit or not text.isprintable():
            raise NbuError(INVALID_PARAMETER, f"{param.opts[0] if param else 'value'}: one line "
                                              f"of at most {self.limit} printable characters")
        return text


FLAG01 = click.IntRange(0, 1)


def reason_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`-reason "string"`: why the change is made; nbcli writes it to the admin log."""
    return click.option("-reason", "reason", metavar="TEXT", default=None,
                        help="Why: written to the admin log with the change.")(f)


def generation_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`-generation N`: refuse the change (status 20) unless the policy is still at generation N,
    the number `bppllist -L` shows as "Generation:" and each change adds one to."""
    return click.option("-generation", "generation", type=click.IntRange(0, 2**31 - 1),
                        metavar="N", default=None,
                        help="Refuse the change unless the policy's generation is N.")(f)


def check_reason(text: str | None) -> str:
    """-reason: one line of printable text, at most 512 characters (status 20)."""
    if text is None:
        return ""
    if len(text) > 512 or not text.isprintable():
        raise NbuError(INVALID_PARAMETER, "-reason is one line of at most 512 printable "
                                          "characters")
    return text


class MasterDb:
    """bpdbm on the master a command works on: `db("policy_names")` is one request."""

    def __init__(self, cfg: HostConfig, master: str | None) -> None:
        host = (cfg.master if master is None else master).strip()
        if not host or any(ch.isspace() or ch == "," for ch in host):
            raise NbuError(INVALID_PARAMETER, f"-M takes one master server name, not {master!r}")
        # This host itself, and no master: there is nobody to ask.
        if cfg.is_local(host) and "master" not in cfg.roles:
            raise NbuError(NOT_MASTER, f"{cfg.client_name} is not the master server")
        self.cfg = cfg
        self.host = host
        # The master's retention periods (bpretlevel), as policy_get last answered them.
        self.periods: dict[int, int | None] | None = None

    def __call__(self, op: str, **fields: Any) -> dict[str, Any]:
        return net.call(self.cfg, self.host, "bpdbm", op, **fields)

    def policy(self, name: str) -> Policy:
        """One policy (230 when there is none)."""
        return self._policies(policy=name)[0]

    def policies(self) -> list[Policy]:
        """Every policy, by name."""
        return self._policies()

    def _policies(self, **fields: Any) -> list[Policy]:
        reply = self("policy_get", **fields)
        if "levels" in reply:
            self.periods = {level: seconds for level, seconds in reply["levels"]}
        return [from_toml(p["name"], p["toml"]) for p in reply["policies"]]


def policy_type(text: str) -> int:
    """`-pt`: a policy type by name (any case) or number; status 20 for another."""
    if text.isdigit() and int(text) in kinds.POLICY_TYPES:
        return int(text)
    try:
        return kinds.POLICY_CODES[text.lower()]
    except KeyError:
        raise NbuError(INVALID_PARAMETER, f"unknown policy type {text!r}") from None


def master_db(root: str | None, master: str | None) -> MasterDb:
    """The master's bpdbm for a command run with `--root root` and `-M master`."""
    return MasterDb(load_cfg(root), master)


def jsonable(value: Any) -> Any:
    """Option values as a request carries them: click's tuples become lists."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    return value


def given_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The options the command line gave (not None, not empty, not an unset flag)."""
    return {k: jsonable(v) for k, v in opts.items() if v not in (None, (), False)}


# --- policy attributes ----------------------------------------------------------------------


def _yes(flag: bool | int) -> str:
    return "yes" if flag else "no"


def _tir(level: int) -> str:
    return {0: "no", 1: "yes", 2: "yes, with move detection"}.get(level, str(level))


def _max_jobs(p: Policy) -> str:
    return str(p.max_jobs) if p.max_jobs else "Unlimited"


def _type_name(p: Policy) -> str:
    return kinds.POLICY_TYPES.get(p.policy_type, str(p.policy_type))


def header(p: Policy, blank_after: bool) -> list[str]:
    return [RULE, "", f"Policy Name:       {p.name}"] + ([""] if blank_after else [])


def attributes_u(p: Policy) -> list[str]:
    """The attribute block of `bppllist -U` / `bpplinfo -U`."""
    pairs = [
        ("Policy Type", _type_name(p)), ("Active", _yes(p.active)),
        ("Effective date", timefmt.fmt(p.effective_date)),
        ("Client Compress", _yes(p.compress)), ("Follow NFS Mounts", _yes(p.follow_nfs)),
        ("Cross Mount Points", _yes(p.cross_mount_points)),
        ("Collect TIR info", _tir(p.collect_tir)),
        ("Block Incremental", _yes(p.block_incremental)),
        ("Mult. Data Streams", _yes(p.multiple_streams)), ("Client Encrypt", _yes(p.encrypt)),
        ("Checkpoint", _yes(p.checkpoint)), ("Policy Priority", str(p.priority)),
        ("Max Jobs/Policy", _max_jobs(p)), ("Disaster Recovery", "0"),
        ("Collect BMR info", "no"), ("Residence", p.residence or ANY_STU),
        ("Volume Pool", p.volume_pool), ("Server Group", p.server_group or "*NONE*"),
        ("Keyword", p.keyword or "(none specified)")]
    return [f"  {k + ':':<21}{v}" for k, v in pairs] + [
        f"  Data Classification:       {p.data_classification or '-'}",
        "  Residence is Storage Lifecycle Policy:    no",
        "  Application Discovery:      no",
        "  Discovery Lifetime:      0 seconds",
        f"  ASC Application and attributes: {NONE_DEFINED}",
        "",
        "  Granular Restore Info:  no",
        "  Ignore Client Direct:  no",
        "  Use Accelerator:  no"]


def _at19(label: str, value: object) -> str:
    return f"{label + ':':<18} {value}"


def attributes_l(p: Policy) -> list[str]:
    """The attribute lines of `bppllist -L` (labels at column 0, values at column 19)."""
    pairs: list[tuple[str, object]] = [
        ("Options", "0x0"), ("template", "FALSE"), ("audit_reason", "?"), ("Names", "(none)"),
        ("Policy Type", f"{_type_name(p)} ({p.policy_type})"), ("Active", _yes(p.active)),
        ("Effective date", timefmt.fmt(p.effective_date)), ("File Restore Raw", "no"),
        ("Mult. Data Stream", _yes(p.multiple_streams)), ("Client Encrypt", _yes(p.encrypt)),
        ("Checkpoint", _yes(p.checkpoint)), ("Policy Priority", p.priority),
        ("Max Jobs/Policy", _max_jobs(p)), ("Disaster Recovery", 0),
        ("Collect BMR Info", "no"), ("Keyword", p.keyword or "(none specified)"),
        ("Data Classification", p.data_classification or "-"),
        ("Residence is Storage Lifecycle Policy", "no"), ("Client Compress", _yes(p.compress)),
        ("Collect TIR info", _tir(p.collect_tir)),
        ("Block Incremental", _yes(p.block_incremental)),
        ("Cross Mnt Points", _yes(p.cross_mount_points)),
        ("Follow NFS Mnts", _yes(p.follow_nfs)), ("Residence", p.residence or ANY_STU),
        ("Volume Pool", p.volume_pool), ("Server Group", p.server_group or "*NONE*"),
        ("Granular Restore Info", "no"), ("Ignore Client Direct", "no"),
        ("Use Accelerator", "no")]
    return [_at19(k, v) for k, v in pairs]


def bpplinfo_l(p: Policy) -> list[str]:
    """`bpplinfo <policy> -L`: values at column 24, the type with its number."""
    pairs: list[tuple[str, object]] = [
        ("Policy Name", p.name), ("Policy Type", f"{_type_name(p)} ({p.policy_type})"),
        ("Active", _yes(p.active)), ("Effective", timefmt.fmt(p.effective_date)),
        ("Follow NFS Mounts", _yes(p.follow_nfs)),
        ("Cross Mount Points", _yes(p.cross_mount_points)),
        ("Client Compress", _yes(p.compress)), ("Collect TIR info", _tir(p.collect_tir)),
        ("Policy Priority", p.priority), ("Ext. Security Info", "no"),
        ("File Restore Raw", "no"), ("Client Encrypt", _yes(p.encrypt)),
        ("Max Jobs/Policy", _max_jobs(p)), ("Mult. Data Streams", _yes(p.multiple_streams)),
        ("Block Level Incremental", _yes(p.block_incremental)),
        ("Perform Snapshot Backup", "no"), ("Disaster Recovery", 0),
        ("Collect BMR Info", "no"), ("Checkpoint Restart", _yes(p.checkpoint)),
        ("Checkpoint Interval", f"{p.checkpoint_interval} minutes"),
        ("Residence", p.residence or "-"), ("Volume Pool", p.volume_pool),
        ("Server Group", p.server_group or "*NONE*"),
        ("Data Classification", p.data_classification or "-"),
        ("Residence is storage lifecycle policy", "no"), ("Generation", p.generation)]
    if p.keyword:
        pairs.append(("Keyword", p.keyword))
    return [f"{k + ':':<23} {v}" for k, v in pairs]


# --- clients and backup selections ----------------------------------------------------------


def clients_u(clients: list[Client]) -> list[str]:
    if not clients:
        return [f"  Clients:\t{NONE_DEFINED}"]
    return [f"{'  HW/OS/Client:' if i == 0 else '':<17}{c.hardware:<13} {c.os:<13} {c.name}"
            for i, c in enumerate(clients)]


def client_l(c: Client) -> str:
    return f"Client/HW/OS/Pri/DMI/CIT:  {c.name} {c.hardware} {c.os} {c.priority} 0 0 0 ?"


def includes_u(includes: list[str]) -> list[str]:
    if not includes:
        return [f"  Include:\t{NONE_DEFINED}"]
    return [f"{'  Include:' if i == 0 else '':<12}{path}" for i, path in enumerate(includes)]


def include_l(path: str) -> str:
    return _at19("Include", path)


# --- whole policies -------------------------------------------------------------------------


def policy_u(p: Policy, periods: schedule_text.Periods | None = None) -> list[str]:
    """`bppllist <policy> -U`: the §1.7 sample's layout, with clients, includes, schedules."""
    out = header(p, blank_after=True) + attributes_u(p)
    out += [""] + clients_u(p.clients) + [""] + includes_u(p.includes)
    if not p.schedules:
        return out + ["", f"  Schedule:\t{NONE_DEFINED}"]
    for s in p.schedules:
        out += [""] + schedule_text.schedule_u(s, periods)
    return out


def policy_l(p: Policy, periods: schedule_text.Periods | None = None) -> list[str]:
    """`bppllist <policy> -L`: one label per line, ending with a blank line."""
    out = header(p, blank_after=False) + attributes_l(p)
    out += [client_l(c) for c in p.clients] + [include_l(i) for i in p.includes]
    for s in p.schedules:
        out += schedule_text.schedule_l(s, periods)
    return out + [""]


def policy_lines(p: Policy, form: str | None,
                 periods: schedule_text.Periods | None = None) -> list[str]:
    """A whole policy in `form` (None = raw, as `bppllist <policy>` prints it); labelled
    retention levels name the master's configured `periods`."""
    if form == "U":
        return policy_u(p, periods)
    if form == "L":
        return policy_l(p, periods)
    return policy_raw.policy_lines(p)


# --- schedule options (bpplsched -add, bpplschedrep) ----------------------------------------

# Options that take several values in one go; PolicyCommand repeats the flag for each group.
SCHEDULE_LISTS = {"-weekday": 2, "-delweekday": 2, "-dayomonth": 1, "-deldayomonth": 1,
                  "-incl": 1, "-excl": 1, "-delincl": 1, "-delexcl": 1,
                  "-xweekday": 2, "-xdayomonth": 1}

_SCHEDULE_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("-st", {"metavar": "TYPE", "help": "Schedule type: FULL, INCR, CINC, UBAK, UARC."}),
    ("-freq", {"metavar": "SECONDS", "help": "Frequency in seconds (604800 = weekly)."}),
    ("-mpxmax", {"metavar": "N", "help": "Maximum multiplexing, 1-32."}),
    ("-number_copies", {"metavar": "N", "help": "Number of copies, 1-10."}),
    ("-synthetic", {"metavar": "0|1", "help": "Synthetic backup."}),
    ("-rl", {"metavar": "LEVEL[,LEVEL]", "help": "Retention level (0-100), one per copy."}),
    ("-residence", {"metavar": "STU[,STU]", "help": "Storage unit per copy (*NULL*: policy's)."}),
    ("-pool", {"metavar": "POOL[,POOL]", "help": "Volume pool per copy (*NULL*: policy's)."}),
    ("-sg", {"metavar": "GROUP[,GROUP]", "help": "Share group per copy."}),
    ("-fail_on_error", {"metavar": "0|1[,0|1]", "help": "Fail the other copies, per copy."}),
    ("-cal", {"metavar": "0|1|2", "help": "0 frequency-based, 1 calendar-based, 2 calendar "
                                          "with retries after the run day."}),
    ("-incl", {"metavar": "mm/dd/yyyy", "multiple": True, "help": "Run on this date."}),
    ("-excl", {"metavar": "mm/dd/yyyy", "multiple": True, "help": "Never run on this date."}),
    ("-weekday", {"metavar": "DAY WEEK", "nargs": 2, "multiple": True,
                  "help": "Run on DAY of week WEEK of the month (1-5; 0 = every week)."}),
    ("-dayomonth", {"metavar": "1-31|l", "multiple": True,
                    "help": "Run on this day of the month (l = the last day)."}),
    ("-window", {"metavar": "START DURATION", "nargs": 2,
                 "help": "The start window of every day, in seconds after midnight."}),
]


def schedule_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The schedule attributes both commands take (checked by nbcli.model.schedules)."""
    for flag, attrs in reversed(_SCHEDULE_OPTIONS):
        f = click.option(flag, flag[1:], **attrs)(f)
    return f
