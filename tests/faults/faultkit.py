"""The fault suite's kit: kill a process of the backup or restore flow mid-job, start the host
again, and check that nothing is stuck, held or left behind.

A scenario runs on a real site (every daemon and agent a real process) with a real slow
source: a sparse file of several GiB, so the job is still moving data when its victim is
killed. The site is one all-in-one host, or three (master 127.0.0.1, media server 127.0.0.2,
client 127.0.0.3, enrolled, talking mutual TLS): the victim is killed on the host it runs on
(WHERE), the catalog and nbrb's and nbemm's state are the master's, the fragments are in the
media server's storage unit, a restore's destination is on the client. After `netbackup start`
on each host (which restarts whatever died) `check_after` asserts:

- the job is Done and closed (never Active), with a non-zero status unless the victim's death
  did not hurt it (nbrb, nbemm and bpjobd are not on the data path: then status 0 and a
  complete image are as good);
- a failed job left no image: none listed, no `.inprogress` file in the catalog, no fragment of
  its backup id in the storage unit;
- a restore left no temporary file in its destination;
- no resource held: the job is in neither nbrb's `queue` nor nbemm's `allocations` (the
  master's), and no job agent (bpbkar, tar-restore, bptm, bpbrm) runs on any host;
- the next backup of the same policy ends 0 (the source is shrunk first, so it is quick).

Which scenarios run: a matrix test (matrix.py) runs on both layouts; `select` keeps in the
default run only the ones its module's CI set names, the others need NBCLI_FAULTS=all, as do
the tests marked `full_only` (see README.md in this folder). With FAULTKIT_REPORT=<file> each
scenario appends its line of the matrix's table (status, stuck, orphan, leaked, next) to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from nbcli import kinds, multihost
from nbcli.net import client
from nbcli.status import NbuError
from tests.conftest import Host, start_enrolled, wait_for
from tests.flowkit import add_policy, add_stu, rename_file

BIG = 2 << 30  # sparse: a backup or restore of it takes seconds, the window to kill in
SMALL = 1 << 20
POLICY = "faults"
FULL = os.environ.get("NBCLI_FAULTS") == "all"
full_only = pytest.mark.skipif(not FULL, reason="the full fault matrix: NBCLI_FAULTS=all")


# Where each victim runs: on all-in-one that is the one host; on three hosts the agents of the
# client and the media server run there, every other daemon on the master. pbx_exchange and
# `netbackup stop` run on every host: their scenarios name the host (see matrix.py).
WHERE = {"bpbkar": "client", "tar-restore": "client", "bptm": "media", "bptm child": "media",
         "bpbrm": "media", "bpbrm child": "media"}
LAYOUTS = ("aio", "three")
AGENTS = ("bpbkar", "tar-restore", "bptm", "bpbrm")


@dataclass
class Site:
    """A running site: one all-in-one host, or master, media and client (127.0.0.1-3,
    enrolled, mutual TLS). `hosts` maps a role to the host that plays it."""

    hosts: dict[str, Host]
    base: Path
    layout: str

    @property
    def host(self) -> Host:
        """The master (the one host, all-in-one): where jobs are asked for and looked at."""
        return self.hosts["master"]

    @property
    def client(self) -> str:
        return self.hosts["client"].name

    @property
    def stu(self) -> Path:
        """The storage unit's folder, on the media server's disk."""
        return self.base / "stu"

    @property
    def source(self) -> Path:
        """The big file, on the client's disk."""
        return self.base / "data" / "big.img"

    def each(self) -> list[Host]:
        return list({h.name: h for h in self.hosts.values()}.values())

    def call(self, service: str, op: str, **fields: object) -> dict:
        return client.call(self.host.cfg, self.host.name, service, op, **fields)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    """A running site with a disk storage unit on its media server and a policy over one big
    file of its client; all-in-one unless a test asks for `site` "three" (indirect)."""
    layout = getattr(request, "param", "aio")
    base = tmp_path_factory.mktemp(f"faults-{layout}")
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    if layout == "aio":
        specs = multihost.create(base / "hosts", layout=[("aio", "127.0.0.1",
                                                          ["master", "media", "client"])])
        hosts = {role: Host(specs[0]) for role in ("master", "media", "client")}
    else:
        specs = multihost.create(base / "hosts", layout=multihost.LAYOUT)
        hosts = {s.name: Host(s) for s in specs}
    site = Site(hosts, base, layout)
    try:
        if layout == "aio":
            site.host.start()
        else:
            start_enrolled(site.each())
        add_stu(site.host, "faultstu", site.stu, media=hosts["media"].name)
        site.source.parent.mkdir()
        sized(site, BIG)
        add_policy(site.host, POLICY, "faultstu", [site.client], [str(site.source.parent)])
        yield site
    finally:
        for h in site.each():
            h.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)
        leftovers = [p for h in site.each() for p in h.processes()]
        assert leftovers == [], leftovers


