"""bpmedialist's reports and available_media's listing, from nbemm's media records.

bpmedialist lists the media NetBackup has assigned (or frozen), per media server:

  -mlist -U (the default): `Server Host = H`, a blank line, a 4-line header, then 3 lines and
    a blank one a volume (reference netbackup-cli.md §1.9, a verbatim 10.x sample):
        EMR162   9     17   03/12/2026 16:29  03/14/2026 15:56  hcart3  9207800736     0
                       17   INFINITY              N/A         FULL
                   0
    id, retention level, images, allocated, last written, density, kbytes, restores; valid
    images, expiration, last read (N/A: never), the status words; images on hold.
  -mlist -l: one line a volume, blank-separated; field 15 (index 14) is the status bits
    (`$f[14] & 8` = FULL, as tape scripts test).
  -mlist -L: `key = value` lines, one block a volume, as NBU::Media parses them
    (`media_id = X, partner_id ...`, `density = hcart (6)`, `allocated = DATE (EPOCH)`, ...,
    `status = 0xN, ...`), a blank line after each.
  -summary [-brief]: counts of active and non-active media, and (without -brief) one line a
    volume that starts with its id; a non-active one carries its state in parentheses
    (`(FROZEN)`, which scripts grep), an active one `expires DATE`.
  -mheader: `media id = X, allocated DATE, retention level = N`.

Nothing at all is printed when there are no media (a verbatim appliance sample).

available_media (NetBackup's goodies script): every volume, grouped by volume pool, a
`<pool> pool` line opening each group: id, media type, robot type, robot #, slot, side,
retention level, kilobytes, status word (AVAILABLE ACTIVE FULL FROZEN SUSPENDED IMPORTED).

Place: pure formatting for bpmedialist and available_media; imports mediacodes only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from nbcli.commands import mediacodes as codes

INFINITY = 2147483647
RULE = "-" * 80

MLIST_HEADER = (
    " id     rl  images   allocated        last updated      density  kbytes restores",
    "           vimages   expiration       last read         <------- STATUS ------->",
    "           On Hold",
    RULE,
)


def _date(epoch: Any) -> str:
    return time.strftime("%m/%d/%Y %H:%M", time.localtime(int(epoch)))


def expiration_text(epoch: Any) -> str:
    if not epoch:
        return "N/A"
    return "INFINITY" if int(epoch) >= INFINITY else _date(epoch)


def listed(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The media bpmedialist reports: assigned ones, and any with a state bit set."""
    return [r for r in records if r.get("assigned") or int(r.get("state") or 0)]


def active(rec: dict[str, Any]) -> bool:
    """ACTIVE: assigned and none of FULL, FROZEN, SUSPENDED (next-areas.md §1.3)."""
    state = int(rec.get("state") or 0)
    return bool(rec.get("assigned")) and not state & (codes.FULL | codes.FROZEN
                                                      | codes.SUSPENDED)


def by_server(records: Iterable[dict[str, Any]], default: str) -> dict[str, list[dict[str, Any]]]:
    """Media per media server (the robot's host; `default` for media outside a robot), in
    media id order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in sorted(records, key=lambda r: str(r["media_id"])):
        out.setdefault(str(rec.get("host") or default), []).append(rec)
    return out


# --- -mlist ---------------------------------------------------------------------------------

def user_block(rec: dict[str, Any]) -> list[str]:
    """The three -U lines of one volume and the blank line after them."""
    rl = rec.get("rl")
    rl_text = str(rl) if isinstance(rl, int) and rl >= 0 else "-"
    allocated = _date(rec["assigned"]) if rec.get("assigned") else "N/A".ljust(16)
    written = _date(rec["last_written"]) if rec.get("last_written") else "N/A".ljust(16)
    first = (f"{rec['media_id']:<6}{rl_text:>4}{int(rec.get('images') or 0):>7}   "
             f"{allocated:<16}  {written:<16}  {codes.density(rec):<6}"
             f"{int(rec.get('kbytes') or 0):>12}{int(rec.get('restores') or 0):>6}")
    last_read = (f"{_date(rec['last_read'])}  " if rec.get("last_read")
                 else "    N/A         ")
    words = " ".join(codes.state_words(int(rec.get("state") or 0)))
    second = (f"{'':10}{int(rec.get('vimages') or 0):>7}   "
              f"{expiration_text(rec.get('expiration')):<16}  {last_read}{words}")
    return [first, second.rstrip(), f"{'':11}0", ""]


def user_report(server: str, records: list[dict[str, Any]]) -> list[str]:
    out = [f"Server Host = {server}", "", *MLIST_HEADER]
    for rec in records:
        out += user_block(rec)
    return out


def raw_line(rec: dict[str, Any]) -> str:
    """-l: media_id partner version density allocated last_written expiration last_read
    kbytes nimages vimages retention_level volume_pool resources status hsize ssize l_offset
    reserved psize reserved num_restores (times as epochs, density and pool as numbers)."""
    rl = rec.get("rl")
    fields: list[Any] = [
        rec["media_id"], "-", 50, codes.density_code(codes.density(rec)),
        int(rec.get("assigned") or 0), int(rec.get("last_written") or 0),
        int(rec.get("expiration") or 0), int(rec.get("last_read") or 0),
        int(rec.get("kbytes") or 0), int(rec.get("images") or 0),
        int(rec.get("vimages") or 0), rl if isinstance(rl, int) and rl >= 0 else 0,
        int(rec.get("pool_number") or 0), 0, int(rec.get("state") or 0),
        1024, 0, 0, 0, 0, 0, int(rec.get("restores") or 0)]
    return " ".join(str(f) for f in fields)


def _dated(epoch: Any) -> str:
    return f"{_date(epoch)} ({int(epoch)})" if epoch else "N/A (0)"


def long_block(rec: dict[str, Any]) -> list[str]:
    """-L: one volume's `key = value` lines and the blank line after them."""
    rl = rec.get("rl")
    dens = codes.density(rec)
    state = int(rec.get("state") or 0)
    words = ", ".join(codes.state_words(state))
    return [
        f"media_id = {rec['media_id']}, partner_id = -, version = 50",
        f"density = {dens} ({codes.density_code(dens)})",
        f"allocated = {_dated(rec.get('assigned'))}",
        f"last_written = {_dated(rec.get('last_written'))}",
        f"expiration = {_expiry(rec.get('expiration'))}",
        f"last_read = {_dated(rec.get('last_read'))}",
        f"retention_level = {rl if isinstance(rl, int) and rl >= 0 else 0}, "
        f"num_restores = {int(rec.get('restores') or 0)}",
        f"kbytes = {int(rec.get('kbytes') or 0)}, nimages = {int(rec.get('images') or 0)}, "
        f"vimages = {int(rec.get('vimages') or 0)}",
        f"status = 0x{state:x}, {words or codes.status_word(rec)}",
        f"vmpool = {rec.get('pool') or 'None'} ({int(rec.get('pool_number') or 0)})",
        "",
    ]


