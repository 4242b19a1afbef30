"""The jobs database on its own: real SQLite files in tmp_path, no daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import kinds, timefmt
from nbcli.catalog import jobrecord
from nbcli.catalog.jobsdb import JobsDB
from nbcli.status import NbuError

T0 = 1_700_000_000


def backup(**extra: object) -> dict[str, object]:
    fields = {"jobtype": kinds.JOB_BACKUP, "state": kinds.QUEUED, "policy": "pol1",
              "schedule": "full", "client": "c1", **extra}
    return jobrecord.clean(fields, creating=True)


def update(db: JobsDB, jobid: int, now: int = T0, new_try: bool = False,
           **fields: object) -> bool:
    return db.update(jobid, jobrecord.clean(fields, creating=False), new_try, now)


def step(n: int, msg: str, when: int = T0) -> dict[str, object]:
    return {"kind": "step", "step": n, "severity": "Info", "process": "nbjm", "pid": 42,
            "host": "master1", "time": when, "msg": msg}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[JobsDB]:
    d = JobsDB(tmp_path / "jobs", "master1")
    yield d
    d.close()


def test_ids_count_up_from_1_and_survive_reopening(tmp_path: Path) -> None:
    first = JobsDB(tmp_path, "m")
    assert [first.create(backup(), T0) for _ in range(3)] == [1, 2, 3]
    update(first, 2, state=kinds.ACTIVE, kbytes=10)
    first.close()
    again = JobsDB(tmp_path, "m")
    assert again.create(backup(), T0) == 4
    job = again.get(2, T0)
    assert job["state"] == kinds.ACTIVE and job["kbytes"] == 10 and job["masterserver"] == "m"
    again.close()


def test_new_job_defaults(db: JobsDB) -> None:
    jobid = db.create(backup(filelist=["/etc", "/a,b"]), T0)
    job = db.get(jobid, T0 + 5)
    assert job["status"] is None and job["started"] == T0 and job["ended"] == 0
    assert job["elapsed"] == 5 and job["trycount"] == 0 and job["tries"] == []
    assert job["filelist"] == ["/etc", "/a,b"] and job["closed"] is False
    assert list(job)[:len(jobrecord.FIELDS)] == list(jobrecord.FIELDS)


def test_tries_follow_the_job_and_close_when_done(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    update(db, jobid, T0 + 10, new_try=True, state=kinds.ACTIVE, server="media1",
           stunit="disk1", jobpid=777)
    update(db, jobid, T0 + 20, kbytes=2048, files=3)
    assert update(db, jobid, T0 + 30, state=kinds.DONE, status=0, closed=True) is True
    job = db.get(jobid, T0 + 100)
    assert job["ended"] == T0 + 30 and job["elapsed"] == 30 and job["kbpersec"] == 2048 // 30
    (tr,) = job["tries"]
    assert tr["trypid"] == 777 and tr["trystunit"] == "disk1" and tr["tryserver"] == "media1"
    assert (tr["trystarted"], tr["tryended"], tr["tryelapsed"]) == (T0 + 10, T0 + 30, 20)
    assert tr["trystatus"] == 0 and tr["trybyteswritten"] == 2048
    assert tr["trystatusdescription"] == "the requested operation was successfully completed"


def test_a_retry_ends_the_previous_try(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    update(db, jobid, T0 + 1, new_try=True, state=kinds.ACTIVE)
    update(db, jobid, T0 + 5, state=kinds.REQUEUED, trystatus=58)
    update(db, jobid, T0 + 9, new_try=True, state=kinds.ACTIVE)
    job = db.get(jobid, T0 + 10)
    assert job["trycount"] == job["try"] == 2
    first, second = job["tries"]
    assert first["trystatus"] == 58 and first["tryended"] == T0 + 5
    assert first["trystatusdescription"] == "can't connect to client"
    assert second["trystatus"] is None and second["tryended"] == 0


def test_steps_and_logs_become_try_lines_in_arrival_order(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    db.add_event(jobid, step(2, "job queued"))  # before any try: belongs to the first
    update(db, jobid, T0 + 1, new_try=True, state=kinds.ACTIVE)
    db.add_event(jobid, step(5, "resources allocated", T0 + 2))
    db.add_event(jobid, {"kind": "log", "step": None, "severity": "Warning", "process": "bpbrm",
                         "pid": 9, "host": "", "time": T0 + 3, "msg": "cannot read /x, skipped"})
    db.add_event(jobid, step(6, "image files created", T0 + 4))
    job = db.get(jobid, T0)
    assert [s["step"] for s in job["steps"]] == [2, 5, 6]
    lines = job["tries"][0]["trystatuslines"]
    assert lines == [
        f"{timefmt.fmt(T0)} - Info nbjm (pid=42) step 2 on master1: job queued",
        f"{timefmt.fmt(T0 + 2)} - Info nbjm (pid=42) step 5 on master1: resources allocated",
        f"{timefmt.fmt(T0 + 3)} - Warning bpbrm (pid=9) cannot read /x, skipped",
        f"{timefmt.fmt(T0 + 4)} - Info nbjm (pid=42) step 6 on master1: image files created"]


def test_done_is_final_and_closed_stays_closed(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    update(db, jobid, state=kinds.DONE, status=150, closed=True)
    with pytest.raises(NbuError) as e:
        update(db, jobid, state=kinds.ACTIVE)
    assert e.value.status == 133
    with pytest.raises(NbuError) as e:
        update(db, jobid, closed=False)
    assert e.value.status == 133
    with pytest.raises(NbuError) as e:
        update(db, jobid, new_try=True)
    assert e.value.status == 133
    update(db, jobid, kbytes=5)  # other fields of a done job may still be set
    assert db.get(jobid, T0)["kbytes"] == 5


def test_only_from_decides_inside_the_transaction(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    update(db, jobid, state=kinds.ACTIVE)
    with pytest.raises(NbuError) as e:
        db.update(jobid, {"state": kinds.DONE}, False, T0, only_from=frozenset({kinds.QUEUED}))
    assert e.value.status == 133 and db.get(jobid, T0)["state"] == kinds.ACTIVE


@pytest.mark.parametrize("fields, status, word", [
    ({"elapsed": 3}, 20, "derived"), ({"nosuch": 1}, 143, "unknown job field"),
    ({"kbytes": "many"}, 143, "integer"), ({"kbytes": -1}, 20, "negative"),
    ({"state": 9}, 20, "unknown job state"), ({"policy": 5}, 143, "string"),
    ({"filelist": "/etc"}, 143, "list of paths"), ({"closed": 1}, 143, "wrong type"),
    ({"kbytes": True}, 143, "integer"), ({"trystatus": "x"}, 143, "integer"),
    ({"dedupratio": "x"}, 143, "wrong type")])
def test_bad_fields_get_statuses(fields: dict[str, object], status: int, word: str) -> None:
    with pytest.raises(NbuError) as e:
        jobrecord.clean(fields, creating=False)
    assert e.value.status == status and word in e.value.detail


def test_null_means_not_set() -> None:
    fields = jobrecord.clean({"policy": None, "kbytes": None, "status": None, "filelist": None,
                              "trystatus": None}, creating=False)
    assert fields == {"policy": "", "kbytes": 0, "status": None, "filelist": [],
                      "trystatus": None}
    with pytest.raises(NbuError):
        jobrecord.clean({"state": None}, creating=False)


def test_create_needs_type_and_state_and_no_try_fields() -> None:
    for fields in ({"state": 0}, {"jobtype": 0}, {"jobtype": 0, "state": 0, "trypid": 1}):
        with pytest.raises(NbuError) as e:
            jobrecord.clean(fields, creating=True)
        assert e.value.status in (143, 20)


def test_a_job_created_active_has_its_first_try(db: JobsDB) -> None:
    jobid = db.create(backup(state=kinds.ACTIVE, server="m1"), T0, new_try=True)
    (tr,) = db.get(jobid, T0 + 4)["tries"]
    assert tr["tryserver"] == "m1" and tr["trystarted"] == T0 and tr["tryelapsed"] == 4


def test_unknown_jobs_are_227(db: JobsDB) -> None:
    for action in (lambda: db.get(5, T0), lambda: update(db, 5, kbytes=1),
                   lambda: db.add_event(5, step(1, "x")), lambda: db.closed(5)):
        with pytest.raises(NbuError) as e:
            action()
        assert e.value.status == 227


def test_try_fields_need_a_try(db: JobsDB) -> None:
    jobid = db.create(backup(), T0)
    with pytest.raises(NbuError) as e:
        update(db, jobid, trystatus=1)
    assert e.value.status == 20


def test_list_newest_first_filtered_and_paged(db: JobsDB) -> None:
    for _ in range(7):
        db.create(backup(), T0)
    jobs, more = db.jobs(T0)
    assert [j["jobid"] for j in jobs] == [7, 6, 5, 4, 3, 2, 1] and more is False
    jobs, _ = db.jobs(T0, jobids=[2, 5, 99])
    assert [j["jobid"] for j in jobs] == [5, 2]
    assert "tries" not in jobs[0]
    page, more = db.jobs(T0, limit=3)
    assert [j["jobid"] for j in page] == [7, 6, 5] and more
    page, more = db.jobs(T0, limit=3, before=5)
    assert [j["jobid"] for j in page] == [4, 3, 2] and more
    page, more = db.jobs(T0, limit=3, before=2)
    assert [j["jobid"] for j in page] == [1] and not more


def test_summary_counts_states_and_final_statuses(db: JobsDB) -> None:
    ids = [db.create(backup(), T0) for _ in range(8)]
    update(db, ids[1], state=kinds.ACTIVE)
    for jobid, status in ((ids[2], 0), (ids[3], 0), (ids[4], 1), (ids[5], 58)):
        update(db, jobid, state=kinds.DONE, status=status)
    update(db, ids[6], new_try=True, state=kinds.ACTIVE)
    update(db, ids[6], state=kinds.REQUEUED)
    update(db, ids[7], state=kinds.SUSPENDED)
    assert db.summary() == {"queued": 1, "requeued": 1, "waiting_retry": 1, "active": 1,
                            "successful": 2, "partial": 1, "failed": 1, "incomplete": 0,
                            "suspended": 1, "total": 8}


def test_state_machine_table_covers_every_state() -> None:
    assert set(jobrecord.TRANSITIONS) == set(kinds.JOB_STATES)
    assert jobrecord.TRANSITIONS[kinds.DONE] == {kinds.DONE}
    assert all(kinds.DONE in moves for moves in jobrecord.TRANSITIONS.values())


def test_messages_are_kept_on_one_line(db: JobsDB) -> None:
    jobid = db.create(backup(policy="a\nb"), T0)
    assert db.get(jobid, T0)["policy"] == "a b"


def test_open_only_lists_the_jobs_no_owner_closed(db: JobsDB) -> None:
    """What a restarted nbjm or bprd reconciles: every job not closed, whatever its state."""
    queued, active, done_open, closed = (db.create(backup(), T0) for _ in range(4))
    update(db, active, new_try=True, state=kinds.ACTIVE)
    update(db, done_open, state=kinds.DONE, status=0)
    update(db, closed, state=kinds.DONE, status=0, closed=True)
    jobs, more = db.jobs(T0, open_only=True)
    assert [j["jobid"] for j in jobs] == [done_open, active, queued] and not more
    assert db.jobs(T0, jobids=[closed], open_only=True) == ([], False)


def test_progress_lines_commit_without_fsync_and_the_next_change_makes_them_durable(
        db: JobsDB, tmp_path: Path) -> None:
    """A step is written at synchronous=NORMAL (no fsync), the connection is back at FULL
    afterwards and for the job's changes, and a reopened database sees the steps in order."""
    jobid = db.create(backup(), T0, new_try=True)
    modes: list[str] = []
    db.db.conn.set_trace_callback(
        lambda sql: modes.append(sql.split("=")[1]) if sql.startswith("PRAGMA synchronous=")
        else None)
    db.add_event(jobid, step(1, "first"))
    update(db, jobid, jobpid=4242, server="media1")  # progress: not synced on its own
    db.add_event(jobid, step(2, "second"))
    update(db, jobid, dtemode="On")  # how the stream travels: progress too
    update(db, jobid, state=kinds.DONE, status=0)
    db.db.conn.set_trace_callback(None)
    assert modes == ["NORMAL", "FULL"] * 4  # none around the state change
    assert db.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again = JobsDB(tmp_path / "jobs", "master1")
    try:
        job = again.get(jobid, T0)
        text = "\n".join(job["tries"][0]["trystatuslines"])
        assert 0 <= text.index("first") < text.index("second")
        assert (job["jobpid"], job["server"], job["dtemode"], job["state"]) == \
            (4242, "media1", "On", kinds.DONE)
    finally:
        again.close()
