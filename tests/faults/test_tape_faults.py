"""The fault matrix on tape: a process of a tape backup or a tape restore dies mid-transfer
(kill -9), on an all-in-one host with a virtual library whose drives stream at 24 MiB/s (so a
64 MiB image takes seconds to move). After `netbackup start` the job is closed with a status,
its waiting `bpbackup -w` or `bprestore -w` has ended with it, no drive or medium is reserved
in nbemm or ltid, no neededimage file and no bprd or bpbrm child is left, a failed backup's
image is not listed, and the next backup on the same tapes ends 0 and restores
byte-identical: whatever the dead process left on the tape, the next append still finds its
place (the empty header after the last good image).

The victims are the agents of the seed's flows (bpbkar, bptm and its child, bpbrm and its
child, tar-restore, bprd and its child), the master's job and resource daemons (nbjm, nbrb,
nbemm, bpjobd, bpdbm) and Media Manager's (ltid, the robot daemons tldd and tldcd, avrd,
vmd). CI runs the scenarios in CI; NBCLI_FAULTS=all runs them all.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nbcli import kinds, multihost
from nbcli.status import MEDIA_MANAGER_KILLED, RESOURCE_REQUEST_FAILED
from tests.conftest import Host, wait_for
from tests.faults.faultkit import (
    FULL,
    POLICY,
    Checks,
    Site,
    _report,
    agents_left,
    closed_check,
    command,
    forget_images,
    kill,
    restart,
    sigkill,
)
from tests.faults.faultkit import victims as victims_of
from tests.flowkit import add_policy, job, last_jobid, rename_file

BIG = 64 << 20   # at SPEED a transfer of it takes ~2.7 s, the window to kill in
SMALL = 1 << 20
SPEED = "24M"
# the statuses some victims must end their job with: an administrator's stop; a killed bptm
# child is the media manager killed (bptm tells it from a child whose send failed, 24)
EXPECTED = {"netbackup stop": 150, "bptm child": MEDIA_MANAGER_KILLED}
STARTED = 8 << 20  # bytes a transfer has moved when its victim is killed

# (victim, whether the job outlives it and ends 0: a process off the data path, or one not
# needed again before the end - restarted by then, or its part, such as the release of the
# resources, done later by a reconciliation)
BACKUP = [("bpbkar", False), ("bptm", False), ("bptm child", False), ("bpbrm", False),
          ("nbjm", False), ("bpdbm", False), ("nbrb", True), ("nbemm", True),
          ("bpjobd", True), ("ltid", True), ("tldd", True), ("tldcd", True), ("avrd", True),
          ("vmd", True), ("bptm+bpbrm", False), ("netbackup stop", False)]
RESTORE = [("bptm", False), ("bptm child", False), ("bpbrm", False), ("bpbrm child", False),
           ("tar-restore", False), ("bprd", False), ("bprd child", False), ("nbjm", True),
           ("nbrb", True), ("nbemm", True), ("ltid", True), ("tldcd", True), ("avrd", True),
           ("bptm+bpbrm", False), ("netbackup stop", False)]
CI = {"backup-bptm child", "backup-ltid", "restore-bprd child", "restore-tar-restore",
      "restore-bptm+bpbrm", "restore-nbjm"}


def rows(flow: str, table: list[tuple[str, bool]]) -> list[object]:
    full_only = pytest.mark.skip(reason="the full fault matrix: NBCLI_FAULTS=all")
    return [pytest.param(v, ok, id=v.replace(" ", "_"),
                         marks=() if FULL or f"{flow}-{v}" in CI else (full_only,))
            for v, ok in table]


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The all-in-one host with a library of 2 drives and 10 slots of 1 GiB cartridges at
    SPEED, its robot, drives and media in EMM, the tape storage unit "tape1" and the policy
    POLICY over a folder of a sparse big.img and a small random file."""
    base = tmp_path_factory.mktemp("faults-tape")
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    (spec,) = multihost.create(base / "hosts", layout=[("aio", "127.0.0.1",
                                                          ["master", "media", "client"])])
    h = Host(spec)
    site = Site({role: h for role in ("master", "media", "client")}, base, "tape")
    cfg = h.cfg
    cfg.data["MEDIA_UNMOUNT_DELAY"] = 1
    cfg.save()
    h.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--capacity", "1G",
          "--speed", SPEED)
    try:
        h.start()
        h.run("tpconfig", "-add", "-robot", "0", "-robtype", "tld")
        for n in (0, 1):
            h.run("tpconfig", "-add", "-drive", "-type", "hcart", "-robot", "0", "-robtype",
                  "tld", "-robdrnum", str(n), "-asciiname", f"DRV{n}")
        for n in range(10):
            h.run("vmadd", "-m", f"A{n:05d}", "-mt", "hcart", "-b", f"A{n:05d}L6", "-rt",
                  "tld", "-rn", "0", "-rc1", str(n + 1), "-p", "1")
        h.run("bpstuadd", "-label", "tape1", "-dt", "2", "-rt", "tld", "-rn", "0", "-den",
              "hcart", "-host", h.name, "-cj", "2")
        data = base / "data"
        data.mkdir()
        (data / "small.bin").write_bytes(os.urandom(64 << 10))
        sized(site, SMALL)
        add_policy(h, POLICY, "tape1", [h.name], [str(data)])
        yield site
    finally:
        h.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)
        assert h.processes() == []


