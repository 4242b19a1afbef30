"""bpdbm: the image catalog manager, the one writer of db/images (headers and .f files).

Place: a master daemon. nbjm reaches it through nbproxy (image_create, image_complete,
image_abort), bpbrm directly (image_add_files), bprd and the commands bpimagelist and bplist
directly (image_list, file_list, restore_plan), bpexpdate and bpimage (image_expire,
image_cleanup). The ops and their fields are docs/protocol.md "Catalog"; the state lives in
nbcli/catalog/ (images.py and the modules below it). bpdbm also runs the Image Cleanup job
(nbcli/daemons/cleanup.py) every cleanup interval: an expired image neither lists nor restores
from the moment it expires, and the job removes its fragments and catalog files.

Every request is checked before it reaches the catalog: its fields are declared in
nbcli/daemons/image_ops.py (a missing, mistyped or unknown field is status 143, a value out of
range 20), a malformed file entry 223, an unknown image 227, an out-of-order event (a second
completion, entries after an abort, counts that do not add up) 229. file_list answers with a
stream of frames, each holding a bounded amount of the listing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from nbcli import clock
from nbcli.catalog.expire import (
    NEVER_EXPIRES_LEVEL,
    check_expiration,
    expiration_of,
    is_expired,
    media_of,
    retention_period,
)
from nbcli.catalog.files import ENTRY_FIELDS
from nbcli.catalog.imagechain import ALL_DEPTHS, Part, View, normalize, select_chain
from nbcli.catalog.imagehdr import FRAGMENT_KEYS, TAPE_KEYS, Header, is_tape
from nbcli.catalog.images import ImageStore
from nbcli.catalog.plan import restore_plan
from nbcli.daemons import restore_rights
from nbcli.daemons.base import Daemon, daemon_main
from nbcli.daemons.bpdbm_config import ConfigOps
from nbcli.daemons.cleanup import TICK, Cleanup
from nbcli.daemons.image_ops import IMAGE_OPS, LISTABLE
from nbcli.kinds import default_period
from nbcli.net import client, trust
from nbcli.net.conn import Connection
from nbcli.net.service import Op, Ops, audited, op
from nbcli.net.trust import ADMIN, ANYONE, LISTERS, server_of
from nbcli.status import (
    INVALID_PARAMETER,
    NO_ENTITY,
    SERVER_NOT_ALLOWED,
    NbuError,
)
from nbcli.wire import schema
from nbcli.wire.frames import Message, ProtocolError

# Seconds between looks for images in progress whose job has ended (the first soon after start).
REAP = 30.0
REAP_FIRST = 3.0

# A file_list frame is flushed once its paths add up to about this much; frames that still
# exceed the wire's bound are split in two.
FRAME_BUDGET = 1 << 20
TEXT_FIELDS = ("path", "link", "name")
CHECKSUM = re.compile(r"crc32:[0-9a-f]{8}\Z")

NO_END = 1 << 62


def create_fields(msg: Message, period: Callable[[int], int | None] = default_period
                  ) -> dict[str, Any]:
    """image_create's header fields from its request, with NetBackup's defaults (`period`: a
    retention level's period in seconds, None = infinity). Checking a checked request again
    changes nothing: the catalog's tests build images from plain requests through here."""
    msg = schema.validate("image_create", msg, IMAGE_OPS["image_create"])
    level, expiration = msg["retention_level"], msg["expiration"]
    if expiration is None or level == NEVER_EXPIRES_LEVEL:
        expiration = expiration_of(msg["backup_time"], period(level))
    return {"client": msg["client"], "policy": msg["policy"],
            "policy_type": msg["policy_type"], "sched_label": msg["sched_label"],
            "sched_type": msg["sched_type"], "retention_level": level,
            "backup_time": msg["backup_time"], "expiration": check_expiration(expiration),
            "elapsed": 0, "kbytes": 0, "num_files": 0, "jobid": msg["jobid"],
            "tir": int(msg["tir"]), "keyword": msg["keyword"], "stu": msg["stu"],
            "media_server": msg["media_server"], "checksum": "", "block_size": 0,
            "stream_bytes": 0, "ff_size": 0}


def complete_fields(msg: Message) -> dict[str, Any]:
    """image_complete's results from its checked request (their consistency is the store's
    business)."""
    if not CHECKSUM.match(msg["checksum"]):
        raise NbuError(INVALID_PARAMETER,
                       f"image_complete: checksum {msg['checksum']!r} is not crc32:<8 hex>")
    out = {k: msg[k] for k in ("kbytes", "num_files", "elapsed", "checksum", "block_size",
                               "stream_bytes", "dte_mode")}
    return {**out, "fragments": [_fragment(f) for f in msg["fragments"]]}


def _fragment(f: dict[str, Any]) -> dict[str, Any]:
    """A checked fragment as the header keeps it: a disk fragment without the tape keys (their
    defaults), a tape fragment with a place a reader can locate (status 20 otherwise)."""
    if not is_tape(f):
        return {k: f[k] for k in FRAGMENT_KEYS}
    if f["file_num"] < 1 or f["block_offset"] < 0 or f["block_size"] < 1:
        raise NbuError(INVALID_PARAMETER, f"image_complete: tape fragment {f['num']} on "
                                          f"{f['media_id']} has no place on the tape")
    return {k: f[k] for k in (*FRAGMENT_KEYS, *TAPE_KEYS)}


def split_frame(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """A listing frame as two halves (for one that is over the wire's bound)."""
    if "entries" in frame:
        rows = frame["entries"]
        half = len(rows) // 2
        return [{"entries": rows[:half]}, {"entries": rows[half:]}]
    cols = frame["columns"]
    half = len(next(iter(cols.values()))) // 2
    return [{"columns": {k: v[:half] for k, v in cols.items()}},
            {"columns": {k: v[half:] for k, v in cols.items()}}]


class Bpdbm(Daemon):
    """the image catalog manager: header and .f files of every backup image"""

    name = "bpdbm"

    def on_start(self) -> None:
        self.store = ImageStore(self.paths.images, self.log)
        self.store.sweep()
        self.cleanup = Cleanup(lambda: self.cfg, self.store, self.log)
        # What a crash left in progress goes soon after start (once bpjobd answers), then
        # every REAP seconds.
        first = threading.Timer(REAP_FIRST, self.reap)
        first.daemon = True
        first.start()

    def on_stop(self) -> None:
        self.store.close()

    def periodic(self) -> list[tuple[float, Callable[[], None]]]:
        return [(TICK, self.cleanup.tick), (REAP, self.reap)]

    def reap(self) -> None:
        """Remove the images in progress whose job bpjobd has seen closed (or does not know,
        and nothing wrote them for an hour), catalog entry and fragments: a crash (of nbjm,
        of the host) left them, and no one will complete them. Nothing is removed while
        bpjobd cannot say (the image of a job that still runs must stay). An Image Cleanup
        job does it, when there are some."""
        try:
            jobid = self.cleanup.reap()
        except NbuError as e:
            self.log.warning("images in progress of ended jobs not removed: %s", e)
            return
        if jobid:
            self.log.warning("image cleanup job %d removed images whose job ended without "
                             "them", jobid)

    def services(self) -> dict[str, Ops]:
        image = {name: Op(getattr(self, name), ADMIN, IMAGE_OPS[name])
                 for name in ("image_create", "image_add_files", "image_complete", "image_abort",
                              "restore_plan", "image_expire", "expire_media", "image_cleanup",
                              "image_update")}
        # a client (or a user of this host) lists its own images and files, or those the
        # master's altnames allow: _bound
        lists = {name: Op(getattr(self, name), LISTERS, IMAGE_OPS[name])
                 for name in ("image_list", "file_list")}
        # the policy and settings ops (lost from this table in the merge of the op tables)
        config = ConfigOps(lambda: self.cfg, self.paths, self.log).ops()
        return {"bpdbm": audited({"ping": op(self.ping, ANYONE), **image, **lists, **config},
                                 "image_expire", "expire_media", "image_cleanup", "image_update")}

    def ping(self, msg: Message, conn: Connection) -> Message:
        return {"host": self.cfg.client_name, "service": self.name}

    # --- writing (nbjm through nbproxy; bpbrm) -----------------------------------------------

    def image_create(self, msg: Message, conn: Connection) -> Message:
        h = self.store.create(create_fields(msg, lambda level: retention_period(self.paths,
                                                                                level)))
        return {"backupid": h["backupid"], "backup_time": h["backup_time"]}

    def image_add_files(self, msg: Message, conn: Connection) -> Message:
        n = self.store.add_files(msg["backupid"], msg["entries"])
        return {"added": n}

    def image_complete(self, msg: Message, conn: Connection) -> Message:
        self.store.complete(msg["backupid"], complete_fields(msg))
        return {}

    def image_abort(self, msg: Message, conn: Connection) -> Message:
        self.store.abort(msg["backupid"])
        return {}

    # --- reading -------------------------------------------------------------------------------

    def image_list(self, msg: Message, conn: Connection) -> Message:
        """The images, each with its retention level's period as configured now (bpretlevel;
        None = infinity), which bpimagelist -L names."""
        self._bound(msg, conn)
        periods: dict[int, int | None] = {}
        images = self._select(msg)
        for h in images:
            level = h["retention_level"]
            if level not in periods:
                periods[level] = retention_period(self.paths, level)
        return {"images": [{**h, "retention_period": periods[h["retention_level"]]}
                           for h in images]}

    def _select(self, msg: Message) -> list[Header]:
        """The complete, unexpired images image_list's filters name, newest first."""
        images = self.store.find(msg["client"], msg["backupid"], msg["start"], msg["end"],
                                 live_at=clock.now())
        wanted = {k: msg[k] for k in ("client", "policy", "sched_type", "sched_label",
                                      "policy_type")}
        medium = msg.get("media_id")
        return [h for h in images if all(v is None or h[k] == v for k, v in wanted.items())
                and (medium is None or medium.upper() in media_of(h))]

    def _view(self, msg: Message) -> View:
        """The images a listing or a restore looks at, as of `end` (default: now).

        "Now" has no upper bound: a backup that starts in the same second as the client's
        previous one gets the next second as its time (backup IDs are unique), a moment in
        the future, and a restore right after it must still see it."""
        client, backupid = msg["client"], msg["backupid"]
        start = 0 if msg["start"] is None else msg["start"]
        end = NO_END if msg["end"] is None else msg["end"]
        now = clock.now()
        if backupid:
            chain = [h for h in self.store.find(backupid=backupid, live_at=now)
                     if h["client"] == client]
        else:
            policy, ptype = msg["policy"], msg["policy_type"]
            chain = select_chain([h for h in self.store.find(client, start=start, end=end,
                                                             live_at=now)
                                  if policy in (None, h["policy"])
                                  and ptype in (None, h["policy_type"])], start, end)
        if not chain:
            raise NbuError(NO_ENTITY, f"no backup images of {client} "
                                f"{'with id ' + backupid if backupid else 'in that time range'}")
        return View([Part(h, self.store.files_file(h)) for h in chain])

    def _bound(self, msg: Message, conn: Connection) -> None:
        """A client or a user of this host lists its own backups (the client field, when
        left empty, becomes it), or another client's that the master's altnames allow."""
        me = trust.asking_client(self.cfg, conn)
        if me is None:
            return
        if not msg["client"]:
            msg["client"] = me
        restore_rights.check(self.cfg, me, str(msg["client"]), restore=False)

    def file_list(self, msg: Message, conn: Connection) -> None:
        self._bound(msg, conn)
        path = normalize(msg["path"])
        recursive = bool(msg["recursive"])
        depth = msg["depth"]
        if depth is None:
            depth = ALL_DEPTHS if recursive else 1
        columns = msg["columns"]
        if columns is not None and not columns:
            raise NbuError(INVALID_PARAMETER,
                           f"file_list: columns must be some of {', '.join(LISTABLE)}")
        view = self._view(msg)
        segments = view.listing(path, recursive, max(depth, 1))
        pending = None
        for frame in self._frames(view, segments, columns):
            if pending is not None:
                self._send(conn, pending, more=True)
            pending = frame
        if pending is None:
            raise NbuError(NO_ENTITY, f"{path} is not in the images of {msg['client']}")
        self._send(conn, pending, more=False)
        return None

    @staticmethod
    def _frames(view: View, segments: Iterator[Any],
                columns: list[str] | None) -> Iterator[dict[str, Any]]:
        names = columns or list(ENTRY_FIELDS)
        buf: dict[str, list[Any]] = {n: [] for n in names}
        size = 0
        for seg in segments:
            cols = view.gather(seg, names)
            size += 8 * len(names) * len(cols[names[0]])
            size += sum(sum(map(len, cols[n])) for n in TEXT_FIELDS if n in cols)
            for n in names:
                buf[n] += cols[n]
            if size >= FRAME_BUDGET:
                yield Bpdbm._packed(buf, columns is not None)
                buf, size = {n: [] for n in names}, 0
        if buf[names[0]]:
            yield Bpdbm._packed(buf, columns is not None)

    @staticmethod
    def _packed(buf: dict[str, list[Any]], as_columns: bool) -> dict[str, Any]:
        if as_columns:
            return {"columns": buf}
        return {"entries": list(map(list, zip(*buf.values(), strict=True)))}

    def _send(self, conn: Connection, frame: dict[str, Any], more: bool) -> None:
        msg = {**frame, "more": more} if more else {"status": 0, **frame, "more": False}
        try:
            conn.send(msg)
        except ProtocolError:
            if len(next(iter(frame.get("columns", frame).values()))) < 2:
                raise
            first, second = split_frame(frame)
            self._send(conn, first, more=True)
            self._send(conn, second, more=more)

    def restore_plan(self, msg: Message, conn: Connection) -> Message:
        paths = [normalize(p) for p in msg["paths"]]
        if not paths:
            raise NbuError(INVALID_PARAMETER, "restore_plan: no paths")
        return restore_plan(self._view(msg), paths)

    # --- expiring (bpexpdate, bpimage -cleanup) -------------------------------------------------

    def _require_server(self, conn: Connection, op: str) -> None:
        """Only the master's servers may expire images: a client asking gets status 46."""
        if server_of(self.cfg, conn) is None:
            self.log.warning("refused %s from %s (%s): not in the SERVER list", op, conn.peer,
                             conn.address)
            raise NbuError(SERVER_NOT_ALLOWED, f"{op}: {conn.peer} is not a server of this master")

    def image_update(self, msg: Message, conn: Connection) -> Message:
        """bpimage -update: the image's DTE mode (the next restore of it decides with it)."""
        self._require_server(conn, "image_update")
        h = self.store.update(msg["backupid"], dte_mode=msg["dte_mode"])
        self.log.info("image %s: DTE mode now %s", h["backupid"], msg["dte_mode"])
        return {"backupid": h["backupid"]}

    def image_expire(self, msg: Message, conn: Connection) -> Message:
        """bpexpdate: new expiration for the images named; those it expires go at once."""
        self._require_server(conn, "image_expire")
        if not msg["backupid"] and not msg["policy"]:
            raise NbuError(INVALID_PARAMETER, "image_expire: a backupid or a policy is needed")
        expiration = check_expiration(msg["expiration"])
        with self.cleanup.lock:  # not while a cleanup job decides what to remove
            now = clock.now()
            images = self._select(msg)
            if not images:
                raise NbuError(NO_ENTITY, "no image matches")
            new = int(now) if expiration == 0 else expiration
            for h in images:
                self.store.set_expiration(h["backupid"], new)
        ids = [h["backupid"] for h in images]
        if not is_expired({"expiration": new}, clock.now()):
            return {"images": ids}
        try:
            jobid, status = self.cleanup.run(ids)
        except NbuError as e:
            raise NbuError(e.status, f"the images expired, but the image cleanup job did not "
                                     f"run: {e.detail or e.message}") from e
        return {"images": ids, "jobid": jobid, "job_status": status}

    def expire_media(self, msg: Message, conn: Connection) -> Message:
        """bpexpdate -m ID -d 0: every image on the tape medium expires now (also its parts on
        other media: an image is expired whole), their Image Cleanup job runs, and the
        medium is unassigned - also when no image was on it, and whatever its state (FROZEN,
        SUSPENDED: NetBackup's bpexpdate removes the media record "regardless of the media's
        previous state"), but not while a job writes it."""
        self._require_server(conn, "expire_media")
        media_id = str(msg["media_id"]).upper()
        with self.cleanup.lock:
            now = clock.now()
            images = [h for h in self.store.find(live_at=now) if media_id in media_of(h)]
            for h in images:
                self.store.set_expiration(h["backupid"], int(now))
        ids = [h["backupid"] for h in images]
        reply: dict[str, Any] = {"media_id": media_id, "images": ids}
        if ids:
            try:
                reply["jobid"], reply["job_status"] = self.cleanup.run(ids)
            except NbuError as e:
                raise NbuError(e.status, f"the images on {media_id} expired, but the image "
                                         f"cleanup job did not run: {e.detail or e.message}"
                               ) from e
        reply["unassigned"] = bool(client.call(self.cfg, self.cfg.client_name, "nbemm",
                                               "media_unassign", media_id=media_id,
                                               any_state=True).get("unassigned"))
        return reply

    def image_cleanup(self, msg: Message, conn: Connection) -> Message:
        """bpimage -cleanup: an Image Cleanup job now; the reply comes when it is done."""
        self._require_server(conn, "image_cleanup")
        jobid, status = self.cleanup.run()
        return {"jobid": jobid, "job_status": status}


main = daemon_main(Bpdbm)
