"""bpdbjobs' formats as pure functions: field order, escaping, widths, summary forms.

`parse_all_columns` reads a line the way NetBackup's own parsers do (NBU::Job: split on
unescaped commas, then walk the counted file list and try blocks); the integration tests use
it on bpdbjobs' real output too.
"""

from __future__ import annotations

from typing import Any

from nbcli import kinds
from nbcli.catalog import jobrecord
from nbcli.commands import jobfmt

T0 = 1_700_000_000


def split_fields(line: str) -> list[str]:
    """Split on commas not escaped by a backslash; `\\,` -> `,` and `\\\\` -> `\\`."""
    fields: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if ch == ",":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    fields.append("".join(cur))
    return fields


TRY_HEAD = ("trypid", "trystunit", "tryserver", "trystarted", "tryelapsed", "tryended",
            "trystatus", "trystatusdescription")


def parse_all_columns(line: str) -> dict[str, Any]:
    f = split_fields(line)
    out: dict[str, Any] = dict(zip(jobfmt.HEAD, f[:31]))
    n = int(f[31])
    out["filelist"], pos = f[32:32 + n], 32 + n
    out["trycount"], pos = int(f[pos]), pos + 1
    out["tries"] = []
    for _ in range(out["trycount"]):
        tr: dict[str, Any] = dict(zip(TRY_HEAD, f[pos:pos + 8]))
        count = int(f[pos + 8])
        tr["trystatuslines"] = f[pos + 9:pos + 9 + count]
        pos += 9 + count
        tr["trybyteswritten"], tr["tryfileswritten"] = f[pos], f[pos + 1]
        pos += 2
        out["tries"].append(tr)
    out.update(zip(jobfmt.TAIL, f[pos:pos + len(jobfmt.TAIL)]))
    out["rest"] = f[pos + len(jobfmt.TAIL):]
    return out


def job(**extra: Any) -> dict[str, Any]:
    j = jobrecord.defaults()
    j.update(jobid=7, jobtype=0, state=kinds.DONE, status=1, policy="pol,1", schedule="full",
             client="c1", server="media1", started=T0, ended=T0 + 3725, elapsed=3725,
             kbytes=1024, files=12, kbpersec=0, trycount=1, parentjob=5, closed=True,
             filelist=["/etc", "/odd,name", "C:\\dir"], steps=[])
    j["try"] = 1
    j["tries"] = [{"trypid": 55, "trystunit": "disk1", "tryserver": "media1",
                   "trystarted": T0 + 1, "tryelapsed": 3724, "tryended": T0 + 3725,
                   "trystatus": 1, "trystatusdescription": "partially, successful",
                   "trystatuslines": ["01/01/2024 10:00:00 - Info nbjm (pid=1) step 2 on m: a",
                                      "01/01/2024 10:00:01 - Error bpbrm (pid=2) x, y"],
                   "trybyteswritten": 1024, "tryfileswritten": 12}]
    j.update(extra)
    return j


def test_format_field_lists_match_the_record() -> None:
    assert len(jobfmt.HEAD) == 31
    assert jobfmt.HEAD + ("filelist", "trycount") + jobfmt.TAIL == jobrecord.FIELDS


def test_all_columns_round_trips_through_netbackups_escaping() -> None:
    line = jobfmt.all_columns(job())
    assert "\n" not in line
    parsed = parse_all_columns(line)
    assert parsed["jobid"] == "7" and parsed["state"] == "3" and parsed["status"] == "1"
    assert parsed["policy"] == "pol,1" and parsed["started"] == str(T0)
    assert parsed["filelist"] == ["/etc", "/odd,name", "C:\\dir"]
    (tr,) = parsed["tries"]
    assert tr["trypid"] == "55" and tr["trystatusdescription"] == "partially, successful"
    assert tr["trystatuslines"][1].endswith("x, y") and tr["trybyteswritten"] == "1024"
    assert parsed["parentjob"] == "5" and parsed["instancedbname"] == ""
    assert parsed["rest"] == ["", ""]
    # the positions scripts rely on: awk -F, '{print $3}' is the state
    assert line.split(",")[2] == "3" and split_fields(line)[31] == "3"


def test_status_is_empty_until_done() -> None:
    running = job(state=kinds.ACTIVE, status=None, ended=0)
    assert split_fields(jobfmt.all_columns(running))[3] == ""
    assert split_fields(jobfmt.most_columns(running))[3] == ""
    report = jobfmt.report([running])
    assert "Active" in report[1] and " 1 " not in report[1].split("Active")[1][:8]


