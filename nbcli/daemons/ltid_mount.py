"""ltid's work: mount and unmount requests, drive states, the delayed unload, avrd's reads.

The rules, over `Ports` (the other processes: nbemm, tldd, avrd), so that they are unit tested
with fakes; ltid.py gives the real ports (calls over PBX).

Mount (jobid, media id, barcode, drive, mode): the drive must be UP (164) and free or held by
the same job (97); ltid reserves it in its table, has tldd put the cartridge in (tldd unloads
what is in the drive first, and takes the cartridge out of another idle drive that still holds
it), has avrd read its media header - a header naming another media id is status 93; a blank
tape passes (bptm labels it) - and records the drive's user, label and readiness, telling
nbemm `drive_loaded` after each move. Any failure frees the reservation again. A drive that
cannot even be opened to read the header (83), or that the robot cannot load into (164: the
element is not available), is at fault whatever tape it is given: it is set DOWN, as
NetBackup downs a drive it cannot mount in, so that the job's next try, and every other
job, goes to another drive instead of failing on this one again.

A mount made by a local process (bptm, a command such as bplabel) is that process's: when it
dies without unmounting (killed with its bpbrm, or the command killed), `reap` (a periodic
task) frees the drive, as if it had unmounted. A user's tpreq mount outlives its command, so
it is nobody's process; neither is one that came over TCP.

Unmount frees the drive; the cartridge stays in it for MEDIA_UNMOUNT_DELAY seconds (a next
job of the same medium mounts it without a move, as NetBackup keeps media mounted between
jobs), then `unload_due` (a periodic task) sends it to its home slot.

Nothing here outlives ltid: reservations that matter across processes are nbemm's
allocations; a restarted ltid learns its drives from nbemm and what is loaded from the robots'
inventories (`learn`), every drive free, loaded cartridges due home after the delay.

Moves of one robot are serialised by a lock per robot (tldcd serialises them again, for every
host). The table is guarded by one condition variable; no port is called while holding it.

Place: ltid's rules; imports ltid_drives and status only (the ports are handed in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from nbcli.daemons.ltid_drives import DOWN, UP, Drive, due_unloads, scan_candidate, tpreq_drive
from nbcli.status import (
    INVALID_PARAMETER,
    MEDIA_DOWN,
    MEDIA_HEADER_UNREADABLE,
    MEDIA_IN_USE,
    MEDIA_OPEN_ERROR,
    MEDIA_PROTECTED,
    NO_DRIVES,
    NO_ENTITY,
    WRONG_TAPE,
    NbuError,
)

SCAN_WAIT = 30.0    # how long a mount waits for avrd's read of the same drive
SCAN_STALE = 60.0   # an avrd read older than this was lost (avrd died)
# A mount's failures that are the drive's, whatever tape it was given: it goes DOWN.
BROKEN_DRIVE = {MEDIA_OPEN_ERROR: "could not be opened",
                MEDIA_DOWN: "is not available to the robot"}


class Ports(Protocol):
    """What ltid asks of the other Media Manager processes and of nbemm."""

    def emm_drives(self) -> list[dict[str, Any]]:
        """nbemm drive_list host=<this host>."""

    def emm_robots(self) -> list[dict[str, Any]]:
        """nbemm robot_list."""

    def emm_loaded(self, name: str, media_id: str) -> None:
        """nbemm drive_loaded."""

    def emm_state(self, name: str, state: str) -> None:
        """nbemm drive_update state=."""

    def robot_mount(self, rn: int, drnum: int, barcode: str) -> None:
        """tldd mount: the cartridge into the drive."""

    def robot_unmount(self, rn: int, drnum: int) -> None:
        """tldd unmount: the drive's cartridge to its home slot."""

    def robot_inventory(self, rn: int) -> dict[str, Any]:
        """tldd inventory."""

    def read_label(self, drive: Drive) -> dict[str, Any]:
        """avrd read: {recmid, blank, foreign, write_protected}."""


