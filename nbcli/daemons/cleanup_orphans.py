"""Orphaned fragments: images on a disk storage unit that no catalog entry owns, and removing them.

A media server or master that dies between writing an image's fragments and the catalog's
commit, or a catalog entry removed while its fragments stayed, leaves bytes no restore can
reach and no expiration will ever free. NetBackup's image cleanup removes them; so does every
full Image Cleanup job here (nbcli/daemons/cleanup.py), after the expired images:

    bpdbm -> nbemm: stu_list                       (the disk storage units, stype 1)
    per unit: bpdbm -> bpcd: launch bpbrm;  bpdbm -> bpbrm: list{stu: {label, stype, path}}
              bpbrm -> bpdbm: done{images: [{backupid, written, age}]}     (bpbrm_list.py)
    orphans = listed ids the catalog does not know (complete or in progress), that no open
              job in bpjobd is writing, whose newest piece is older than GRACE - or at once
              for a partial image (cleanup.py removed its entry in progress: its job ended)
    per unit with orphans: bpbrm delete{images: [{backupid, stype, path, fragments: []}]}

The units are listed before the catalog and the jobs are read: an image committed meanwhile is
then known, never taken for an orphan. An id is left alone if anything says it may be live (a
catalog entry, an open job, a recent write); a unit or job list that cannot be read removes
nothing. Tape units are not asked: a tape keeps its images until it is relabelled.

Place: a helper of cleanup.py in bpdbm; imports base, config, net and events, no catalog
module (cleanup.py hands it the catalog's ids) and no other daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from nbcli import events
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.status import INVALID_PROTOCOL, NbuError

BASIC_DISK = 1  # nbemm's stype of a disk unit (media/storage.py's; bpdbm does not import media)
GRACE = 3600.0  # seconds an orphan's newest piece must be old: a job may still be writing it
LIST_TIMEOUT = 120.0  # bpbrm's listing of one folder


@dataclass(frozen=True)
class Unit:
    """A disk storage unit as the cleanup asks bpbrm about it."""

    host: str
    label: str
    path: str

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "stype": BASIC_DISK, "path": self.path}


@dataclass(frozen=True)
class Stored:
    """One image bpbrm found on a unit."""

    backupid: str
    age: float  # seconds since its newest piece was written (the media server's clock)


class Log(Protocol):
    jobid: int

    def line(self, msg: str, severity: str = "Info") -> None: ...


# (host, delete entries, jobid) -> (files removed per id, why per id that stays): Cleanup's
Delete = Callable[[str, list[dict[str, Any]], int], tuple[dict[str, int], dict[str, str]]]


def disk_units(stus: list[dict[str, Any]]) -> list[Unit]:
    """nbemm's storage units -> the disk ones, one per host and folder."""
    seen: dict[tuple[str, str], Unit] = {}
    for s in stus:
        if int(s.get("stype", BASIC_DISK)) == BASIC_DISK and s.get("path") and s.get("host"):
            unit = Unit(str(s["host"]), str(s["label"]), str(s["path"]))
            seen.setdefault((unit.host, unit.path), unit)
    return list(seen.values())


def read_listing(reply: dict[str, Any]) -> list[Stored]:
    """bpbrm's done frame -> the images it listed; NbuError for a failure or garbage."""
    if reply.get("status"):
        raise NbuError(int(reply["status"]), str(reply.get("msg") or ""))
    try:
        return [Stored(str(i["backupid"]), float(i["age"])) for i in reply["images"]]
    except (TypeError, ValueError, KeyError) as e:
        raise NbuError(INVALID_PROTOCOL, f"bpbrm's listing cannot be read: {reply!r:.200}") from e


def orphans(stored: list[Stored], known: Collection[str], writing: Collection[str],
            grace: float = GRACE, partial: Collection[str] = ()
            ) -> tuple[list[Stored], list[Stored]]:
    """(orphans to remove, orphans too fresh to touch) among `stored`: the ids neither in the
    catalog (`known`) nor written by an open job (`writing`). A `partial` image (its catalog
    entry was in progress and its job has ended) has no grace: nobody will write it again."""
    lost = [s for s in stored if s.backupid not in known and s.backupid not in writing]
    ripe = [s for s in lost if s.age >= grace or s.backupid in partial]
    return ripe, [s for s in lost if s not in ripe]


