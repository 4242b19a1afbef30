"""Renderers for catalog output: bpimagelist's -l / -U / -L / -idonly forms and bplist's lines.

Place: used by nbcli/commands/bpimagelist.py, bpimmedia.py (a subset of the -l fields) and
bplist.py; it turns the header dicts and file columns bpdbm sends (docs/protocol.md "Catalog")
into NetBackup's text. It must not import nbcli.catalog: commands know the catalog only through
bpdbm's replies.

Field orders follow reference/netbackup-cli.md: §1.5 for IMAGE/HISTO/FRAG lines (runbooks use
awk positions: $2 client, $6 backup id, $11 schedule label, $14 backup time, $15 elapsed,
$16 expiration, $19 kilobytes) and the -U table; §1.4 for bplist -l
(`mode owner group size Mon DD HH:MM path`, the date always without a year, as scripts expect).
"""

from __future__ import annotations

import stat
import sys
import time
from collections.abc import Iterable
from typing import Any

import nbcli
from nbcli import timefmt
from nbcli.kinds import (
    DENSITIES,
    INFINITY,
    MEDIA_TYPE_DISK,
    MEDIA_TYPE_TAPE,
    POLICY_TYPES,
    SCHED_TYPES,
    SCHED_WORDS,
    default_period,
)
from nbcli.model.retention import period_text
from nbcli.render import raw_field

Header = dict[str, Any]
NULL = "*NULL*"
SW_VERSION = f"nbcli_{nbcli.__version__}"
U_HEADER = ["Backed Up         Expires       Files       KB  C  Sched Type   Policy",
            "----------------  ---------- -------- --------  -  ------------ ------------"]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FILE_TYPES = {"5": stat.S_IFDIR, "2": stat.S_IFLNK, "3": stat.S_IFCHR, "4": stat.S_IFBLK,
               "6": stat.S_IFIFO}


def image_fields(h: Header) -> list[Any]:
    """The fields of bpimagelist -l's IMAGE line, in order (reference §1.5); bpimmedia -l
    prints some of them."""
    kb = h["kbytes"]
    return [h["client"], 0, 0, h["version"], h["backupid"], h["policy"], h["policy_type"],
            NULL, "root", h["sched_label"], h["sched_type"], h["retention_level"],
            h["backup_time"], h["elapsed"], h["expiration"], 0, 0, kb, h["num_files"], 1,
            len(h["fragments"]), 0, h["files_file"], SW_VERSION, NULL, 0, 1, 0, h["tir"], 0,
            h["keyword"], 0, 0, 0, 0, 1, 0, 0, NULL, NULL, 0, 0, NULL, h["jobid"], 0, NULL,
            h["ff_size"], 0, 0, NULL, NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, kb,
            h.get("dte_mode", 0), 0, 0, 0, NULL]  # $63: image_dteMode (bpimage -image_dtemode)


def image_line(h: Header) -> str:
    """The IMAGE line of bpimagelist -l (field order of reference §1.5)."""
    return "IMAGE " + " ".join(raw_field(f) for f in image_fields(h))


def frag_place(h: Header, f: dict[str, Any]) -> tuple[int, int, int, str, int, int]:
    """(media_type, density, file_num, id, block_size, offset) of a FRAG line: a disk
    fragment's path and image offset; a tape fragment's media id, tape file number (of its
    backup header), record size and logical block, as NetBackup lists them (reference §1.5)."""
    if f.get("media_id"):
        return (MEDIA_TYPE_TAPE, int(f.get("density", 0)), int(f["file_num"]),
                str(f["media_id"]), int(f["block_size"]), int(f["block_offset"]))
    return MEDIA_TYPE_DISK, 0, 0, str(f["path"]), int(h["block_size"]), int(f["offset"])


def frag_fields(h: Header, f: dict[str, Any]) -> list[Any]:
    """The fields of bpimagelist -l's FRAG line for copy 1 of fragment `f`, in order
    (reference §1.5); bpimmedia -l prints some of them."""
    mtype, density, file_num, ident, block_size, offset = frag_place(h, f)
    # copy_dtemode and hierarchical_dtemode ($31, $32 after "FRAG"): copy 1 is the backup's
    # own copy, made with no parent, so both are the image's DTE mode (as it stands now:
    # bpimage -update -image_dtemode changes all three).
    dte_mode = h.get("dte_mode", 0)
    return [1, f["num"], f["bytes"] // 1024, f["bytes"] % 1024, mtype, density, file_num,
            ident, f["host"], block_size, offset, h["backup_time"], 0, 0, NULL,
            h["expiration"], 0, h["retention_level"], 0, 0, 0, 0, 0, h["backup_time"], 1, 0,
            NULL, NULL, 0, 0, dte_mode, dte_mode, 0, 0, 0]


def frag_line(h: Header, f: dict[str, Any]) -> str:
    """A FRAG line: copy 1 of fragment `f`."""
    return "FRAG " + " ".join(raw_field(v) for v in frag_fields(h, f))


def raw_lines(h: Header) -> list[str]:
    """-l: IMAGE, HISTO (always -1s), then one FRAG per fragment."""
    return [image_line(h), "HISTO" + " -1" * 10] + [frag_line(h, f) for f in h["fragments"]]


def expires(epoch: int) -> str:
    return "INFINITY" if epoch >= INFINITY else timefmt.fmt_date(epoch)


def table_lines(images: list[Header]) -> list[str]:
    """-U: NetBackup's header and one row per image."""
    rows = [f"{timefmt.fmt(h['backup_time'], seconds=False):<16}  {expires(h['expiration']):<10}"
            f" {h['num_files']:>8} {h['kbytes']:>8}  N  "
            f"{SCHED_WORDS.get(h['sched_type'], '?')[:12]:<12} {h['policy']}" for h in images]
    return U_HEADER + rows


