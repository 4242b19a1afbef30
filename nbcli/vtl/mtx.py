"""A real tape changer through the `mtx` command, and mtx's `status` text both ways.

`parse_status` reads what `mtx -f /dev/sgN status` prints; `format_status` prints an
Inventory the same way, so that `nbvtl status` reads like mtx and scripts written for one
parse the other. MtxChanger runs mtx for each move (api.Changer); it has not been tried on a
changer here (this machine has none): its parser is tested on sample output.
Imports only nbcli.vtl.api.
"""

from __future__ import annotations

import errno
import re
import subprocess

from nbcli.vtl.api import ChangerError, Element, Inventory

_HEADER = re.compile(r"Storage Changer (\S+?):(\d+) Drives?, (\d+) Slots? "
                     r"\( (\d+) Import/Export \)")
_DRIVE = re.compile(r"Data Transfer Element (\d+):(Empty|Full)"
                    r"(?: \((?:Storage Element (\d+)|Unknown Storage Element) Loaded\))?"
                    r"(?::VolumeTag\s*=\s*([^:]*?))?(?::AlternateVolumeTag.*)?\s*$")
_SLOT = re.compile(r"Storage Element (\d+)( IMPORT/EXPORT)?:(Empty|Full)\s*"
                   r"(?::VolumeTag\s*=\s*([^:]*?))?(?::AlternateVolumeTag.*)?\s*$")


def parse_status(text: str) -> Inventory:
    """The inventory in `mtx status` output; ValueError on a line it does not know."""
    drives: list[Element] = []
    slots: list[Element] = []
    mail: list[Element] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _HEADER.match(line):
            continue
        if m := _DRIVE.match(line):
            full = m[2] == "Full"
            source = int(m[3]) if full and m[3] else None
            drives.append(Element("drive", int(m[1]), full, (m[4] or "").strip(), source))
        elif m := _SLOT.match(line):
            kind = "mailslot" if m[2] else "slot"
            element = Element(kind, int(m[1]), m[3] == "Full", (m[4] or "").strip())
            (mail if m[2] else slots).append(element)
        else:
            raise ValueError(f"mtx status: unexpected line {raw!r}")
    return Inventory(tuple(drives), tuple(slots), tuple(mail))


def format_status(inv: Inventory, device: str) -> str:
    """`inv` as `mtx -f device status` prints it."""
    lines = [f"  Storage Changer {device}:{len(inv.drives)} Drives, "
             f"{len(inv.slots) + len(inv.mailslots)} Slots ( {len(inv.mailslots)} "
             f"Import/Export )"]
    for d in inv.drives:
        text = f"Data Transfer Element {d.number}:"
        if not d.full:
            text += "Empty"
        else:
            loaded = f"Storage Element {d.source}" if d.source else "Unknown Storage Element"
            text += f"Full ({loaded} Loaded)"
            if d.barcode:
                text += f":VolumeTag = {d.barcode}"
        lines.append(text)
    for e in sorted((*inv.slots, *inv.mailslots), key=lambda e: e.number):
        io = " IMPORT/EXPORT" if e.kind == "mailslot" else ""
        text = f"      Storage Element {e.number}{io}:{'Full ' if e.full else 'Empty'}"
        if e.full and e.barcode:
            text += f":VolumeTag={e.barcode}"
        lines.append(text)
    return "\n".join(lines) + "\n"


class MtxChanger:
    """A SCSI medium changer (/dev/sgN) driven by running `mtx`."""

    def __init__(self, device: str, mtx: str = "mtx", timeout: float = 900) -> None:
        self.device = device
        self.mtx = mtx
        self.timeout = timeout

    def _run(self, *args: str) -> str:
        try:
            r = subprocess.run([self.mtx, "-f", self.device, *args], capture_output=True,
                               text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ChangerError(errno.EIO, f"mtx {' '.join(args)}: {e}") from None
        if r.returncode != 0:
            said = (r.stderr or r.stdout).strip()
            low = said.lower()
            code = (errno.ENOMEDIUM if "is empty" in low
                    else errno.EEXIST if "already full" in low else errno.EIO)
            raise ChangerError(code, f"mtx {' '.join(args)}: {said}")
        return r.stdout

    def inventory(self) -> Inventory:
        return parse_status(self._run("status"))

    def load(self, slot: int, drive: int) -> None:
        self._run("load", str(slot), str(drive))

    def unload(self, drive: int, slot: int | None = None) -> None:
        if slot is None:
            # mtx takes the drive number only after a slot: name the slot it came from.
            found = [d for d in self.inventory().drives if d.number == drive]
            if not found or not found[0].full:
                raise ChangerError(errno.ENOMEDIUM, f"drive {drive} is empty")
            if found[0].source is None:
                raise ChangerError(errno.EINVAL, f"drive {drive}: its source slot is unknown")
            slot = found[0].source
        self._run("unload", str(slot), str(drive))

    def transfer(self, source: int, target: int) -> None:
        self._run("transfer", str(source), str(target))
