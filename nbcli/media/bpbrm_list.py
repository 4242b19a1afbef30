"""bpbrm's listing: which images a storage unit of this media server holds, for the cleanup.

Place: one request of bpbrm (nbcli/media/bpbrm.py dispatches on its op), sent by bpdbm's Image
Cleanup job (nbcli/daemons/cleanup_orphans.py) through bpcd, to find fragments no catalog
entry owns (a crash between writing an image and committing it to the catalog):

    bpdbm -> bpbrm: list{jobid, master, stu: {label, stype, path}}
    bpbrm: storage.open_unit(stu).image_ids()
    bpbrm -> bpdbm: done{status 0, images: [{backupid, written, age}]}

`written` is when the image's newest piece was written (this host's clock) and `age` the
seconds since then, measured here, so the master's grace period does not depend on the two
hosts' clocks agreeing. A unit that is not there is 83 (an unmounted file system must not
look empty); a record that is not a storage unit is 20. bpbrm lists, it removes nothing:
removal is a `delete` request, for ids the master chose. Imports storage, never catalog or
a daemon.
"""

from __future__ import annotations

import time
from typing import Any

from nbcli.media import storage
from nbcli.media.bpbrm_ctx import Ctx
from nbcli.status import INVALID_PARAMETER, NbuError


def listing(stu: Any, now: float) -> list[dict[str, Any]]:
    """The images stored on unit `stu` (its record), oldest write first."""
    if not isinstance(stu, dict):
        raise NbuError(INVALID_PARAMETER, "list: stu must be a storage unit record")
    ids = storage.open_unit(stu).image_ids()
    return [{"backupid": bid, "written": written, "age": max(0.0, now - written)}
            for bid, written in sorted(ids.items(), key=lambda kv: (kv[1], kv[0]))]


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    stu = req.get("stu")
    images = listing(stu, time.time())
    ctx.log.info("storage unit %s holds %d image(s)",
                 stu.get("label") or stu.get("path") if isinstance(stu, dict) else stu,
                 len(images))
    ctx.ctl.send({"op": "done", "status": 0, "images": images})
    return 0