def list_unit(cfg: HostConfig, unit: Unit, jobid: int) -> list[Stored]:
    with client.connect(cfg, unit.host, "bpcd") as bpbrm:
        bpbrm.request("launch", program="bpbrm", args=[])
        bpbrm.send({"op": "list", "jobid": jobid, "master": cfg.client_name,
                    "stu": unit.record()})
        return read_listing(bpbrm.recv(LIST_TIMEOUT))


def writing_ids(cfg: HostConfig) -> set[str]:
    """The backup ids of the jobs bpjobd has not seen closed."""
    jobs = client.call(cfg, cfg.client_name, "bpjobd", "job_list", open=True)["jobs"]
    return {str(j["backupid"]) for j in jobs if j.get("backupid")}


def sweep(cfg: HostConfig, job: Log, known: Callable[[], set[str]], delete: Delete,
          partial: Collection[str] = (), only: Collection[str] | None = None) -> int:
    """Remove the orphans of every disk unit (only the ids `only` names, if given; `partial`
    ones without grace); how many stay that should have gone."""
    try:
        units = disk_units(client.call(cfg, cfg.client_name, "nbemm", "stu_list")["stus"])
    except NbuError as e:
        job.line(f"orphaned fragments not looked for: nbemm did not list the storage units: "
                 f"{e}", "Warning")
        return 0
    listed: dict[Unit, list[Stored]] = {}
    for unit in units:
        try:
            listed[unit] = list_unit(cfg, unit, job.jobid)
        except (NbuError, EOFError) as e:
            job.line(f"orphaned fragments not looked for on {unit.host}:{unit.path}: "
                     f"{e or 'bpbrm went away'}", "Warning")
    try:
        catalog, writing = known(), writing_ids(cfg)
    except (NbuError, OSError) as e:
        job.line(f"orphaned fragments not removed: the catalog or the jobs cannot be read: {e}",
                 "Warning")
        return 0
    stays = 0
    for unit, stored in listed.items():
        if only is not None:
            stored = [s for s in stored if s.backupid in only]
        old, fresh = orphans(stored, catalog, writing, partial=partial)
        for s in stored:
            if s.backupid in writing and s.backupid not in catalog:
                job.line(f"image {s.backupid} on {unit.host}:{unit.path} has no catalog entry "
                         f"but an open job writes it: left alone")
        for s in fresh:
            job.line(f"image {s.backupid} on {unit.host}:{unit.path} has no catalog entry but "
                     f"was written {s.age:.0f} s ago: left for a later cleanup")
        if old:
            stays += _remove(cfg, job, unit, old, delete, partial)
    return stays


def _remove(cfg: HostConfig, job: Log, unit: Unit, old: list[Stored], delete: Delete,
            partial: Collection[str]) -> int:
    entries = [{"backupid": s.backupid, "stype": BASIC_DISK, "path": unit.path,
                "fragments": []} for s in old]
    gone, failed = delete(unit.host, entries, job.jobid)
    for s in old:
        if s.backupid in failed:
            job.line(f"orphaned image {s.backupid} on {unit.host}:{unit.path} stays: "
                     f"{failed[s.backupid]}", "Error")
            continue
        text = (f"removed orphaned image {s.backupid} from storage unit {unit.label} "
                f"({unit.host}:{unit.path}): {gone.get(s.backupid, 0)} file(s) no catalog "
                f"entry owns, last written {s.age / 3600:.1f} hour(s) ago")
        if s.backupid in partial:
            text = (f"removed partial image {s.backupid} from storage unit {unit.label} "
                    f"({unit.host}:{unit.path}): {gone.get(s.backupid, 0)} file(s) of a job "
                    f"that ended without it")
        job.line(text)
        events.send(cfg, events.entry(events.MEDIA, events.WARNING, "bpdbm", text,
                                      server=cfg.client_name, jobid=job.jobid))
    return len(failed)
