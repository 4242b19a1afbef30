"""Data-in-transit encryption (DTE) through the real commands: the master's global mode set
with `nbseccmd`, the image's own mode recorded in its header and changed with `bpimage
-update`, and a restore that honours it - all checked on the wire with the packet capture of
test_secure_comm (three enrolled hosts: master 127.0.0.1, media 127.0.0.2, client 127.0.0.3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.status import HANDSHAKE_FAILED, INVALID_PARAMETER, NO_ENTITY
from tests.conftest import Host, running_three
from tests.flowkit import add_policy, add_stu, last_jobid, marked_data, rename_file
from tests.security.test_secure_comm import Capture, media_port, set_dte

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a packet capture needs root")
CLIENT_MEDIA = ("127.0.0.3", "127.0.0.2")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    yield from running_three(tmp_path_factory.mktemp("dte"))


def global_mode(master: Host) -> str:
    return master.run("nbseccmd", "-getsecurityconfig", "-dteglobalmode").stdout.strip()


def header_of(master: Host, policy: str) -> Path:
    found = sorted(Path(master.root).rglob(f"db/images/client/*/{policy}_*_FULL"))
    assert len(found) == 1, found
    return found[0]


def dte_line(header: Path) -> str:
    return next(ln for ln in header.read_text().splitlines() if ln.startswith("IMAGE_DTE_MODE "))


def test_nbseccmd_sets_and_shows_the_global_mode(hosts: dict[str, Host],
                                                 tmp_path: Path) -> None:
    """0|1|2 as NetBackup's -dteglobalmode; the running daemons use the new mode from the next
    job on (no restart): with 0 the image crosses in the clear, with 1 it does not."""
    master = hosts["master"]
    assert global_mode(master) == "PREFERRED_ON"  # a fresh installation's
    bad = master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "3", check=False)
    assert bad.returncode == INVALID_PARAMETER and global_mode(master) == "PREFERRED_ON"
    marker = marked_data(tmp_path, "f.txt")
    data = tmp_path / "data"
    add_stu(master, "dte1", tmp_path / "stu")
    add_policy(master, "dteglobal", "dte1", ["client"], [str(data)])
    try:
        master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "0")
        assert global_mode(master) == "PREFERRED_OFF"
        with Capture(media_port(hosts)) as cap:
            master.run("bpbackup", "-i", "-p", "dteglobal", "-s", "full", "-w")
        assert marker in cap.between(*CLIENT_MEDIA)
        assert dte_line(header_of(master, "dteglobal")) == "IMAGE_DTE_MODE 0"
        master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "2")
        assert global_mode(master) == "ENFORCED"
    finally:
        master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "1")
    assert global_mode(master) == "PREFERRED_ON"
    assert "DTE_GLOBAL_MODE" in (Path(master.root) / "netbackup" / "bp.toml").read_text()


def listed_dte_mode(master: Host, backupid: str) -> str:
    """image_dteMode of `bpimagelist -l`'s IMAGE line: awk's $63 (reference §1.5's field
    list, after kilobytes_data_transferred)."""
    line = master.run("bpimagelist", "-backupid", backupid, "-l").stdout.splitlines()[0]
    return line.split()[62]


def test_an_image_backed_up_encrypted_is_restored_encrypted(hosts: dict[str, Host],
                                                            tmp_path: Path) -> None:
    """The image's DTE mode is On after an encrypted backup: its restore is encrypted though
    the global mode is now Preferred Off, and refused (26) to a client that turned DTE off.
    `bpimage -update -image_dtemode Off` gives the decision back to the global mode."""
    master, client = hosts["master"], hosts["client"]
    marker = marked_data(tmp_path, "g.txt")
    data = tmp_path / "data"
    add_stu(master, "dte2", tmp_path / "stu")
    add_policy(master, "dteimage", "dte2", ["client"], [str(data)])
    with Capture(media_port(hosts)) as cap:
        master.run("bpbackup", "-i", "-p", "dteimage", "-s", "full", "-w")
    assert marker not in cap.between(*CLIENT_MEDIA)
    header = header_of(master, "dteimage")
    assert dte_line(header) == "IMAGE_DTE_MODE 1"
    backupid = next(ln.split()[1] for ln in header.read_text().splitlines()
                    if ln.startswith("BACKUP_ID "))

    def restore(into: str, check: bool = True) -> int:
        ren = rename_file(tmp_path / f"ren_{into}", [(data, tmp_path / into)])
        return master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data),
                          check=check).returncode

    master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "0")
    try:
        with Capture(media_port(hosts)) as cap:
            restore("r1")
        assert (tmp_path / "r1" / "g.txt").read_bytes() == marker * 4096
        assert marker not in cap.between(*CLIENT_MEDIA)  # the image's mode won
        set_dte(client, "DTE_CLIENT_MODE", "OFF")
        try:
            assert restore("r2", check=False) == HANDSHAKE_FAILED
            assert not (tmp_path / "r2" / "g.txt").exists()
        finally:
            set_dte(client, "DTE_CLIENT_MODE", "AUTOMATIC")
        assert listed_dte_mode(master, backupid) == "1"
        master.run("bpimage", "-update", "-backupid", backupid, "-image_dtemode", "Off")
        assert dte_line(header) == "IMAGE_DTE_MODE 0"
        assert listed_dte_mode(master, backupid) == "0"
        with Capture(media_port(hosts)) as cap:
            restore("r3")
        assert (tmp_path / "r3" / "g.txt").read_bytes() == marker * 4096
        assert marker in cap.between(*CLIENT_MEDIA)  # the global mode decided: in the clear
    finally:
        master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "1")
    master.run("bpimage", "-update", "-backupid", backupid, "-image_dtemode", "On")
    assert dte_line(header) == "IMAGE_DTE_MODE 1"
    bad = master.run("bpimage", "-update", "-backupid", backupid, "-image_dtemode", "maybe",
                     check=False)
    assert bad.returncode == INVALID_PARAMETER
    gone = master.run("bpimage", "-update", "-backupid", "client_1", "-image_dtemode", "On",
                      check=False)
    assert gone.returncode == NO_ENTITY


def job_dte_mode(master: Host, jobid: int) -> str:
    """The job's DTE mode as `bpdbjobs -json` shows it (bpjobd's dtemode)."""
    jobs = json.loads(master.run("bpdbjobs", "-jobid", str(jobid), "-json").stdout)
    return str(jobs[0]["dtemode"])


def frag_dte_modes(master: Host, backupid: str) -> tuple[str, str]:
    """copy_dtemode and hierarchical_dtemode of the first FRAG line (reference §1.5)."""
    frag = next(ln for ln in master.run("bpimagelist", "-backupid", backupid,
                                        "-l").stdout.splitlines() if ln.startswith("FRAG"))
    f = frag.split()
    return f[31], f[32]


def test_a_media_server_with_dte_off(hosts: dict[str, Host], tmp_path: Path) -> None:
    """MEDIA_DTE_MODE = OFF on the media server (bpsetconfig there; a bad word is 20 and
    changes nothing): under Preferred On a backup through it crosses in the clear (the capture
    sees the file, the image's and the copy's DTE modes are Off, and so is the job's); under
    Enforced it fails with 26 and leaves no image and no fragment."""
    master, media = hosts["master"], hosts["media"]
    bp_toml = Path(media.root) / "netbackup" / "bp.toml"
    before = bp_toml.read_text()
    bad = media.run("bpsetconfig", input="MEDIA_DTE_MODE = AUTOMATIC\n", check=False)
    assert bad.returncode == INVALID_PARAMETER and bp_toml.read_text() == before
    assert media.run("bpgetconfig", "MEDIA_DTE_MODE").stdout.strip() == "MEDIA_DTE_MODE = ON"
    marker = marked_data(tmp_path, "m.txt")
    data = tmp_path / "data"
    add_stu(master, "dte5", tmp_path / "stu")
    add_policy(master, "dtemedia", "dte5", ["client"], [str(data)])
    enforced_stu = tmp_path / "stu_enforced"
    add_stu(master, "dte6", enforced_stu)
    add_policy(master, "dtemediaenf", "dte6", ["client"], [str(data)])
    set_dte(media, "MEDIA_DTE_MODE", "off")
    try:
        assert media.run("bpgetconfig", "MEDIA_DTE_MODE").stdout.strip() == \
            "MEDIA_DTE_MODE = OFF"
        with Capture(media_port(hosts)) as cap:
            master.run("bpbackup", "-i", "-p", "dtemedia", "-s", "full", "-w")
        assert marker in cap.between(*CLIENT_MEDIA)
        jobid = last_jobid(master)
        assert job_dte_mode(master, jobid) == "Off"
        details = master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
        assert "data-in-transit encryption off" in details
        header = header_of(master, "dtemedia")
        assert dte_line(header) == "IMAGE_DTE_MODE 0"
        backupid = next(ln.split()[1] for ln in header.read_text().splitlines()
                        if ln.startswith("BACKUP_ID "))
        assert listed_dte_mode(master, backupid) == "0"
        assert frag_dte_modes(master, backupid) == ("0", "0")

        master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "2")
        try:
            r = master.run("bpbackup", "-i", "-p", "dtemediaenf", "-s", "full", "-w",
                           check=False)
        finally:
            master.run("nbseccmd", "-setsecurityconfig", "-dteglobalmode", "1")
        assert r.returncode == HANDSHAKE_FAILED, r.stderr
        jobid = last_jobid(master)
        details = master.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
        assert "MEDIA_DTE_MODE = OFF" in details and "ENFORCED" in details
        assert job_dte_mode(master, jobid) == ""  # never decided
        assert not list(Path(master.root).rglob("db/images/client/*/dtemediaenf_*"))
        assert master.run("bpimagelist", "-policy", "dtemediaenf", "-l",
                          check=False).returncode != 0
        assert [p for p in enforced_stu.rglob("*") if p.is_file()] == []
    finally:
        set_dte(media, "MEDIA_DTE_MODE", "ON")
    with Capture(media_port(hosts)) as cap:  # On again: encrypted
        master.run("bpbackup", "-i", "-p", "dtemedia", "-s", "full", "-w")
    assert marker not in cap.between(*CLIENT_MEDIA)
    assert job_dte_mode(master, last_jobid(master)) == "On"


def test_dte_ignore_image_mode(hosts: dict[str, Host], tmp_path: Path) -> None:
    """An image backed up encrypted, restored to a client that turned DTE off: refused (26)
    while the master's DTE_IGNORE_IMAGE_MODE is NEVER (its default) or WHERE_UNSUPPORTED
    (every nbcli host supports DTE); with ALWAYS the restore decides as if the image's mode
    were Off - Preferred On and a client Off: in the clear, and done."""
    master, client = hosts["master"], hosts["client"]
    marker = marked_data(tmp_path, "i.txt")
    data = tmp_path / "data"
    add_stu(master, "dte7", tmp_path / "stu")
    add_policy(master, "dteignore", "dte7", ["client"], [str(data)])
    master.run("bpbackup", "-i", "-p", "dteignore", "-s", "full", "-w")
    assert dte_line(header_of(master, "dteignore")) == "IMAGE_DTE_MODE 1"
    bp_toml = Path(master.root) / "netbackup" / "bp.toml"
    before = bp_toml.read_text()
    bad = master.run("bpsetconfig", input="DTE_IGNORE_IMAGE_MODE = SOMETIMES\n", check=False)
    assert bad.returncode == INVALID_PARAMETER and bp_toml.read_text() == before

    def restore(into: str, check: bool = True) -> int:
        ren = rename_file(tmp_path / f"ren_{into}", [(data, tmp_path / into)])
        return master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data),
                          check=check).returncode

    set_dte(client, "DTE_CLIENT_MODE", "OFF")
    try:
        assert restore("n1", check=False) == HANDSHAKE_FAILED
        assert not (tmp_path / "n1" / "i.txt").exists()
        details = master.run("bpdbjobs", "-jobid", str(last_jobid(master)),
                             "-all_columns").stdout
        assert "DTE_IGNORE_IMAGE_MODE = NEVER" in details
        set_dte(master, "DTE_IGNORE_IMAGE_MODE", "WHERE_UNSUPPORTED")
        assert restore("n2", check=False) == HANDSHAKE_FAILED
        set_dte(master, "DTE_IGNORE_IMAGE_MODE", "always")
        assert master.run("bpgetconfig", "DTE_IGNORE_IMAGE_MODE").stdout.strip() == \
            "DTE_IGNORE_IMAGE_MODE = ALWAYS"
        with Capture(media_port(hosts)) as cap:
            restore("a1")
        assert (tmp_path / "a1" / "i.txt").read_bytes() == marker * 4096
        assert marker in cap.between(*CLIENT_MEDIA)
        assert job_dte_mode(master, last_jobid(master)) == "Off"
    finally:
        set_dte(client, "DTE_CLIENT_MODE", "AUTOMATIC")
        set_dte(master, "DTE_IGNORE_IMAGE_MODE", "NEVER")