def test_most_columns_has_parentjob_at_33() -> None:
    f = split_fields(jobfmt.most_columns(job()))
    assert f[14] == "1024" and f[31] == "3" and f[32] == "1" and f[33] == "5"
    assert len(f) == 31 + 2 + len(jobfmt.TAIL) + 2


def test_report_is_right_aligned_and_newest_first_as_given() -> None:
    jobs = [job(jobid=12, jobtype=6, policy="cat", jobpid=4242),
            job(jobid=3, state=kinds.QUEUED, status=None, ended=0, trycount=0)]
    lines = jobfmt.report(jobs)
    header = lines[0]
    assert header.split()[:9] == ["JobID", "Type", "State", "Status", "Policy", "Schedule",
                                  "Client", "Dest", "Media"]
    # NetBackup's default columns; a PowerShell parser rewrites the two multi-word names
    # before splitting (NetBackupPS: -replace "Dest Media Svr","DestMediaSvr" -replace
    # "Active PID","ActivePID") and expects 10 fields.
    fixed = header.replace("Dest Media Svr", "DestMediaSvr").replace("Active PID", "ActivePID")
    assert fixed.split() == ["JobID", "Type", "State", "Status", "Policy", "Schedule",
                             "Client", "DestMediaSvr", "ActivePID"]
    assert lines[1].split()[0] == "12" and "Catalog Backup" in lines[1]
    assert lines[2].split()[0] == "3" and "Queued" in lines[2]
    # every column right-aligned: rows end exactly under the header's last character
    assert len(lines[1]) == len(header)
    assert jobfmt.report(jobs, header=False) == lines[1:]
    # runbook idioms: grep -c Que counts queued jobs, grep -i active finds only NetBackup's
    # header ("Active PID") here
    assert sum("Que" in line for line in lines) == 1
    assert not any("active" in line.lower() for line in lines[1:])


def test_report_default_widths_byte_for_byte() -> None:
    one = job(jobid=7, jobtype=0, policy="pol", schedule="full", client="c1", server="m1",
              jobpid=4242)
    lines = jobfmt.report([one])
    assert lines == [
        " JobID            Type      State Status               Policy             Schedule"
        "               Client       Dest Media Svr Active PID",
        "     7          Backup       Done      1                  pol                 full"
        "                   c1                   m1       4242"]


def test_coldefs_choose_order_width_and_truncation() -> None:
    one = job(jobid=7, policy="a_long_policy_name", jobpid=0)
    coldefs = ["JOBID 5 true", "STATUS 5 false", "POLICY 6 false", "ACTPID 4 true",
               "NOSUCH 3 true"]
    lines = jobfmt.report([one], coldefs=coldefs)
    # a fixed column cuts its header, as NetBackup's `Statu` (Korean appliance sample)
    assert lines[0] == "JobID Statu Policy Active PID"
    assert lines[1] == "    7     1 a_long"


def test_a_job_that_ran_shows_at_least_one_second() -> None:
    quick = job(started=T0, ended=T0, elapsed=0, kbytes=300, kbpersec=0)
    quick["tries"] = [{"trystarted": T0, "tryended": T0, "tryelapsed": 0}]
    shown = jobfmt.shown(quick)
    assert shown["elapsed"] == 1 and shown["kbpersec"] == 300
    assert shown["tries"][0]["tryelapsed"] == 1
    queued = job(started=0, ended=0, elapsed=0)
    assert jobfmt.shown(queued)["elapsed"] == 0


def test_summary_forms() -> None:
    s = {"master": "m1", "queued": 2, "requeued": 1, "waiting_retry": 1, "active": 3,
         "successful": 4, "partial": 5, "failed": 6, "incomplete": 0, "suspended": 0,
         "total": 21}
    head, row = jobfmt.summary_table(s)
    assert row.split() == ["m1", "2", "1", "3", "4", "5", "6", "0", "0", "1", "21"]
    assert len(head.split()) == 11
    labelled = jobfmt.summary_labelled(s)
    assert labelled[0] == "Summary of jobs on m1"
    assert labelled[1].split() == ["Queued:", "2"]
    assert labelled[5] == "Partially Successful:   5"
    assert labelled[-1].split() == ["Total:", "21"]
    assert jobfmt.summary_csv(s) == "m1,2,1,3,4,5,6,0,0,1,21"
