"""bpbrm's image deletion: remove expired images' fragments from this media server's disk units.

Place: one request of bpbrm (nbcli/media/bpbrm.py dispatches on its op), sent by bpdbm's Image
Cleanup job (nbcli/daemons/cleanup.py) through bpcd:

    bpdbm -> bpbrm: delete{jobid, master, images: [{backupid, path, fragments}]}
    bpbrm: for each image, storage.open_unit(image).delete_image(backupid, fragments)
    bpbrm -> bpdbm: done{status, removed: [{backupid, files}], failed: [{backupid, status, msg}]}

An image counts as removed only when none of its fragment files is left. A storage unit folder
that is not there fails the image (an unmounted file system looks like that): its catalog
entry stays and the next cleanup tries again. bpbrm deletes only files named after the image
(`<backupid>_C1_*`) in the folder it is given, and only for a well-formed backup id, so that a
glob character can never widen what goes.
"""

from __future__ import annotations

import re
from typing import Any

from nbcli.media import storage
from nbcli.media.bpbrm_ctx import Ctx
from nbcli.status import INVALID_PARAMETER, NbuError

BACKUPID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*_[0-9]+\Z")


def check_image(image: Any) -> tuple[str, list[str]]:
    """(backup id, fragment paths) of a request; status 20 if malformed. Where the unit is
    (a disk unit's "path", which must be absolute) its backend checks (storage.open_unit)."""
    if not isinstance(image, dict):
        raise NbuError(INVALID_PARAMETER, "delete: each image must be an object")
    backupid = image.get("backupid")
    fragments = image.get("fragments", [])
    if not isinstance(backupid, str) or not BACKUPID.match(backupid):
        raise NbuError(INVALID_PARAMETER, f"delete: invalid backup id {backupid!r}")
    if not isinstance(fragments, list) or not all(isinstance(f, str) for f in fragments):
        raise NbuError(INVALID_PARAMETER, "delete: fragments must be a list of paths")
    return backupid, fragments


def delete_image(image: Any) -> int:
    """Remove one image's files from its storage unit; how many went. NbuError when a
    fragment is left behind. An image on tape (stype 2) has nothing to remove: the tape keeps
    it until its medium is written again, and an entry naming no drive cannot mount one."""
    backupid, fragments = check_image(image)
    if storage.unit_type(image) == storage.MEDIA_MANAGER and not image.get("barcode"):
        return 0
    return storage.open_unit(image).delete_image(backupid, fragments)


def run(ctx: Ctx, req: dict[str, Any]) -> int:
    """Delete every image of the request; report what went and what stays."""
    images = req.get("images")
    if not isinstance(images, list):
        raise NbuError(INVALID_PARAMETER, "delete: images must be a list")
    removed: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for image in images:
        backupid = image.get("backupid") if isinstance(image, dict) else None
        try:
            files = delete_image(image)
        except NbuError as e:
            ctx.log.error("image %s stays: %s", backupid, e)
            failed.append({"backupid": backupid, "status": e.status,
                           "msg": e.detail or e.message})
            continue
        ctx.log.info("removed %d file(s) of image %s from %s", files, backupid,
                     image.get("path") or image.get("label"))
        removed.append({"backupid": backupid, "files": files})
    status = 1 if failed else 0
    ctx.ctl.send({"op": "done", "status": status, "removed": removed, "failed": failed})
    return status
