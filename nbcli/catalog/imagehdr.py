"""Image header files: NetBackup's `KEY value` text form of one backup image, and its names.

Place: the lowest layer of the image catalog. bpdbm (nbcli/catalog/images.py) writes and reads
headers through this module; nothing here touches the network, and commands never import it
(they get header dicts from bpdbm and render them with nbcli/commands/imagefmt.py).

Layout (reference/netbackup-cli.md §4.5):

    db/images/<client>/<ctime // 10**6 * 10**6, 10 digits>/<policy>_<ctime>_<SCHEDTYPE>

A header is one `KEY value` line per field, in the order of FIELDS, then one line per fragment,
in stream order: a disk fragment's `FRAGMENT <num> <image offset> <bytes> <host> <path>` (the
path last: it may hold spaces), a tape fragment's

    TAPE_FRAGMENT <num> <image offset> <bytes> <host> <media_id> <file_num> <block_offset>
                  <block_size> <density> <path>

(NetBackup's FRAG id, file_num, offset and block_size: the medium, the tape file of the
fragment's backup header, the logical block of its first data record, the bytes of a record;
density as NetBackup's code, 6 = hcart; the path is the backend's locator). A fragment dict has
the tape keys only for a tape fragment, so disk headers and headers written before tape read
and write as they always did. Values are escaped (`\\n`, `\\\\`) so that one field is always
one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nbcli.kinds import SCHED_TYPES
from nbcli.status import DATABASE_ERROR, INVALID_PARAMETER, NbuError

VERSION = 11  # the image version NetBackup 8+ writes in IMAGE lines and headers
CTIME_DIR = 1_000_000
SUFFIX = ".inprogress"

Header = dict[str, Any]

# (file key, header dict key, type): the header's lines in order.
FIELDS: list[tuple[str, str, type]] = [
    ("VERSION", "version", int),
    ("BACKUP_ID", "backupid", str),
    ("CLIENT_NAME", "client", str),
    ("CLASS_NAME", "policy", str),
    ("CLASS_TYPE", "policy_type", int),
    ("SCHED_LABEL", "sched_label", str),
    ("SCHED_TYPE", "sched_type", int),
    ("RETENTION_LEVEL", "retention_level", int),
    ("BACKUP_TIME", "backup_time", int),
    ("ELAPSED_TIME", "elapsed", int),
    ("EXPIRATION", "expiration", int),
    ("KBYTES", "kbytes", int),
    ("NUM_FILES", "num_files", int),
    ("FILES_FILE_NAME", "files_file", str),
    ("FILES_FILE_SIZE", "ff_size", int),
    ("JOB_ID", "jobid", int),
    ("TIR_INFO", "tir", int),
    ("KEYWORD", "keyword", str),
    ("STORAGE_UNIT", "stu", str),
    ("MEDIA_SERVER", "media_server", str),
    ("CHECKSUM", "checksum", str),
    ("BLOCK_SIZE", "block_size", int),
    ("STREAM_BYTES", "stream_bytes", int),
    # The image's DTE mode (NetBackup's "Image DTE mode"): 1 when its data crossed to the
    # media server encrypted, 0 when not (and in headers written before it was kept). A restore
    # of an image whose mode is 1 is encrypted whatever the global mode says (nbcli.net.dte);
    # `bpimage -update -backupid ID -image_dtemode On|Off` changes it. The line's name is ours.
    ("IMAGE_DTE_MODE", "dte_mode", int),
]
FRAGMENT_KEYS = ("num", "offset", "bytes", "host", "path")
# A tape fragment's own keys (a fragment dict with a media_id is on tape), written between the
# host and the path of its TAPE_FRAGMENT line.
TAPE_KEYS = ("media_id", "file_num", "block_offset", "block_size", "density")
_TAPE_TYPES: dict[str, type] = {"media_id": str, "file_num": int, "block_offset": int,
                                "block_size": int, "density": int}

# Names that go into a path component: no separators, no dot names, nothing invisible.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")


def check_name(kind: str, value: object) -> str:
    """A client or policy name fit for a file name; status 20 otherwise."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or len(value) > 255:
        raise NbuError(INVALID_PARAMETER, f"invalid {kind} name {value!r}")
    return value


