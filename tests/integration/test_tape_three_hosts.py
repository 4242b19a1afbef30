"""Tape across three hosts, as a site runs it: the library and Media Manager on the media
server, EMM and bprd on the master, the data on a client. The administrator configures the
robot and drives with tpconfig and adds the cartridges with vmupdate on the media server;
the backup and the restore run the seed's steps 1-17 with each process on its own host, the
restore's bprd child on the master launching bpbrm on the media server that owns the
medium. A media server stopped in the middle of a tape backup or restore leaves the master
with the job closed and nothing held."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil
import pytest

from nbcli import programs
from nbcli.net import client as net
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, job, last_jobid, rename_file, steps
from tests.integration.test_flow import BACKUP_ACTORS, RESTORE_ACTORS, assert_steps

# The restore from tape adds the bprd child on the master (steps 4, 5 and 17).
TAPE_RESTORE_ACTORS = {**RESTORE_ACTORS, 4: {"bprd@master", "bprd child@master"},
                       5: {"bprd child@master"}, 17: {"bpbrm@media", "bprd child@master"}}


SPEED = "24M"  # the drives stream as a real one does: a 64 MiB transfer takes ~2.7 s


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host]) -> dict[str, Host]:
    """The three hosts; on the media server a library of 2 drives and 10 cartridges
    configured as an administrator does there (tpconfig, vmupdate), and the master's tape
    storage unit "tape1" on it."""
    master, media = three_hosts["master"], three_hosts["media"]
    media.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--capacity", "1G",
              "--move-time", "0", "--speed", SPEED)
    home = str(media.root / "volmgr" / "vtl")
    media.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld", "-robpath", home)
    for n in (0, 1):
        media.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
                  "tld", "-robdrnum", str(n), "-asciiname", f"MEDIA.DRV{n}")
    media.run("vmupdate", "-rt", "tld", "-rn", "0")
    master.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
               "hcart", "-host", "media", "-cj", "2")
    return three_hosts


def held(master: Host) -> list[str]:
    """What the master still holds for any job: nbrb's queue, nbemm's allocations, drives
    and media."""
    def emm(op: str, key: str) -> list[dict[str, object]]:
        return list(net.call(master.cfg, "master", "nbemm", op)[key])
    q = net.call(master.cfg, "master", "nbrb", "queue")
    return ([f"nbrb: {q['active']} {q['queued']}"] if q["active"] or q["queued"] else []) + \
        [f"allocation {a}" for a in emm("allocations", "allocations")] + \
        [f"drive {d['name']}" for d in emm("drive_list", "drives") if d["jobid"]] + \
        [f"medium {m['media_id']}" for m in emm("media_list", "media") if m["jobid"]]


def test_backup_and_restore_through_a_library_on_the_media_server(
        site: dict[str, Host], tmp_path: Path) -> None:
    master, media = site["master"], site["media"]
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(os.urandom(3 << 20))
    (data / "b.txt").write_bytes(b"on tape, on the media server\n" * 100)
    add_policy(master, "tp", "tape1", ["client"], [str(data)])

    r = master.run("bpbackup", "-i", "-p", "tp", "-s", "full", "-w", check=False, timeout=300)
    backup_job = last_jobid(master)
    done = job(master, backup_job)
    assert r.returncode == done["status"] == 0, (r.stderr, done)
    assert (done["server"], done["stunit"]) == ("media", "tape1")
    # the medium is the media server's, written in NetBackup's layout: bpmedialist says so
    listing = master.run("bpmedialist", "-mlist").stdout
    assert "Server Host = media" in listing and "0000L6" in listing, listing

    dest = tmp_path / "restored"
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data), check=False,
                   timeout=300)
    restore_job = last_jobid(master)
    assert r.returncode == job(master, restore_job)["status"] == 0, r.stderr
    for f in data.iterdir():
        assert (dest / f.name).read_bytes() == f.read_bytes(), f

    assert_steps(steps(master, backup_job), BACKUP_ACTORS,
                 required={"11:bpbkar", "12:bptm child", "9:bptm"})
    assert_steps(steps(master, restore_job), TAPE_RESTORE_ACTORS,
                 required={"4:bprd child", "5:bprd child", "8:bpbrm child", "14:tar-restore",
                           "17:bprd child"})
    # nothing stays: the neededimage file, the allocation, the drive in ltid
    assert list(master.cfg.paths.neededimage.iterdir()) == []
    wait_for(lambda: not held(master), 30, "the restore's resources to go")
    ltid = net.call(media.cfg, "media", "ltid", "drive_status")
    assert not any(d["jobid"] for d in ltid["drives"]) and not ltid["pending"], ltid


def test_a_media_server_stopped_mid_backup_and_mid_restore_leaves_nothing_held(
        site: dict[str, Host], tmp_path: Path) -> None:
    """`netbackup stop` on the media server while its drive streams a 64 MiB image: the
    waiting bpbackup, then bprestore, on the master ends with the job's failure status; the
    master holds no drive, medium or allocation once the media server is back; the restore
    left no neededimage file, no bprd child and no file in its destination; and the next
    backup and restore run."""
    master, media = site["master"], site["media"]
    data = tmp_path / "data"
    data.mkdir()
    (data / "big.bin").write_bytes(os.urandom(64 << 20))
    add_policy(master, "stopped", "tape1", ["client"], [str(data)])

    def stopped_mid(argv: list[str], moving: str) -> None:
        cmd = subprocess.Popen(programs.argv_for(argv[0]) + argv[1:], env=master.env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: moving_now(moving), 60, f"the {argv[0]} to move data")
        media.stop()
        cmd.communicate(timeout=120)
        done = job(master, last_jobid(master))
        assert done["state"] == 3 and cmd.returncode == done["status"] != 0, done
        media.start()
        wait_for(lambda: not held(master), 60, "the master to hold nothing")

    def moving_now(what: str) -> bool:
        """Whether 8 MiB of the image have moved: onto a cartridge, or out of the client's
        tar-restore (which writes into a file with no name until it is whole)."""
        if what == "backup":
            cartridges = (media.root / "volmgr" / "vtl").rglob("*.tap")
            return any(c.stat().st_size > 8 << 20 for c in cartridges)
        for p in site["client"].processes(spares=False):
            try:
                if p.program == "tar-restore" and p.proc.io_counters().write_chars > 8 << 20:
                    return True
            except psutil.Error:  # it ended meanwhile
                pass
        return False

    stopped_mid(["bpbackup", "-i", "-p", "stopped", "-s", "full", "-w"], "backup")
    assert master.run("bpimagelist", "-policy", "stopped", check=False).returncode == 227
    r = master.run("bpbackup", "-i", "-p", "stopped", "-s", "full", "-w", check=False,
                   timeout=300)
    assert r.returncode == 0, r.stderr

    dest = tmp_path / "restored"
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    stopped_mid(["bprestore", "-C", "client", "-R", str(ren), "-w", str(data)], "restore")
    assert list(master.cfg.paths.neededimage.iterdir()) == []
    assert not [p for p in master.processes(spares=False) if "-child" in p.proc.cmdline()]
    assert not [p for p in dest.rglob("*") if p.is_file()], list(dest.rglob("*"))
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data),
                   check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (dest / "big.bin").read_bytes() == (data / "big.bin").read_bytes()