def ctime(epoch: int) -> str:
    return time.ctime(epoch) if epoch < INFINITY else "INFINITY"


def retention_words(h: Header) -> str:
    """The image's retention period as the master configures its level now (bpretlevel), in
    NetBackup's words; NetBackup's default period when bpdbm's reply does not carry it."""
    level = h["retention_level"]
    return period_text(h["retention_period"] if "retention_period" in h
                       else default_period(level))


def long_lines(h: Header) -> list[str]:
    """-L: the labelled long form of one image."""
    none = "(none specified)"
    pairs = [
        ("Client", h["client"]), ("Backup ID", h["backupid"]), ("Policy", h["policy"]),
        ("Policy Type", f"{POLICY_TYPES.get(h['policy_type'], '?')} ({h['policy_type']})"),
        ("Proxy Client", none), ("Creator", "root"), ("Name1", none),
        ("Sched Label", h["sched_label"] or none),
        ("Schedule Type", f"{SCHED_TYPES.get(h['sched_type'], '?')} ({h['sched_type']})"),
        ("Retention Level", f"{retention_words(h)} "
                            f"({h['retention_level']})"),
        ("Backup Time", f"{ctime(h['backup_time'])} ({h['backup_time']})"),
        ("Elapsed Time", f"{h['elapsed']} second(s)"),
        ("Expiration Time", f"{ctime(h['expiration'])} ({h['expiration']})"),
        ("Compressed", "no"), ("Client Encrypted", "no"), ("Kilobytes", h["kbytes"]),
        ("Number of Files", h["num_files"]), ("Number of Copies", 1),
        ("Number of Fragments", len(h["fragments"])), ("Histogram", " ".join(["-1"] * 10)),
        ("DB Compressed", "no"), ("Files File Name", h["files_file"]),
        ("Files File size", h["ff_size"]), ("SW Version", SW_VERSION),
        ("TIR Info", h["tir"]), ("Keyword", h["keyword"] or none), ("Job ID", h["jobid"]),
        ("Storage Unit", h["stu"] or none), ("Media Server", h["media_server"] or none),
        ("Checksum", h["checksum"] or none), ("Block Size", h["block_size"]),
        ("Stream Bytes", h["stream_bytes"]), ("Primary Copy", 1), ("Image Type", "0 (Regular)"),
    ]
    lines = [f"{label + ':':<18} {value}" for label, value in pairs]
    for f in h["fragments"]:
        mtype, density, file_num, ident, block_size, offset = frag_place(h, f)
        place: tuple[tuple[str, Any], ...] = (("Media Type", "Disk (0)"),)
        if mtype == MEDIA_TYPE_TAPE:
            place = (("Media Type", f"Removable Media ({mtype})"),
                     ("Density", f"{DENSITIES.get(density, '?')} ({density})"),
                     ("File Num", file_num))
        lines += ["", "Copy number:       1"] + [f" {label + ':':<17} {value}" for label, value in (
            ("Fragment", f["num"]), ("Kilobytes", f["bytes"] // 1024),
            ("Remainder", f["bytes"] % 1024), *place, ("ID", ident),
            ("Host", f["host"]), ("Block Size", block_size), ("Offset", offset),
            ("Media Date", f"{ctime(h['backup_time'])} ({h['backup_time']})"),
            ("Expiration Time", f"{ctime(h['expiration'])} ({h['expiration']})"))]
    return lines + [""]


def idonly_line(h: Header) -> str:
    return f"Time: {ctime(h['backup_time'])}  ID: {h['backupid']}  " \
           f"{SCHED_TYPES.get(h['sched_type'], '?')}"


# --- bplist ---------------------------------------------------------------------------------

def mode_string(kind: str, mode: int) -> str:
    """ls's `drwxr-xr-x` from a tar type character and permission bits."""
    return stat.filemode(_FILE_TYPES.get(kind, stat.S_IFREG) | mode)


def flag(kind: str, mode: int) -> str:
    """-F's mark: / for folders, @ for symbolic links, * for executable files."""
    if kind == "5":
        return "/"
    if kind == "2":
        return "@"
    return "*" if kind in "01" and mode & 0o111 else ""


class DateCache:
    """`Mon DD HH:MM` in local time, with English month names whatever the locale."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        minute = epoch // 60
        text = self._minutes.get(minute)
        if text is None:
            t = time.localtime(minute * 60)
            text = self._minutes[minute] = f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:>2} " \
                                           f"{t.tm_hour:02d}:{t.tm_min:02d}"
        return text


def plain_lines(cols: dict[str, list[Any]], flags: bool) -> list[str]:
    if not flags:
        return cols["path"]
    rows = zip(cols["path"], cols["type"], cols["mode"], strict=True)
    return [p + flag(k, m) for p, k, m in rows]


def long_file_lines(cols: dict[str, list[Any]], flags: bool, dates: DateCache,
                    backup_time: bool) -> list[str]:
    """bplist -l: `mode owner group size Mon DD HH:MM path`."""
    times = cols["backup_time"] if backup_time else [ns // 1_000_000_000
                                                     for ns in cols["mtime_ns"]]
    rows = zip(cols["path"], cols["type"], cols["mode"], cols["uname"], cols["gname"],
               cols["size"], times, strict=True)
    return [f"{mode_string(k, m)} {u:<9} {g:<9} {s:>12} {dates(t)} "
            f"{p}{flag(k, m) if flags else ''}" for p, k, m, u, g, s, t in rows]


def write_lines(lines: Iterable[str]) -> None:
    """Lines to stdout in one write, file names' undecodable bytes given back as they were."""
    text = "\n".join(lines)
    if text:
        sys.stdout.buffer.write((text + "\n").encode("utf-8", "surrogateescape"))
