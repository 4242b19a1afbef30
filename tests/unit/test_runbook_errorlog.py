"""The error log's store (one file a day, whole lines, aging), the entries nbcli.events builds
from jobs, and bperror's forms - without daemons."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from nbcli import events, kinds
from nbcli.catalog import errorlog
from nbcli.catalog.errorlog import Entry, ErrorLog
from nbcli.commands import errfmt

DAY = 86400


def entry(when: int, msg: str = "hello", **kw: object) -> Entry:
    fields: dict[str, object] = {"type": 4, "severity": 16, "server": "m1", "jobid": 7,
                                 "group": 7, "client": "c1", "who": "bpbrm", "message": msg}
    fields.update(kw)
    return Entry(when, **fields)  # type: ignore[arg-type]


def test_one_file_a_day_named_by_the_days_epoch(tmp_path: Path) -> None:
    log = ErrorLog(tmp_path / "error")
    now = int(time.time())
    log.append(entry(now))
    log.append(entry(now - DAY))
    names = sorted(os.listdir(tmp_path / "error"))
    assert names == sorted(f"log_{errorlog.day_start(t)}" for t in (now, now - DAY))
    today = (tmp_path / "error" / f"log_{errorlog.day_start(now)}").read_text()
    # the raw line bperror -l prints: time version type severity server jobid group 0 client
    # who message
    assert today == f"{now} 1 4 16 m1 7 7 0 c1 bpbrm hello\n"
    assert [e.time for e in log.read()] == [now - DAY, now]
    assert [e.time for e in log.read(since=now - 10)] == [now]


def test_lines_stay_whole_under_concurrent_appends(tmp_path: Path) -> None:
    log = ErrorLog(tmp_path / "error")
    now = int(time.time())
    text = "x" * 3000

    def writer(n: int) -> None:
        for i in range(50):
            log.append(entry(now, f"{n}-{i} {text}"))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read = log.read()
    assert len(read) == 200 and all(e.message.endswith(text) for e in read)


def test_newlines_and_blanks_cannot_break_a_line(tmp_path: Path) -> None:
    log = ErrorLog(tmp_path / "error")
    log.append(entry(100_000_000, "two\nlines", client="", who="bpbrm child"))
    (e,) = log.read()
    assert e.message == "two lines" and e.client == "*NULL*" and e.who == "bpbrm_child"


def test_age_out_removes_whole_days_older_than_keep(tmp_path: Path) -> None:
    log = ErrorLog(tmp_path / "error")
    now = time.time()
    for days_ago in (0, 1, 3, 40):
        log.append(entry(int(now - days_ago * DAY)))
    gone = log.age_out(2, now)
    assert len(gone) == 2
    assert len(log.days()) == 2
    assert log.age_out(28, now) == []


def job(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "jobid": 5, "jobtype": kinds.JOB_BACKUP, "state": kinds.DONE, "status": 50,
        "client": "c1", "policy": "A_Very_Long_Policy_Name", "schedule": "Full_Day_Backup",
        "server": "media1", "ended": 1_700_000_000, "parentjob": 0,
        "tries": [{"trystatus": 50, "tryserver": "media1", "tryended": 1_700_000_000,
                   "trystatuslines": [
                       "11/14/2023 22:13:20 - Info bpbrm (pid=10) step 7 on media1: started",
                       "11/14/2023 22:13:20 - Error bpbrm (pid=10) bpbkar on c1 went away "
                       "(status 50)"]}]}
    base.update(kw)
    return base


def test_a_closed_failed_job_gives_its_problems_and_backstat() -> None:
    out = events.job_entries(job(), "master1", closed=True)
    assert [(e["who"], e["type"], e["severity"]) for e in out] == [
        ("bpbrm", events.BACKUP, events.ERROR), ("nbjm", events.BACKUP, events.ERROR),
        ("nbjm", events.BACKSTAT, events.ERROR)]
    assert out[0]["message"] == "bpbkar on c1 went away (status 50)"
    assert out[1]["message"] == "backup of client c1 exited with status 50 " \
                                "(client process aborted)"
    row = errfmt.backstat_row({**out[2], "time": 1_700_000_000})
    # checkmk plugin sample: policy cut to 16, schedule to 10
    assert row is not None
    assert row.split()[:5] == ["50", "c1", "A_Very_Long_Poli", "Full_Day_B", "media1"]
    assert row.startswith(" 50    c1 ") and row[21:37] == "A_Very_Long_Poli"


def test_a_good_job_gives_only_its_backstat_and_a_retry_its_failed_try() -> None:
    ok = job(status=0, tries=[{"trystatus": 0, "trystatuslines": []}])
    (only,) = events.job_entries(ok, "m", closed=True)
    assert only["type"] == events.BACKSTAT and only["severity"] == events.INFO
    retry = job(state=kinds.ACTIVE, tries=[job()["tries"][0],  # type: ignore[index]
                                           {"trystatus": None, "trystatuslines": []}])
    failed_try = events.job_entries(retry, "m", closed=False)
    assert [e["who"] for e in failed_try] == ["bpbrm", "nbjm"]
    media = job(status=84, tries=[{"trystatus": 84, "trystatuslines": []}])
    assert events.job_entries(media, "m", closed=True)[0]["type"] == events.MEDIA


def test_bperror_forms() -> None:
    e = {"time": 1_700_000_000, "type": 4, "severity": 16, "server": "m1", "jobid": 5,
         "group": 5, "client": "c1", "who": "nbjm", "message": "backup of client c1 exited"}
    assert errfmt.raw_line(e) == "1700000000 1 4 16 m1 5 5 0 c1 nbjm backup of client c1 exited"
    block = errfmt.long_block(e)
    assert block[0].startswith("Time: ") and "Type: Backup" in block and "Severity: Error" in block
    assert errfmt.status_lines(71, False) == ["none of the files in the file list exist"]
    assert errfmt.status_lines(12345, True)[-1] == errfmt.GENERAL_ADVICE


class SlowDelivery:
    """nbevtmgr that takes each entry only once `gate` is set; what it took, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate, self.delivered = threading.Event(), []
        monkeypatch.setattr(events, "deliver", self.deliver)
        self.sender = events._Sender()

    def deliver(self, cfg: object, e: dict) -> bool:
        self.gate.wait(10)
        self.delivered.append(e["message"])
        return True

    def put(self, text: str) -> None:
        self.sender.put(None, events.entry(events.GENERAL, events.INFO, "t",  # type: ignore[arg-type]
                                           text, server="m"))


def test_flush_waits_for_every_entry_sent_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowDelivery(monkeypatch)
    slow.put("first")
    slow.put("second")
    assert not slow.sender.flush(0.05) and slow.delivered == []
    slow.gate.set()
    assert slow.sender.flush(10) and slow.delivered == ["first", "second"]
    assert slow.sender.flush(0)  # nothing new since


def test_drain_at_exit_delivers_what_is_queued_and_a_forked_child_does_not_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowDelivery(monkeypatch)
    slow.put("queued")
    pid = os.fork()
    if pid == 0:  # the parent's entry is not this process's to wait for
        started = time.monotonic()
        slow.sender.drain()
        os._exit(0 if time.monotonic() - started < 1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    threading.Timer(0.1, slow.gate.set).start()
    slow.sender.drain()
    assert slow.delivered == ["queued"]
