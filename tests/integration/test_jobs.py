"""bpjobd and bpdbjobs for real: the daemon behind PBX, driven as nbjm drives it, and bpdbjobs
run as a process against it. nbjm is not started, so cancels meet an unreachable job manager.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli import clock, kinds, programs
from nbcli.net import client
from nbcli.status import NbuError
from nbcli.wire import frames
from tests.conftest import Host, wait_for
from tests.unit.test_jobs_fmt import parse_all_columns, split_fields

BIN = str(Path(programs.argv_for("bpdbjobs")[0]).parent)


def call(host: Host, op: str, /, **fields: Any) -> dict[str, Any]:
    return client.call(host.cfg, host.name, "bpjobd", op, **fields)


def status_of(host: Host, op: str, /, **fields: Any) -> int:
    try:
        call(host, op, **fields)
    except NbuError as e:
        return e.status
    return 0


def shell(host: Host, script: str) -> str:
    """A runbook line, run by bash with the nbcli commands on PATH."""
    env = host.env(PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True,
                           check=True, timeout=60).stdout


def new_job(host: Host, **extra: Any) -> int:
    fields = {"jobtype": kinds.JOB_BACKUP, "state": kinds.QUEUED, "policy": "pol1",
              "schedule": "full", "client": "client1", "subtype": kinds.SUBTYPE_SCHEDULED,
              "filelist": ["/etc", "/data,2024"], **extra}
    return int(call(host, "job_create", **fields)["jobid"])


def run_backup(host: Host, jobid: int, close: bool = True) -> None:
    """The bpjobd side of a backup, as nbjm reports it (seed steps 2, 5, 9 and 17)."""
    call(host, "job_step", jobid=jobid, step=2, process="nbjm", pid=100, host=host.name,
         msg="job queued")
    call(host, "job_update", jobid=jobid, new_try=True, state=kinds.ACTIVE, server=host.name,
         stunit="disk1", jobpid=4321, operation=kinds.OP_WRITE)
    call(host, "job_step", jobid=jobid, step=5, process="nbjm", pid=100, host=host.name,
         msg="resources allocated")
    call(host, "job_log", jobid=jobid, process="bptm", pid=4322, severity="Info",
         msg="begin writing")
    call(host, "job_step", jobid=jobid, step=9, process="bptm", pid=4322, host=host.name,
         msg="mounted disk1, writing")
    call(host, "job_log", jobid=jobid, process="bpbrm", pid=4323, severity="Warning",
         msg="cannot open /etc/shadow, skipped")
    call(host, "job_update", jobid=jobid, kbytes=4096, files=42)
    call(host, "job_update", jobid=jobid, state=kinds.DONE, status=1)
    if close:
        call(host, "job_step", jobid=jobid, step=17, process="nbjm", pid=100, host=host.name,
             msg="job complete")
        call(host, "job_update", jobid=jobid, closed=True)


@pytest.fixture
def jobd(daemons: Callable[..., Host]) -> Host:
    return daemons("bpjobd")


def test_a_backup_as_nbjm_reports_it_and_a_waiter(jobd: Host) -> None:
    jobid = new_job(jobd)
    assert jobid == 1
    waited: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: waited.update(call(jobd, "job_wait", jobid=jobid)))
    waiter.start()
    run_backup(jobd, jobid, close=False)
    assert call(jobd, "job_get", jobid=jobid)["job"]["state"] == kinds.DONE
    waiter.join(0.5)
    assert waiter.is_alive(), "job_wait returned before the job was closed"
    call(jobd, "job_step", jobid=jobid, step=17, process="nbjm", pid=100, host=jobd.name,
         msg="job complete")
    call(jobd, "job_update", jobid=jobid, closed=True)
    waiter.join(10)
    assert not waiter.is_alive() and waited["job"]["closed"] is True

    job = waited["job"]
    assert [s["step"] for s in job["steps"]] == [2, 5, 9, 17]
    assert job["status"] == 1 and job["kbytes"] == 4096 and job["masterserver"] == jobd.name

    line = jobd.run("bpdbjobs", "-all_columns", "-jobid", str(jobid)).stdout
    assert line.count("\n") == 1
    parsed = parse_all_columns(line.rstrip("\n"))
    assert (parsed["jobid"], parsed["jobtype"], parsed["state"], parsed["status"]) == \
        ("1", "0", "3", "1")
    assert (parsed["policy"], parsed["schedule"], parsed["client"], parsed["server"]) == \
        ("pol1", "full", "client1", jobd.name)
    assert parsed["filelist"] == ["/etc", "/data,2024"] and parsed["trycount"] == 1
    assert int(parsed["ended"]) >= int(parsed["started"]) > 0
    (tr,) = parsed["tries"]
    assert (tr["trypid"], tr["trystunit"], tr["trystatus"]) == ("4321", "disk1", "1")
    assert tr["trystatusdescription"] == "the requested operation was partially successful"
    assert tr["trybyteswritten"] == "4096" and tr["tryfileswritten"] == "42"
    bodies = [ln.split(" - ", 1)[1] for ln in tr["trystatuslines"]]
    assert bodies == [
        f"Info nbjm (pid=100) step 2 on {jobd.name}: job queued",
        f"Info nbjm (pid=100) step 5 on {jobd.name}: resources allocated",
        "Info bptm (pid=4322) begin writing",
        f"Info bptm (pid=4322) step 9 on {jobd.name}: mounted disk1, writing",
        "Warning bpbrm (pid=4323) cannot open /etc/shadow, skipped",
        f"Info nbjm (pid=100) step 17 on {jobd.name}: job complete"]
    stamp = tr["trystatuslines"][0].split(" - ")[0]
    assert len(stamp) == 19 and stamp[2] == "/" and stamp[13] == ":"
    # the restore scripts' poll: awk -F, '{print $3}' until 3
    assert shell(jobd, f"bpdbjobs -all_columns -jobid {jobid} | awk -F, '{{print $3}}'") == "3\n"


def test_restart_keeps_jobs_and_the_next_id(jobd: Host) -> None:
    ids = [new_job(jobd) for _ in range(3)]
    run_backup(jobd, ids[1])
    proc = psutil.Process(int(jobd.cfg.paths.pidfile("bpjobd").read_text().split()[0]))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    jobd.run("netbackup", "start", "--only", "bpjobd")
    assert new_job(jobd) == 4
    listed = call(jobd, "job_list")["jobs"]
    assert [j["jobid"] for j in listed] == [4, 3, 2, 1]
    job = call(jobd, "job_get", jobid=ids[1])["job"]
    assert job["state"] == kinds.DONE and job["closed"] and len(job["steps"]) == 4
    assert len(job["tries"][0]["trystatuslines"]) == 6


def test_report_table_and_runbook_idioms(jobd: Host) -> None:
    # A still clock: an active job's elapsed time must not tick between the listings compared.
    clock.set_test_clock(jobd.root, fixed=time.time())
    queued = [new_job(jobd), new_job(jobd)]
    active = new_job(jobd, policy="Anomaly_Detection")
    call(jobd, "job_update", jobid=active, new_try=True, state=kinds.ACTIVE, server="media1")
    done = new_job(jobd, jobtype=kinds.JOB_RESTORE)
    run_backup(jobd, done)
    out = jobd.run("bpdbjobs").stdout.splitlines()
    assert out[0].split()[:4] == ["JobID", "Type", "State", "Status"]
    assert [int(line.split()[0]) for line in out[1:]] == [done, active, queued[1], queued[0]]
    assert out[1].split()[1:4] == ["Restore", "Done", "1"]
    assert out[2].split()[1:3] == ["Backup", "Active"]
    assert jobd.run("bpdbjobs", "-report").stdout.splitlines() == out
    assert shell(jobd, "bpdbjobs | grep -c Que") == "2\n"
    # NetBackup's header has "Active PID": the runbook's grep finds it too, and the script's
    # `bpdbjobs -cancel JobID` fails harmlessly, as on NetBackup.
    assert shell(jobd, "bpdbjobs | grep -i active | awk '{print $1}'") == f"JobID\n{active}\n"
    assert shell(jobd, "bpdbjobs | grep Anomaly_Detection | egrep -c 'Active|Queued'") == "1\n"
    assert jobd.run("bpdbjobs", "-noheader").stdout.splitlines() == out[1:]


def without_elapsed(line: str) -> list[str]:
    """A -most_columns line's fields, the elapsed time (field 9) left out."""
    fields = split_fields(line)
    return fields[:9] + fields[10:]


