"""Bad requests and bad conditions in the backup and restore flows: NetBackup's status for each,
no traceback, nothing half-written (no image in the catalog, nothing left on the disk)."""

from __future__ import annotations

import os
import subprocess
import zlib
from pathlib import Path

import pytest

from nbcli.net import client
from tests.conftest import Host
from tests.flowkit import add_policy, add_stu, job, last_jobid, rename_file


@pytest.fixture(scope="module")
def site(three_hosts: dict[str, Host], tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("errsite")
    master = three_hosts["master"]
    add_stu(master, "disk1", base / "stu")
    data = base / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "f").write_bytes(b"file in sub")
    (data / "top.txt").write_bytes(b"top")
    add_policy(master, "good", "disk1", ["client"], [str(data)])
    return three_hosts, base, data


def test_a_clients_daemons_put_no_refusal_in_the_masters_error_log(site) -> None:
    """A client is no server of the master: its daemons' events are not sent there. They were,
    and nbevtmgr refused each (46) and logged the refusal: two per backup, read by bperror
    as attempts on the master."""
    hosts, _, _ = site
    master = hosts["master"]
    for _ in range(2):  # the first backup's events are delivered long before the second ends
        master.run("bpbackup", "-i", "-p", "good", "-s", "full", "-w")
    logs = list((master.root / "netbackup" / "logs" / "nbevtmgr").glob("log.*"))
    assert logs
    refused = [line for log in logs for line in log.read_text().splitlines()
               if "refused log from" in line]
    assert refused == []


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


@pytest.mark.parametrize("args,status", [
    (["-p", "nosuchpolicy", "-s", "full"], 230),
    (["-p", "good", "-s", "nosuchsched"], 197),
    (["-p", "good", "-s", "full", "-h", "nosuchclient"], 239),
])
def test_unknown_policy_schedule_client(site, args: list[str], status: int) -> None:
    master = site[0]["master"]
    r = master.run("bpbackup", "-i", *args, "-w", check=False)
    assert r.returncode == status
    assert r.stderr.strip().splitlines()[-1].startswith(f"EXIT STATUS {status}: ")
    no_traceback(r)


def test_selections_that_do_not_exist(site) -> None:
    hosts, base, data = site
    master = hosts["master"]
    add_policy(master, "ghost", "disk1", ["client"], [str(base / "nope1"), str(base / "nope2")])
    r = master.run("bpbackup", "-i", "-p", "ghost", "-s", "full", "-w", check=False)
    assert r.returncode == 71 and "none of the files in the file list exist" in r.stderr
    failed = job(master, last_jobid(master))
    assert failed["status"] == 71
    images = client.call(master.cfg, "master", "bpdbm", "image_list", client="client",
                         policy="ghost")["images"]
    assert images == []  # no image for a backup of nothing

    add_policy(master, "half", "disk1", ["client"], [str(data), str(base / "nope3")])
    r = master.run("bpbackup", "-i", "-p", "half", "-s", "full", "-w", check=False)
    assert r.returncode == 1  # partially successful: what exists is backed up
    listed = master.run("bplist", "-C", "client", "-k", "half", "-R", str(data)).stdout
    assert str(data / "sub" / "f") in listed


def test_restore_of_a_path_never_backed_up(site) -> None:
    master = site[0]["master"]
    r = master.run("bprestore", "-C", "client", "-w", "/never/backed/up", check=False)
    assert r.returncode == 227 and "EXIT STATUS 227: no entity was found" in r.stderr
    no_traceback(r)


def test_bad_rename_file(site, tmp_path: Path) -> None:
    hosts, _, data = site
    bad = tmp_path / "ren"
    bad.write_text("rename /a to /b\n")
    r = hosts["master"].run("bprestore", "-C", "client", "-R", str(bad), str(data),
                            check=False)
    assert r.returncode == 20 and "line 1" in r.stderr
    no_traceback(r)


def test_restore_never_writes_through_a_planted_symlink(site, tmp_path: Path) -> None:
    hosts, base, data = site
    master = hosts["master"]
    assert master.run("bpbackup", "-i", "-p", "good", "-s", "full", "-w").returncode == 0
    outside = base / "outside"
    outside.mkdir()
    dest = base / "dest_with_trap"
    dest.mkdir()
    os.symlink(outside, dest / "sub")  # someone planted dest/sub -> outside
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data), check=False)
    assert r.returncode == 0, r.stderr
    assert list(outside.iterdir()) == []  # nothing written through the link...
    assert not (dest / "sub").is_symlink()  # ...which the restored folder replaced
    assert (dest / "sub" / "f").read_bytes() == b"file in sub"