def backupid_of(client: str, ctime: int) -> str:
    return f"{client}_{ctime}"


def split_backupid(backupid: object) -> tuple[str, int]:
    """`<client>_<ctime>` -> (client, ctime); status 20 when it is not one."""
    if isinstance(backupid, str):
        client, sep, ctime = backupid.rpartition("_")
        if sep and ctime.isdigit() and _SAFE_NAME.match(client) and len(client) <= 255:
            return client, int(ctime)
    raise NbuError(INVALID_PARAMETER, f"invalid backup id {backupid!r} (expected <client>_<ctime>)")


def image_dir(images: Path, client: str, ctime: int) -> Path:
    return images / client / f"{ctime // CTIME_DIR * CTIME_DIR:010d}"


def header_name(policy: str, ctime: int, sched_type: int) -> str:
    return f"{policy}_{ctime}_{SCHED_TYPES[sched_type]}"


def parse_name(name: str) -> tuple[str, int, str] | None:
    """`<policy>_<ctime>_<SCHEDTYPE>` -> (policy, ctime, schedtype); None for other files."""
    policy, ctime, sched = (name.rsplit("_", 2) + ["", ""])[:3]
    if not policy or not ctime.isdigit() or sched not in SCHED_TYPES.values():
        return None
    return policy, int(ctime), sched


def ctime_of_file(name: str) -> int | None:
    """The backup time in the name of any of an image's files (header, .f, in progress)."""
    base = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    base = base[:-2] if base.endswith(".f") else base
    parsed = None if name.startswith(".") else parse_name(base)
    return parsed[1] if parsed else None


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def format_header(h: Header) -> str:
    """The header file's text."""
    lines = [f"{key} {_escape(h.get(name, '' if kind is str else 0))}"
             for key, name, kind in FIELDS]
    lines += [fragment_line(f) for f in h.get("fragments", [])]
    return "\n".join(lines) + "\n"


def is_tape(f: dict[str, Any]) -> bool:
    """Whether fragment dict `f` is on a tape (it names its medium)."""
    return bool(f.get("media_id"))


def fragment_line(f: dict[str, Any]) -> str:
    if not is_tape(f):
        return "FRAGMENT " + " ".join(_escape(f[k]) for k in FRAGMENT_KEYS)
    keys = (*FRAGMENT_KEYS[:4], *TAPE_KEYS, "path")
    return "TAPE_FRAGMENT " + " ".join(_escape(f.get(k, 0)) for k in keys)


def _fragment(key: str, value: str) -> dict[str, Any]:
    """A FRAGMENT or TAPE_FRAGMENT line's value -> fragment dict (ValueError if damaged)."""
    tape = key == "TAPE_FRAGMENT"
    parts = value.split(" ", 9 if tape else 4)
    num, offset, size, host = parts[:4]
    f: dict[str, Any] = {"num": int(num), "offset": int(offset), "bytes": int(size),
                         "host": _unescape(host), "path": _unescape(parts[-1])}
    if tape:
        if len(parts) != 10 or not parts[4]:
            raise ValueError(value)
        f.update({k: _TAPE_TYPES[k](_unescape(v)) for k, v in zip(TAPE_KEYS, parts[4:9])})
    elif len(parts) != 5:
        raise ValueError(value)
    return f


def parse_header(text: str, where: str = "header") -> Header:
    """A header file's text -> header dict; status 220 when it is damaged."""
    kinds = {key: (name, kind) for key, name, kind in FIELDS}
    h: Header = {name: ("" if kind is str else 0) for _, name, kind in FIELDS}
    h["fragments"] = []
    try:
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key in ("FRAGMENT", "TAPE_FRAGMENT"):
                h["fragments"].append(_fragment(key, value))
            elif key in kinds:
                name, kind = kinds[key]
                h[name] = kind(_unescape(value))
    except ValueError as e:
        raise NbuError(DATABASE_ERROR, f"{where}: damaged line {line!r}") from e
    if not h["backupid"] or not h["client"]:
        raise NbuError(DATABASE_ERROR, f"{where}: not an image header")
    return h
