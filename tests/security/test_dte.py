"""Data-in-transit encryption (DTE) through the real commands: the master's global mode set
with `nbseccmd`, the image's own mode recorded in its header and changed with `bpimage
-update`, and a restore that honours it - all checked on the wire with the packet capture of
test_secure_comm (three enrolled hosts: master 127.0.0.1, media 127.0.0.2, client 127.0.0.3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli.status import HANDSHAKE_FAILED, INVALID_PARAMETER, NO_ENTITY
from tests.conftest import Host, running_three
from tests.flowkit import add_policy, add_stu, marked_data, rename_file
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
