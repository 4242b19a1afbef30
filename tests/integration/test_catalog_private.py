"""The image catalog (db/images) is bpdbm's alone on disk: the file names of every client's
backups are there, and a client or user lists only its own, through bpdbm."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import Host
from tests.flowkit import add_policy, add_stu


def test_the_catalog_folder_is_closed_to_other_users_and_bplist_still_reads_it(
        aio_root: Host, tmp_path: Path) -> None:
    images = aio_root.root / "netbackup" / "db" / "images"
    os.chmod(images, 0o755)  # as a catalog made before this rule, or copied in, may be
    aio_root.start()
    try:
        assert stat.S_IMODE(images.stat().st_mode) == 0o700
        data = tmp_path / "data"
        data.mkdir()
        (data / "secret-plans.txt").write_text("names are data too")
        add_stu(aio_root, "disk1", tmp_path / "stu", media=aio_root.name)
        add_policy(aio_root, "p", "disk1", [aio_root.name], [str(data)])
        aio_root.run("bpbackup", "-i", "-p", "p", "-s", "full", "-w")
        files_files = list(images.rglob("*.f"))
        assert files_files, "the backup wrote no .f file"
        # the folder is what keeps them: the files under it keep their modes
        assert stat.S_IMODE(images.stat().st_mode) == 0o700
        listed = aio_root.run("bplist", "-C", aio_root.name, "-R", str(data)).stdout
        assert str(data / "secret-plans.txt") in listed
    finally:
        aio_root.stop()
