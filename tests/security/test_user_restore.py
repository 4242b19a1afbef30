"""A user's restore writes with the user's rights (tar-restore drops to run_as), and bprd
refuses a user's restore into a folder the user cannot write before any job (issue 12)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import pytest

from nbcli import multihost
from nbcli.net.service import Registration
from tests.conftest import Host, start_enrolled
from tests.flowkit import add_policy, add_stu
from tests.integration.test_client_agents import (
    controlled_restore,
    frames_until_ack,
    frames_until_done,
    launch,
)

NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]
RUN_AS = {"uid": NOBODY, "gid": NOBODY, "user": "nobody"}

def image_of(folder: str, files: dict[str, bytes]) -> bytes:
    """A tar image of `files` in `folder` (mode 0644), as bptm would serve it."""
    out = BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tf.addfile(info, BytesIO(data))
    return out.getvalue()


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nbcli-restore-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def test_tar_restore_writes_as_the_user(daemons: Callable[..., Host], shared_dir: Path) -> None:
    cfg = daemons("bpcd").cfg
    theirs = shared_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o700)
    image = image_of("src", {"a.txt": b"the user's"})
    reply, got = controlled_restore(cfg, 31, image, dest=[str(theirs)], run_as=RUN_AS,
                                    renames=[["/src", str(theirs)]])
    assert reply["status"] == 0 and got[-1]["status"] == 0, got
    assert (theirs / "a.txt").read_bytes() == b"the user's"
    assert (theirs / "a.txt").stat().st_uid == NOBODY  # restored files are the user's
    # a folder the user cannot write: nothing lands there, the restore fails
    target = locked / "sub"
    reply, got = controlled_restore(cfg, 32, image, dest=[str(target)], run_as=RUN_AS,
                                    renames=[["/src", str(target)]])
    assert got[-1]["status"] != 0, got
    assert list(locked.iterdir()) == []
    # the same restore as root (no run_as) does write there: the refusal was the user's
    reply, got = controlled_restore(cfg, 33, image, dest=[str(target)],
                                    renames=[["/src", str(target)]])
    assert got[-1]["status"] == 0 and (target / "a.txt").stat().st_uid == 0



def test_agents_say_the_jobs_secret_to_bptm(daemons: Callable[..., Host],
                                            shared_dir: Path) -> None:
    """bpbkar says the secret its control channel gave it in its hello to bptm child, so bptm
    can take image data from that agent alone (and tar-restore does the same)."""
    cfg = daemons("bpcd").cfg
    (shared_dir / "f").write_text("data")
    with Registration(cfg.paths, "bptm.41", cfg.client_name) as reg, \
            launch(cfg, "bpbkar") as ctl:
        ctl.request("backup", jobid=41, client=cfg.client_name, paths=[str(shared_dir)])
        ctl.send({"op": "send", "host": cfg.client_name, "service": "bptm.41",
                  "secret": "s3cret-41"})
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        frames_until_ack(ctl)
        with accepted.conn:
            assert accepted.hello.get("secret") == "s3cret-41"
            while accepted.conn.sock.recv(1 << 16):
                pass
        assert frames_until_done(ctl)[-1]["status"] == 0
    log = "".join(p.read_text() for p in (cfg.paths.logs / "bpbkar").glob("log.*"))
    assert "s3cret-41" not in log


@pytest.fixture(scope="module")
def user_site() -> Iterator[tuple[dict[str, Host], Path]]:
    """Three enrolled hosts in a folder other users can reach, with one backup of the client
    (a folder of files anyone may read)."""
    base = Path(tempfile.mkdtemp(prefix="nbcli-users-"))
    os.chmod(base, 0o755)
    hosts = {s.name: Host(s) for s in multihost.create(base / "hosts", layout=multihost.LAYOUT)}
    os.chmod(base / "hosts", 0o755)
    try:
        start_enrolled(list(hosts.values()))
        data = base / "data"
        data.mkdir()
        (data / "notes.txt").write_text("the user's notes\n")
        os.chmod(data / "notes.txt", 0o644)
        add_stu(hosts["master"], "disk1", base / "stu")
        add_policy(hosts["master"], "users", "disk1", ["client"], [str(data)])
        hosts["master"].run("bpbackup", "-i", "-p", "users", "-s", "full", "-w")
        yield hosts, base
    finally:
        for h in hosts.values():
            h.stop()
        shutil.rmtree(base, ignore_errors=True)


# The user runs the command with the system's interpreter: the test's may live in root's home
# (pyenv), where no other user may go. The same minor version reads the same packages.
SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_fits() -> bool:
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return False
    return out == str(tuple(sys.version_info[:2]))


def as_nobody_on(host: Host, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command run by uid 65534 on `host`, as a user at a shell there would run it."""
    if not system_python_fits():
        pytest.skip(f"{SYSTEM_PYTHON} is not Python {sys.version_info[:2]}")
    path = os.pathsep.join([str(REPO), *[p for p in site.getsitepackages()]])
    return subprocess.run([SYSTEM_PYTHON, "-m", "nbcli", *argv],
                          env={"NB_ROOT": str(host.root), "PATH": "/usr/bin:/bin",
                               "HOME": "/", "PYTHONPATH": path},
                          user=NOBODY, group=NOBODY, extra_groups=[], cwd="/", text=True,
                          capture_output=True, timeout=120)


def test_a_user_of_a_client_restores_through_its_bpcd(user_site) -> None:
    """bprestore by a non-root user on a client host (not the master): the request goes
    through the client's bpcd (which knows the uid from the kernel and vouches for it from a
    privileged port), -w reaches the master through the client's PBX (the user cannot use
    the host's TLS key), the files are written as the user; a folder the user cannot write
    is refused before any job (135), as is restoring to another client."""
    hosts, base = user_site
    client_host = hosts["client"]
    mine = base / "mine"
    mine.mkdir()
    os.chown(mine, NOBODY, NOBODY)
    rename = base / "rename"
    rename.write_text(f"change {base / 'data'} to {mine}\n")
    os.chmod(rename, 0o644)
    r = as_nobody_on(client_host, "bprestore", "-R", str(rename), "-w", str(base / "data"))
    assert r.returncode == 0, r.stderr
    restored = mine / "notes.txt"
    assert restored.read_text() == "the user's notes\n"
    assert restored.stat().st_uid == NOBODY
    # a folder the user may not write: refused by the client's bpcd, no job
    locked = base / "locked"
    locked.mkdir()
    rename.write_text(f"change {base / 'data'} to {locked}\n")
    jobs_before = hosts["master"].run("bpdbjobs", "-noheader").stdout.count("\n")
    r = as_nobody_on(client_host, "bprestore", "-R", str(rename), "-w", str(base / "data"))
    assert r.returncode == 135, r.stderr
    assert list(locked.iterdir()) == []
    assert hosts["master"].run("bpdbjobs", "-noheader").stdout.count("\n") == jobs_before
    r = as_nobody_on(client_host, "bprestore", "-D", "media", "-w", str(base / "data"))
    assert r.returncode == 135, r.stderr
