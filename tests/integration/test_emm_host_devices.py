"""nbemmcmd -deletealldevices, -updatehost -machinestateop and -setemmserver run as real
processes against a started host: devices gone (or all kept on a refusal), the cartridges ltid
kept loaded sent home and ltid told at once, a paused media server's backup waiting with its
reason until the pause is cleared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbcli import kinds
from nbcli.net import client
from nbcli.status import NbuError
from nbcli.vtl.library import Library
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, last_jobid, stopped_backup
from tests.integration import test_emm
from tests.integration import test_tape_backup as tb
from tests.integration.test_emm import call, framed, run_fail

emm, quiet_emm = test_emm.emm, test_emm.quiet_emm  # the same fixtures (one host for refusals)
tape = tb.tape  # a started host with a virtual library of 2 drives, 10 slots

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
    # ltid is not running here (the media server gone): the delete goes on, and the cartridge
    # EMM last saw in a drive is reported as left there
    call(emm, "drive_loaded", name="drive1", host="aio", media_id="A00001")
    assert framed(emm.run(*DELETE_ALL).stdout) == [
        "Media A00001 in drive drive1 was left in the drive: ltid on aio did not move it.",
        "Deleted 2 drive(s) and 0 robot(s) of aio."]
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


def test_deletealldevices_sends_loaded_cartridges_home_and_tells_ltid(tape: Host,
                                                                      tmp_path: Path) -> None:
    """A backup leaves its cartridge loaded (MEDIA_UNMOUNT_DELAY, 180 s); a user's tpreq
    holds the other drive: the delete is refused (97), nothing changed in nbemm or ltid.
    After tpunmount both drives hold a cartridge no one uses: the delete sends them home
    first, ltid forgets the drives at once, and a mount of one is refused (227)."""
    h = tape
    tb.add_media(h, 1, 2)
    tb.tape_policy(h, "pol", tb.data_dir(tmp_path, "data", 0.1, 1))
    done = tb.backup(h, "pol")
    written = tb.image(h, done["backupid"])["fragments"][0]["media_id"]
    loaded = {d["name"]: d for d in ltid_drives(h) if d["barcode"]}
    assert [d["barcode"] for d in loaded.values()] == [f"{written}L6"]
    other = "A00001" if written == "A00000" else "A00000"
    bound = tmp_path / "mytape"
    h.run("tpreq", "-m", other, "-a", "r", str(bound))
    before = (devices(h), emm_loaded(h), ltid_state(h), h.run("tpconfig", "-d").stdout)
    rc, out, err = run_fail(h, "nbemmcmd", "-deletealldevices", "-machinename", h.name,
                            "-machinetype", "media")
    assert rc == 97 and err.splitlines()[-1].startswith("EXIT STATUS 97: ")
    assert "is in use by root" in err and "nothing was deleted" in err
    assert out.splitlines()[-1] == "Command did not complete successfully."
    assert (devices(h), emm_loaded(h), ltid_state(h), h.run("tpconfig", "-d").stdout) == \
        before
    h.run("tpunmount", str(bound))
    assert sorted(d["barcode"] for d in ltid_drives(h) if d["barcode"]) == \
        ["A00000L6", "A00001L6"]  # both stay loaded: the delay is 180 s

    lines = framed(h.run("nbemmcmd", "-deletealldevices", "-machinename", h.name,
                         "-machinetype", "media").stdout)
    assert sorted(lines[:-1]) == sorted(
        f"Media {m} in drive {d} was returned to its slot." for d, m in
        [(d["name"], d["barcode"][:6]) for d in before[2]["drives"] if d["barcode"]])
    assert lines[-1] == f"Deleted 2 drive(s) and 0 robot(s) of {h.name}."
    # nbemm: no drives, the robot and the media's slots kept; ltid: no drives, nothing pending
    assert devices(h) == ([], [0])
    slots = {m["media_id"]: (m["rn"], m["slot"]) for m in tb.media(h).values()}
    assert slots == {"A00000": (0, 1), "A00001": (0, 2)}
    assert ltid_state(h) == {"drives": [], "pending": []}
    lib = Library(str(h.root / "volmgr" / "vtl"))
    assert [lib.state().at("drive", n) for n in (0, 1)] == [None, None]
    assert {b: (c.location, c.element) for b, c in lib.state().cartridges.items()
            if b in ("A00000L6", "A00001L6")} == {"A00000L6": ("slot", 1),
                                                  "A00001L6": ("slot", 2)}
    assert "DRV0" not in h.run("tpconfig", "-d").stdout
    vmo = h.run("vmoprcmd", "-d").stdout
    assert "DRV0" not in vmo and "DRV1" not in vmo
    # a mount of a deleted drive: a clear status, no move
    with pytest.raises(NbuError) as e:
        client.call(h.cfg, h.name, "ltid", "mount", jobid=0, media_id="A00000",
                    barcode="A00000L6", drive="DRV0", mode="r")
    assert e.value.status == 227 and "not configured on this host" in str(e.value)
    assert lib.state().at("drive", 0) is None


def ltid_drives(h: Host) -> list[dict[str, Any]]:
    return list(client.call(h.cfg, h.name, "ltid", "drive_status")["drives"])


def ltid_state(h: Host) -> dict[str, Any]:
    state = client.call(h.cfg, h.name, "ltid", "drive_status")
    return {"drives": state["drives"], "pending": state["pending"]}


def emm_loaded(h: Host) -> dict[str, str]:
    return {d["name"]: d["media_id"] for d in call(h, "drive_list")["drives"]}
