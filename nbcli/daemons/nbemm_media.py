"""nbemm's media ops: robots, drives, volume pools, media, media errors, spanning, settings.

The ops of TAPE-PLAN §1, merged into nbemm's `nbemm` service by nbemm.py (`MediaOps.ops`).
Each handler hands the request's values to the EmmDB's MediaDB (nbcli/catalog/emm_media.py),
where the rules live, and answers with what it returns; the tape side of `allocate` is in
emmdb/emm_tape. Every op is the administrators' and the media servers' (ADMIN): tpconfig, the
vm* commands, ltid and bptm call them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nbcli import clock
from nbcli.catalog.emm_media import ERROR_KINDS, STANDALONE, UP
from nbcli.catalog.emmdb import EmmDB
from nbcli.net.conn import Connection
from nbcli.net.service import Ops, op
from nbcli.net.trust import ADMIN
from nbcli.wire.frames import Message
from nbcli.wire.schema import obj, opt, req

JOBID_MAX = 2**63 - 1
NUMBER = {"lo": -1, "hi": 32767}  # robot numbers, robot drive numbers, slots (-1: none)
BACKUPID_MAX = 256
RECOUNT_MAX = 10_000  # images in one part of a medium's recount
MEDIA_ACTIONS = frozenset({"freeze", "unfreeze", "suspend", "unsuspend"})


class MediaOps:
    """The media ops of one nbemm: `emm` gives its open database, `log` its logger."""

    def __init__(self, emm: Callable[[], EmmDB], log: logging.Logger) -> None:
        self.emm = emm
        self.log = log

    def ops(self) -> Ops:
        text, name, media_id = req(str, max_len=1024), req(str, max_len=128), \
            req(str, max_len=32)
        jobid = req(int, lo=1, hi=JOBID_MAX)
        count = {"lo": 0, "hi": 2**62}
        return {
            "robot_add": op(self.robot_add, ADMIN, rn=req(int, **NUMBER), rt=req(str),
                            host=name, device=text),
            "robot_delete": op(self.robot_delete, ADMIN, rn=req(int, **NUMBER)),
            "robot_update": op(self.robot_update, ADMIN, rn=req(int, **NUMBER), device=text),
            "robot_list": op(self.robot_list, ADMIN),
            "drive_add": op(self.drive_add, ADMIN, name=name, host=name, type=req(str),
                            rn=req(int, **NUMBER), drnum=req(int, **NUMBER), path=text,
                            state=opt(str, UP), comment=opt(str, "")),
            "drive_update": op(self.drive_update, ADMIN, name=req((str, int)), host=opt(str),
                               state=opt(str), path=opt(str), comment=opt(str)),
            "drive_delete": op(self.drive_delete, ADMIN, name=req((str, int)), host=opt(str)),
            "drive_list": op(self.drive_list, ADMIN, host=opt(str)),
            "drive_loaded": op(self.drive_loaded, ADMIN, name=req((str, int)), host=opt(str),
                               media_id=req(str, max_len=32)),
            "pool_add": op(self.pool_add, ADMIN, name=name, description=opt(str, ""),
                           host=opt(str, "ANYHOST"), user=opt(str, "ANY"),
                           group=opt(str, "NONE")),
            "pool_delete": op(self.pool_delete, ADMIN, name=name),
            "pool_list": op(self.pool_list, ADMIN),
            "pool_scratch": op(self.pool_scratch, ADMIN, name=name, on=req(bool)),
            "media_add": op(self.media_add, ADMIN, media_id=media_id, type=req(str),
                            barcode=opt(str, ""), pool=opt(str, "NetBackup"), rt=opt(str),
                            rn=opt(int, STANDALONE, **NUMBER), slot=opt(int, 0, **NUMBER),
                            max_mounts=opt(int, 0, **count), description=opt(str, "")),
            "media_change": op(self.media_change, ADMIN, media_id=media_id, pool=opt(str),
                               rt=opt(str), rn=opt(int, **NUMBER), slot=opt(int, **NUMBER),
                               max_mounts=opt(int, **count), description=opt(str),
                               cleanings=opt(int, **count)),
            "media_delete": op(self.media_delete, ADMIN, media_id=media_id),
            "media_list": op(self.media_list, ADMIN, media_id=opt(str), pool=opt(str),
                             rn=opt(int, **NUMBER)),
            "media_state": op(self.media_state, ADMIN, media_id=media_id,
                              action=req(str, choices=MEDIA_ACTIONS)),
            "media_written": op(self.media_written, ADMIN, jobid=jobid, media_id=media_id,
                                kbytes=req(int, **count), images=req(int, **count),
                                full=opt(bool, False), rl=opt(int, -1, lo=-1, hi=100),
                                expiration=opt(int, 0, **count),
                                backupid=opt(str, "", max_len=BACKUPID_MAX)),
            "media_recount": op(self.media_recount, ADMIN, media_id=media_id,
                                as_of=req(int, **count), valid=req(int, **count),
                                expiration=req(int, **count),
                                images=req(list, max_len=RECOUNT_MAX, items=obj({
                                    "backupid": req(str, max_len=BACKUPID_MAX),
                                    "kbytes": req(int, **count),
                                    "expiration": req(int, **count),
                                    "rl": req(int, lo=-1, hi=100),
                                    "written": req(int, **count)}))),
            "media_read": op(self.media_read, ADMIN, jobid=jobid, media_id=media_id),
            "media_error": op(self.media_error, ADMIN, jobid=jobid, media_id=media_id,
                              drive=req((str, int)),
                              kind=req(str, choices=frozenset(ERROR_KINDS))),
            "media_unassign": op(self.media_unassign, ADMIN, media_id=media_id,
                                 any_state=opt(bool, False)),
            "span": op(self.span, ADMIN, jobid=jobid, full_media_id=media_id,
                       full=opt(bool, True),
                       avoid=opt(list, [], max_len=64, items=req(str, max_len=32))),
            "settings": op(self.settings, ADMIN, media_error_threshold=opt(int, **count),
                           time_window=opt(int, **count),
                           drive_error_threshold=opt(int, **count)),
        }

    # The ops that change the configuration, recorded in the error log (nbemm audits them).
    AUDITED = ("robot_add", "robot_delete", "robot_update", "drive_add", "drive_update",
               "drive_delete", "pool_add", "pool_delete", "pool_scratch", "media_add",
               "media_change", "media_delete", "media_state", "settings")

    # --- robots and drives ------------------------------------------------------------------

    def robot_add(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.robot_add(msg["rn"], msg["rt"], msg["host"], msg["device"])
        self.log.info("robot %d (%s) on %s at %s added by %s", msg["rn"], msg["rt"],
                      msg["host"], msg["device"], conn.peer)
        return {}

    def robot_delete(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.robot_delete(msg["rn"])
        self.log.info("robot %d deleted by %s", msg["rn"], conn.peer)
        return {}

    def robot_update(self, msg: Message, conn: Connection) -> Message:
        moved = self.emm().media.robot_update(msg["rn"], msg["device"])
        self.log.info("robot %d now at %s (and %d drive path(s)), by %s", msg["rn"],
                      msg["device"], moved, conn.peer)
        return {"drives": moved}

    def robot_list(self, msg: Message, conn: Connection) -> Message:
        return {"robots": self.emm().media.robots()}

    def drive_add(self, msg: Message, conn: Connection) -> Message:
        index = self.emm().media.drive_add(msg["name"], msg["host"], msg["type"], msg["rn"],
                                           msg["drnum"], msg["path"], msg["state"],
                                           msg["comment"])
        self.log.info("drive %d %s on %s added by %s", index, msg["name"], msg["host"],
                      conn.peer)
        return {"index": index}

    def drive_update(self, msg: Message, conn: Connection) -> Message:
        drive = self.emm().media.drive_update(msg["name"], msg["host"], msg["state"],
                                              msg["path"], msg["comment"])
        self.log.info("drive %d %s on %s changed by %s: %s, %s", drive["index"], drive["name"],
                      drive["host"], conn.peer, drive["state"], drive["path"])
        return {}

    def drive_delete(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.drive_delete(msg["name"], msg["host"])
        self.log.info("drive %s deleted by %s", msg["name"], conn.peer)
        return {}

    def drive_list(self, msg: Message, conn: Connection) -> Message:
        return {"drives": self.emm().media.drives(msg["host"])}

    def drive_loaded(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.drive_loaded(msg["name"], msg["host"], msg["media_id"],
                                      int(clock.now()))
        return {}

    # --- pools -------------------------------------------------------------------------------

    def pool_add(self, msg: Message, conn: Connection) -> Message:
        number = self.emm().media.pool_add(msg["name"], msg["description"], msg["host"],
                                           msg["user"], msg["group"])
        self.log.info("volume pool %d %s added by %s", number, msg["name"], conn.peer)
        return {"number": number}

    def pool_delete(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.pool_delete(msg["name"])
        self.log.info("volume pool %s deleted by %s", msg["name"], conn.peer)
        return {}

    def pool_list(self, msg: Message, conn: Connection) -> Message:
        return {"pools": self.emm().media.pools()}

    def pool_scratch(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.pool_scratch(msg["name"], msg["on"])
        self.log.info("volume pool %s %s the scratch pool (%s)", msg["name"],
                      "is" if msg["on"] else "is no longer", conn.peer)
        return {}

    # --- media -------------------------------------------------------------------------------

    def media_add(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.media_add(msg["media_id"], msg["type"], int(clock.now()),
                                   msg["barcode"], msg["pool"], msg["rt"], msg["rn"],
                                   msg["slot"], msg["max_mounts"], msg["description"])
        self.log.info("media %s (%s) added to pool %s by %s", msg["media_id"], msg["type"],
                      msg["pool"], conn.peer)
        return {}

    def media_change(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.media_change(msg["media_id"], msg["pool"], msg["rn"], msg["slot"],
                                      msg["max_mounts"], msg["description"], msg["rt"],
                                      msg["cleanings"])
        return {}

    def media_delete(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.media_delete(msg["media_id"])
        self.log.info("media %s deleted by %s", msg["media_id"], conn.peer)
        return {}

    def media_list(self, msg: Message, conn: Connection) -> Message:
        return {"media": self.emm().media.media(msg["media_id"], msg["pool"], msg["rn"])}

    def media_state(self, msg: Message, conn: Connection) -> Message:
        rec = self.emm().media.media_state(msg["media_id"], msg["action"])
        self.log.info("media %s: %s by %s (state 0x%x)", rec["media_id"], msg["action"],
                      conn.peer, rec["state"])
        return {}

    def media_written(self, msg: Message, conn: Connection) -> Message:
        counted = self.emm().media.media_written(msg["media_id"], msg["kbytes"],
                                                 msg["images"], msg["full"], msg["rl"],
                                                 msg["expiration"], int(clock.now()),
                                                 msg["backupid"])
        if msg["images"] and not counted:  # what an operator asks when counts look low
            self.log.info("media %s: image %s was counted on it already (a report sent "
                          "again, or a recount first); not counted twice",
                          msg["media_id"].upper(), msg["backupid"])
        return {}

    def media_recount(self, msg: Message, conn: Connection) -> Message:
        done = self.emm().media.media_recount(msg["media_id"], msg["images"], msg["as_of"],
                                              int(clock.now()),
                                              (msg["valid"], msg["expiration"]))
        if done["counted"]:
            self.log.warning("media %s: %d image(s) its writers never reported counted from "
                             "the catalog (the first: %s)", msg["media_id"].upper(),
                             len(done["counted"]), done["counted"][0])
        return done

    def media_read(self, msg: Message, conn: Connection) -> Message:
        self.emm().media.media_read(msg["media_id"], int(clock.now()))
        return {}

    def media_error(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        action = self.emm().media.media_error(jobid, msg["media_id"], msg["drive"],
                                              msg["kind"], int(clock.now()))
        log = self.log.warning if action != "none" else self.log.info
        log("%s error on media %s in drive %s (job %d): %s", msg["kind"], msg["media_id"],
            msg["drive"], jobid, action, extra={"jobid": jobid})
        return {"action": action}

    def media_unassign(self, msg: Message, conn: Connection) -> Message:
        done = self.emm().media.media_unassign(msg["media_id"], msg["any_state"])
        self.log.info("media %s %s", msg["media_id"],
                      "unassigned" if done else "stays assigned (frozen or in use)")
        return {"unassigned": done}

    def span(self, msg: Message, conn: Connection) -> Message:
        jobid = msg["jobid"]
        granted = self.emm().span(jobid, msg["full_media_id"], int(clock.now()), msg["full"],
                                  msg["avoid"])
        self.log.info("job %d %s from %s to %s in drive %s", jobid,
                      "spans" if msg["full"] else "selects other media", msg["full_media_id"],
                      granted["stu"]["media_id"], granted["stu"]["drive_name"],
                      extra={"jobid": jobid})
        return granted

    def settings(self, msg: Message, conn: Connection) -> Message:
        return {"settings": self.emm().media.settings(msg["media_error_threshold"],
                                                       msg["time_window"],
                                                       msg["drive_error_threshold"])}