def test_most_columns_gdm_json_and_file(jobd: Host, tmp_path: Path) -> None:
    parent = new_job(jobd)
    child = new_job(jobd, parentjob=parent, policy="p,comma")
    run_backup(jobd, child)
    most = jobd.run("bpdbjobs", "-most_columns").stdout.splitlines()
    gdm = jobd.run("bpdbjobs", "-gdm").stdout.splitlines()
    # The second listing comes a moment later: the queued job's elapsed time may have ticked.
    assert [without_elapsed(line) for line in gdm] == [without_elapsed(line) for line in most]
    first = split_fields(most[0])
    assert first[0] == str(child) and first[4] == "p,comma" and first[14] == "4096"
    assert first[31] == "2" and first[32] == "1" and first[33] == str(parent)
    assert split_fields(most[1])[3] == ""  # the queued parent has no status yet

    jobs = json.loads(jobd.run("bpdbjobs", "-json", "-jobid", f"{child},{parent}").stdout)
    assert [j["jobid"] for j in jobs] == [child, parent]
    assert [s["step"] for s in jobs[0]["steps"]] == [2, 5, 9, 17]
    assert len(jobs[0]["tries"][0]["trystatuslines"]) == 6 and jobs[1]["tries"] == []

    out = tmp_path / "jobs.csv"
    assert jobd.run("bpdbjobs", "-all_columns", "-file", str(out)).stdout == ""
    assert len(out.read_text().splitlines()) == 2
    jobd.run("bpdbjobs", "-all_columns", "-jobid", str(parent), "-file", str(out), "-append")
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and parse_all_columns(lines[2])["jobid"] == str(parent)
    bad = jobd.run("bpdbjobs", "-file", str(tmp_path / "no" / "such" / "f"), check=False)
    assert bad.returncode == 12 and "EXIT STATUS 12" in bad.stderr
    assert not (tmp_path / "no").exists()


