"""A user's restore writes with the user's rights (tar-restore drops to run_as), and bprd
refuses a user's restore into a folder the user cannot write before any job (issue 12)."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import pytest

from nbcli.net.service import Registration
from tests.conftest import Host
from tests.integration.test_client_agents import controlled_restore, frames_until_done, launch

NOBODY = 65534
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
        with accepted.conn:
            assert accepted.hello.get("secret") == "s3cret-41"
            while accepted.conn.sock.recv(1 << 16):
                pass
        assert frames_until_done(ctl)[-1]["status"] == 0
    log = "".join(p.read_text() for p in (cfg.paths.logs / "bpbkar").glob("log.*"))
    assert "s3cret-41" not in log
