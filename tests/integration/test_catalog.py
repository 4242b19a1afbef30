"""The image catalog for real: bpdbm and nbproxy as processes, driven as nbjm and bpbrm drive
them, and bpimagelist / bplist run as commands against them."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from nbcli import clock, programs
from nbcli.commands import netbackup
from nbcli.daemons.base import read_pidfile
from nbcli.net import client
from nbcli.status import NbuError
from nbcli.wire import frames
from tests.conftest import Host, wait_for
from tests.unit.test_catalog_plan import FULL_SPEC, Spec, entries_of

T0 = 1_700_000_000
DAY = 86400


def call(host: Host, service: str, op: str, **fields: Any) -> dict[str, Any]:
    return client.call(host.cfg, host.name, service, op, **fields)


def status_of(host: Host, service: str, op: str, **fields: Any) -> int:
    try:
        call(host, service, op, **fields)
    except NbuError as e:
        return e.status
    return 0


def stream(host: Host, service: str, **request: Any) -> list[dict[str, Any]]:
    """Every frame of a file_list answer."""
    out = []
    with client.connect(host.cfg, host.name, service) as conn:
        conn.send({"op": "file_list", **request})
        while True:
            msg = conn.recv(30)
            if "status" in msg:
                frames.raise_for_status(msg)
            out.append(msg)
            if not msg["more"]:
                return out


def create(host: Host, when: int, sched: int = 0, tir: bool = False, policy: str = "pol",
           client_name: str = "aio") -> str:
    return call(host, "nbproxy", "image_create", client=client_name, policy=policy,
                policy_type=0, sched_label="daily", sched_type=sched, retention_level=1,
                backup_time=when, jobid=7, stu="disk1", media_server="aio", keyword="",
                tir=tir)["backupid"]


def result(entries: list[list[Any]], end: int) -> dict[str, Any]:
    return {"kbytes": end // 1024, "num_files": len(entries), "elapsed": 3,
            "fragments": [{"num": 1, "offset": 0, "bytes": end - 1000, "host": "aio",
                           "path": "/stu/f1"},
                          {"num": 2, "offset": end - 1000, "bytes": 1000, "host": "aio",
                           "path": "/stu/f2"}],
            "checksum": "crc32:89abcdef", "block_size": 65536, "stream_bytes": end}


def backup(host: Host, spec: Spec, when: int, sched: int = 0, tir: bool = False,
           policy: str = "pol", batch: int = 2) -> str:
    """An image as a backup job makes one: nbjm creates and completes it through nbproxy,
    bpbrm adds the entries to bpdbm in batches, in stream order."""
    backupid = create(host, when, sched, tir, policy)
    entries, end = entries_of(spec)
    for i in range(0, len(entries), batch):
        call(host, "bpdbm", "image_add_files", backupid=backupid, entries=entries[i:i + batch])
    call(host, "nbproxy", "image_complete", backupid=backupid, **result(entries, end))
    return backupid


def date(epoch: int) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(epoch))


def start_quietly(start: Callable[[], object]) -> None:
    """netbackup.start in this process drops the Popen objects of the daemons it leaves
    running; their "still running" ResourceWarning must not fail a later test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        start()
        gc.collect()


@pytest.fixture
def catalog(daemons: Callable[..., Host]) -> Iterator[Host]:
    """PBX, bpdbm and nbproxy on an all-in-one host whose clock stands at T0 + 1 hour."""
    host: list[Host] = []
    start_quietly(lambda: host.append(daemons("bpdbm", "nbproxy")))
    clock.set_test_clock(host[0].root, fixed=T0 + 3600)
    yield host[0]
    # They are this process's children: only it can reap them (netbackup stop would wait
    # for their zombies until its deadline).
    running = [p.proc for p in host[0].processes()]
    for proc in running:
        proc.terminate()
    assert psutil.wait_procs(running, timeout=20)[1] == []