def sized(site: Site, size: int) -> None:
    with open(site.source, "wb") as f:
        f.truncate(size)


def victims(host: Host, program: str) -> list[psutil.Process]:
    """The running processes `program` names on `host` (spares left out): "bptm child" and
    "bpbrm child" are the ones a bptm or bpbrm forked; "bptm" is every bptm (parent and
    child), as a kill of the process group would be."""
    name = program.removesuffix(" child")
    found = [p.proc for p in host.processes(spares=False) if p.program == name]
    if name == program:
        return found
    parents = {p.pid for p in found}
    return [p for p in found if p.ppid() in parents]


def kill(site: Site, program: str, on: str = "") -> None:
    """SIGKILL every running process of `program` on the host where it runs (`on`: a role,
    for the programs that run on every host)."""
    host = site.hosts[on or WHERE.get(program, "master")]
    found = wait_for(lambda: victims(host, program), 30, f"{program} on {host.name}")
    assert isinstance(found, list)
    sigkill(found)


def sigkill(found: list[psutil.Process]) -> None:
    """SIGKILL each of `found` and wait for it; one that ended meanwhile (a child whose
    parent was just killed) is what was wanted."""
    for p in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    for p in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.wait(10)


def job(site: Site, jobid: int) -> dict:
    return site.call("bpjobd", "job_get", jobid=jobid)["job"]


def start_backup(site: Site) -> tuple[int, subprocess.Popen[str]]:
    """`bpbackup -i -w` of the big source (on the master), once its data reaches the storage
    unit: (jobid, the waiting command)."""
    sized(site, BIG)
    cmd = command(site, "bpbackup", "-i", "-p", POLICY, "-s", "full", "-w")
    jobid = int(wait_for(lambda: _newest_open(site, kinds.JOB_BACKUP), 60, "the backup job"))
    backupid = wait_for(lambda: job(site, jobid).get("backupid"), 60, "the image")
    wait_for(lambda: any(f.stat().st_size for f in site.stu.glob(f"{backupid}_C1_F*")), 60,
             "data to reach the storage unit")
    return jobid, cmd


def waited(cmd: subprocess.Popen[str], done: dict) -> None:
    """The user's waiting command ended by itself, with the job's status."""
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == done["status"] % 256, (cmd.returncode, out, err)


def image_of_big_source(site: Site) -> str:
    """A complete backup of the big source (a restore's image); its backup id."""
    sized(site, BIG)
    jobid = int(site.call("bprd", "backup", policy=POLICY, schedule="full")["jobids"][0])
    done = site.call("bpjobd", "job_wait", jobid=jobid, timeout=300)["job"]
    assert done["status"] == 0, done
    return str(done["backupid"])


