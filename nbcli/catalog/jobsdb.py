"""bpjobd's job database: jobs, their tries and their progress events in SQLite (db/jobs/).

Only bpjobd opens this file (nbcli/daemons/bpjobd.py); commands ask bpjobd. Writes go through
`sqlitedb.Database` (one write connection under its lock, WAL, synchronous=FULL: a reply is
sent only after its change is durable; a step or log line is durable with the job's next
durable change - its end at the latest - as the fsync it would cost is most of a step's
time on a busy host). Reads use a second, read-only connection with its own
lock, so that bpdbjobs is answered from the last committed state without queueing behind a
writer's fsync - WAL lets one reader and one writer work at once.

Layout: the columns a query filters or counts on (state, status, closed) are columns; the rest
of a job's fields are one JSON object, as are a try's. Steps and log lines are rows of `events`
in arrival order; the try status lines are formatted from them when read, so nothing is stored
twice. Events that arrive before the first try (a job still Queued) belong to the first try.
Job ids come from AUTOINCREMENT: they count up from 1 and are never reused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbcli import kinds
from nbcli.catalog import jobrecord as rec
from nbcli.catalog.sqlitedb import Database
from nbcli.status import INVALID_REQUEST, NO_ENTITY, NbuError, message

# Job fields that say who works on a job and how far it is: an update of these alone is not
# synced on its own (see update).
PROGRESS = frozenset({"jobpid", "server", "stunit", "kbytes", "files", "percent",
                      "kbyteslastwritten", "pathlastwritten", "trypid", "trystunit",
                      "tryserver", "trybyteswritten", "tryfileswritten",
                      # how the image stream travels, said as it opens (bpbrm, each job)
                      "dtemode"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    jobid INTEGER PRIMARY KEY AUTOINCREMENT,
    state INTEGER NOT NULL,
    status INTEGER,
    closed INTEGER NOT NULL DEFAULT 0,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, status);
CREATE TABLE IF NOT EXISTS tries (
    jobid INTEGER NOT NULL REFERENCES jobs(jobid) ON DELETE CASCADE,
    trynum INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (jobid, trynum)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    jobid INTEGER NOT NULL REFERENCES jobs(jobid) ON DELETE CASCADE,
    trynum INTEGER NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step INTEGER,
    severity TEXT NOT NULL,
    process TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    msg TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(jobid, seq)
"""

DB_NAME = "jobs.db"
TRY_ORDER = ("trypid", "trystunit", "tryserver", "trystarted", "tryelapsed", "tryended",
             "trystatus", "trystatusdescription", "trystatuslines", "trybyteswritten",
             "tryfileswritten")
_COLUMNS = ("state", "status", "closed")
_JOBS_SELECT = ("SELECT jobid, state, status, closed, fields, "
                "(SELECT COUNT(*) FROM tries t WHERE t.jobid = j.jobid) AS ntries FROM jobs j")


