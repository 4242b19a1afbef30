"""The image ops' fields (docs/protocol.md "Catalog"): bpdbm serves them, nbproxy relays them.

One table for both, so that a request nbproxy lets through is one bpdbm takes, and a mistake
gets the same status from either (143 for its shape, 20 for a value out of range; see
nbcli.wire.schema). The catalog's own rules (names, backup ids, file entries, the consistency
of a completion) stay in nbcli/catalog and give their own statuses.

Imports only kinds, the catalog's column names and nbcli.wire; never a daemon.
"""

from __future__ import annotations

from nbcli.catalog.files import ENTRY_FIELDS
from nbcli.catalog.imagechain import IMAGE_FIELDS
from nbcli.kinds import DEFAULT_RETENTION_LEVEL, SCHED_TYPES
from nbcli.wire.schema import Fields, obj, opt, req

# What a listing may ask for: an entry's columns, its image's, and the entry's own name.
LISTABLE = ENTRY_FIELDS + IMAGE_FIELDS + ("name",)

# image_list's filters (and so image_expire's selection).
SELECT: Fields = {"client": opt(str), "backupid": opt(str), "start": opt(int), "end": opt(int),
                  "policy": opt(str), "policy_type": opt(int), "sched_type": opt(int),
                  "sched_label": opt(str)}
# The images a listing or a restore looks at: one client's, as of `end`.
VIEW: Fields = {"client": req(str), "backupid": opt(str), "start": opt(int), "end": opt(int),
                "policy": opt(str), "policy_type": opt(int)}
# One fragment of a completed image: where its bytes are (whether the fragments add up is
# the store's to say: 229). A tape fragment also names its medium, the tape file of its backup
# header, the logical block of its first data record, the record size and the density code
# (NetBackup's FRAG id, file_num, offset, block_size, density); a disk fragment leaves them.
FRAGMENT: Fields = {"num": req(int), "offset": req(int), "bytes": req(int), "host": req(str),
                    "path": req(str), "media_id": opt(str, "", max_len=6),
                    "file_num": opt(int, -1, lo=-1), "block_offset": opt(int, -1, lo=-1),
                    "block_size": opt(int, 0, lo=0), "density": opt(int, 0, lo=0)}

IMAGE_OPS: dict[str, Fields] = {
    "image_create": {
        "client": req(str), "policy": req(str), "policy_type": opt(int, 0),
        "sched_label": opt(str, ""), "sched_type": req(int, choices=frozenset(SCHED_TYPES)),
        "retention_level": opt(int, DEFAULT_RETENTION_LEVEL), "backup_time": req(int, lo=0),
        "expiration": opt(int), "jobid": opt(int, 0, lo=0), "tir": opt((bool, int), False),
        "keyword": opt(str, ""), "stu": opt(str, ""), "media_server": opt(str, "")},
    # The entries are the catalog's to check, one by one (223 for a malformed one).
    "image_add_files": {"backupid": req(str), "entries": req(list)},
    "image_complete": {
        "backupid": req(str), "kbytes": req(int), "num_files": req(int),
        "elapsed": opt(int, 0), "fragments": req(list, items=obj(FRAGMENT)),
        "checksum": req(str), "block_size": req(int), "stream_bytes": req(int),
        # whether the image crossed to the media server encrypted (the image's DTE mode)
        "dte_mode": opt(int, 0, choices=frozenset((0, 1)))},
    "image_abort": {"backupid": req(str)},
    # media_id: only images with a fragment on that tape (bpexpdate -m, -deassignempty)
    "image_list": {**SELECT, "media_id": opt(str, max_len=6)},
    "file_list": {**VIEW, "path": req(str), "recursive": opt((bool, int), False),
                  "depth": opt(int),
                  "columns": opt(list, items=req(str, choices=frozenset(LISTABLE)))},
    "restore_plan": {**VIEW, "paths": req(list, items=req(str))},
    "image_expire": {**SELECT, "expiration": req(int)},
    # bpimage -update -backupid ID -image_dtemode On|Off: the image's DTE mode (1 on, 0 off)
    "image_update": {"backupid": req(str), "dte_mode": req(int, choices=frozenset((0, 1)))},
    # bpexpdate -m ID -d 0: every image with a fragment on the tape medium, and the medium.
    "expire_media": {"media_id": req(str, max_len=6)},
    "image_cleanup": {},
}

# Every op nbproxy relays (all of bpdbm's image ops but the expiring ones).
CATALOG_OPS = ("image_create", "image_add_files", "image_complete", "image_abort",
               "image_list", "file_list", "restore_plan")
