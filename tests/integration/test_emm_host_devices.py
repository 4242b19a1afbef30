"""nbemmcmd -deletealldevices, -updatehost -machinestateop and -setemmserver run as real
processes against a started host: devices gone (or all kept on a refusal), a paused media
server's backup waiting with its reason until the pause is cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbcli import kinds
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, last_jobid, stopped_backup
from tests.integration import test_emm
from tests.integration.test_emm import call, framed, run_fail

emm, quiet_emm = test_emm.emm, test_emm.quiet_emm  # the same fixtures (one host for refusals)

HOME = "/nb/volmgr/vtl"
DELETE_ALL = ("nbemmcmd", "-deletealldevices", "-machinename", "aio", "-machinetype", "media")


def devices(nb: Host) -> tuple[list[str], list[int]]:
    return ([d["name"] for d in call(nb, "drive_list")["drives"]],
            [r["rn"] for r in call(nb, "robot_list")["robots"]])


def test_deletealldevices_refused_in_use_then_removes_drives_and_robots(emm: Host) -> None:
    call(emm, "host_add", name="media2", machinetype="media")
    call(emm, "robot_add", rn=0, rt="tld", host="aio", device=HOME)
    for n in (0, 1):
        call(emm, "drive_add", name=f"drive{n}", host="aio", type="hcart", rn=0, drnum=n,
             path=f"{HOME}:{n}")
    call(emm, "drive_add", name="other", host="media2", type="hcart", rn=-1, drnum=-1,
         path="/dev/other")
    call(emm, "media_add", media_id="A00001", type="hcart", rt="tld", rn=0, slot=1)
    call(emm, "stu_add", label="tape", stype=2, rt="tld", rn=0, density="hcart", cj=2)
    call(emm, "allocate", jobid=7, kind="backup", stu="tape")  # holds drive0 and A00001
    before = devices(emm)
    rc, out, err = run_fail(emm, *DELETE_ALL, "-allrobots")
    assert rc == 97 and err.splitlines()[-1].startswith("EXIT STATUS 97: ")
    assert "drive0 on aio is in use by job 7" in err
    assert out.splitlines()[-1] == "Command did not complete successfully."
    assert devices(emm) == before  # nothing deleted
    call(emm, "release", jobid=7)
    assert framed(emm.run(*DELETE_ALL).stdout) == ["Deleted 2 drive(s) and 0 robot(s) of aio."]
    assert devices(emm) == (["other"], [0])
    assert framed(emm.run(*DELETE_ALL, "-allrobots").stdout) == \
        ["Deleted 0 drive(s) and 1 robot(s) of aio."]
    assert devices(emm) == (["other"], [])
    assert call(emm, "media_list", media_id="A00001")["media"][0]["rn"] == -1  # standalone


@pytest.mark.parametrize("argv, code", [
    (["-deletealldevices", "-machinename", "aio"], 20),
    (["-deletealldevices", "-machinename", "aio", "-machinetype", "client"], 20),
    (["-deletealldevices", "-machinename", "ghost", "-machinetype", "media"], 227),
    (["-updatehost", "-machinename", "aio", "-machinetype", "media", "-machinestateop",
      "pause"], 20),
    (["-updatehost", "-machinename", "aio", "-machinetype", "master", "-machinestateop",
      "set_admin_pause"], 20),
    (["-updatehost", "-machinename", "ghost", "-machinetype", "media", "-machinestateop",
      "set_disabled"], 227),
    (["-setemmserver", "-emmservername", "aio"], 20),
    (["-setemmserver", "-emmservername", "aio", "-newemmservername", "other"], 20),
])
def test_errors_change_nothing(quiet_emm: Host, argv: list[str], code: int) -> None:
    rc, _, err = run_fail(quiet_emm, "nbemmcmd", *argv)
    assert rc == code and err.splitlines()[-1].startswith(f"EXIT STATUS {code}: ")
    assert "Traceback" not in err
    hosts = call(quiet_emm, "host_list")["hosts"]
    assert [(h["name"], h["state"]) for h in hosts] == [("aio", 0), ("aio", 0)]


def test_setemmserver_accepts_the_master_only(quiet_emm: Host) -> None:
    assert framed(quiet_emm.run("nbemmcmd", "-setemmserver", "-emmservername", "aio",
                                "-newemmservername", "aio").stdout) == \
        ["The EMM server of this domain is aio; nothing was changed."]


def verbose_state(nb: Host) -> str:
    block = framed(nb.run("nbemmcmd", "-listhosts", "-verbose", "-display_server",
                          "-machinename", "aio", "-machinetype", "media").stdout)
    (line,) = [x for x in block if x.strip().startswith("MachineState = ")]
    return line.strip()


def test_paused_media_server_makes_a_backup_wait_until_cleared(aio: Host,
                                                               tmp_path: Path) -> None:
    add_stu(aio, "disk1", tmp_path / "stu", media=aio.name, cj="2")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(b"paused\n")
    add_policy(aio, "pol", "disk1", [aio.name], [str(data)])
    # room for both jobs; the long one runs, and stays so while the server is paused
    with stopped_backup(aio, tmp_path, "disk1", max_jobs=2) as hog_job:
        state = ("nbemmcmd", "-updatehost", "-machinename", "aio", "-machinetype", "media",
                 "-machinestateop")
        aio.run(*state, "set_admin_pause")
        assert verbose_state(aio) == "MachineState = administrative pause (1)"
        aio.run("bpbackup", "-i", "-p", "pol", "-s", "full")
        jobid = last_jobid(aio)
        wait_for(lambda: "media server aio is in state administrative pause"
                 in job(aio, jobid)["reasonstring"], 30, "the job to wait for the server")
        assert job(aio, jobid)["state"] == kinds.QUEUED
        # the running job goes on: still active, its allocation kept
        assert job(aio, hog_job)["state"] == kinds.ACTIVE
        assert hog_job in [a["jobid"] for a in call(aio, "allocations")["allocations"]]
        aio.run(*state, "clr_admin_pause")
        assert verbose_state(aio) == "MachineState = active (0)"
        done = client.call(aio.cfg, aio.name, "bpjobd", "job_wait", jobid=jobid,
                           timeout=120)["job"]
        assert (done["state"], done["status"]) == (kinds.DONE, 0)