def _expiry(epoch: Any) -> str:
    if epoch and int(epoch) >= INFINITY:
        return f"INFINITY ({INFINITY})"
    return _dated(epoch)


# --- -summary, -mheader ---------------------------------------------------------------------

def summary(server: str, records: list[dict[str, Any]], brief: bool) -> list[str]:
    """-summary: the counts, then (without -brief) the active and the non-active volumes."""
    act = [r for r in records if active(r)]
    rest = [r for r in records if not active(r)]
    counts = [(word, sum(1 for r in records if int(r.get("state") or 0) & bit))
              for bit, word in codes.STATE_WORDS]
    out = [f"Server Host = {server}", "",
           "                         SUMMARY STATISTICS", "",
           f"   Number of Active Media            : {len(act):>6}",
           f"   Number of Non-Active Media        : {len(rest):>6}", ""]
    out += [f"   Number of {word + ' Media':<24}: {n:>6}" for word, n in counts]
    if brief:
        return out + [""]
    out += ["", "   ACTIVE MEDIA", "   ------------"]
    out += [f"{r['media_id']:<8} expires {expiration_text(r.get('expiration'))}" for r in act]
    out += ["", "   NON-ACTIVE MEDIA", "   ----------------"]
    out += [f"{r['media_id']:<8} ({' '.join(codes.state_words(int(r.get('state') or 0)))})"
            + (f" expires {expiration_text(r.get('expiration'))}"
               if r.get("assigned") else "") for r in rest]
    return out + [""]


def mheader_line(media_id: str, allocated: int, rl: Any) -> str:
    """What bpmedialist -mheader reads from a tape's media header."""
    level = rl if isinstance(rl, int) and rl >= 0 else 0
    return f"media id = {media_id}, allocated {_date(allocated)}, retention level = {level}"


# --- available_media ------------------------------------------------------------------------

AVAILABLE_HEADER = (
    "media   media   robot   robot   robot   side/   ret    size     status",
    " ID     type    type      #     slot    face    level  KBytes",
    "-" * 76,
)


def available_row(rec: dict[str, Any]) -> str:
    in_robot = codes.in_robot(rec)
    slot = rec.get("slot")
    rl = rec.get("rl")
    assigned = bool(rec.get("assigned"))
    return (f"{rec['media_id']:<8}{codes.media_type(rec):<8}{codes.robot_type(rec):<8}"
            f"{str(rec['rn']) if in_robot else '-':>3}"
            f"{str(slot) if in_robot and isinstance(slot, int) and slot > 0 else '-':>9}"
            f"{'-':>6}"
            f"{str(rl) if assigned and isinstance(rl, int) and rl >= 0 else '-':>7}  "
            f"{str(int(rec.get('kbytes') or 0)) if assigned else '-':>10}"
            f"  {codes.status_word(rec)}")


def available(pools: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """available_media: the header, then one group a volume pool (in pool number order,
    pools with no volume left out), each opened by `<pool> pool`."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in sorted(records, key=lambda r: str(r["media_id"])):
        groups.setdefault(str(rec.get("pool") or "None"), []).append(rec)
    order = [str(p["name"]) for p in sorted(pools, key=lambda p: int(p.get("number") or 0))]
    order += sorted(name for name in groups if name not in order)
    out = list(AVAILABLE_HEADER)
    for name in order:
        if groups.get(name):
            out += ["", f"{name} pool", ""]
            out += [available_row(r) for r in groups[name]]
    return out
