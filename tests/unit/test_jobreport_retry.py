"""nbcli.jobreport outlasts a bpjobd restart: a report that finds bpjobd gone is sent again
until `patience` runs out; a job is never created twice; bpjobd's own answers are not retried."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from nbcli import jobreport
from nbcli.config import HostConfig
from nbcli.status import NbuError


class FakeConn:
    def __init__(self, log: list[str], fail_after_send: bool = False,
                 answer: NbuError | None = None) -> None:
        self.log, self.fail_after_send, self.answer = log, fail_after_send, answer

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self.log.append(op)
        if self.fail_after_send:
            raise NbuError(40, "bpjobd closed the connection")
        if self.answer is not None:
            raise self.answer
        return {"jobid": 7}

    def close(self) -> None:
        pass


def reporter(monkeypatch: pytest.MonkeyPatch, conns: list[Any], patience: float
             ) -> jobreport.JobReporter:
    monkeypatch.setattr(jobreport, "PAUSE", 0.01)

    def master(cfg: HostConfig, service: str) -> Any:
        c = conns.pop(0)
        if isinstance(c, NbuError):
            raise c
        return c

    monkeypatch.setattr(jobreport.client, "master", master)
    return jobreport.JobReporter(None, "nbjm", patience=patience)  # type: ignore[arg-type]


def test_an_update_waits_for_bpjobd_to_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    down = NbuError(25, "cannot connect")
    r = reporter(monkeypatch, [FakeConn(sent, fail_after_send=True), down, down, down,
                               FakeConn(sent)], patience=5)
    r.update(7, state=3)
    assert sent == ["job_update", "job_update"]


def test_patience_runs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    r = reporter(monkeypatch, [NbuError(25, "cannot connect")] * 1000, patience=0.1)
    with pytest.raises(NbuError) as e:
        r.log(7, "x")
    assert e.value.status == 25


def test_a_job_is_not_created_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    r = reporter(monkeypatch, [FakeConn(sent, fail_after_send=True),
                               FakeConn(sent, fail_after_send=True), FakeConn(sent)],
                 patience=5)
    with pytest.raises(NbuError):
        r.create(jobtype=0, state=0)
    assert sent == ["job_create", "job_create"]  # the old single retry, then no more


def test_bpjobds_own_answer_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    r = reporter(monkeypatch, [FakeConn(sent, answer=NbuError(133, "job 7 is Done"))],
                 patience=5)
    with pytest.raises(NbuError) as e:
        r.update(7, state=1)
    assert e.value.status == 133 and sent == ["job_update"]


class Bpjobd:
    """bpjobd's answers to job_update: 220 while `full`, else the fields are recorded."""

    def __init__(self) -> None:
        self.full = True
        self.gone: set[int] = set()  # jobs it no longer has
        self.recorded: list[dict[str, Any]] = []
        self.ops: list[str] = []  # each request's op, refused ones too

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self.ops.append(op)
        if self.full:
            raise NbuError(220, "jobs.db: database or disk is full")
        if fields["jobid"] in self.gone:
            raise NbuError(160, f"job {fields['jobid']} does not exist")
        self.recorded.append(fields)
        return {}

    def close(self) -> None:
        pass