def sized(site: Site, size: int) -> None:
    """big.img of `size` zero bytes, written (bpbkar skips a sparse file's holes)."""
    with open(site.base / "data" / "big.img", "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(bytes(1 << 20))


def moved(site: Site, program: str, how: str) -> int:
    """Bytes the running `program` processes have read or written (`how`: read_chars or
    write_chars, as /proc/<pid>/io counts them)."""
    total = 0
    for p in site.host.processes(spares=False):
        if p.program == program:
            try:
                total += getattr(p.proc.io_counters(), how)
            except psutil.Error:
                pass
    return total


def act(victim: str) -> str:
    """The scenario's words: "kill bptm", "netbackup stop"."""
    return victim if victim == "netbackup stop" else f"kill {victim}"


def kill_all(site: Site, victims: str) -> None:
    """SIGKILL each of the programs `victims` names ("bptm+bpbrm": every process of the job
    on the media server at once, as the OOM killer or an administrator's kill -9 would);
    "netbackup stop" stops the host (the job ends 150, an administrator's stop)."""
    if victims == "netbackup stop":  # the host's every process, as bp.kill_all
        site.host.stop()
        assert site.host.processes() == []
        return
    names = victims.split("+")
    if len(names) == 1:
        kill(site, victims)
        return
    found = [p for name in names for p in wait_for(
        lambda name=name: victims_of(site.host, name), 30, f"{name} running")]
    sigkill(found)


def backup_command(site: Site) -> subprocess.Popen[str]:
    return command(site, "bpbackup", "-i", "-p", POLICY, "-s", "full", "-w")


def restore_command(site: Site, dest: Path, name: str) -> subprocess.Popen[str]:
    data = site.base / "data"
    ren = rename_file(dest.parent / f"ren_{dest.name}", [(data, dest)])
    return command(site, "bprestore", "-C", site.client, "-R", str(ren), "-w",
                   str(data / name))


def held(site: Site, jobid: int) -> list[str]:
    """What still holds a drive or a medium for `jobid`, or for any job (every job of the
    scenario is over when this is asked): nbrb's queue, nbemm's allocations, drives and
    media, ltid's drives and pending mounts."""
    found = []
    q = site.call("nbrb", "queue")
    if jobid in q["active"] or jobid in [r["jobid"] for r in q["queued"]]:
        found.append(f"nbrb holds job {jobid}")
    found += [f"nbemm allocation {a}" for a in site.call("nbemm", "allocations")["allocations"]]
    found += [f"drive {d} reserved"
              for d in site.call("nbemm", "drive_list")["drives"] if d["jobid"]]
    found += [f"medium {m['media_id']} in use by job {m['jobid']}"
              for m in site.call("nbemm", "media_list")["media"] if m["jobid"]]
    ltid = site.call("ltid", "drive_status")
    found += [f"ltid drive {d} held by job {d['jobid']}" for d in ltid["drives"] if d["jobid"]]
    found += [f"ltid pending {p}" for p in ltid["pending"]]
    return found


def nothing_held(site: Site, jobid: int) -> None:
    try:
        wait_for(lambda: not held(site, jobid), 60, "no drive or medium held")
    except AssertionError as e:
        raise AssertionError(f"{e}: {held(site, jobid)}") from None


def children(site: Site) -> list[str]:
    return [p.program for p in site.host.processes(spares=False)
            if p.program in ("bprd", "bpbrm") and "-child" in p.proc.cmdline()]


def check_tape(site: Site, jobid: int, cmd: subprocess.Popen[str], survives: bool,
               scenario: str, dest: Path | None = None) -> dict:
    """The checks of the module docstring; the closed job (0 when the job `survives` its
    victim, a failure otherwise)."""
    checks = Checks()
    done: dict = {}

    def command_ended() -> None:
        out, err = cmd.communicate(timeout=120)
        assert cmd.returncode == done.get("status", -1) % 256, (cmd.returncode, out, err)

    def no_orphan() -> None:
        backupid = str(done.get("backupid") or "")
        if done.get("jobtype") == kinds.JOB_BACKUP and backupid:
            listed = [i["backupid"] for i in site.call("bpdbm", "image_list",
                                                       client=site.client)["images"]]
            assert (backupid in listed) == (done["status"] == 0), (backupid, listed)
        wait_for(lambda: not list(site.host.cfg.paths.images.rglob("*.inprogress")), 60,
                 "no image in progress in the catalog")
        # bprd removes it when the job ends, or when its restart has ended the job: not at
        # its sweep a minute later
        wait_for(lambda: not list(site.host.cfg.paths.neededimage.iterdir()), 15,
                 "no neededimage file")
        if dest is not None:
            assert not list(dest.rglob(".nbtr*")), list(dest.rglob("*"))

    checks.run("stuck", "no", closed_check(site, jobid, survives, done))

    def outlived() -> None:
        assert done.get("status") == 0, f"the job should have outlived its victim: {done}"

    if survives:
        checks.run("stuck", "no", outlived)
    checks.row["status"] = str(done.get("status", "Active"))
    checks.run("stuck", "no", command_ended)
    checks.run("orphan", "no", no_orphan)
    checks.run("leaked", "no", lambda: nothing_held(site, jobid))
    checks.run("leaked", "no", lambda: wait_for(lambda: not agents_left(site) and
                                                not children(site), 60,
                                                "the job's agents and children to exit"))
    checks.run("next", "0", lambda: next_backup_restores(site, scenario))
    forget_images(site)
    _report(site, scenario, checks.row)
    if checks.failures:
        raise checks.failures[0]
    return done


def next_backup_restores(site: Site, scenario: str) -> None:
    """A backup on the same tapes ends 0 and its small file restores byte-identical."""
    sized(site, SMALL)
    r = site.host.run("bpbackup", "-i", "-p", POLICY, "-s", "full", "-w", check=False,
                      timeout=120)
    done = job(site.host, last_jobid(site.host))
    assert (r.returncode, done["status"]) == (0, 0), (r.stderr, done)
    dest = site.base / "after" / scenario.replace(" ", "_").replace(":", "")
    dest.mkdir(parents=True)
    cmd = restore_command(site, dest, "small.bin")
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 0, (out, err, job(site.host, last_jobid(site.host)))
    assert (dest / "small.bin").read_bytes() == (site.base / "data" / "small.bin").read_bytes()


@pytest.mark.parametrize("victim,survives", rows("backup", BACKUP))
def test_kill_during_tape_backup(tape: Site, victim: str, survives: bool) -> None:
    sized(tape, BIG)
    cmd = backup_command(tape)
    wait_for(lambda: moved(tape, "bptm", "write_chars") >= STARTED, 60,
             "the backup to move data")
    jobid = last_jobid(tape.host)
    kill_all(tape, victim)
    restart(tape)
    done = check_tape(tape, jobid, cmd, survives, f"tape backup: {act(victim)}")
    assert done["status"] == EXPECTED.get(victim, done["status"]), done


def restore_moving(site: Site, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, int]:
    """A backup of the big file, then its `bprestore -w` into a new folder once STARTED bytes
    have reached the client: (the waiting command, the destination, the restore's job id)."""
    sized(site, BIG)
    r = site.host.run("bpbackup", "-i", "-p", POLICY, "-s", "full", "-w", check=False,
                      timeout=120)
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "restored"
    cmd = restore_command(site, dest, "big.img")
    wait_for(lambda: moved(site, "tar-restore", "write_chars") >= STARTED, 60,
             "the restore to move data")
    return cmd, dest, last_jobid(site.host)


@pytest.mark.parametrize("victim,survives", rows("restore", RESTORE))
def test_kill_during_tape_restore(tape: Site, victim: str, survives: bool,
                                  tmp_path: Path) -> None:
    cmd, dest, jobid = restore_moving(tape, tmp_path)
    assert job(tape.host, jobid)["jobtype"] == kinds.JOB_RESTORE
    kill_all(tape, victim)
    restart(tape)
    done = check_tape(tape, jobid, cmd, survives, f"tape restore: {act(victim)}", dest)
    assert done["status"] == EXPECTED.get(victim, done["status"]), done


def test_a_restore_outlives_nbrb_down_until_its_end(tape: Site, tmp_path: Path) -> None:
    """nbrb killed mid-restore and not started again before the restore ends: the data is
    restored, so the job ends 0 (nbjm cannot hand nbrb the release; that is a warning in the
    details), and once nbrb is back its reconciliation frees what the closed job held."""
    cmd, dest, jobid = restore_moving(tape, tmp_path)
    kill(tape, "nbrb")
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 0, (out, err, job(tape.host, jobid))
    assert filecmp.cmp(dest / "big.img", tape.base / "data" / "big.img", shallow=False)
    details = tape.host.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
    assert "nbrb could not be told to release the resources" in details, details
    restart(tape)
    nothing_held(tape, jobid)
    forget_images(tape)


def test_a_restore_waiting_for_a_drive_when_nbjm_dies_ends_800(tape: Site,
                                                               tmp_path: Path) -> None:
    """bptm has asked nbjm for the restore's drive and waits (both drives DOWN) when nbjm is
    killed: the restore ends 800 (resource request failed) and its details say nbjm was lost,
    not 186 (tar-restore received no data: an effect, not the cause). Nothing stays held or
    queued, no neededimage file or child is left, and once the drives are up the same
    restore runs."""
    sized(tape, SMALL)
    r = tape.host.run("bpbackup", "-i", "-p", POLICY, "-s", "full", "-w", check=False,
                      timeout=120)
    assert r.returncode == 0, r.stderr
    for n in ("0", "1"):
        tape.host.run("vmoprcmd", "-down", n)
    try:
        cmd = restore_command(tape, tmp_path / "waiting", "small.bin")
        jobid = wait_for(lambda: (last_jobid(tape.host) if job(
            tape.host, last_jobid(tape.host))["jobtype"] == kinds.JOB_RESTORE else None), 60,
                         "the restore job")
        wait_for(lambda: "awaiting resource" in tape.host.run(
            "bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout, 60,
                 "the restore to wait for a drive")
        kill(tape, "nbjm")
        restart(tape)
        out, err = cmd.communicate(timeout=120)
        done = job(tape.host, jobid)
        assert (cmd.returncode, done["status"]) == (RESOURCE_REQUEST_FAILED % 256,
                                                   RESOURCE_REQUEST_FAILED), (out, err, done)
        details = tape.host.run("bpdbjobs", "-jobid", str(jobid), "-all_columns").stdout
        assert "lost nbjm while asking it for the restore's resources" in details, details
        nothing_held(tape, jobid)
        wait_for(lambda: not list(tape.host.cfg.paths.neededimage.iterdir()) and
                 not children(tape), 15, "no neededimage file and no child")
    finally:
        for n in ("0", "1"):
            tape.host.run("vmoprcmd", "-up", n)
    dest = tmp_path / "after"
    cmd = restore_command(tape, dest, "small.bin")
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 0, (out, err)
    assert (dest / "small.bin").read_bytes() == (tape.base / "data" / "small.bin").read_bytes()
    forget_images(tape)