def test_an_image_is_invisible_until_complete_then_listed_field_by_field(catalog: Host) -> None:
    backupid = create(catalog, T0)
    assert backupid == f"aio_{T0}"
    entries, end = entries_of(FULL_SPEC)
    for e in entries[:4]:
        call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=[e])
    assert call(catalog, "nbproxy", "image_list", client="aio")["images"] == []
    assert catalog.run("bpimagelist", check=False).returncode == 227
    r = catalog.run("bplist", "-C", "aio", "-R", "/", check=False)
    assert r.returncode == 227 and "EXIT STATUS 227: no entity was found" in r.stderr
    call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=entries[4:])
    call(catalog, "nbproxy", "image_complete", backupid=backupid, **result(entries, end))
    (h,) = call(catalog, "nbproxy", "image_list", client="aio")["images"]
    assert (h["backupid"], h["num_files"], h["stream_bytes"], h["jobid"]) == (
        backupid, len(entries), end, 7)
    # the listing through nbproxy holds exactly the entries that were sent
    got = [e for fr in stream(catalog, "nbproxy", client="aio", path="/", recursive=True)
           for e in fr["entries"]]
    assert got == entries


def test_bpimagelist_forms_field_by_field(catalog: Host) -> None:
    backupid = backup(catalog, FULL_SPEC, T0)
    entries, end = entries_of(FULL_SPEC)
    (h,) = call(catalog, "bpdbm", "image_list", backupid=backupid)["images"]
    image, histo, frag1, frag2 = catalog.run("bpimagelist").stdout.splitlines()
    f = image.split()
    assert (f[0], f[1], f[5], f[6], f[10], f[11], f[13], f[14]) == (
        "IMAGE", "aio", backupid, "pol", "daily", "0", str(T0), "3")
    assert f[15] == str(T0 + 14 * DAY) and f[18] == str(end // 1024)
    assert f[19] == str(len(entries)) and f[44] == "7"
    assert histo.split()[1:] == ["-1"] * 10
    assert frag1.split()[1:4] == ["1", "1", str((end - 1000) // 1024)]
    assert frag2.split()[8:13] == ["/stu/f2", "aio", "65536", str(end - 1000), str(T0)]
    rows = catalog.run("bpimagelist", "-U", "-client", "aio", "-st", "FULL").stdout.splitlines()
    assert rows[0].startswith("Backed Up ") and len(rows) == 3
    assert rows[2].split()[3:6] == [str(len(entries)), str(end // 1024), "N"]
    assert rows[2].endswith("Full Backup  pol")
    long_form = catalog.run("bpimagelist", "-L", "-backupid", backupid).stdout
    assert f"Backup ID:         {backupid}" in long_form and " ID:               /stu/f1" in \
        long_form
    assert catalog.run("bpimagelist", "-idonly").stdout.count(" ID: ") == 1
    assert json.loads(catalog.run("bpimagelist", "-json").stdout)["images"] == [h]
    for miss in (["-policy", "other"], ["-st", "INCR"], ["-sl", "weekly"], ["-pt", "13"],
                 ["-client", "nobody"], ["-d", date(T0 + 10), "-e", date(T0 + 20)]):
        assert catalog.run("bpimagelist", *miss, check=False).returncode == 227, miss
    assert catalog.run("bpimagelist", "-pt", "Standard", "-hoursago", "2").returncode == 0


def test_bplist_forms(catalog: Host) -> None:
    backup(catalog, FULL_SPEC + [("/d/sub/run.sh", "0", 7)], T0)
    entries, _ = entries_of(FULL_SPEC)
    assert catalog.run("bplist", "-C", "aio", "/d").stdout.splitlines() == [
        "/d/a", "/d/b", "/d/c", "/d/sub"]
    assert catalog.run("bplist", "-C", "aio", "-R", "/d").stdout.splitlines() == [
        "/d/a", "/d/b", "/d/c", "/d/sub", "/d/sub/x", "/d/sub/run.sh"]
    assert catalog.run("bplist", "-C", "aio", "-R", "1", "-F", "/").stdout == "/d/\n"
    assert catalog.run("bplist", "-C", "aio", "-R", "2", "/").stdout.splitlines()[-1] == "/d/sub"
    lines = catalog.run("bplist", "-C", "aio", "-l", "-F", "/d/sub").stdout.splitlines()
    f = lines[0].split()
    assert f[:4] == ["-rw-r--r--", "root", "root", "10"] and f[7] == "/d/sub/x"
    assert lines[1].startswith("-rw-r--r--") and lines[1].endswith(" /d/sub/run.sh")
    mtime = time.localtime(entries[5][8] // 10**9)
    assert f[5:7] == [str(mtime.tm_mday), f"{mtime.tm_hour:02d}:{mtime.tm_min:02d}"]
    bt = time.localtime(T0)
    assert catalog.run("bplist", "-C", "aio", "-l", "-b", "/d/a").stdout.split()[5:8] == [
        str(bt.tm_mday), f"{bt.tm_hour:02d}:{bt.tm_min:02d}", "/d/a"]
    (only,) = json.loads(catalog.run("bplist", "-C", "aio", "-json", "/d/c").stdout)["files"]
    assert (only["path"], only["size"], only["backupid"]) == ("/d/c", 300, f"aio_{T0}")
    assert catalog.run("bplist", "-C", "aio", "-t", "Standard", "-k", "pol", "/d").returncode == 0
    for miss in (["-k", "other"], ["-t", "13"], ["-C", "nobody"], ["-e", date(T0 - 10)]):
        r = catalog.run("bplist", *miss, "/d", check=False)
        assert r.returncode == 227 and r.stderr.endswith("EXIT STATUS 227: no entity was "
                                                         "found\n"), miss


def check_malformed_requests(catalog: Host) -> str:
    """Each malformed request, to bpdbm and through nbproxy, gets its status: 143 for its
    shape (a field missing, mistyped or unknown), 20 for a value out of range."""
    good = {"client": "aio", "policy": "pol", "sched_type": 0, "backup_time": T0}
    backupid = create(catalog, T0)
    bad_entry = entries_of([("/x", "0", 1)])[0][0][:5]
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("image_create", {k: v for k, v in good.items() if k != "client"}, 143),
        ("image_create", {**good, "backup_time": "today"}, 143),
        ("image_create", {**good, "backup_time": None}, 143),
        ("image_create", {**good, "tir": "yes"}, 143),
        ("image_create", {**good, "color": "blue"}, 143),
        ("image_create", {**good, "backup_time": 2**70}, 20),
        ("image_create", {**good, "sched_type": 9}, 20),
        ("image_create", {**good, "client": "../etc"}, 20),
        ("image_create", {**good, "policy": "a/b"}, 20),
        ("image_add_files", {"entries": []}, 143),
        ("image_add_files", {"backupid": "aio_1", "entries": []}, 227),
        ("image_add_files", {"backupid": "garbage", "entries": []}, 20),
        ("image_add_files", {"backupid": backupid, "entries": [bad_entry]}, 223),
        ("image_add_files", {"backupid": backupid, "entries": "x"}, 143),
        ("image_complete", {"backupid": backupid}, 143),
        ("image_complete", {"backupid": backupid, **result([], 2048), "checksum": "md5"}, 20),
        ("image_complete", {"backupid": backupid, **result([], 2048), "fragments": [{}]}, 143),
        ("image_complete", {"backupid": backupid, **result([], 2048), "fragments": [7]}, 143),
        ("image_complete", {"backupid": backupid, **result([], 2048), "num_files": 3}, 229),
        ("image_complete", {"backupid": backupid, **result([], 2048), "stream_bytes": 9}, 229),
        ("image_abort", {"backupid": "aio_123"}, 227),
        ("image_list", {"client": 5}, 143),
        ("image_list", {"client": "x" * 5000}, 20),
        ("file_list", {"path": "/"}, 143),
        ("file_list", {"client": "aio", "path": "relative"}, 20),
        ("file_list", {"client": "aio", "path": "/", "columns": ["nope"]}, 20),
        ("restore_plan", {"client": "aio", "paths": []}, 20),
        ("restore_plan", {"client": "aio", "paths": [1]}, 143),
        ("restore_plan", {"client": "aio", "paths": ["/x"]}, 227),
        ("no_such_op", {}, 143),
    ]
    for op, fields, want in cases:
        for service in ("bpdbm", "nbproxy"):
            assert status_of(catalog, service, op, **fields) == want, (service, op, fields)
    return backupid


def test_malformed_requests_get_statuses_and_bpdbm_lives_on(catalog: Host) -> None:
    backupid = check_malformed_requests(catalog)
    # a frame that is not JSON: an error reply, that connection closed, the daemon still there
    with client.connect(catalog.cfg, "aio", "bpdbm") as conn:
        conn.sock.sendall(frames.HEADER.pack(5) + b"{{{{{")
        assert conn.recv(10)["status"] == 232
        with pytest.raises(EOFError):
            conn.recv(10)
    assert call(catalog, "bpdbm", "ping")["service"] == "bpdbm"
    # the image survived all that and completes normally
    entries, end = entries_of([("/x", "0", 1)])
    call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=entries)
    call(catalog, "nbproxy", "image_complete", backupid=backupid, **result(entries, end))


def test_abort_and_events_out_of_sequence(catalog: Host) -> None:
    images = catalog.cfg.paths.images / "aio" / "1700000000"
    backupid = create(catalog, T0)
    entries, end = entries_of(FULL_SPEC)
    call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=entries)
    assert sorted(p.name for p in images.iterdir()) == ["pol_1700000000_FULL.f.inprogress",
                                                        "pol_1700000000_FULL.inprogress"]
    call(catalog, "nbproxy", "image_abort", backupid=backupid)
    assert list(images.iterdir()) == []
    assert status_of(catalog, "nbproxy", "image_abort", backupid=backupid) == 227
    assert status_of(catalog, "bpdbm", "image_add_files", backupid=backupid,
                     entries=entries) == 227

    done = backup(catalog, FULL_SPEC, T0)
    assert done == backupid  # the id is free again after the abort
    for op, fields in (("image_abort", {}), ("image_add_files", {"entries": entries}),
                       ("image_complete", result(entries, end))):
        assert status_of(catalog, "nbproxy", op, backupid=done, **fields) == 229, op
    assert sorted(p.name for p in images.iterdir()) == ["pol_1700000000_FULL",
                                                        "pol_1700000000_FULL.f"]
    # a second image of the same client in the same second gets the next second
    assert create(catalog, T0) == f"aio_{T0 + 1}"


def test_two_images_in_progress_at_once(catalog: Host) -> None:
    specs = {n: [(f"/{n}", "5", 0)] + [(f"/{n}/f{i:04d}", "0", i) for i in range(400)]
             for n in ("one", "two")}
    ids = {"one": create(catalog, T0, policy="p1"), "two": create(catalog, T0, policy="p2")}
    assert ids == {"one": f"aio_{T0}", "two": f"aio_{T0 + 1}"}
    errors: list[BaseException] = []

    def job(n: str) -> None:
        try:
            entries, end = entries_of(specs[n])
            for i in range(0, len(entries), 25):
                call(catalog, "bpdbm", "image_add_files", backupid=ids[n],
                     entries=entries[i:i + 25])
            call(catalog, "nbproxy", "image_complete", backupid=ids[n], **result(entries, end))
        except BaseException as e:  # noqa: B036 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=job, args=(n,)) for n in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for n, backupid in ids.items():
        got = stream(catalog, "bpdbm", client="aio", path="/", recursive=True,
                     backupid=backupid, columns=["path"])
        assert [p for fr in got for p in fr["columns"]["path"]] == [s[0] for s in specs[n]]


def test_a_big_listing_streams_in_bounded_frames_through_nbproxy(catalog: Host) -> None:
    n = 30_000
    spec: Spec = [("/big", "5", 0)] + [(f"/big/{'long-name-' * 8}{i:06d}", "0", 1)
                                       for i in range(n)]
    backup(catalog, spec, T0, batch=5000)
    got = stream(catalog, "nbproxy", client="aio", path="/big")
    assert len(got) > 2 and all(fr["more"] for fr in got[:-1]) and not got[-1]["more"]
    assert all(len(json.dumps(fr)) < 4 << 20 for fr in got)
    assert [e[0] for fr in got for e in fr["entries"]] == [s[0] for s in spec[1:]]
    out = catalog.run("bplist", "-C", "aio", "-R", "/").stdout
    assert out.count("\n") == n + 1
    # a reader that stops early (bplist | head -1): bplist exits quietly, bpdbm lives on
    with subprocess.Popen(programs.argv_for("bplist") + ["-C", "aio", "-R", "/"],
                          env=catalog.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == b"/big\n"
        proc.stdout.close()
        # a reader that goes away ends bplist quietly by SIGPIPE, as it ends ls or cat
        assert proc.wait(30) == -signal.SIGPIPE and proc.stderr.read() == b""
    assert call(catalog, "bpdbm", "ping")["service"] == "bpdbm"


def test_restore_plan_of_one_small_file_from_a_1gib_image(catalog: Host) -> None:
    spec: Spec = [("/vol", "5", 0), ("/vol/data", "5", 0)]
    spec += [(f"/vol/data/blob{i}", "0", 64 << 20) for i in range(16)]
    spec.insert(10, ("/vol/data/note.txt", "0", 1024))
    backupid = backup(catalog, spec, T0)
    (h,) = call(catalog, "bpdbm", "image_list", backupid=backupid)["images"]
    assert h["stream_bytes"] > 1 << 30
    note = next(e for e in entries_of(spec)[0] if e[0] == "/vol/data/note.txt")
    plan = call(catalog, "nbproxy", "restore_plan", client="aio",
                paths=["/vol/data/note.txt", "/vol/missing"])
    (image,) = plan["images"]
    assert image["header"]["backupid"] == backupid and image["fragments"] == h["fragments"]
    # the note's member and nothing else (not even the folders above it)
    assert image["ranges"] == [[note[10], 512 + 1024]]
    assert image["files"] == 1 and plan["missing"] == ["/vol/missing"]
    assert sum(length for _, length in image["ranges"]) < 4096


def test_point_in_time_with_and_without_tir(catalog: Host) -> None:
    full = backup(catalog, FULL_SPEC, T0)
    incr = backup(catalog, [("/d", "5", 0), ("/d/a", "0", 111)], T0 + DAY, sched=1)
    tir = backup(catalog, [("/d", "5", 0), ("/d/a", "0", 0, 0), ("/d/c", "0", 0, 0),
                           ("/d/new", "0", 5)], T0 + 2 * DAY, sched=1, tir=True)
    clock.set_test_clock(catalog.root, fixed=T0 + 3 * DAY)

    def names(*argv: str) -> list[str]:
        return catalog.run("bplist", "-C", "aio", "-R", *argv, "/d").stdout.splitlines()

    assert names() == ["/d/a", "/d/c", "/d/new"]  # as of now: b and sub deleted (TIR)
    assert names("-e", date(T0 + DAY + 60)) == ["/d/a", "/d/b", "/d/c", "/d/sub", "/d/sub/x"]
    assert names("-e", date(T0 + 60)) == names("-e", date(T0 + DAY + 60))
    assert names("-s", date(T0 + 60)) == ["/d/a", "/d/new"]  # no full in range: incrementals
    sizes = catalog.run("bplist", "-C", "aio", "-l", "-e", date(T0 + DAY + 60), "/d/a").stdout
    assert sizes.split()[3] == "111"
    # null start and end (as bprd sends them when bprestore has no -s/-e) mean "as of now"
    plan = call(catalog, "nbproxy", "restore_plan", client="aio", paths=["/d"], start=None,
                end=None)
    assert [i["header"]["backupid"] for i in plan["images"]] == [full, incr, tir]
    assert [i["files"] for i in plan["images"]] == [1, 1, 2]
    old = call(catalog, "bpdbm", "restore_plan", client="aio", paths=["/d/b"],
               end=T0 + DAY + 60)
    # b from the full, and nothing of the incremental that only has /d newer
    assert [(i["header"]["backupid"], i["files"]) for i in old["images"]] == [(full, 1)]
    assert status_of(catalog, "bpdbm", "restore_plan", client="aio", paths=["/d/b"]) == 227


def test_bpdbm_restart_picks_up_images_in_progress(catalog: Host) -> None:
    backupid = create(catalog, T0)
    entries, end = entries_of(FULL_SPEC)
    call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=entries[:3])
    proc = read_pidfile(catalog.cfg.paths, "bpdbm")
    assert proc is not None
    os.kill(proc.pid, signal.SIGTERM)
    psutil.Process(proc.pid).wait(10)
    start_quietly(lambda: netbackup.start(catalog.cfg, only=["bpdbm"]))
    wait_for(lambda: status_of(catalog, "bpdbm", "ping") == 0, 10, "bpdbm back")
    call(catalog, "bpdbm", "image_add_files", backupid=backupid, entries=entries[3:])
    call(catalog, "nbproxy", "image_complete", backupid=backupid, **result(entries, end))
    assert catalog.run("bplist", "-C", "aio", "-R", "/").stdout.splitlines() == [
        s[0] for s in FULL_SPEC]


def test_command_errors_are_netbackup_statuses(catalog: Host) -> None:
    for argv, want in ((["bpimagelist", "-st", "WEEKLY"], 20),
                       (["bpimagelist", "-hoursago", "2", "-d", "01/01/2020"], 20),
                       (["bpimagelist", "-pt", "NoSuchType"], 20),
                       (["bpimagelist", "-d", "13/45/2020"], 109),
                       (["bpimagelist", "-bogus"], 20),
                       (["bplist", "-C", "aio", "-s", "yesterday", "/"], 109),
                       (["bplist", "-C", "aio", "-R", "-1", "/"], 20),
                       (["bplist", "-nope", "/"], 20),
                       (["bpimagelist", "-M", "nosuchhost.invalid"], 48)):
        r = catalog.run(*argv, check=False)
        assert r.returncode == want and f"EXIT STATUS {want}:" in r.stderr, (argv, r.stderr)
        assert "Traceback" not in r.stderr
    for cmd in ("bpimagelist", "bplist"):
        # the description (click puts the options after it) ends with the EXIT STATUS section
        description = catalog.run(cmd, "-help").stdout.split("Options:")[0].rstrip()
        codes = [line.split()[0] for line in description.split("EXIT STATUS")[1].splitlines()
                 if line.strip()]
        assert codes == ["0", "20", "25", "109", "227"], cmd
    # without -C the client is this host's CLIENT_NAME (aio): it has no image
    assert catalog.run("bplist", "/", check=False).returncode == 227


def test_commands_without_bpdbm_are_status_25(aio_root: Host) -> None:
    for argv in (["bpimagelist"], ["bplist", "-C", "aio", "/"]):
        r = aio_root.run(*argv, check=False)
        assert r.returncode == 25 and "EXIT STATUS 25: cannot connect on socket" in r.stderr