def test_summary_forms(jobd: Host) -> None:
    new_job(jobd)
    ok, failed = new_job(jobd), new_job(jobd)
    call(jobd, "job_update", jobid=ok, state=kinds.DONE, status=0)
    call(jobd, "job_update", jobid=failed, state=kinds.DONE, status=58)
    head, row = jobd.run("bpdbjobs", "-summary").stdout.splitlines()
    assert head.split()[0] == "Server" and len(head.split()) == 11
    assert row.split() == [jobd.name, "1", "0", "0", "1", "0", "1", "0", "0", "0", "3"]
    (alone,) = jobd.run("bpdbjobs", "-summary", "-noheader").stdout.splitlines()
    assert alone.split() == row.split()
    labelled = jobd.run("bpdbjobs", "-summary", "-L").stdout.splitlines()
    assert labelled[0] == f"Summary of jobs on {jobd.name}"
    assert dict(line.split(":") for line in labelled[1:]) == {
        "Queued": "                 1", "Waiting-to-Retry": "       0",
        "Active": "                 0", "Successful": "             1",
        "Partially Successful": "   0", "Failed": "                 1",
        "Incomplete": "             0", "Suspended": "              0",
        "Total": "                  3"}
    assert jobd.run("bpdbjobs", "-summary", "-U").stdout.splitlines() == labelled
    assert jobd.run("bpdbjobs", "-summary", "-all_columns").stdout == \
        f"{jobd.name},1,0,0,1,0,1,0,0,0,3\n"


def test_cancel_without_nbjm(jobd: Host) -> None:
    queued = new_job(jobd)
    active = new_job(jobd)
    call(jobd, "job_update", jobid=active, new_try=True, state=kinds.ACTIVE)
    # a waiter in another process returns once bpjobd has ended the job itself
    code = ("import json,sys; from nbcli import config; from nbcli.net import client; "
            "cfg = config.load(sys.argv[1]); "
            f"print(json.dumps(client.call(cfg, cfg.client_name, 'bpjobd', 'job_wait', "
            f"jobid={queued}, timeout=60)['job']))")
    waiter = subprocess.Popen([sys.executable, "-c", code, str(jobd.root)], text=True,
                              stdout=subprocess.PIPE, env=jobd.env(),
                              cwd=Path(__file__).parents[2])
    r = jobd.run("bpdbjobs", "-cancel", str(queued))
    assert r.stdout == "1 job(s) canceled\n"
    out, _ = waiter.communicate(timeout=30)
    job = json.loads(out)
    assert (job["state"], job["status"], job["closed"]) == (kinds.DONE, 150, True)
    row = next(line for line in jobd.run("bpdbjobs").stdout.splitlines()
               if line.split()[0] == str(queued))
    assert row.split()[2:4] == ["Done", "150"]
    assert jobd.run("bpdbjobs", "-cancel", str(queued), "-quiet").stdout == ""  # done: no-op

    # an active job whose owner (nbjm) is not there is run by nobody: bpjobd ends it (150)
    assert jobd.run("bpdbjobs", "-cancel", str(active)).stdout == "1 job(s) canceled\n"
    job = call(jobd, "job_get", jobid=active)["job"]
    assert (job["state"], job["status"], job["closed"]) == (kinds.DONE, 150, True)
    assert "nbjm does not run the job" in job["tries"][0]["trystatuslines"][-1]

    r = jobd.run("bpdbjobs", "-cancel", "999", check=False)
    assert r.returncode == 273 % 256 and "EXIT STATUS 273: invalid job id" in r.stderr
    assert status_of(jobd, "job_cancel", jobid=999) == 273

    backup2, restore = new_job(jobd), new_job(jobd, jobtype=kinds.JOB_RESTORE)
    assert jobd.run("bpdbjobs", "-cancel", "type=restore").stdout == "1 job(s) canceled\n"
    states = {j["jobid"]: j["state"] for j in call(jobd, "job_list")["jobs"]}
    assert states[restore] == kinds.DONE and states[backup2] == kinds.QUEUED


