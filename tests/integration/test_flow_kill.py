"""Killing bpbkar, bptm or bpbrm in the middle of a backup, across three hosts: the job ends
with a NetBackup error status (never Active forever), its resources are freed, and no image is
left; killing nbjm ends the job when nbjm is started again (tests/faults has the whole matrix
on one host)."""

from __future__ import annotations

import signal
import subprocess

import psutil
import pytest

from nbcli import programs
from nbcli.net import client
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu, job, last_jobid, rename_file


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host], tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("killsite")
    master = three_hosts["master"]
    add_stu(master, "disk1", base / "stu")
    data = base / "data"
    data.mkdir()
    with open(data / "sparse.img", "wb") as f:  # big enough to still be running when killed
        f.truncate(8 << 30)
    add_policy(master, "long", "disk1", ["client"], [str(data)])
    return three_hosts, base


def running(host: Host, program: str) -> list[psutil.Process]:
    return [p.proc for p in host.processes(spares=False) if p.program == program]


@pytest.mark.parametrize("victim,host,status", [("bpbkar", "client", 50),
                                                ("bptm", "media", 82),
                                                ("bpbrm", "media", 40)])
def test_killing_an_agent_fails_the_job_cleanly(site, victim: str, host: str,
                                                status: int) -> None:
    hosts, base = site
    master = hosts["master"]
    jobid = client.call(master.cfg, "master", "bprd", "backup", policy="long",
                        schedule="full")["jobids"][0]
    backupid = wait_for(lambda: job(master, jobid).get("backupid"), 30, "the image")
    # mid-backup: the image is flowing into its first fragment
    wait_for(lambda: any(f.stat().st_size for f in (base / "stu").glob(f"{backupid}_C1_F*")),
             60, "data to reach the storage unit")
    procs = running(hosts[host], victim)
    assert procs
    for p in procs:
        p.send_signal(signal.SIGKILL)
    done = client.call(master.cfg, "master", "bpjobd", "job_wait", jobid=jobid,
                       timeout=120)["job"]
    assert (done["state"], done["status"]) == (3, status)
    # nothing held: nbrb and nbemm have let go of the job
    assert jobid not in client.call(master.cfg, "master", "nbrb", "queue")["active"]
    held = client.call(master.cfg, "master", "nbemm", "allocations")["allocations"]
    assert jobid not in [a["jobid"] for a in held]
    # no image in the catalog, no fragment on the disk, no agent left behind
    images = client.call(master.cfg, "master", "bpdbm", "image_list", client="client",
                         policy="long")["images"]
    assert images == []
    wait_for(lambda: not list((base / "stu").glob(f"{done['backupid']}_*")), 30,
             "the fragments to be removed")
    for h, prog in (("client", "bpbkar"), ("media", "bptm"), ("media", "bpbrm")):
        wait_for(lambda h=h, prog=prog: not running(hosts[h], prog), 30, f"{prog} to exit")


def test_stopping_the_master_mid_backup(site) -> None:
    """Three hosts: `netbackup stop` on the master during a backup ends the job with 150
    (nbjm cancels it before the others stop), the media server removes the fragment, the
    waiting `bpbackup -w` exits 150 by itself, and after `netbackup start` nothing is held."""
    hosts, base = site
    master = hosts["master"]
    cmd = subprocess.Popen(programs.argv_for("bpbackup") + ["-i", "-p", "long", "-s", "full",
                                                            "-w"],
                           env=master.env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)

    def newest() -> int | None:
        jobs = client.call(master.cfg, "master", "bpjobd", "job_list", open=True)["jobs"]
        return max((j["jobid"] for j in jobs), default=None)

    jobid = wait_for(newest, 30, "the job")
    backupid = wait_for(lambda: job(master, jobid).get("backupid"), 30, "the image")
    wait_for(lambda: any(f.stat().st_size for f in (base / "stu").glob(f"{backupid}_C1_F*")),
             60, "data to reach the storage unit")
    master.stop()
    out, err = cmd.communicate(timeout=60)
    assert cmd.returncode == 150, (out, err)
    master.start()
    done = job(master, jobid)
    assert (done["state"], done["status"], done["closed"]) == (3, 150, True)
    wait_for(lambda: not list((base / "stu").glob(f"{backupid}_*")), 30,
             "the fragments to be removed")
    assert not list(master.cfg.paths.images.rglob("*.inprogress"))
    q = client.call(master.cfg, "master", "nbrb", "queue")
    allocs = client.call(master.cfg, "master", "nbemm", "allocations")["allocations"]
    assert jobid not in q["active"] and jobid not in [a["jobid"] for a in allocs]


