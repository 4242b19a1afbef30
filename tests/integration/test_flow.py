"""Backup and restore across three hosts, through the seed's steps 1-17 as real processes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.flowkit import add_policy, add_stu, job, last_jobid, rename_file, steps
from tests.treegen import assert_same_tree, make_hard_tree

# Which process (and host) the seed names for each step. A step may have several entries
# (bptm asks, nbjm answers, at step 9); each must be by one of these.
BACKUP_ACTORS = {1: {"nbpem@master"}, 2: {"nbjm@master"}, 3: {"nbjm@master"},
                 4: {"nbrb@master"}, 5: {"nbjm@master", "nbrb@master"}, 6: {"nbjm@master"},
                 7: {"nbjm@master"}, 8: {"bpbrm@media"}, 9: {"bptm@media", "nbjm@master"},
                 10: {"bptm@media"}, 11: {"bpbkar@client", "bpbrm@media"},
                 12: {"bpbkar@client", "bptm child@media", "bptm@media"},
                 13: {"bptm@media"}, 14: {"nbjm@master"}, 15: {"nbjm@master"},
                 16: {"nbjm@master", "nbrb@master"}, 17: {"nbjm@master"}}
RESTORE_ACTORS = {1: {"bprd@master"}, 2: {"bprd@master"}, 3: {"bprd@master"},
                  4: {"bprd@master"}, 5: {"bprd@master"}, 6: {"bpbrm@media"},
                  7: {"bptm@media"}, 8: {"bpbrm child@media"}, 9: {"nbjm@master"},
                  10: {"nbrb@master"}, 11: {"nbjm@master", "nbrb@master"}, 12: {"bptm@media"},
                  13: {"bptm@media"}, 14: {"bptm@media", "bptm child@media", "tar-restore@dest"},
                  15: {"bptm@media"}, 16: {"nbjm@master", "nbrb@master"},
                  17: {"bpbrm@media", "bprd@master"}}


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host], tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("site")
    master = three_hosts["master"]
    add_stu(master, "disk1", base / "stu")
    tree = make_hard_tree(base / "data" / "tree")
    add_policy(master, "hard", "disk1", ["client"], [str(tree)])
    return three_hosts, base, tree


def assert_steps(found, actors: dict[int, set[str]], dest: str = "client",
                 required: set[str] = frozenset()) -> None:
    numbers = [s.step for s in found]
    actors_seen = {f"{s.step}:{s.process}" for s in found}
    assert required <= actors_seen, f"missing: {required - actors_seen}"
    assert numbers == sorted(numbers), f"steps out of the seed's order: {numbers}"
    assert set(numbers) == set(range(1, 18)), f"missing steps: {set(range(1, 18)) - set(numbers)}"
    for s in found:
        who = f"{s.process}@{s.host}".replace(f"@{dest}", "@dest") \
            if s.process == "tar-restore" else f"{s.process}@{s.host}"
        assert who in actors[s.step], f"step {s.step} by {who}, expected {actors[s.step]}"


def test_hard_tree_backup_list_restore_anywhere(site, tmp_path: Path) -> None:
    hosts, base, tree = site
    master = hosts["master"]
    r = master.run("bpbackup", "-i", "-p", "hard", "-s", "full", "-w")
    assert r.returncode == 0
    backup_job = last_jobid(master)
    done = job(master, backup_job)
    assert (done["state"], done["status"], done["closed"]) == (3, 0, True)
    backupid = done["backupid"]

    # the catalog: bpimagelist and bplist see the image and every file
    image = master.run("bpimagelist", "-backupid", backupid, "-l").stdout.splitlines()[0]
    assert image.split()[0] == "IMAGE" and image.split()[5] == backupid
    listed = master.run("bplist", "-C", "client", "-R", str(tree)).stdout.splitlines()
    for name in ("plain.txt", "hardlink_to_plain", "link_rel", "empty_dir", "a_fifo",
                 "setuid_exec", "sub/f049"):
        assert str(tree / name) in listed, name
    assert any(p.endswith(".bin") and "long_name_" in p for p in listed)

    # restored to another folder of the same client: byte- and metadata-identical
    back = base / "restored_here"
    ren = rename_file(tmp_path / "ren", [(tree, back)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(tree))
    assert r.returncode == 0, r.stderr
    assert_same_tree(tree, back)
    restore_job = last_jobid(master)
    # its 50-odd small files were made by tar-restore's file writer process
    logs = (hosts["client"].root / "netbackup" / "logs" / "tar-restore").glob("log.*")
    made = [int(m) for log in logs for m in re.findall(
        rf"\[jobid={restore_job}\] .*; (\d+) files made by the file writer", log.read_text())]
    assert made and made[0] > 16, made

    # and to another client (the master host runs a client daemon too)
    other = base / "restored_on_master"
    ren2 = rename_file(tmp_path / "ren2", [(tree, other)])
    r = master.run("bprestore", "-C", "client", "-D", "master", "-R", str(ren2), "-w",
                   str(tree))
    assert r.returncode == 0, r.stderr
    assert_same_tree(tree, other)
    assert job(master, last_jobid(master))["client"] == "master"

    # GNU tar can read a fragment in an emergency
    fragments = sorted((base / "stu").glob(f"{backupid}_C1_F*"))
    assert fragments
    names = subprocess.run(["tar", "-tf", str(fragments[0])], capture_output=True,
                           text=True, errors="surrogateescape", check=True).stdout.splitlines()
    assert str(tree / "plain.txt").lstrip("/") in names

    # the details of both jobs: steps 1-17 in the seed's order, by the right processes
    assert_steps(steps(master, backup_job), BACKUP_ACTORS)
    assert_steps(steps(master, restore_job), RESTORE_ACTORS,
                 required={"14:tar-restore", "8:bpbrm child", "14:bptm"})
    assert_steps(steps(master, backup_job), BACKUP_ACTORS,
                 required={"11:bpbkar", "12:bpbkar", "12:bptm child", "9:nbjm", "9:bptm"})


def test_one_small_file_from_a_1gib_image_reads_little(site, tmp_path: Path) -> None:
    hosts, base, _ = site
    master = hosts["master"]
    data = base / "bigdata"
    data.mkdir()
    with open(data / "big.img", "wb") as f:  # 1 GiB, sparse: cheap to make, real to back up
        f.truncate(1 << 30)
    small = data / "zz_small.txt"
    small.write_bytes(os.urandom(1024))
    add_policy(master, "big", "disk1", ["client"], [str(data)])
    assert master.run("bpbackup", "-i", "-p", "big", "-s", "full", "-w").returncode == 0
    dest = base / "one_file"
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(small))
    assert r.returncode == 0, r.stderr
    assert (dest / "zz_small.txt").read_bytes() == small.read_bytes()
    assert not (dest / "big.img").exists()
    (last,) = [s for s in steps(master, last_jobid(master)) if s.step == 15]
    read = int(last.msg.split("(")[1].split()[0])  # "(N bytes read from disk)"
    assert 0 < read < (1 << 30) // 100, f"bptm read {read} bytes for one 1 KiB file"
