"""What the Media Manager commands print (vmoprcmd, tpreq, robtest, vmupdate): pure functions
of the daemons' replies, unit tested by position.

vmoprcmd's DRIVE STATUS and drive path tables follow netbackup-cli.md §1.9 column by column;
the PENDING REQUESTS and ADDITIONAL DRIVE STATUS sections' headers are next-areas §1.6's
[I]. robtest's lines are tldtest's (element addresses are mtx's element numbers).

Place: commands' pure formatting; imports nothing of nbcli.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = Mapping[str, Any]

DRIVE_STATUS_HEADER = ("Drv Type   Control  User      Label  RecMID  ExtMID  Ready   "
                       "Wr.Enbl.  ReqId")
DRIVE_PATH_HEADER = f"{'Drv DrivePath':<58}Status  Label  Ready"
ADDITIONAL_HEADER = "Drv DriveName            Shared    Assigned        Comment"
PENDING_HEADER = "ReqId  User      RecMID  ExtMID  Density  Mode  Time      Drive"


def _yes(value: object) -> str:
    if value is None:
        return "-"
    return "Yes" if value else "No"


def _title(text: str, indent: int) -> list[str]:
    return ["", " " * indent + text, ""]


def drive_status_lines(drives: Sequence[Record]) -> list[str]:
    """`vmoprcmd -d ds`: a blank line, the centred title, a blank line, the table."""
    lines = _title("DRIVE STATUS", 34) + [DRIVE_STATUS_HEADER]
    for d in drives:
        line = (f"{d['index']:3d} {d['type']:<6} {d['control']:<8} {d['user']:<9} "
                f"{d['label']:^5}  {d['recmid']:<6}  {d['extmid']:<6}  "
                f"{_yes(d['ready']):^5}   {_yes(d['writable']):^5}     {d['reqid']:^5}")
        lines.append(line.rstrip())
    return lines + [""]


def drive_path_lines(drives: Sequence[Record]) -> list[str]:
    """`vmoprcmd -dp ds`: each drive's path, UP or DOWN, label and ready."""
    lines = _title("DRIVE STATUS", 34) + [DRIVE_PATH_HEADER]
    for d in drives:
        path = d.get("path") or "-"
        line = (f"{d['index']:3d} {path:<53} {d['state']:^6}  {d['label']:^5}  "
                f"{_yes(d['ready']):^5}")
        lines.append(line.rstrip())
    return lines + [""]


def pending_lines(pending: Sequence[Record]) -> list[str]:
    """PENDING REQUESTS: `<NONE>` centred, or one line per request still being served."""
    lines = _title("PENDING REQUESTS", 32)
    if not pending:
        return lines + [" " * 37 + "<NONE>", ""]
    lines.append(PENDING_HEADER)
    for p in pending:
        mode = "Write" if p.get("mode") == "w" else "Read"
        lines.append(f"{p['reqid']:5d}  {p['user']:<9} {'':<6}  {p['media_id']:<6}  "
                     f"{p.get('density', '') or '-':<7}  {mode:<5} "
                     f"{_clock(int(p.get('time', 0))):<9} {p['drive']}".rstrip())
    return lines + [""]


def additional_lines(drives: Sequence[Record], host: str) -> list[str]:
    """ADDITIONAL DRIVE STATUS: name, shared (never: SSO is not in nbcli), assigned host."""
    lines = _title("ADDITIONAL DRIVE STATUS", 29) + [ADDITIONAL_HEADER]
    for d in drives:
        assigned = host if d.get("user") else "-"
        lines.append(f"{d['index']:3d} {d['name']:<20} {'No':<6}    {assigned:<15} "
                     f"{d.get('comment') or ''}".rstrip())
    return lines + [""]


def _clock(epoch: int) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(epoch)) if epoch else "-"


def vmoprcmd_lines(reply: Record, sections: str, paths: bool = False) -> list[str]:
    """`vmoprcmd -d [pr|ds|ad]` (`-dp` with `paths`): the sections asked for ("" = all)."""
    drives, pending = reply.get("drives", []), reply.get("pending", [])
    parts: list[list[str]] = []
    if sections in ("", "pr"):
        parts.append(pending_lines(pending))
    if sections in ("", "ds"):
        parts.append(drive_path_lines(drives) if paths else drive_status_lines(drives))
    if sections in ("", "ad"):
        parts.append(additional_lines(drives, str(reply.get("host", ""))))
    out: list[str] = []
    for part in parts:  # one blank line between sections
        out += part[1:] if out else part
    return out


def ltid_down(host: str) -> str:
    return f"The Media Manager device daemon (ltid) is not active on host {host}"


# --- tpreq -----------------------------------------------------------------------------------

def tpreq_device(reply: Record) -> str | None:
    """The device tpreq links FILE to, as NetBackup's does (`mt -f FILE`, `dd if=FILE`): a
    real drive's /dev path; None for a virtual library's drive (FILE is then tpreq_file's
    TOML: no device file stands for it)."""
    path = str(reply.get("path") or "")
    if reply.get("library") or not path.startswith("/dev/"):
        return None
    return path


