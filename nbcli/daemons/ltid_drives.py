"""ltid's drives: what EMM configures for each drive of this host, and what ltid knows at run
time (who holds it, what is loaded, what avrd read), with the records `drive_status` sends.

Pure: no I/O, no clock of its own (callers pass monotonic times), so the rules are unit
tested. ltid_mount.py does the moves; ltid.py is the daemon. Imports nothing of nbcli.

A drive's run time state:
    barcode    the cartridge in it ("" empty), from the robot's inventory and ltid's moves
    recmid     the media id its media header records, as avrd read it ("" unknown/blank)
    labelled   True: a NetBackup MH; False: blank or foreign; None: not read
    extmid     the media id ltid mounted it for ("" when it was not mounted by ltid)
    user       who holds it: "" free; a job's mounts hold it until unmount
    jobid      the job holding it (0: none, or a tpreq)
    reqid      the mount request that holds it (0 free)
    unload_at  monotonic time at which an idle loaded cartridge goes home (0: none due)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UP, DOWN = "UP", "DOWN"


@dataclass
class Drive:
    index: int
    name: str
    type: str
    rn: int            # -1: standalone
    drnum: int         # the robot's drive number (mtx's data transfer element, from 0)
    path: str
    state: str = UP
    comment: str = ""
    device: str = ""   # the robot's device (virtual library home or /dev/sgN)
    barcode: str = ""
    recmid: str = ""
    labelled: bool | None = None
    write_protected: bool = False
    extmid: str = ""
    user: str = ""
    jobid: int = 0
    reqid: int = 0
    mode: str = ""
    ready: bool = False
    unload_at: float = 0.0
    scanning: float = 0.0  # monotonic time avrd took it for a read (0: not)
    synced: bool = False   # nbemm was told what the robot's inventory says it holds
    # the local process holding a mount (pid, start time), when the kernel named it: the
    # drive is freed if that process dies without unmounting (Mounter.reap)
    owner: tuple[int, float] | None = None

    @classmethod
    def of(cls, rec: dict[str, Any], device: str = "") -> Drive:
        """A drive from an EMM drive_list record."""
        return cls(int(rec.get("index", 0)), str(rec["name"]), str(rec.get("type") or ""),
                   int(rec.get("rn", -1)), int(rec.get("drnum", 0)), str(rec.get("path") or ""),
                   str(rec.get("state") or UP).upper(), str(rec.get("comment") or ""), device)

    def configure(self, other: Drive) -> None:
        """Take EMM's configuration from `other`, keeping the run time state."""
        for f in ("index", "type", "rn", "drnum", "path", "state", "comment", "device"):
            setattr(self, f, getattr(other, f))

    @property
    def robotic(self) -> bool:
        return self.rn >= 0

    @property
    def free(self) -> bool:
        return not self.user and not self.reqid

    def loaded(self, barcode: str) -> None:
        """A cartridge went in (or "": the drive was emptied)."""
        if barcode != self.barcode:
            self.barcode = barcode
            self.recmid, self.labelled, self.write_protected = "", None, False
            self.extmid = ""
        self.ready = bool(barcode)
        if not barcode:
            self.unload_at = 0.0

    def release(self, now: float, delay: float) -> None:
        """The holder let go: the cartridge stays loaded `delay` seconds, then goes home."""
        self.user, self.jobid, self.reqid, self.mode = "", 0, 0, ""
        self.owner = None
        self.unload_at = now + delay if self.barcode else 0.0

    def control(self) -> str:
        """vmoprcmd's Control column: the robot type while the drive is usable, DOWN-...
        when it is down; AVR for a standalone drive."""
        kind = "TLD" if self.robotic else "AVR"
        if self.state == DOWN:
            return f"DOWN-{kind}" if self.robotic else "DOWN"
        return kind

    def status_record(self) -> dict[str, Any]:
        """One entry of drive_status: vmoprcmd's columns, then what avrd and tools need."""
        if not self.barcode:
            label = "-"
        else:
            label = "Yes" if self.labelled else "No" if self.labelled is False else "-"
        return {"index": self.index, "name": self.name, "type": self.type,
                "control": self.control(), "user": self.user, "label": label,
                "recmid": self.recmid, "extmid": self.extmid, "ready": self.ready,
                "writable": (not self.write_protected) if self.barcode else None,
                "reqid": self.reqid, "state": self.state, "rn": self.rn,
                "drnum": self.drnum, "path": self.path, "device": self.device,
                "barcode": self.barcode, "jobid": self.jobid, "comment": self.comment,
                "mode": self.mode}


def due_unloads(drives: list[Drive], now: float, stale: float = 60.0) -> list[Drive]:
    """Loaded, idle drives whose cartridge's time in the drive is up (not while avrd reads
    one - it has the drive open - unless that read began `stale` seconds ago)."""
    return [d for d in drives if d.barcode and d.free and d.robotic
            and not (d.scanning and now - d.scanning <= stale) and 0 < d.unload_at <= now]


def scan_candidate(drives: list[Drive], now: float, stale: float) -> Drive | None:
    """A loaded drive nobody holds and avrd has not read (nor is reading, unless that read
    started more than `stale` seconds ago: avrd died)."""
    for d in drives:
        if d.barcode and d.free and d.labelled is None and d.state == UP \
                and (not d.scanning or now - d.scanning > stale):
            return d
    return None


def tpreq_drive(drives: list[Drive], rn: int, density: str, busy: set[str]) -> Drive | None:
    """The drive a tpreq of a medium in robot `rn` gets: free and UP, of the density when
    one is asked, not allocated to a job by EMM (`busy`); one already holding nothing first."""
    fits = [d for d in drives if d.rn == rn and d.free and d.state == UP
            and d.name not in busy and (not density or d.type == density)]
    fits.sort(key=lambda d: (bool(d.barcode), d.index))
    return fits[0] if fits else None