def start_restore(site: Site, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """`bprestore -w` (on the master) of the big file into a new folder of the client, once
    data is flowing: (the waiting command, the destination folder)."""
    dest = tmp_path / "restored"
    dest.mkdir()
    ren = rename_file(tmp_path / "ren", [(site.source.parent, dest)])
    cmd = command(site, "bprestore", "-C", site.client, "-R", str(ren), "-w", str(site.source))
    jobid = int(wait_for(lambda: _newest_restore(site), 60, "the restore job"))
    wait_for(lambda: any(s["process"] == "tar-restore" for s in job(site, jobid)["steps"])
             or _written(dest), 60, "data to flow to tar-restore")
    time.sleep(0.5)
    return cmd, dest


def _argv(*argv: str) -> list[str]:
    from nbcli import programs

    return programs.argv_for(argv[0]) + list(argv[1:])


# The users' waiting commands a scenario started: `commands_closed` ends and reaps any that a
# failed scenario left, so that its pipes are not collected (ResourceWarning) in a later test.
COMMANDS: list[subprocess.Popen[str]] = []


def command(site: Site, *argv: str) -> subprocess.Popen[str]:
    """A user's command on the master, its output captured."""
    cmd = subprocess.Popen(_argv(*argv), env=site.host.env(), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    COMMANDS.append(cmd)
    return cmd


@pytest.fixture(autouse=True)
def commands_closed() -> Iterator[None]:
    yield
    while COMMANDS:
        cmd = COMMANDS.pop()
        if cmd.poll() is None:
            cmd.kill()
        cmd.communicate()


def _newest_open(site: Site, jobtype: int) -> int | None:
    jobs = site.call("bpjobd", "job_list", open=True)["jobs"]
    found = [j["jobid"] for j in jobs if j["jobtype"] == jobtype]
    return max(found) if found else None


def _newest_restore(site: Site) -> int | None:
    return _newest_open(site, kinds.JOB_RESTORE)


def _written(dest: Path) -> bool:
    return any(p.is_file() for p in dest.rglob("*"))


def restart(site: Site) -> None:
    """`netbackup start` on each host: what died is started again."""
    for h in site.each():
        h.start()


def closed_job(site: Site, jobid: int, timeout: float = 150) -> dict:
    """The job once its owner (or a reconciliation) closed it."""

    def get() -> dict | None:
        try:
            found = job(site, jobid)
        except NbuError:
            return None  # bpjobd still starting
        return found if found["closed"] else None

    return dict(wait_for(get, timeout, f"job {jobid} to be closed"))  # type: ignore[arg-type]


class Checks:
    """The verdicts of check_after, each a short word for the matrix's table; a failed check
    is recorded and the first failure raised once all were tried."""

    def __init__(self) -> None:
        self.row: dict[str, str] = {}
        self.failures: list[AssertionError] = []

    def run(self, column: str, ok: str, check: Callable[[], object]) -> None:
        try:
            check()
        except AssertionError as e:
            self.row[column] = "FAIL"
            self.failures.append(e)
        else:
            self.row.setdefault(column, ok)


def closed_check(site: Site, jobid: int, may_succeed: bool, done: dict) -> Callable[[], None]:
    """The "stuck" check: the job is closed and Done, with a non-zero status unless it
    `may_succeed`; the closed job goes into `done`."""

    def is_closed() -> None:
        done.update(closed_job(site, jobid))
        assert done["state"] == kinds.DONE, done
        if not may_succeed:
            assert done["status"] != 0, done

    return is_closed


def check_after(site: Site, jobid: int, *, may_succeed: bool = False,
                dest: Path | None = None, scenario: str = "") -> dict:
    """The assertions every scenario ends with (module docstring); the closed job. With
    FAULTKIT_REPORT set, a line of the matrix's table is appended to that file."""
    checks = Checks()
    done: dict = {}
    checks.run("stuck", "no", closed_check(site, jobid, may_succeed, done))
    checks.row["status"] = str(done.get("status", "Active"))
    checks.run("orphan", "no", lambda: no_orphan(site, done, dest))
    checks.run("leaked", "no", lambda: wait_for(lambda: not held(site, jobid), 60,
                                                f"job {jobid}'s resources to be released"))
    checks.run("leaked", "no", lambda: wait_for(lambda: not agents_left(site), 60,
                                                "the job's agents to exit"))
    checks.run("next", "0", lambda: next_backup_ends_0(site))
    forget_images(site)
    _report(site, scenario, checks.row)
    if checks.failures:
        raise checks.failures[0]
    return done


def no_orphan(site: Site, done: dict, dest: Path | None) -> None:
    """A failed job's image is neither listed in the master's catalog nor on the media
    server's storage unit; no image in progress in the catalog; no temporary file of a
    restore in its destination on the client."""
    backupid = str(done.get("backupid") or "")
    if done and done["jobtype"] != kinds.JOB_RESTORE and backupid:
        listed = [i["backupid"] for i in site.call("bpdbm", "image_list", client=site.client,
                                                   policy=POLICY)["images"]]
        if done["status"] == 0:
            assert backupid in listed
        else:
            assert backupid not in listed
            wait_for(lambda: not list(site.stu.glob(f"{backupid}_*")), 60,
                     f"the fragments of {backupid} to be removed")
    images = site.host.cfg.paths.images
    wait_for(lambda: not list(images.rglob("*.inprogress")), 60,
             "no image in progress in the catalog")
    if dest is not None:
        assert not [p for p in dest.rglob(".nbtr*")], list(dest.rglob("*"))


def _report(site: Site, scenario: str, row: dict[str, str]) -> None:
    path = os.environ.get("FAULTKIT_REPORT")
    if path and scenario:
        with open(path, "a") as f:  # a test's log, not the product's state
            f.write(json.dumps({"scenario": scenario, "layout": site.layout, **row}) + "\n")


def forget_images(site: Site) -> None:
    """Expire the policy's images (a full one holds BIG bytes in the storage unit)."""
    site.host.run("bpexpdate", "-policy", POLICY, "-d", "0", "-force", check=False)


def agents_left(site: Site) -> list[str]:
    """The job agents still running on any host (a spare waiting for a job is not one): a
    job that is over keeps none."""
    return [f"{p.program}@{h.name}" for h in site.each() for p in h.processes(spares=False)
            if p.program in AGENTS]


def held(site: Site, jobid: int) -> bool:
    q = site.call("nbrb", "queue")
    held = site.call("nbemm", "allocations")["allocations"]
    return jobid in q["active"] or jobid in [r["jobid"] for r in q["queued"]] \
        or jobid in [a["jobid"] for a in held]


def next_backup_ends_0(site: Site) -> None:
    sized(site, SMALL)
    jobid = int(site.call("bprd", "backup", policy=POLICY, schedule="full")["jobids"][0])
    done = site.call("bpjobd", "job_wait", jobid=jobid, timeout=120)["job"]
    assert (done["state"], done["status"]) == (kinds.DONE, 0), done