def tpreq_file(reply: Record, host: str, mode: str) -> str:
    """What tpreq writes into FILE: a TOML table of where the tape is (tpreq(8), FILES)."""
    library = str(reply.get("library") or "")
    lines = [
        "# tpreq: a tape mounted for you by ltid; release it with tpunmount on this file.",
        f"media_id = {_toml(reply['media_id'])}",
        f"barcode = {_toml(reply.get('barcode', ''))}",
        f"drive = {_toml(reply['drive'])}",
        f"drive_index = {int(reply.get('index', 0))}",
        f"drnum = {int(reply.get('drnum', 0))}",
        f"host = {_toml(host)}",
        f"mode = {_toml(mode)}",
        f"reqid = {int(reply.get('reqid', 0))}",
        f"path = {_toml(reply.get('path', ''))}",
        f"library = {_toml(library)}",
    ]
    if library:
        lines.append(f"mt = {_toml('nbvtl mt ' + str(int(reply.get('drnum', 0))))}")
    else:
        lines.append(f"mt = {_toml('mt -f ' + str(reply.get('path', '')))}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


# --- robtest (tldtest's lines) ----------------------------------------------------------------

def robtest_slots(slots: Sequence[Record]) -> list[str]:
    out = []
    for s in slots:
        out.append(f"slot {s['number']} (addr {s['number']}) contains Cartridge = "
                   f"{'yes' if s['full'] else 'no'}")
        if s["full"] and s.get("barcode"):
            out.append(f"Barcode = {s['barcode']}")
    return out


def robtest_drives(drives: Sequence[Record]) -> list[str]:
    """Drives as tldtest numbers them: from 1 (drive N is mtx's element N-1)."""
    out = []
    for d in drives:
        out.append(f"drive {int(d['number']) + 1} (addr {d['number']}) access = 1 "
                   f"Contains Cartridge = {'yes' if d['full'] else 'no'}")
        if d["full"]:
            if d.get("source"):
                out.append(f"Source address = {d['source']} (slot {d['source']})")
            if d.get("barcode"):
                out.append(f"Barcode = {d['barcode']}")
    return out


def robtest_inports(mailslots: Sequence[Record]) -> list[str]:
    out = []
    for i, m in enumerate(mailslots, 1):
        out.append(f"inport {i} (addr {m['number']}) contains Cartridge = "
                   f"{'yes' if m['full'] else 'no'}")
        if m["full"] and m.get("barcode"):
            out.append(f"Barcode = {m['barcode']}")
    return out


ROBTEST_HELP = """\
s s              status of the slots
s d              status of the drives
s i              status of the inports (mail slots)
m sN dM          move the cartridge in slot N into drive M
m dM sN          move the cartridge in drive M into slot N
m sN sM          move a cartridge between slots
unload dM        unload drive M (to the slot its cartridge came from)
q                quit"""


def parse_robtest(line: str) -> tuple[str, list[tuple[str, int]]]:
    """One robtest command: (verb, [(kind, number)...]); ValueError when it is not one.

    `s s` -> ("status", [("s", 0)]); `m s3 d1` -> ("move", [("s", 3), ("d", 1)]);
    `unload d2` -> ("unload", [("d", 2)]); `q` -> ("quit", []); `?` -> ("help", [])."""
    words = line.split()
    if not words:
        return "", []
    verb = words[0].lower()
    if verb in ("q", "quit", "exit"):
        return "quit", []
    if verb in ("?", "help"):
        return "help", []
    if verb == "s" and len(words) == 2 and words[1] in ("s", "d", "i"):
        return "status", [(words[1], 0)]
    if verb == "m" and len(words) == 3:
        return "move", [_element(words[1]), _element(words[2])]
    if verb == "unload" and len(words) == 2:
        kind, n = _element(words[1])
        if kind == "d":
            return "unload", [(kind, n)]
    raise ValueError(f"unknown command {line.strip()!r} (? for help)")


def _element(word: str) -> tuple[str, int]:
    kind, number = word[:1].lower(), word[1:]
    if kind not in ("s", "d", "i") or not number.isdigit() or int(number) < 1:
        raise ValueError(f"{word!r}: sN, dN or iN, numbers from 1")
    return kind, int(number)


# --- vmupdate ---------------------------------------------------------------------------------

def media_id_of(barcode: str) -> str:
    """NetBackup's default media id generation: the barcode's last six characters."""
    return barcode[-6:]


@dataclass
class InventoryPlan:
    """What an inventory of one robot changes (vmupdate_plan)."""

    moves: list[tuple[str, int]] = field(default_factory=list)         # (barcode, slot)
    adds: list[tuple[str, str, int]] = field(default_factory=list)     # (media_id, barcode, slot)
    changes: list[tuple[str, int, int]] = field(default_factory=list)  # (media_id, old, new slot)
    removals: list[tuple[str, int]] = field(default_factory=list)      # (media_id, old slot)

    def __bool__(self) -> bool:
        return bool(self.moves or self.adds or self.changes or self.removals)


def vmupdate_plan(inventory: Record, media: Sequence[Record], rn: int,
                  empty_map: bool = False) -> InventoryPlan:
    """What an inventory of robot `rn` changes.

    moves, with `empty_map` only (vmupdate -empty_map), are (barcode, slot) for cartridges in
    the mail slots, into the free slots in order (empty and nobody's home: a cartridge in a
    drive goes back to its slot); without it a cartridge in a mail slot is not in the robot,
    as NetBackup's inventory leaves the media access port alone (an operator's tapes sent
    out by vmchange -multi_eject wait there to be taken away). adds are
    (media_id, barcode, slot) for barcodes EMM does not know; changes are (media_id, old slot
    or -1, new slot) for known media whose robot or slot EMM has wrong; removals are
    (media_id, old slot) for media EMM places in this robot whose cartridge is nowhere in it
    (NetBackup's "existing media has been removed from the robot": they become standalone),
    but not one a job has (its cartridge is on its way). ValueError when the mail slots hold
    more cartridges than there are free slots."""
    by_barcode = {str(m.get("barcode") or ""): m for m in media if m.get("barcode")}
    by_id = {str(m["media_id"]): m for m in media}
    homes = {int(d["source"]) for d in inventory.get("drives", []) if d.get("source")}
    free = [int(s["number"]) for s in inventory.get("slots", [])
            if not s["full"] and int(s["number"]) not in homes]
    plan = InventoryPlan()
    for m in inventory.get("mailslots", []) if empty_map else ():
        if m["full"]:
            if not free:
                raise ValueError("no free slot for the cartridges in the mail slots")
            plan.moves.append((str(m["barcode"]), free.pop(0)))
    where: dict[str, int] = {}
    for s in inventory.get("slots", []):
        if s["full"] and s.get("barcode"):
            where[str(s["barcode"])] = int(s["number"])
    present = set(where)
    for d in inventory.get("drives", []):
        if d["full"] and d.get("barcode"):
            present.add(str(d["barcode"]))
            if d.get("source"):
                where[str(d["barcode"])] = int(d["source"])
    where.update(dict(plan.moves))
    present.update(where)
    seen: set[str] = set()
    for barcode, slot in sorted(where.items(), key=lambda kv: kv[1]):
        known = by_barcode.get(barcode) or by_id.get(media_id_of(barcode))
        if known is None:
            plan.adds.append((media_id_of(barcode), barcode, slot))
            continue
        seen.add(str(known["media_id"]))
        old_rn, old_slot = known.get("rn"), known.get("slot")
        if old_rn != rn or old_slot != slot:
            plan.changes.append((str(known["media_id"]), int(old_slot) if old_slot is not None
                                 else -1, slot))
    for m in sorted(media, key=lambda m: int(m.get("slot") or 0)):
        if m.get("rn") != rn or str(m["media_id"]) in seen or m.get("jobid"):
            continue
        if not m.get("barcode") or str(m["barcode"]) not in present:
            plan.removals.append((str(m["media_id"]), int(m.get("slot") or 0)))
    return plan


def vmupdate_lines(rn: int, plan: InventoryPlan, pool: str, mtype: str) -> list[str]:
    """The report of a robot inventory update, in NetBackup's words."""
    out = [f"Robot inventory update of TLD({rn})", "",
           "Generating list of recommended changes ...", ""]
    if not plan:
        return out + ["Volume configuration is up to date: no changes to make."]
    out += ["Proposed Change(s) to Update the Volume Configuration",
            "=====================================================", ""]
    for barcode, slot in plan.moves:
        out.append(f"Move cartridge {barcode} from the mail slot into slot {slot}.")
    for media_id, old in plan.removals:
        out.append(f"Logically move media {media_id} from robot slot {old} to standalone "
                   f"(it is no longer in the robot).")
    for media_id, barcode, slot in plan.adds:
        out.append(f"Logically add new media {media_id} (barcode {barcode}) to robot slot "
                   f"{slot}.")
    for media_id, old, new in plan.changes:
        was = f"slot {old}" if old >= 0 else "no slot"
        out.append(f"Logically move media {media_id} from {was} to robot slot {new}.")
    out += ["", "Updating volume configuration ..."]
    for media_id, _ in plan.removals:
        out.append(f"Media ID {media_id} moved to standalone.")
    for media_id, _, _ in plan.adds:
        out.append(f"Media ID {media_id} added ({mtype}, volume pool {pool}).")
    for media_id, _, new in plan.changes:
        out.append(f"Media ID {media_id} moved to slot {new}.")
    return out + ["Volume configuration successfully updated."]