def forge_member_name(master: Host, stu: Path, backupid: str, old: bytes, new: bytes) -> None:
    """What a compromised media server could do: rename a member inside the image and forge
    every checksum (block CRCs on the disk, the image CRC in the master's catalog)."""
    (frag,) = stu.glob(f"{backupid}_C1_F*")
    image = bytearray(frag.read_bytes())
    at = next(i for i in range(0, len(image), 512) if image[i:i + 100].rstrip(b"\0") == old)
    image[at:at + 100] = new.ljust(100, b"\0")
    image[at + 148:at + 156] = b" " * 8
    image[at + 148:at + 156] = b"%06o\0 " % sum(image[at:at + 512])
    frag.write_bytes(image)
    hdr = stu / f"{backupid}_C1_HDR"
    lines = hdr.read_text().splitlines()
    block = int(next(x for x in lines if x.startswith("BLOCK_SIZE")).split()[1])
    crcs = [zlib.crc32(image[i:i + block]) for i in range(0, len(image), block)]
    forged = f"crc32:{zlib.crc32(image):08x}"
    lines = [f"CHECKSUM {forged}" if x.startswith("CHECKSUM") else
             "BLOCK_CRCS " + "".join(f"{c:08x}" for c in crcs) if x.startswith("BLOCK_CRCS")
             else x for x in lines]
    hdr.write_text("\n".join(lines) + "\n")
    images = master.root / "netbackup/db/images/client"
    (catalog,) = images.glob(f"*/*_{backupid.split('_')[1]}_FULL")
    catalog.write_text("".join(f"CHECKSUM {forged}\n" if x.startswith("CHECKSUM") else x
                               for x in catalog.read_text().splitlines(keepends=True)))


def test_a_restore_stream_that_tries_to_escape_is_refused(site, tmp_path: Path) -> None:
    hosts, base, _ = site
    master = hosts["master"]
    data = base / "esc"
    data.mkdir()
    (data / "aaaaaaaaaaaaaaaaaaaaaaaa").write_bytes(b"payload")
    (data / "zz_ok").write_bytes(b"fine")
    add_policy(master, "esc", "disk1", ["client"], [str(data)])
    assert master.run("bpbackup", "-i", "-p", "esc", "-s", "full", "-w").returncode == 0
    backupid = job(master, last_jobid(master))["backupid"]
    target = Path("/tmp") / f"nbcli_escaped_{os.getpid()}"
    old = str(data / "aaaaaaaaaaaaaaaaaaaaaaaa").lstrip("/").encode()
    new = (b"../" * 20 + str(target).lstrip("/").encode())[:100]
    assert len(new) <= 100 and not target.exists()
    forge_member_name(master, base / "stu", backupid, old, new)
    dest = base / "esc_dest"
    ren = rename_file(tmp_path / "ren", [(data, dest)])
    r = master.run("bprestore", "-C", "client", "-R", str(ren), "-w", str(data), check=False)
    assert r.returncode == 182, r.stderr
    assert "EXIT STATUS 182: tar received an invalid file name" in r.stderr
    assert not target.exists()  # nothing written outside the destination
    assert (dest / "zz_ok").read_bytes() == b"fine"  # the honest members were restored


def test_a_storage_unit_that_fills_up(site, tmp_path: Path) -> None:
    hosts, base, _ = site
    master = hosts["master"]
    small = base / "small_stu"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("needs permission to mount a 2 MiB tmpfs (run as root)")
    try:
        add_stu(master, "tiny", small)
        big = base / "bigger_than_stu"
        big.mkdir()
        (big / "blob").write_bytes(os.urandom(5 << 20))
        add_policy(master, "toobig", "tiny", ["client"], [str(big)])
        r = master.run("bpbackup", "-i", "-p", "toobig", "-s", "full", "-w", check=False)
        assert r.returncode in (129, 84), r.stderr
        assert job(master, last_jobid(master))["status"] == r.returncode
        assert list(small.iterdir()) == []  # the partial fragments are gone
        images = client.call(master.cfg, "master", "bpdbm", "image_list", client="client",
                             policy="toobig")["images"]
        assert images == []
    finally:
        subprocess.run(["umount", str(small)], check=False)
