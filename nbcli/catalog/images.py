"""The image catalog on disk: create, fill, complete, abort and find backup images.

Place: bpdbm's state (nbcli/daemons/bpdbm.py is the only user, and bpdbm is the only writer of
db/images). Header text is nbcli/catalog/imagehdr.py, the .f format nbcli/catalog/files.py and
fcatwrite.py; point-in-time views and restore plans are built on top (imagechain.py, plan.py).

An image's life, as protocol.md "Catalog" states it:

    create    header.inprogress + .f.inprogress        (invisible to image_list)
    add*      blocks appended to .f.inprogress
    complete  verify; index .f; rename .f; rewrite header; rename header   (now visible)
    abort     both files removed
    expire    header replaced with a new EXPIRATION                  (bpexpdate)
    remove    header renamed to a tombstone; .f deleted; tombstone deleted   (once expired)

Several images may be in progress at once (one per job); each has its own lock, so batches of
different jobs never wait on each other. A complete image's .f never changes again and its
header changes only by atomic replacement, which is why readers take no lock and parsed
headers (checked against mtime and size) and opened .f files can be cached. What has expired
is nbcli/catalog/expire.py's rule; the store lists expired images only when asked to.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbcli import atomic
from nbcli.catalog.expire import header_of_tombstone, is_expired, tombstone_name
from nbcli.catalog.fcatwrite import FilesWriter, scan
from nbcli.catalog.files import FilesFile
from nbcli.catalog.imagehdr import (
    CTIME_DIR,
    SUFFIX,
    VERSION,
    Header,
    backupid_of,
    check_name,
    ctime_of_file,
    format_header,
    header_name,
    image_dir,
    parse_header,
    parse_name,
    split_backupid,
)
from nbcli.status import CANNOT_PROCESS, DATABASE_ERROR, EVENTS_OUT_OF_SEQUENCE, NO_ENTITY, NbuError

OPEN_FILES = 16  # .f files kept mapped for repeated listings of the same images


@dataclass
class Pending:
    """An image in progress: its header so far and its .f writer."""

    header: Header
    dir: Path
    name: str
    writer: FilesWriter
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False

    def paths(self) -> tuple[Path, Path]:
        """(header, .f) of the in-progress image."""
        return self.dir / (self.name + SUFFIX), self.dir / (self.name + ".f" + SUFFIX)


def check_fragments(fragments: Any, stream_bytes: int) -> None:
    """Fragments numbered 1..n, contiguous from 0 and adding up to the stream; else 229."""
    at = 0
    for n, f in enumerate(fragments, 1):
        if f["num"] != n or f["offset"] != at or f["bytes"] < 0:
            raise NbuError(EVENTS_OUT_OF_SEQUENCE,
                           f"fragment {n} is not contiguous with the ones before it")
        at += f["bytes"]
    if at != stream_bytes:
        raise NbuError(EVENTS_OUT_OF_SEQUENCE,
                       f"fragments hold {at} bytes, the image stream {stream_bytes}")


class ImageStore:
    """db/images of the master: the one writer of image headers and .f files."""

    def __init__(self, root: Path, log: logging.Logger) -> None:
        self.root = root
        self.log = log
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._headers: dict[Path, tuple[tuple[int, int], Header]] = {}
        self._files: OrderedDict[tuple[Path, int], FilesFile] = OrderedDict()

    # --- writing -----------------------------------------------------------------------------

    def create(self, h: Header) -> Header:
        """Start an image; its backup time moves on by seconds if the client's id is taken."""
        client = check_name("client", h["client"])
        check_name("policy", h["policy"])
        with self._lock:
            ctime = int(h["backup_time"])
            while self._taken(client, ctime):
                ctime += 1
            name = header_name(h["policy"], ctime, h["sched_type"])
            h = {**h, "version": VERSION, "backupid": backupid_of(client, ctime),
                 "backup_time": ctime, "files_file": name + ".f", "fragments": []}
            d = image_dir(self.root, client, ctime)
            atomic.makedirs(d)
            writer = FilesWriter.create(d / (name + ".f" + SUFFIX))
            pending = Pending(h, d, name, writer)
            try:
                atomic.write_text(pending.paths()[0], format_header(h))
            except BaseException:
                writer.close()
                pending.paths()[1].unlink()
                raise
            self._pending[h["backupid"]] = pending
        self.log.info("image %s created (job %s)", h["backupid"], h.get("jobid"))
        return dict(h)

    def _taken(self, client: str, ctime: int) -> bool:
        if backupid_of(client, ctime) in self._pending:
            return True
        d = image_dir(self.root, client, ctime)
        return d.is_dir() and any(ctime_of_file(n) == ctime for n in os.listdir(d))

    def add_files(self, backupid: str, entries: Any) -> int:
        p = self._get(backupid)
        with p.lock:
            self._check_open(p)
            return p.writer.add(entries)

    def complete(self, backupid: str, result: dict[str, Any]) -> Header:
        """Verify and publish an image: entry count, fragments, members inside the stream."""
        p = self._get(backupid)
        with p.lock:
            self._check_open(p)
            w = p.writer
            if result["num_files"] != w.count:
                raise NbuError(EVENTS_OUT_OF_SEQUENCE,
                               f"{backupid}: {w.count} files in the catalog, "
                                    f"{result['num_files']} reported")
            check_fragments(result["fragments"], result["stream_bytes"])
            if w.max_end > result["stream_bytes"]:
                raise NbuError(EVENTS_OUT_OF_SEQUENCE,
                               f"{backupid}: a file ends at byte {w.max_end}, past the "
                                    f"image's {result['stream_bytes']} bytes")
            hdr_tmp, f_tmp = p.paths()
            w.finish()
            check = FilesFile(f_tmp)
            if check.count != w.count:
                raise NbuError(EVENTS_OUT_OF_SEQUENCE, f"{f_tmp}: reads back {check.count} entries")
            h = {**p.header, **result, "ff_size": check.size}
            check.close()
            os.replace(f_tmp, p.dir / (p.name + ".f"))
            atomic.fsync_dir(p.dir)
            atomic.write_text(hdr_tmp, format_header(h))
            os.replace(hdr_tmp, p.dir / p.name)
            atomic.fsync_dir(p.dir)
            w.close()
            p.done = True
        with self._lock:
            self._pending.pop(backupid, None)
        self.log.info("image %s complete: %d files, %d KB", backupid, w.count, h["kbytes"])
        return h

    def abort(self, backupid: str) -> None:
        p = self._get(backupid)
        with p.lock:
            self._check_open(p)
            p.writer.close()
            for path in p.paths():
                path.unlink(missing_ok=True)
            atomic.fsync_dir(p.dir)
            p.done = True
        with self._lock:
            self._pending.pop(backupid, None)
        self.log.info("image %s aborted", backupid)

    @staticmethod
    def _check_open(p: Pending) -> None:
        if p.done:
            raise NbuError(EVENTS_OUT_OF_SEQUENCE,
                           f"image {p.header['backupid']} is no longer in progress")

    def _get(self, backupid: str) -> Pending:
        """The image in progress; recovered from disk after a restart of bpdbm."""
        client, ctime = split_backupid(backupid)
        with self._lock:
            if backupid in self._pending:
                return self._pending[backupid]
            d = image_dir(self.root, client, ctime)
            names = [n for n in (os.listdir(d) if d.is_dir() else [])
                     if ctime_of_file(n) == ctime]
            for n in names:
                if n.endswith(SUFFIX) and not n.endswith(".f" + SUFFIX):
                    base = n[:-len(SUFFIX)]
                    try:
                        h = parse_header((d / n).read_text("utf-8", "surrogateescape"),
                                         str(d / n))
                        p = Pending(h, d, base, scan(d / (base + ".f" + SUFFIX)))
                    except OSError as e:
                        raise NbuError(DATABASE_ERROR,
                                       f"cannot reopen image {backupid}: {e}") from e
                    self._pending[backupid] = p
                    self.log.info("image %s in progress again (%d files)", backupid,
                                  p.writer.count)
                    return p
        if any(not n.endswith(SUFFIX) for n in names):
            raise NbuError(EVENTS_OUT_OF_SEQUENCE, f"image {backupid} is already complete")
        raise NbuError(NO_ENTITY, f"no image {backupid} in progress")

    # --- expiring (bpexpdate, the Image Cleanup job) -----------------------------------------

    def _complete_paths(self, h: Header) -> tuple[Path, Path]:
        """(header, .f) of a complete image, by the layout's rule (never a name it stores)."""
        client, ctime = split_backupid(h["backupid"])
        hdr = image_dir(self.root, client, ctime) / header_name(h["policy"], ctime,
                                                                 h["sched_type"])
        return hdr, hdr.with_name(hdr.name + ".f")

    def _current(self, backupid: str) -> Header:
        """A complete image's header as it is on disk now; status 227 if there is none."""
        found = self.find(backupid=backupid)
        if not found:
            raise NbuError(NO_ENTITY, f"no image {backupid} in the catalog")
        return found[0]

    def set_expiration(self, backupid: str, expiration: int) -> Header:
        """Give a complete image a new expiration: its header is replaced atomically."""
        h = self.update(backupid, expiration=expiration)
        self.log.info("image %s now expires at %d", backupid, expiration)
        return h

    def update(self, backupid: str, **changes: Any) -> Header:
        """Change header fields of a complete image (bpimage -update, bpexpdate): its header is
        replaced atomically."""
        with self._lock:
            h = self._current(backupid)
            hdr, _ = self._complete_paths(h)
            h.update(changes)
            try:
                atomic.write_text(hdr, format_header(h))
            except OSError as e:
                raise NbuError(DATABASE_ERROR,
                               f"cannot rewrite the header of {backupid}: {e}") from e
            finally:
                self._headers.pop(hdr, None)
        return h

    def remove(self, backupid: str, now: float) -> None:
        """Delete the catalog files of an image expired at `now` (status 228 if it is not).

        One rename takes the image out of the catalog: the header becomes a hidden tombstone
        while its .f is still there. Then the .f goes, then the tombstone. A crash leaves the
        image whole, or gone with a tombstone that sweep() finishes - never a header without
        its .f.
        """
        with self._lock:
            h = self._current(backupid)
            if not is_expired(h, now):
                raise NbuError(CANNOT_PROCESS, f"image {backupid} has not expired; it stays")
            hdr, dot_f = self._complete_paths(h)
            tomb = hdr.with_name(tombstone_name(hdr.name))
            os.replace(hdr, tomb)
            atomic.fsync_dir(hdr.parent)
            self._headers.pop(hdr, None)
            for key in [k for k in self._files if k[0] == dot_f]:
                del self._files[key]  # dropped, not closed: a listing may still read it
            self._bury(tomb)
        self.log.info("image %s removed from the catalog", backupid)

    @staticmethod
    def _bury(tomb: Path) -> None:
        """Delete a tombstone's .f, then the tombstone itself."""
        header = header_of_tombstone(tomb.name)
        # A complete header of that name again (a new image at the same second) owns the .f.
        if header and not (tomb.parent / header).exists():
            (tomb.parent / (header + ".f")).unlink(missing_ok=True)
        tomb.unlink(missing_ok=True)
        atomic.fsync_dir(tomb.parent)

    def sweep(self) -> int:
        """Finish the removals a crash interrupted (bpdbm runs it before serving)."""
        done = 0
        with self._lock:
            for cdir in self._client_dirs(None):
                for tdir in sorted(cdir.iterdir()):
                    for name in os.listdir(tdir) if tdir.is_dir() else []:
                        if header_of_tombstone(name):
                            self._bury(tdir / name)
                            done += 1
        if done:
            self.log.info("finished removing %d image(s) a crash had interrupted", done)
        return done

    def in_progress(self) -> list[tuple[str, int]]:
        """(backup id, job id) of every image in progress on disk, whoever created it: what
        bpdbm checks against bpjobd to find the images a crash left (the job is closed)."""
        out = []
        for cdir in self._client_dirs(None):
            for tdir in sorted(cdir.iterdir()):
                for name in os.listdir(tdir) if tdir.is_dir() else []:
                    if not name.endswith(SUFFIX) or name.endswith(".f" + SUFFIX):
                        continue
                    try:
                        h = parse_header((tdir / name).read_text("utf-8", "surrogateescape"),
                                         str(tdir / name))
                    except (OSError, NbuError) as e:
                        self.log.warning("image in progress %s unreadable: %s", tdir / name, e)
                        continue
                    out.append((str(h["backupid"]), int(h.get("jobid") or 0)))
        return out

    # --- reading -----------------------------------------------------------------------------

    def find(self, client: str | None = None, backupid: str | None = None,
             start: int | None = None, end: int | None = None, *,
             live_at: float | None = None) -> list[Header]:
        """Complete images, newest first, by client / backup id / backup time range; with
        `live_at`, only those not expired at that time (what users may list and restore)."""
        ctime_of = None
        if backupid:
            client, ctime_of = split_backupid(backupid)
            start = end = ctime_of
        lo, hi = start or 0, end if end is not None else 1 << 62
        out = []
        for cdir in self._client_dirs(client):
            for tdir in sorted(cdir.iterdir()) if cdir.is_dir() else []:
                if not tdir.name.isdigit() or int(tdir.name) + CTIME_DIR <= lo \
                        or int(tdir.name) > hi:
                    continue
                for name in os.listdir(tdir):
                    parsed = parse_name(name)
                    if parsed and not name.startswith(".") and lo <= parsed[1] <= hi:
                        h = self.header(tdir / name)
                        if h is not None and (live_at is None or not is_expired(h, live_at)):
                            out.append(h)
        out.sort(key=lambda h: (h["backup_time"], h["backupid"]), reverse=True)
        return out

    def _client_dirs(self, client: str | None) -> list[Path]:
        if client is not None:
            return [self.root / check_name("client", client)]
        return sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() \
            else []

    def header(self, path: Path) -> Header | None:
        """A complete image's header (cached); None, logged, if it is damaged."""
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size)
            cached = self._headers.get(path)
            if cached is None or cached[0] != key:
                h = parse_header(path.read_text("utf-8", "surrogateescape"), str(path))
                cached = self._headers[path] = (key, h)
        except FileNotFoundError:
            return None  # removed by the Image Cleanup job since the folder was listed
        except (OSError, NbuError) as e:
            self.log.warning("skipping image header %s: %s", path, e)
            return None
        return {**cached[1], "fragments": [dict(f) for f in cached[1]["fragments"]]}

    def files_file(self, h: Header) -> FilesFile:
        """The .f of a complete image, opened (kept open for the next request)."""
        client, ctime = split_backupid(h["backupid"])
        path = image_dir(self.root, client, ctime) / h["files_file"]
        try:
            key = (path, os.stat(path).st_mtime_ns)
        except OSError as e:
            raise NbuError(DATABASE_ERROR, f"files file of {h['backupid']} is missing: {e}") from e
        with self._lock:
            ff = self._files.get(key)
            if ff is not None:
                self._files.move_to_end(key)
                return ff
        ff = FilesFile(path)
        with self._lock:
            self._files[key] = ff
            while len(self._files) > OPEN_FILES:
                # Dropped, not closed: a listing on another thread may still read it; the
                # mapping goes when the last reference does.
                self._files.popitem(last=False)
        return ff

    def close(self) -> None:
        with self._lock:
            for p in self._pending.values():
                p.writer.close()
            self._pending.clear()
            self._files.clear()
