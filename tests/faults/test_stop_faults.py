"""`netbackup stop` (bp.kill_all) in the middle of a backup or a restore, on the master (the
one host, all-in-one), the media server or the client: the job ends with a status by itself
(150, an administrator's stop, when the master stops), its image and temporary files go, its
resources are released, and the user's waiting `bpbackup -w` / `bprestore -w` is not killed
but exits with the job's status."""

from __future__ import annotations

from pathlib import Path

from tests.faults.faultkit import (
    Site,
    check_after,
    forget_images,
    image_of_big_source,
    restart,
    start_backup,
    start_restore,
)
from tests.faults.faultkit import _newest_restore as newest_restore
from tests.faults.matrix import matrix

CANCELED = 150
STOPS = [("netbackup stop", on, False) for on in ("master", "media", "client")]
CI = {"aio-netbackup_stop@master", "test_stop_during_a_backup[three-netbackup_stop@media]"}


def _stopped(site: Site, on: str, cmd: object) -> tuple[str, str, int]:
    host = site.hosts[on]
    host.stop()
    assert host.processes() == []  # the waiting command was not what kept the host
    out, err = cmd.communicate(timeout=120)  # type: ignore[attr-defined]
    return out, err, cmd.returncode  # type: ignore[attr-defined]


@matrix(STOPS)
def test_stop_during_a_backup(site: Site, victim: str, on: str, may_succeed: bool) -> None:
    jobid, cmd = start_backup(site)
    out, err, rc = _stopped(site, on, cmd)
    restart(site)
    done = check_after(site, jobid, scenario=f"backup: netbackup stop on {on}")
    assert rc == done["status"] % 256, (out, err)
    if on == "master":
        assert done["status"] == CANCELED


@matrix(STOPS)
def test_stop_during_a_restore(site: Site, victim: str, on: str, may_succeed: bool,
                               tmp_path: Path) -> None:
    image_of_big_source(site)
    cmd, dest = start_restore(site, tmp_path)
    jobid = newest_restore(site)
    assert jobid is not None
    out, err, rc = _stopped(site, on, cmd)
    restart(site)
    done = check_after(site, jobid, dest=dest, scenario=f"restore: netbackup stop on {on}")
    assert rc == done["status"] % 256, (out, err)
    if on == "master":
        assert done["status"] == CANCELED
    forget_images(site)