def test_killing_nbjm_ends_the_job_when_nbjm_is_back(site) -> None:
    """Three hosts: nbjm dies mid-backup; at its start it ends the job it left (50), the image
    and its fragments go, nbrb and nbemm let go, and the next backup of the policy ends 0.
    (Runs last in this module: it shrinks the policy's source.)"""
    hosts, base = site
    master = hosts["master"]
    jobid = client.call(master.cfg, "master", "bprd", "backup", policy="long",
                        schedule="full")["jobids"][0]
    backupid = wait_for(lambda: job(master, jobid).get("backupid"), 30, "the image")
    wait_for(lambda: any(f.stat().st_size for f in (base / "stu").glob(f"{backupid}_C1_F*")),
             60, "data to reach the storage unit")
    for p in running(master, "nbjm"):
        p.send_signal(signal.SIGKILL)
    master.start()
    done = wait_for(lambda: (j := job(master, jobid))["closed"] and j, 90, "the job's end")
    assert (done["state"], done["status"]) == (3, 50)
    assert client.call(master.cfg, "master", "bpdbm", "image_list", client="client",
                       policy="long")["images"] == []
    wait_for(lambda: not list(master.cfg.paths.images.rglob("*.inprogress")), 30,
             "the image in progress to be removed")
    wait_for(lambda: not list((base / "stu").glob(f"{backupid}_*")), 30,
             "the fragments to be removed")

    def held() -> bool:
        q = client.call(master.cfg, "master", "nbrb", "queue")
        allocs = client.call(master.cfg, "master", "nbemm", "allocations")["allocations"]
        return jobid in q["active"] or jobid in [a["jobid"] for a in allocs]

    wait_for(lambda: not held(), 30, "nbrb and nbemm to let go")
    with open(base / "data" / "sparse.img", "wb") as f:
        f.truncate(1 << 20)
    nxt = client.call(master.cfg, "master", "bprd", "backup", policy="long",
                      schedule="full")["jobids"][0]
    assert client.call(master.cfg, "master", "bpjobd", "job_wait", jobid=nxt,
                       timeout=120)["job"]["status"] == 0


def test_a_restore_while_nbjm_is_down_ends_at_once(site, tmp_path) -> None:
    """Three hosts, nbjm not running: bptm cannot send the restore's resource request (step
    7) and ends 25 before it has told tar-restore where to connect. The restore ends 25 at
    once (it used to wait for tar-restore's word, which never came, until `netbackup
    stop`); no bpbrm, bptm or tar-restore is left; with nbjm back, the same restore runs.
    (After test_killing_nbjm_...: the policy's source is the 1 MiB sparse.img.)"""
    hosts, base = site
    master = hosts["master"]
    for p in running(master, "nbjm"):
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    src = base / "data" / "sparse.img"
    ren = rename_file(tmp_path / "ren", [(src, tmp_path / "down" / "sparse.img")])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(src), check=False,
                   timeout=60)
    done = job(master, last_jobid(master))
    assert (r.returncode, done["status"]) == (25, 25), (r.stderr, done)
    assert "nbjm" in r.stderr + str(done["tries"][-1]["trystatuslines"]), (r.stderr, done)
    for h, prog in (("media", "bptm"), ("media", "bpbrm"), ("client", "tar-restore")):
        wait_for(lambda h=h, prog=prog: not running(hosts[h], prog), 30, f"{prog} to exit")
    master.start()
    ren = rename_file(tmp_path / "ren2", [(src, tmp_path / "up" / "sparse.img")])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(src), check=False,
                   timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "up" / "sparse.img").read_bytes() == src.read_bytes()
