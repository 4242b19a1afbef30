"""ltid's part of nbemmcmd -deletealldevices: the drives nbemm is about to delete leave ltid's
table at once, their cartridges at home, instead of lingering until ltid next reads nbemm.

nbemm asks `begin` before it deletes and `end` after (whatever became of the delete):

    begin  refuse (97) while a job or a user's tpreq holds one of the drives; else no mount
           reserves them any more, each loaded robotic drive sends its cartridge to its home
           slot (a standalone drive's cartridge is reported: no robot can move it), and ltid
           forgets them; learn() does not take them back from nbemm for HOLD seconds (the
           delete's window). A robot move that fails puts everything back and raises: nbemm
           then deletes nothing (a cartridge already sent home stays there: nothing refers
           to a drive for it).
    end    the hold is over; ltid reads its drives from nbemm again, so that the drives of a
           delete that failed come back, and the deleted ones stay gone (a mount names them
           in vain: 227, "not configured on this host").

Place: ltid's rules beside ltid_mount.py (Mounter); imports ltid_drives, ltid_mount, status.
"""

from __future__ import annotations

from typing import Any

from nbcli.daemons.ltid_drives import Drive
from nbcli.daemons.ltid_mount import SCAN_WAIT, Mounter, media_id_of
from nbcli.status import MEDIA_IN_USE, NbuError

HOLD = 120.0  # seconds learn() leaves drives out while nbemm deletes them (nbemm may die)


def begin(m: Mounter, names: list[str]) -> list[dict[str, Any]]:
    """Withdraw and empty the drives `names`; what each held: [{drive, media_id, barcode,
    home}] (home False: the cartridge stayed in a standalone drive)."""
    drives = _withdraw(m, names)
    out: list[dict[str, Any]] = []
    try:
        for d in drives:
            barcode = d.barcode
            media_id = d.extmid or d.recmid or media_id_of(barcode)
            if barcode and d.robotic:
                m._unload(d, only_when_due=False)  # noqa: SLF001 - the same unload as RESET
            if barcode:
                out.append({"drive": d.name, "media_id": media_id, "barcode": barcode,
                            "home": d.robotic})
    except BaseException:
        with m.cond:  # put everything back: nbemm deletes nothing
            for d in drives:
                m.deleting.pop(d.name, None)
                m.drives.setdefault(d.name, d)
            m.cond.notify_all()
        raise
    with m.cond:
        for d in drives:
            if m.drives.get(d.name) is d:
                del m.drives[d.name]
        m.cond.notify_all()
    for rec in out:
        m.log.info("drive %s withdrawn for deletion: %s %s", rec["drive"], rec["media_id"],
                   "went home" if rec["home"] else "stays in the standalone drive")
    return out


def end(m: Mounter, names: list[str]) -> None:
    """The delete is over (done or refused): learn the drives from nbemm again."""
    with m.cond:
        for name in names:
            m.deleting.pop(name, None)
    m.learn(inventories=False)


def _withdraw(m: Mounter, names: list[str]) -> list[Drive]:
    """Mark the drives deleting (no mount reserves them) after waiting for avrd's reads of
    them; 97 while any is held, nothing marked then."""
    with m.cond:
        deadline = m.clock() + SCAN_WAIT
        while any(d.scanning for n, d in m.drives.items() if n in names) \
                and m.clock() < deadline:
            m.cond.wait(0.2)
        drives = [m.drives[n] for n in names if n in m.drives]
        for d in drives:
            if not d.free:
                who = f"job {d.jobid}" if d.jobid else f"{d.user or 'ltid'} (request {d.reqid})"
                raise NbuError(MEDIA_IN_USE, f"drive {d.name} is in use by {who}: nothing "
                                             "was deleted")
        until = m.clock() + HOLD
        for name in names:
            m.deleting[name] = until
        return drives