def test_an_end_bpjobd_refused_is_kept_and_sent_again_with_what_came_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The end (Done), then a later update (closed), both refused: kept as one, in order;
    an update that is not an end is held as a line of the job's details, and does not fail
    its caller; once bpjobd takes it, the end is gone."""
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    box = jobreport.Outbox()
    r = jobreport.JobReporter(None, "nbjm", outbox=box)  # type: ignore[arg-type]
    r.update(8, kbytes=5)  # not an end: held
    assert 8 not in box and box.holds_lines(8)
    with pytest.raises(NbuError):
        r.update(7, state=3, status=13)
    with pytest.raises(NbuError):
        r.update(7, closed=True)
    assert 7 in box and len(box) == 1
    log = logging.getLogger("test")
    box.resend(None, "nbjm", log)  # type: ignore[arg-type]
    assert 7 in box and db.recorded == []  # still full: still kept
    db.full = False
    r.update(7, trystatus=13)  # a later update goes with the kept end, after it
    assert db.recorded == [{"jobid": 7, "state": 3, "status": 13, "closed": True,
                            "trystatus": 13}]
    assert 7 not in box
    box.resend(None, "nbjm", log)  # type: ignore[arg-type]
    assert db.recorded[1:] == [{"jobid": 8, "kbytes": 5}]  # the held line, at last
    box.resend(None, "nbjm", log)  # type: ignore[arg-type]
    assert len(db.recorded) == 2  # nothing sent twice


def test_an_end_bpjobd_refuses_for_good_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    box = jobreport.Outbox()
    r = jobreport.JobReporter(None, "nbjm", outbox=box)  # type: ignore[arg-type]
    with pytest.raises(NbuError):
        r.update(7, state=3, status=0)
    db.full, db.gone = False, {7}
    box.resend(None, "nbjm", logging.getLogger("test"))  # type: ignore[arg-type]
    assert len(box) == 0


def test_lines_bpjobd_refused_wait_in_order_and_go_before_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps and log lines refused (220) do not fail the job: they are held, the job's later
    lines join them, and they are recorded in order before the job's next line once bpjobd
    takes writes, and before its end."""
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    box = jobreport.Outbox()
    r = jobreport.JobReporter(None, "nbjm", outbox=box)  # type: ignore[arg-type]
    r.step(7, 12, "writing", host="aio")
    r.log(7, "a warning", "Warning")
    r.log(9, "another job's line")
    assert db.recorded == [] and box.held_lines() == 3
    db.full = False
    r.step(7, 13, "written", host="aio")  # job 7's held lines first, then this one
    assert [f.get("step", f.get("msg")) for f in db.recorded] == [12, "a warning", 13]
    db.full = True
    r.step(9, 14, "ended", host="aio")
    with pytest.raises(NbuError):
        r.update(9, state=3, status=0)  # the end is kept, behind the job's lines
    db.full = False
    box.resend(None, "nbjm", logging.getLogger("test"))  # type: ignore[arg-type]
    assert [f.get("step", f.get("msg", f.get("state"))) for f in db.recorded[3:]] == \
        ["another job's line", 14, 3]
    assert box.jobs() == []


def test_a_reporter_of_its_own_holds_at_most_held_max_lines_and_tries_them_at_close(
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    monkeypatch.setattr(jobreport, "HELD_MAX", 3)
    r = jobreport.JobReporter(None, "bpbrm")  # type: ignore[arg-type]
    for n in range(5):
        r.log(7, f"line {n}")
    db.full = False
    r.close()
    assert [f["msg"] for f in db.recorded] == ["line 2", "line 3", "line 4"]


def test_lines_handed_over_are_checked_and_go_among_the_jobs_own_by_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """bpbrm's held lines (its "done" carries them) are taken as lines of that job only -
    anything else a peer sends there is left out - and recorded among the job's own held
    lines in the order they happened."""
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    box = jobreport.Outbox()
    r = jobreport.JobReporter(None, "nbjm", outbox=box)  # type: ignore[arg-type]
    r.step(7, 9, "nbjm's", host="aio", time=100.0)
    r.step(7, 14, "nbjm's later", host="aio", time=300.0)
    r.adopt(7, "not a list")
    r.adopt(7, [["job_step", {"jobid": 99, "step": 12, "msg": "bpbrm's"}, 200.0],
                ["job_delete", {"jobids": [7]}, 150.0], ["job_log", "x", 150.0],
                ["job_log", {"msg": "at"}, True], ["job_log", {"msg": "short"}],
                ["job_log", {"msg": "not a delete", "op": "job_delete", "recv_timeout": "x",
                             "time": 130.0}, 130.0],
                ["job_log", {"msg": "bpbrm's first", "time": 120.0}, 120.0]])
    assert box.held_lines() == 5
    db.full = False
    assert r.send_held(7)
    assert [(f["jobid"], f.get("step"), f["msg"]) for f in db.recorded] == [
        (7, 9, "nbjm's"), (7, None, "bpbrm's first"), (7, None, "not a delete"),
        (7, 12, "bpbrm's"), (7, 14, "nbjm's later")]
    assert db.ops[-5:] == ["job_step", "job_log", "job_log", "job_step", "job_step"]
    assert all("recv_timeout" not in f for f in db.recorded)


def test_a_line_taken_sends_the_lines_held_for_other_jobs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived reporter with no outbox (nbrb's): a job's last line, refused, goes with
    the next line bpjobd takes, whatever job that line is of."""
    db = Bpjobd()
    monkeypatch.setattr(jobreport.client, "master", lambda cfg, service: db)
    r = jobreport.JobReporter(None, "nbrb", patience=0)  # type: ignore[arg-type]
    r.step(7, 16, "released", host="aio", time=100.0)
    db.full = False
    r.step(8, 4, "requesting", host="aio", time=200.0)
    assert [(f["jobid"], f["step"]) for f in db.recorded] == [(8, 4), (7, 16)]
    assert r._box.held_lines() == 0