def test_bad_command_lines(jobd: Host, tmp_path: Path) -> None:
    new_job(jobd)
    cases = [(["-bogus"], 20), (["-jobid", "x1"], 20), (["-jobid", "0"], 20),
             (["-all_columns", "-most_columns"], 20), (["-append"], 20),
             (["-summary", "-jobid", "1"], 20), (["-L"], 20), (["-cancel", "1", "-summary"], 20),
             (["-quiet"], 20), (["-cancel", "type=nosuch"], 20), (["-jobid", "1,77"], 273),
             (["-version", "-file", str(tmp_path / "v")], 20), (["-summary", "-report"], 20)]
    for argv, status in cases:
        r = jobd.run("bpdbjobs", *argv, check=False)
        assert r.returncode == status % 256, (argv, r.stderr)  # the shell sees it mod 256
        assert f"EXIT STATUS {status}" in r.stderr and "Traceback" not in r.stderr
    r = jobd.run("bpdbjobs", "-jobid", "1,77", check=False)
    assert len(r.stdout.splitlines()) == 2 and "77" in r.stderr  # job 1 printed all the same
    usage = jobd.run("bpdbjobs", "-help").stdout
    assert "EXIT STATUS" in usage and "273  a job named with -jobid or -cancel" in usage
    assert jobd.run("bpdbjobs", "-version").stdout.startswith("bpdbjobs (nbcli) ")


def test_no_daemon_is_status_25(aio_root: Host) -> None:
    r = aio_root.run("bpdbjobs", check=False)
    assert r.returncode == 25 and "EXIT STATUS 25" in r.stderr


def test_malformed_requests_get_statuses_and_the_daemon_serves_on(jobd: Host) -> None:
    jobid = new_job(jobd)
    bad = [("job_frobnicate", {}, 143), ("job_update", {}, 143),
           ("job_update", {"jobid": "1"}, 143), ("job_update", {"jobid": 0}, 20),
           ("job_update", {"jobid": jobid, "try": 3}, 20),
           ("job_update", {"jobid": jobid, "state": 42}, 20),
           ("job_update", {"jobid": jobid, "kbytes": "lots"}, 143),
           ("job_update", {"jobid": jobid, "new_try": "yes"}, 143),
           ("job_update", {"jobid": 99, "kbytes": 1}, 227),
           ("job_create", {"state": 0}, 143), ("job_create", {"jobtype": 0, "state": 0,
                                                              "nosuch": 1}, 143),
           ("job_step", {"jobid": jobid, "step": 1}, 143),
           ("job_step", {"jobid": jobid, "step": -1, "process": "x", "msg": "m"}, 20),
           ("job_step", {"jobid": jobid, "step": 1, "process": "x", "msg": "m", "time": "now"},
            143),
           ("job_log", {"jobid": jobid, "process": "x", "msg": "m", "severity": "Loud"}, 20),
           ("job_get", {"jobid": 99}, 227), ("job_wait", {"jobid": 99}, 227),
           ("job_wait", {"jobid": jobid, "timeout": "soon"}, 143),
           ("job_wait", {"jobid": jobid, "timeout": -1}, 20),
           ("job_list", {"jobids": "1"}, 143), ("job_list", {"limit": 0}, 20),
           ("job_cancel", {"jobid": None}, 143)]
    for op, fields, status in bad:
        assert status_of(jobd, op, **fields) == status, (op, fields)
    # a frame that is not JSON: that connection ends, the daemon does not
    with client.connect(jobd.cfg, jobd.name, "bpjobd") as conn:
        conn.sock.sendall(frames.HEADER.pack(5) + b"{nope")
        reply = conn.recv(10)
        assert reply["status"] == 232
    call(jobd, "job_update", jobid=jobid, kbytes=7)
    assert call(jobd, "job_get", jobid=jobid)["job"]["kbytes"] == 7


