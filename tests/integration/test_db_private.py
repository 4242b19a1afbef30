"""netbackup/db is the daemons' alone on disk: the jobs database, the image catalog (the file
names of every client's backups), policies and EMM. A client or user gets only what is
theirs, through the daemons (bpjobd lists jobs to administrators, bpdbm a client's own
images); no local user reads the files around them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import Host
from tests.flowkit import add_policy, add_stu


def test_the_databases_folder_is_closed_to_other_users_and_the_daemons_still_read_it(
        aio_root: Host, tmp_path: Path) -> None:
    db = aio_root.root / "netbackup" / "db"
    # as a host made before this rule has it, or a catalog copied in
    for folder in (db, db / "images", db / "jobs"):
        os.chmod(folder, 0o755)
    aio_root.start()
    try:
        assert stat.S_IMODE(db.stat().st_mode) == 0o700
        data = tmp_path / "data"
        data.mkdir()
        (data / "secret-plans.txt").write_text("names are data too")
        add_stu(aio_root, "disk1", tmp_path / "stu", media=aio_root.name)
        add_policy(aio_root, "p", "disk1", [aio_root.name], [str(data)])
        aio_root.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
        assert list((db / "images").rglob("*.f")), "the backup wrote no .f file"
        assert stat.S_IMODE(db.stat().st_mode) == 0o700
        listed = aio_root.run("bplist", "-C", aio_root.name, "-R", str(data)).stdout
        assert str(data / "secret-plans.txt") in listed
        jobs = aio_root.run("bpdbjobs", "-noheader").stdout.split()
        assert jobs and jobs[0].isdigit()
    finally:
        aio_root.stop()