def _dump(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"))


class JobsDB:
    """The job records of one master; every method is one short transaction."""

    def __init__(self, folder: Path, master: str) -> None:
        self.path = folder / DB_NAME
        self.master = master
        self.db = Database(self.path, SCHEMA)
        self._reader = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None, timeout=30)
        self._reader.row_factory = sqlite3.Row
        self._reader.execute("PRAGMA query_only=1")
        self._rlock = threading.Lock()

    def close(self) -> None:
        with self._rlock:
            self._reader.close()
        self.db.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several SELECTs."""
        with self._rlock:
            self._reader.execute("BEGIN")
            try:
                yield self._reader
            finally:
                self._reader.execute("COMMIT")

    # --- writes -------------------------------------------------------------------------------

    def create(self, fields: dict[str, Any], now: int, new_try: bool = False) -> int:
        """A new job from checked fields (jobrecord.clean), with its first try open if asked
        (a job that starts Active); returns its id."""
        job = rec.defaults()
        job.update(fields)
        job["started"] = job["started"] or now
        job["masterserver"] = job["masterserver"] or self.master
        closed = bool(job.pop("closed", False))
        if job["state"] == kinds.DONE and not job["ended"]:
            job["ended"] = now
        first = rec.new_try(job, now) if new_try else None
        state, status = job.pop("state"), job.pop("status")
        with self.db.tx() as c:
            cur = c.execute("INSERT INTO jobs (state, status, closed, fields) VALUES (?,?,?,?)",
                            (state, status, int(closed), _dump(job)))
            jobid = cur.lastrowid
            assert jobid is not None
            if first is not None:
                if state == kinds.DONE:
                    rec.close_try(first, job["ended"], status)
                self._save_try(c, jobid, 1, first)
            return jobid

    def update(self, jobid: int, fields: dict[str, Any], new_try: bool, now: int,
               only_from: frozenset[int] | None = None) -> bool:
        """Set checked fields, opening a new try first if asked; returns the job's `closed`.

        With `only_from`, the change happens only if the job is in one of those states
        (status 133 otherwise), decided inside the transaction. A change of progress fields
        alone (PROGRESS: who works on the job, how far it is, how its data travels) is
        durable with the job's next durable change, as its step lines are.
        """
        durable = new_try or not set(fields) <= PROGRESS
        with self.db.tx(durable) as c:
            job = self._load(c, jobid)
            if only_from is not None and job["state"] not in only_from:
                raise NbuError(INVALID_REQUEST, f"job {jobid} is {kinds.JOB_STATES[job['state']]}")
            try_fields = {k: v for k, v in fields.items() if k in rec.TRY_FIELDS}
            job_fields = {k: v for k, v in fields.items() if k not in rec.TRY_FIELDS}
            if "state" in job_fields:
                rec.check_move(job["state"], job_fields["state"], jobid)
            if job["closed"] and job_fields.get("closed") is False:
                raise NbuError(INVALID_REQUEST, f"job {jobid} is closed; it cannot be opened again")
            job.update(job_fields)
            done = job["state"] == kinds.DONE
            if done and not job["ended"]:
                job["ended"] = now
            if new_try and done:
                raise NbuError(INVALID_REQUEST, f"job {jobid} is done; it gets no new try")
            trynum, current = self._current_try(c, jobid)
            if new_try:
                if current is not None:
                    rec.close_try(current, now, None)
                    self._save_try(c, jobid, trynum, current)
                trynum, current = trynum + 1, rec.new_try(job, now)
            if current is None and try_fields:
                raise NbuError(rec.VALUE, f"job {jobid} has no try yet (open one with new_try)")
            if current is not None:
                self._apply_try(current, job, job_fields, try_fields, now)
                self._save_try(c, jobid, trynum, current)
            self._save_job(c, jobid, job)
            return bool(job["closed"])

    @staticmethod
    def _apply_try(current: dict[str, Any], job: dict[str, Any], job_fields: dict[str, Any],
                   try_fields: dict[str, Any], now: int) -> None:
        """The current try follows its job's pid, stunit, server, kilobytes and files."""
        for job_name, try_name in rec.TRY_MIRROR.items():
            if job_name in job_fields:
                current[try_name] = job_fields[job_name]
        current.update(try_fields)
        if "trystatus" in try_fields and "trystatusdescription" not in try_fields:
            current["trystatusdescription"] = ""
        if job["state"] == kinds.DONE:
            if ("status" in job_fields or "state" in job_fields) and "trystatus" not in try_fields:
                current["trystatus"] = job["status"]
                current["trystatusdescription"] = ""
            rec.close_try(current, job["ended"] or now, job["status"])
        elif job_fields.get("state") == kinds.REQUEUED:
            rec.close_try(current, now, None)  # this try failed; the job waits for the next
        elif current["trystatus"] is not None and not current["trystatusdescription"]:
            current["trystatusdescription"] = message(current["trystatus"])

    def delete(self, jobids: list[int]) -> list[int]:
        """Remove done jobs (bpdbjobs -delete, -clean); the ids removed. Others stay."""
        with self.db.tx() as c:
            gone = [r[0] for r in c.execute(
                "SELECT jobid FROM jobs WHERE state = ? AND jobid IN (SELECT value FROM "
                "json_each(?))", (kinds.DONE, json.dumps(jobids)))]
            for table in ("events", "tries", "jobs"):
                c.execute(f"DELETE FROM {table} WHERE jobid IN (SELECT value FROM json_each(?))",
                          (json.dumps(gone),))
        return gone

    def add_event(self, jobid: int, event: dict[str, Any]) -> None:
        """Record a step or log line (see events in SCHEMA) against the job's current try;
        it is durable with the next durable commit (sqlitedb: no fsync of its own)."""
        with self.db.tx(durable=False) as c:
            if c.execute("SELECT 1 FROM jobs WHERE jobid = ?", (jobid,)).fetchone() is None:
                raise NbuError(NO_ENTITY, f"job {jobid} does not exist")
            row = c.execute("SELECT MAX(trynum) FROM tries WHERE jobid = ?", (jobid,)).fetchone()
            c.execute("INSERT INTO events (jobid, trynum, time, kind, step, severity, process, "
                      "pid, host, msg) VALUES (:jobid, :trynum, :time, :kind, :step, "
                      ":severity, :process, :pid, :host, :msg)",
                      {**event, "jobid": jobid, "trynum": row[0] or 0})

    def _load(self, c: sqlite3.Connection, jobid: int) -> dict[str, Any]:
        row = c.execute("SELECT state, status, closed, fields FROM jobs WHERE jobid = ?",
                        (jobid,)).fetchone()
        if row is None:
            raise NbuError(NO_ENTITY, f"job {jobid} does not exist")
        job: dict[str, Any] = json.loads(row["fields"])
        job.update(state=row["state"], status=row["status"], closed=bool(row["closed"]))
        return job

    @staticmethod
    def _current_try(c: sqlite3.Connection, jobid: int) -> tuple[int, dict[str, Any] | None]:
        row = c.execute("SELECT trynum, fields FROM tries WHERE jobid = ? "
                        "ORDER BY trynum DESC LIMIT 1", (jobid,)).fetchone()
        return (0, None) if row is None else (row["trynum"], json.loads(row["fields"]))

    @staticmethod
    def _save_try(c: sqlite3.Connection, jobid: int, trynum: int, tr: dict[str, Any]) -> None:
        c.execute("INSERT OR REPLACE INTO tries (jobid, trynum, fields) VALUES (?,?,?)",
                  (jobid, trynum, _dump(tr)))

    @staticmethod
    def _save_job(c: sqlite3.Connection, jobid: int, job: dict[str, Any]) -> None:
        rest = {k: v for k, v in job.items() if k not in _COLUMNS}
        c.execute("UPDATE jobs SET state = ?, status = ?, closed = ?, fields = ? "
                  "WHERE jobid = ?",
                  (job["state"], job["status"], int(job["closed"]), _dump(rest), jobid))

    # --- reads --------------------------------------------------------------------------------

    def closed(self, jobid: int) -> bool:
        """Whether the job's owner has closed it (status 227 for an unknown job)."""
        with self._read() as c:
            row = c.execute("SELECT closed FROM jobs WHERE jobid = ?", (jobid,)).fetchone()
        if row is None:
            raise NbuError(NO_ENTITY, f"job {jobid} does not exist")
        return bool(row[0])

    def get(self, jobid: int, now: int) -> dict[str, Any]:
        """One job with its tries and steps; status 227 if unknown."""
        jobs, _ = self.jobs(now, jobids=[jobid], detail=True)
        if not jobs:
            raise NbuError(NO_ENTITY, f"job {jobid} does not exist")
        return jobs[0]

    def jobs(self, now: int, *, jobids: list[int] | None = None, detail: bool = False,
             before: int | None = None, limit: int | None = None, open_only: bool = False
             ) -> tuple[list[dict[str, Any]], bool]:
        """Jobs newest first (those of `jobids`, or all below `before`), and whether more
        remain after `limit`; with `detail`, each carries its tries and steps; `open_only`:
        the jobs their owner has not closed (what a restarted owner must reconcile)."""
        where: list[str] = []
        args: list[object] = []
        if open_only:
            where.append("closed = 0")
        if jobids is not None:
            where.append("jobid IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(jobids))
        if before is not None:
            where.append("jobid < ?")
            args.append(before)
        sql = _JOBS_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY jobid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit + 1)
        with self._read() as c:
            rows = c.execute(sql, args).fetchall()
            more = limit is not None and len(rows) > limit
            rows = rows[:limit] if limit is not None else rows
            jobs = [self._job(row, now) for row in rows]
            if detail and jobs:
                self._attach_detail(c, jobs, now)
        return jobs, more

    @staticmethod
    def _job(row: sqlite3.Row, now: int) -> dict[str, Any]:
        job = rec.defaults()
        job.update(json.loads(row["fields"]))
        job.update(jobid=row["jobid"], state=row["state"], status=row["status"])
        rec.derive(job, row["ntries"], now)
        out = {name: job[name] for name in rec.FIELDS + rec.EXTRA}
        out["closed"] = bool(row["closed"])
        return out

    @staticmethod
    def _attach_detail(c: sqlite3.Connection, jobs: list[dict[str, Any]], now: int) -> None:
        """Give each job its `tries` (with status lines) and `steps`, in arrival order."""
        by_id = {job["jobid"]: job for job in jobs}
        ids = json.dumps(list(by_id))
        for job in jobs:
            job["tries"], job["steps"] = [], []
        for row in c.execute("SELECT jobid, fields FROM tries WHERE jobid IN "
                             "(SELECT value FROM json_each(?)) ORDER BY jobid, trynum", (ids,)):
            tr = json.loads(row["fields"])
            rec.derive_try(tr, now)
            tr["trystatuslines"] = []
            by_id[row["jobid"]]["tries"].append({name: tr[name] for name in TRY_ORDER})
        for row in c.execute("SELECT * FROM events WHERE jobid IN "
                             "(SELECT value FROM json_each(?)) ORDER BY seq", (ids,)):
            job = by_id[row["jobid"]]
            if row["kind"] == "step":
                # seq orders events across jobs: who held what when (nbrb's grants, releases)
                step = {k: row[k] for k in ("step", "process", "pid", "host", "time", "msg",
                                            "seq")}
                job["steps"].append(step)
                line = rec.step_line(step)
            else:
                line = rec.log_line(row["time"], row["severity"], row["process"], row["pid"],
                                    row["msg"])
            if job["tries"]:
                job["tries"][max(row["trynum"], 1) - 1]["trystatuslines"].append(line)

    def summary(self) -> dict[str, int]:
        """Job counts per state (and per final status of done jobs), as bpdbjobs -summary."""
        counts = dict.fromkeys(("queued", "requeued", "waiting_retry", "active", "successful",
                                "partial", "failed", "incomplete", "suspended", "total"), 0)
        by_state = {kinds.QUEUED: "queued", kinds.REQUEUED: "requeued",
                    kinds.ACTIVE: "active", kinds.INCOMPLETE: "incomplete",
                    kinds.SUSPENDED: "suspended"}
        with self._read() as c:
            rows = c.execute("SELECT state, status, COUNT(*) AS n FROM jobs "
                             "GROUP BY state, status").fetchall()
            # Re-queued jobs whose last try has ended wait for their retry (nbpem's delay).
            waiting = c.execute(
                "SELECT COUNT(*) FROM jobs j WHERE state = ? AND EXISTS (SELECT 1 FROM tries t "
                "WHERE t.jobid = j.jobid AND json_extract(t.fields, '$.tryended') > 0)",
                (kinds.REQUEUED,)).fetchone()[0]
        for row in rows:
            counts["total"] += row["n"]
            if row["state"] == kinds.DONE:
                key = {0: "successful", 1: "partial"}.get(row["status"], "failed")
            else:
                key = by_state.get(row["state"], "queued")
            counts[key] += row["n"]
        counts["waiting_retry"] = waiting
        return counts