def test_wait_timeout_and_waiters_do_not_block_others(jobd: Host) -> None:
    jobid = new_job(jobd)
    t = time.monotonic()
    assert status_of(jobd, "job_wait", jobid=jobid, timeout=0.3) == 41
    assert 0.3 <= time.monotonic() - t < 5
    waiters = [threading.Thread(target=status_of, args=(jobd, "job_wait"),
                                kwargs={"jobid": jobid}, daemon=True) for _ in range(5)]
    for w in waiters:
        w.start()
    t = time.monotonic()
    assert call(jobd, "job_list")["jobs"][0]["jobid"] == jobid
    assert time.monotonic() - t < 1.0
    # a waiter whose client hangs up stops waiting
    conn = client.connect(jobd.cfg, jobd.name, "bpjobd")
    conn.send({"op": "job_wait", "jobid": jobid})
    conn.close()
    log = jobd.cfg.paths.logs / "bpjobd"
    wait_for(lambda: "went away" in "".join(p.read_text() for p in log.glob("log.*")),
             timeout=15, what="bpjobd to drop the abandoned waiter")
    call(jobd, "job_update", jobid=jobid, state=kinds.DONE, status=0, closed=True)
    for w in waiters:
        w.join(10)
        assert not w.is_alive()


def test_listing_stays_fast_with_100_jobs_updating(jobd: Host) -> None:
    ids = [new_job(jobd) for _ in range(100)]
    for jobid in ids[::2]:
        call(jobd, "job_update", jobid=jobid, new_try=True, state=kinds.ACTIVE)
    stop = threading.Event()

    def churn() -> None:
        with client.connect(jobd.cfg, jobd.name, "bpjobd") as conn:
            n = 0
            while not stop.is_set():
                jobid = ids[n % len(ids)]
                conn.request("job_update", jobid=jobid, kbytes=n)
                conn.request("job_log", jobid=jobid, process="bptm", pid=1, msg=f"{n} KB")
                n += 1

    churners = [threading.Thread(target=churn) for _ in range(3)]
    for c in churners:
        c.start()
    try:
        # Every listing is whole while others write (the time it takes is bench/'s business).
        with client.connect(jobd.cfg, jobd.name, "bpjobd") as conn:
            for detail in (False, True) * 5:
                jobs = conn.request("job_list", detail=detail)["jobs"]
                assert len(jobs) == 100
                assert all(j["jobid"] in ids for j in jobs)
    finally:
        stop.set()
        for c in churners:
            c.join(10)


def test_the_job_reporter_nbjm_and_bprd_use(jobd: Host) -> None:
    """nbcli.jobreport's calls as the job owners make them: nulls, float times, new_try on
    create, relayed agent frames."""
    from nbcli import jobreport

    report = jobreport.JobReporter(jobd.cfg, "bprd")
    try:
        jobid = report.create(jobtype=kinds.JOB_RESTORE, state=kinds.ACTIVE, client="c1",
                              policy=None, schedule=None, filelist=["/etc"], new_try=True)
        report.step(jobid, 3, "restore job created", time=time.time() + 0.75)
        report.relay(jobid, jobreport.step_frame("tar-restore", "c1", 14, "writing files"))
        report.relay(jobid, jobreport.log_frame("tar-restore", "c1", "cannot set owner",
                                                "Warning"))
        report.update(jobid, state=kinds.DONE, status=0, kbytes=10, files=1)
        report.update(jobid, closed=True)
    finally:
        report.close()
    job = call(jobd, "job_wait", jobid=jobid, timeout=5)["job"]
    assert job["policy"] == "" and job["trycount"] == 1 and job["closed"]
    assert [s["step"] for s in job["steps"]] == [3, 14]
    lines = job["tries"][0]["trystatuslines"]
    pid = job["steps"][1]["pid"]
    assert lines[1].endswith(f"Info tar-restore (pid={pid}) step 14 on c1: writing files")
    assert "Warning tar-restore" in lines[2] and job["tries"][0]["trystatus"] == 0


def test_file_names_that_are_not_utf8_come_out_as_their_bytes(jobd: Host) -> None:
    odd = os.fsdecode(b"/data/caf\xe9,x")
    jobid = new_job(jobd, filelist=[odd])
    argv = programs.argv_for("bpdbjobs") + ["-all_columns", "-jobid", str(jobid)]
    out = subprocess.run(argv, env=jobd.env(), capture_output=True, check=True,
                         timeout=60).stdout
    assert b",1,/data/caf\xe9\\,x,0," in out
    parsed = parse_all_columns(out.decode("utf-8", "surrogateescape").rstrip("\n"))
    assert parsed["filelist"] == [odd]
