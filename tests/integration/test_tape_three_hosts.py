"""Tape across three hosts, as a site runs it: the library and Media Manager on the media
server, EMM and bprd on the master, the data on a client. The administrator configures the
robot and drives with tpconfig and adds the cartridges with vmupdate on the media server;
the backup and the restore run the seed's steps 1-17 with each process on its own host, the
restore's bprd child on the master launching bpbrm on the media server that owns the
medium."""

from __future__ import annotations

import os
from pathlib import Path

from nbcli.net import client as net
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, job, last_jobid, rename_file, steps
from tests.integration.test_flow import BACKUP_ACTORS, RESTORE_ACTORS, assert_steps

# The restore from tape adds the bprd child on the master (steps 4, 5 and 17).
TAPE_RESTORE_ACTORS = {**RESTORE_ACTORS, 4: {"bprd@master", "bprd child@master"},
                       5: {"bprd child@master"}, 17: {"bpbrm@media", "bprd child@master"}}


def test_backup_and_restore_through_a_library_on_the_media_server(
        three_hosts: dict[str, Host], tmp_path: Path) -> None:
    master, media = three_hosts["master"], three_hosts["media"]
    media.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--capacity", "8M",
              "--move-time", "0")
    home = str(media.root / "volmgr" / "vtl")
    media.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld", "-robpath", home)
    for n in (0, 1):
        media.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
                  "tld", "-robdrnum", str(n), "-asciiname", f"MEDIA.DRV{n}")
    media.run("vmupdate", "-rt", "tld", "-rn", "0")
    master.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
               "hcart", "-host", "media", "-cj", "2")
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
    wait_for(lambda: net.call(master.cfg, "master", "nbemm", "allocations")["allocations"]
             == [], 30, "the restore's allocation to go")
    ltid = net.call(media.cfg, "media", "ltid", "drive_status")
    assert not any(d["jobid"] for d in ltid["drives"]) and not ltid["pending"], ltid