def media_id_of(barcode: str) -> str:
    """NetBackup's default media id rule: the barcode's last six characters."""
    return barcode[-6:]


class Mounter:
    """The drives of one host and the requests on them."""

    def __init__(self, ports: Ports, delay: float, log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic,
                 alive: Callable[[tuple[int, float]], bool] = lambda owner: True,
                 holder_wait: float = 0.0) -> None:
        self.ports = ports
        self.delay = delay
        self.log = log
        self.clock = clock
        self.alive = alive  # whether a mount's owner process still runs (reap)
        # how long a job's mount waits for another job's process to let go of the drive
        self.holder_wait = holder_wait
        self.cond = threading.Condition()
        self.drives: dict[str, Drive] = {}
        self.robots: dict[int, dict[str, Any]] = {}
        self.pending: dict[int, dict[str, Any]] = {}
        self._next_reqid = 0
        self._robot_locks: dict[int, threading.Lock] = {}
        self._quiet: set[int] = set()  # robots whose inventory failed (warned once)
        # drives nbemm is deleting (ltid_withdraw.py) -> until when learn() must not take
        # them back from nbemm; a mount of one fails
        self.deleting: dict[str, float] = {}
        # told of each new mount request (its pending entry): ltid -logmounts 0
        self.on_request: Callable[[dict[str, Any]], None] | None = None

    # --- configuration -----------------------------------------------------------------------


    def set_delay(self, delay: float) -> None:
        """A new MEDIA_UNMOUNT_DELAY (SIGHUP): cartridges already waiting go home by it too,
        when it is shorter, rather than after the old delay."""
        with self.cond:
            self.delay = max(delay, 0.0)
            latest = self.clock() + self.delay
            for d in self.drives.values():
                if d.unload_at > latest:
                    d.unload_at = latest
    def learn(self, inventories: bool = True) -> None:
        """Drives and robots from nbemm, then (`inventories`) what is loaded from the robots'
        inventories - which waits for a robot move in progress."""
        robots = {int(r["rn"]): r for r in self.ports.emm_robots()}
        records = self.ports.emm_drives()
        with self.cond:
            self.robots = robots
            seen = set()
            now = self.clock()
            self.deleting = {n: t for n, t in self.deleting.items() if t > now}
            for rec in records:
                if str(rec["name"]) in self.deleting:
                    continue
                new = Drive.of(rec, str(robots.get(int(rec.get("rn", -1)), {}).get("device")
                                        or ""))
                seen.add(new.name)
                if new.name in self.drives:
                    self.drives[new.name].configure(new)
                else:
                    self.drives[new.name] = new
            for name in [n for n, d in self.drives.items() if n not in seen and d.free]:
                del self.drives[name]
            wanted = sorted({d.rn for d in self.drives.values() if d.robotic})
        for rn in wanted if inventories else []:
            self.sync(rn)

    def sync_all(self) -> None:
        with self.cond:
            wanted = sorted({d.rn for d in self.drives.values() if d.robotic})
        for rn in wanted:
            self.sync(rn)

    def sync(self, rn: int) -> None:
        """What robot `rn`'s drives hold, from its inventory; a loaded idle drive is due home
        after the delay (a cartridge a previous ltid left, or one loaded by hand)."""
        try:
            with self._robot(rn):
                inv = self.ports.robot_inventory(rn)
        except NbuError as e:
            if rn not in self._quiet:  # once until it answers again: this runs every 5 s
                self.log.warning("robot %d: no inventory: %s", rn, e)
            self._quiet.add(rn)
            return
        self._quiet.discard(rn)
        held = {int(e["number"]): str(e["barcode"]) if e["full"] else ""
                for e in inv.get("drives", [])}
        now = self.clock()
        told: list[tuple[str, str]] = []
        with self.cond:
            for d in self.drives.values():
                if d.rn != rn or d.drnum not in held or not d.free:
                    continue
                if held[d.drnum] != d.barcode or not d.synced:
                    d.synced = True
                    told.append((d.name, media_id_of(held[d.drnum]) if held[d.drnum] else ""))
                if held[d.drnum] != d.barcode or (d.barcode and not d.unload_at):
                    d.loaded(held[d.drnum])
                    if d.barcode:
                        d.unload_at = now + self.delay
            self.cond.notify_all()
        for name, media in told:  # what a previous ltid or an operator left in the drives
            self._tell_loaded(name, media)

    def drive(self, key: str | int) -> Drive:
        """A drive by name or index; unknown ones are looked up in nbemm again."""
        with self.cond:
            if key in self.deleting:
                raise NbuError(NO_ENTITY, f"drive {key} is being deleted from this host")
        found = self._find(key)
        if found is None:
            self.learn()
            found = self._find(key)
        if found is None:
            raise NbuError(NO_ENTITY, f"drive {key} is not configured on this host")
        return found

    def _find(self, key: str | int) -> Drive | None:
        with self.cond:
            for d in self.drives.values():
                if (isinstance(key, int) and d.index == key) or d.name == key:
                    return d
        return None

    @contextmanager
    def _robot(self, rn: int) -> Iterator[None]:
        with self.cond:
            lock = self._robot_locks.setdefault(rn, threading.Lock())
        with lock:
            yield

    # --- mount and unmount -------------------------------------------------------------------

    def mount(self, jobid: int, media_id: str, barcode: str, name: str, mode: str,
              user: str = "root", owner: tuple[int, float] | None = None) -> dict[str, Any]:
        """`owner`: the local process (pid, start time) the mount belongs to (reap)."""
        d = self.drive(name)
        barcode = barcode or media_id
        with self.cond:
            taken = not d.free and not (jobid and d.jobid == jobid)
        if taken:
            # Held for a process that died (a bptm killed after its job ended, before it
            # unmounted: nbemm has given the drive to this job already): free now, rather
            # than fail this job with 97 until the next periodic reap.
            self.reap()
        reqid, again = self._reserve(d, jobid, media_id, barcode, mode, user, owner)
        if self.on_request is not None:
            with self.cond:
                request = dict(self.pending.get(reqid) or {})
            if request:
                self.on_request(request)
        if not again and not self._still_loaded(d, media_id, barcode, mode):
            self._load_and_check(d, reqid, media_id, barcode, mode)
        with self.cond:
            self.pending.pop(reqid, None)
            d.ready = True
        self.log.info("mounted %s (%s) in %s for job %d (%s)", media_id, barcode, d.name,
                      jobid, mode)
        return {"drive": d.name, "drnum": d.drnum, "index": d.index,
                "library": d.device if _virtual(d.device) else "",
                "robot_device": d.device if not _virtual(d.device) else "",
                "path": d.path, "media_id": media_id, "barcode": barcode, "reqid": reqid}

    def _still_loaded(self, d: Drive, media_id: str, barcode: str, mode: str) -> bool:
        """Whether a read mount finds its cartridge still in the drive (its unmount delay
        not over) with the media header avrd read when it went in: no robot move, no second
        read of the label. bptm checks the media header again as it opens the drive (93), and
        a cartridge moved behind ltid's back is loaded by bptm's own robot call."""
        with self.cond:
            return mode == "r" and d.barcode == barcode and bool(d.labelled) \
                and d.recmid == media_id and d.state != DOWN

    def _load_and_check(self, d: Drive, reqid: int, media_id: str, barcode: str,
                        mode: str) -> None:
        """The robot's moves and avrd's read; the reservation freed again on failure."""
        try:
            if d.robotic:
                with self._robot(d.rn):
                    self.ports.robot_mount(d.rn, d.drnum, barcode)
                    self._loaded_here(d, barcode, media_id)
            label = self.ports.read_label(d)
            self._check_label(d, media_id, mode, label)
        except BaseException as e:
            with self.cond:
                self.pending.pop(reqid, None)
                if d.reqid == reqid:
                    d.release(self.clock(), self.delay)
                self.cond.notify_all()
            if d.robotic:
                self.sync(d.rn)
            down = self._down_broken(d, e) if isinstance(e, NbuError) else None
            if down is not None:
                raise down from e
            raise

    def _down_broken(self, d: Drive, e: NbuError) -> NbuError | None:
        """A mount failure that is the drive's (BROKEN_DRIVE): DOWN (nbemm first, as
        vmoprcmd -down), and the mount's error saying so; None for any other failure, or
        when nbemm would not take the DOWN (the mount's own error stands)."""
        what = BROKEN_DRIVE.get(e.status)
        if what is None:
            return None
        why = e.detail or e.message
        try:
            self.set_state(d.name, DOWN)
        except NbuError as err:
            self.log.warning("drive %s %s (%s), and nbemm did not take it DOWN: %s", d.name,
                             what, why, err)
            return None
        self.log.error("drive %s is being DOWNED: it %s: %s", d.name, what, why)
        return NbuError(e.status, f"{why}: drive {d.name} {what} and is DOWN now")

    def _reserve(self, d: Drive, jobid: int, media_id: str, barcode: str, mode: str,
                 user: str, owner: tuple[int, float] | None) -> tuple[int, bool]:
        """The request id holding the drive now, and whether the job had this very medium
        mounted there already (bptm asking again: no move, no read of a drive it may have
        open)."""
        with self.cond:
            if jobid and d.jobid == jobid and d.barcode == barcode and d.ready \
                    and d.extmid == media_id and d.state != DOWN:
                d.owner = owner  # the process asking again holds it now
                return d.reqid, True
            deadline = self.clock() + SCAN_WAIT
            while self._scanning(d, barcode) and self.clock() < deadline:
                self.cond.wait(0.2)
            # nbemm gave this job the drive, so another job still holding it here is on its
            # way out (a bptm finishing its abort after its bpbrm was killed): wait for it to
            # unmount, or for the reap once it is gone, rather than fail this job with 97.
            until = time.monotonic() + self.holder_wait
            while jobid and d.jobid and d.jobid != jobid and not d.free \
                    and d.state != DOWN and time.monotonic() < until:
                self.cond.wait(min(0.2, max(until - time.monotonic(), 0.0)))
            if d.name in self.deleting or self.drives.get(d.name) is not d:
                raise NbuError(NO_ENTITY, f"drive {d.name} is not configured on this host "
                                          "(deleted)")
            if d.state == DOWN:
                raise NbuError(MEDIA_DOWN, f"drive {d.name} is DOWN")
            if not d.free and not (jobid and d.jobid == jobid):
                raise NbuError(MEDIA_IN_USE, f"drive {d.name} is in use by {d.user or 'ltid'}"
                               + (f" (job {d.jobid})" if d.jobid else ""))
            for other in self.drives.values():
                # In use there only when that drive is held for this very medium: one held
                # for another medium (nbemm gave both jobs a drive crosswise, as after an
                # ltid restart) merely still has it loaded, and the robot, one move at a
                # time, takes it out for whichever mount comes first.
                if other is not d and other.barcode == barcode and not other.free \
                        and other.extmid in (media_id, ""):
                    raise NbuError(MEDIA_IN_USE, f"{barcode} is in use in drive {other.name}")
            self._next_reqid += 1
            reqid = self._next_reqid
            d.user, d.jobid, d.reqid, d.mode, d.unload_at = user, jobid, reqid, mode, 0.0
            d.extmid, d.ready, d.owner = media_id, False, owner
            self.pending[reqid] = {"reqid": reqid, "user": user, "jobid": jobid,
                                   "media_id": media_id, "barcode": barcode, "mode": mode,
                                   "drive": d.name, "time": int(time.time())}
            return reqid, False

    def _scanning(self, d: Drive, barcode: str) -> bool:
        now = self.clock()
        return any(o.scanning and now - o.scanning <= SCAN_STALE
                   and (o is d or o.barcode == barcode) for o in self.drives.values())

    def _loaded_here(self, d: Drive, barcode: str, media_id: str) -> None:
        """After tldd's mount: `barcode` is in `d`, and in no other drive."""
        told: list[tuple[str, str]] = []
        with self.cond:
            for other in self.drives.values():
                if other is not d and other.rn == d.rn and other.barcode == barcode:
                    other.loaded("")
                    told.append((other.name, ""))
            if d.barcode != barcode:
                told.append((d.name, media_id))
            extmid = d.extmid
            d.loaded(barcode)
            d.extmid = extmid
        for name, media in told:
            self._tell_loaded(name, media)

    def _tell_loaded(self, name: str, media_id: str) -> None:
        try:
            self.ports.emm_loaded(name, media_id)
        except NbuError as e:
            self.log.warning("nbemm drive_loaded %s %r: %s", name, media_id, e)

    def _check_label(self, d: Drive, media_id: str, mode: str, label: dict[str, Any]) -> None:
        recmid = str(label.get("recmid") or "")
        with self.cond:
            d.recmid = recmid
            d.labelled = bool(recmid) if not label.get("blank") else False
            d.write_protected = bool(label.get("write_protected"))
        if label.get("foreign"):
            raise NbuError(MEDIA_HEADER_UNREADABLE, f"drive {d.name}: the tape is not a "
                           f"NetBackup tape (no media header)")
        if recmid and recmid != media_id:
            raise NbuError(WRONG_TAPE, f"drive {d.name} holds media {recmid}, not {media_id}")
        if mode == "w" and d.write_protected:
            raise NbuError(MEDIA_PROTECTED, f"media {media_id} in drive {d.name} is write "
                           f"protected")

    def unmount(self, jobid: int, name: str, reqid: int = 0, orphan: bool = False) -> None:
        """Free the drive; its cartridge goes home after the delay. `orphan` (nbjm letting go
        of a failed job's drive): only when the process that mounted it is gone - a live one
        may still have the drive open (a bptm finishing its abort), and frees it itself."""
        d = self.drive(name)
        if orphan:
            with self.cond:
                owner = d.owner if d.jobid == jobid and not d.free else None
            if owner is not None and self.alive(owner):
                self.log.info("job %d's %s stays held until its mounting process (pid %d) "
                              "lets go", jobid, d.name, owner[0])
                return
        with self.cond:
            if d.free:
                return
            # jobid 0 (a command's or tpreq's mount) frees only a drive no job holds
            if d.jobid != jobid or (reqid and d.reqid != reqid):
                raise NbuError(MEDIA_IN_USE, f"drive {d.name} is held by another request")
            d.release(self.clock(), self.delay)
            self.cond.notify_all()
        self.log.info("unmounted %s from %s (job %d); home in %gs", d.extmid or d.barcode,
                      d.name, jobid, self.delay)

    def reap(self, alive: Callable[[tuple[int, float]], bool] | None = None) -> None:
        """Free each drive whose owner process is gone (`alive`, else self.alive, says, from
        outside the table's lock) and whose mount is not under way: nobody is left to
        unmount it."""
        alive = alive or self.alive
        with self.cond:
            held = [(d, d.owner) for d in self.drives.values()
                    if d.owner is not None and not d.free and d.reqid not in self.pending]
        gone = [(d, owner) for d, owner in held if not alive(owner)]
        for d, owner in gone:
            with self.cond:
                if d.owner != owner or d.free:
                    continue  # unmounted (or mounted again) meanwhile
                jobid = d.jobid
                d.release(self.clock(), self.delay)
                self.cond.notify_all()
            self.log.warning("the process that mounted %s in %s (pid %d, job %d) is gone: "
                             "drive freed; home in %gs", d.extmid or d.barcode, d.name,
                             owner[0], jobid, self.delay)

    def unload_due(self) -> None:
        """Send home the cartridges whose time in an idle drive is up."""
        with self.cond:
            due = due_unloads(list(self.drives.values()), self.clock(), SCAN_STALE)
        for d in due:
            try:
                self._unload(d, only_when_due=True)
            except NbuError:
                pass  # logged; tried again later

    def _unload(self, d: Drive, only_when_due: bool) -> None:
        """Send `d`'s cartridge home (only an idle drive's); robot errors raise."""
        with self._robot(d.rn):
            with self.cond:
                if not d.free or not d.barcode or \
                        (only_when_due and not 0 < d.unload_at <= self.clock()):
                    return
                barcode = d.barcode
            try:
                self.ports.robot_unmount(d.rn, d.drnum)
            except NbuError as e:
                self.log.warning("cannot unload %s from %s: %s", barcode, d.name, e)
                with self.cond:
                    d.unload_at = self.clock() + max(self.delay, 5.0)
                raise
            with self.cond:
                if d.barcode == barcode:
                    d.loaded("")
        self.log.info("%s went home from %s", barcode, d.name)
        self._tell_loaded(d.name, "")

    # --- operator actions --------------------------------------------------------------------

    def set_state(self, key: str | int, state: str) -> None:
        """UP, DOWN (nbemm first: it allocates drives) or RESET (free it, unload it now)."""
        d = self.drive(key)
        if state in (UP, DOWN):
            self.ports.emm_state(d.name, state)
            with self.cond:
                d.state = state
            self.log.info("drive %s %s", d.name, state)
            return
        with self.cond:
            d.release(self.clock(), 0.0)
            for reqid in [r for r, p in self.pending.items() if p["drive"] == d.name]:
                del self.pending[reqid]
            self.cond.notify_all()
        if d.robotic and d.barcode:
            self._unload(d, only_when_due=False)
        self.log.info("drive %s reset", d.name)

    def tpreq(self, media_id: str, barcode: str, rn: int, density: str, mode: str,
              user: str, busy: set[str]) -> dict[str, Any]:
        """A user's mount (tpreq): a free drive of the robot holding the medium."""
        with self.cond:
            holding = [d for d in self.drives.values() if d.barcode == barcode and d.free
                       and d.state == UP and d.rn == rn and d.name not in busy]
            d = holding[0] if holding else tpreq_drive(list(self.drives.values()), rn,
                                                       density, busy)
        if d is None:
            raise NbuError(NO_DRIVES, f"no drive of robot {rn} is free for {media_id}")
        return self.mount(0, media_id, barcode, d.name, mode, user)

    # --- avrd --------------------------------------------------------------------------------

    def avr_next(self) -> dict[str, Any]:
        with self.cond:
            d = scan_candidate(list(self.drives.values()), self.clock(), SCAN_STALE)
            if d is None:
                return {}
            d.scanning = self.clock()
            return {"name": d.name, "barcode": d.barcode, "rn": d.rn, "drnum": d.drnum,
                    "path": d.path}

    def avr_label(self, name: str, barcode: str, label: dict[str, Any]) -> None:
        with self.cond:
            d = self.drives.get(name)
            if d is None:
                return
            d.scanning = 0.0
            if d.barcode == barcode and d.free:
                d.recmid = str(label.get("recmid") or "")
                d.labelled = bool(d.recmid)
                d.write_protected = bool(label.get("write_protected"))
            self.cond.notify_all()

    # --- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self.cond:
            drives = sorted(self.drives.values(), key=lambda d: d.index)
            return {"drives": [d.status_record() for d in drives],
                    "pending": [dict(p) for _, p in sorted(self.pending.items())]}


def _virtual(device: str) -> bool:
    return bool(device) and not device.startswith("/dev/")


def check_state(state: str) -> str:
    state = state.upper()
    if state not in (UP, DOWN, "RESET"):
        raise NbuError(INVALID_PARAMETER, f"drive state {state!r}: UP, DOWN or RESET")
    return state
