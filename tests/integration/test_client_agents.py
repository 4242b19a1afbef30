"""bpbkar and tar-restore as real processes: by hand, against GNU tar, and under a controller.

The controller tests stand where bpbrm and bptm would: they ask a real bpcd to launch the
agent, speak the control protocol on that connection, and serve or take the image through a
service registered with the real PBX (docs/protocol.md, "Agents").
"""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import threading
import time
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import psutil
import pytest

from nbcli import programs
from nbcli.client import tarstream
from nbcli.config import HostConfig
from nbcli.net import client
from nbcli.net.conn import Connection
from nbcli.net.service import Registration
from nbcli.status import NbuError
from nbcli.wire.frames import Message
from tests.conftest import Host, wait_for
from tests.unit.test_client_trees import assert_same_tree, build_hard_tree, snapshot


def agent(name: str, *args: str | os.PathLike[str], stdin: object = None,
          stdout: object = subprocess.PIPE, data: bytes | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(programs.argv_for(name) + [os.fspath(a) for a in args], input=data,
                          stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)


def backup_to(image: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    with open(image, "wb") as out:
        return agent("bpbkar", "-nocont", *args, stdout=out)


def below(dest: Path, src: Path) -> Path:
    """Where a restore of `src` (named without its leading "/") lands under `dest`."""
    return dest / str(src).lstrip("/")


def all_paths(root: Path) -> list[bytes]:
    base = os.fsencode(root)
    out = [base]
    for dirpath, dirnames, filenames in os.walk(base):
        out += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return out


def tar_names(image: Path) -> list[bytes]:
    r = subprocess.run(["tar", "-tf", image, "--quoting-style=literal"], capture_output=True,
                       check=True)
    return r.stdout.splitlines()


# --- bpbkar -nocont and GNU tar ------------------------------------------------------------

def test_gnu_tar_lists_and_extracts_a_bpbkar_image(tmp_path: Path) -> None:
    src = build_hard_tree(tmp_path / "src")
    image = tmp_path / "image.tar"
    r = backup_to(image, src)
    assert r.returncode == 0, r.stderr
    paths = all_paths(src)
    assert sorted(r.stderr.splitlines()) == sorted(paths)  # one line per file
    names = tar_names(image)
    assert sorted(names) == sorted(p[1:] + (b"/" if os.path.isdir(p) and not
                                            os.path.islink(p) else b"") for p in paths)
    _assert_folders_contiguous(names)
    out = tmp_path / "gnu"
    out.mkdir()
    # Folder contents do not follow their headers (the catalog's order), so GNU tar needs
    # --delay-directory-restore to give folders their mtimes; files are exact either way.
    subprocess.run(["tar", "-xpf", image, "--delay-directory-restore", "-C", out], check=True)
    assert_same_tree(src, below(out, src))
    listing = subprocess.run(["tar", "-tvf", image, "--numeric-owner"], capture_output=True,
                             check=True).stdout
    assert b"-rwsr-xr-x 0/0" in listing and b"3000000/2500000" in listing
    assert b"longlink -> " + b"t" * 300 in listing


def _assert_folders_contiguous(names: list[bytes]) -> None:
    """Each folder's own entries are one run in the stream (one catalog block per folder)."""
    parents = [os.path.dirname(n.rstrip(b"/")) for n in names[1:]]
    seen: set[bytes] = set()
    for i, parent in enumerate(parents):
        if i and parent != parents[i - 1]:
            assert parent not in seen, f"entries of {parent!r} are split"
            seen.add(parents[i - 1])


def test_a_file_over_8_gib_travels_in_pax_size(tmp_path: Path) -> None:
    big = tmp_path / "huge.sparse"
    with open(big, "wb") as f:
        f.truncate((8 << 30) + 1)
    with subprocess.Popen(programs.argv_for("bpbkar") + ["-nocont", "-nofileinfo", big],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as bpbkar:
        assert bpbkar.stdout is not None
        head = bpbkar.stdout.read(64 << 10)  # headers and the start of the data are enough
        bpbkar.kill()
    # GNU tar lists the member, then complains that the (cut) data ends early.
    listing = subprocess.run(["tar", "-tvf", "-"], input=head, capture_output=True).stdout
    assert listing.startswith(b"-rw-r--r-- ") and b" 8589934593 " in listing


def test_missing_selections_give_71_or_1(tmp_path: Path) -> None:
    (tmp_path / "here").write_bytes(b"x")
    none = backup_to(tmp_path / "none.tar", tmp_path / "nope", tmp_path / "nada")
    assert none.returncode == 71
    assert b"EXIT STATUS 71: none of the files in the file list exist" in none.stderr
    assert (tmp_path / "none.tar").read_bytes() == bytes(1024)
    some = backup_to(tmp_path / "some.tar", tmp_path / "nope", tmp_path / "here")
    assert some.returncode == 1 and b"Cannot stat: " + os.fsencode(tmp_path / "nope") \
        in some.stderr
    assert tar_names(tmp_path / "some.tar") == [os.fsencode(tmp_path / "here")[1:]]


def test_incremental_takes_files_changed_since(tmp_path: Path) -> None:
    src = build_hard_tree(tmp_path / "src")
    since = int(time.time()) + 1
    wait_for(lambda: time.time() >= since + 0.01, 3, "the clock to pass `since`")
    (src / "sub/deeper/f").write_bytes(b"changed")  # mtime
    os.chmod(src / "readonly", 0o400)  # ctime only
    os.rename(src / "sp ace", src / "renamed")  # ctime only
    r = backup_to(tmp_path / "incr.tar", "-since", str(since), src)
    assert r.returncode == 0, r.stderr
    files = {n for n in tar_names(tmp_path / "incr.tar") if not n.endswith(b"/")}
    top = os.fsencode(src)[1:]
    assert files == {top + b"/sub/deeper/f", top + b"/readonly", top + b"/renamed"}


def test_unreadable_and_shrinking_files_give_status_1(tmp_path: Path) -> None:
    shrinks = Path("/sys/kernel/mm/transparent_hugepage/enabled")  # says 4096, reads fewer
    if not shrinks.exists():
        pytest.skip("no sysfs file whose size shrinks on read")
    r = backup_to(tmp_path / "sys.tar", shrinks)
    assert r.returncode == 1 and b"file shrank while being read" in r.stderr
    listing = subprocess.run(["tar", "-tvf", tmp_path / "sys.tar"], capture_output=True,
                             check=True).stdout
    assert b" 4096 " in listing  # padded to the size its header announced


# --- tar-restore by hand -------------------------------------------------------------------

@pytest.fixture(scope="module")
def hard_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("image")
    src = build_hard_tree(base / "src")
    image = base / "image.tar"
    assert backup_to(image, "-nofileinfo", src).returncode == 0
    return src, image


def test_restore_of_a_bpbkar_image_is_identical(tmp_path: Path,
                                                hard_image: tuple[Path, Path]) -> None:
    src, image = hard_image
    r = agent("tar-restore", "-C", tmp_path / "from-file", "-f", image)
    assert r.returncode == 0, r.stderr
    assert_same_tree(src, below(tmp_path / "from-file", src))
    with open(image, "rb") as stdin:
        r = agent("tar-restore", "-C", tmp_path / "from-stdin", stdin=stdin)
    assert r.returncode == 0, r.stderr
    assert_same_tree(src, below(tmp_path / "from-stdin", src))


@pytest.mark.parametrize("fmt,resolution", [("posix", 1), ("gnu", 10**9)])
def test_restore_of_gnu_tar_archives_is_identical(tmp_path: Path, hard_image: tuple[Path, Path],
                                                  fmt: str, resolution: int) -> None:
    src, _ = hard_image
    archive = tmp_path / f"{fmt}.tar"
    subprocess.run(["tar", f"--format={fmt}", "-cf", archive, "-C", src, "."], check=True)
    r = agent("tar-restore", "-C", tmp_path / "out", "-f", archive)
    assert r.returncode == 0, r.stderr
    assert_same_tree(src, tmp_path / "out", mtime_resolution_ns=resolution)


def test_keep_existing_files(tmp_path: Path, hard_image: tuple[Path, Path]) -> None:
    src, image = hard_image
    dest = tmp_path / "dest"
    below(dest, src).mkdir(parents=True)
    (below(dest, src) / "plain.txt").write_bytes(b"mine")
    assert agent("tar-restore", "-K", "-C", dest, "-f", image).returncode == 0
    assert (below(dest, src) / "plain.txt").read_bytes() == b"mine"
    assert (below(dest, src) / "sub/deeper/f").read_bytes() == b"deep"
    assert agent("tar-restore", "-C", dest, "-f", image).returncode == 0
    assert (below(dest, src) / "plain.txt").read_bytes() == b"hello\n"


def test_truncated_empty_and_garbage_streams(tmp_path: Path,
                                             hard_image: tuple[Path, Path]) -> None:
    src, image = hard_image
    data = image.read_bytes()
    header = data.index(b"src/setuid\0") // 512 * 512
    r = agent("tar-restore", "-C", tmp_path / "cut", data=data[:header + 512 + 5])  # in its data
    assert r.returncode == 183, r.stderr
    assert b"EXIT STATUS 183: tar received an invalid archive" in r.stderr
    restored = below(tmp_path / "cut", src)
    assert (restored / "big.bin").read_bytes() == (src / "big.bin").read_bytes()  # before: whole
    assert not (restored / "setuid").exists()  # never half a file under its final name
    assert not [p for p in all_paths(tmp_path / "cut") if b".nbtr" in p]
    r = agent("tar-restore", "-C", tmp_path / "cut2", data=data[:1000])  # inside a header
    assert r.returncode == 183
    assert agent("tar-restore", "-C", tmp_path / "empty", data=b"").returncode == 186
    assert agent("tar-restore", "-C", tmp_path / "junk", data=os.urandom(4096)).returncode \
        == 183


# --- tar-restore refuses to write outside its destination ----------------------------------

def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "",
            data: bytes = b"evil") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if kind != tarfile.REGTYPE:
        return info, None
    info.size = len(data)
    return info, data


def _archive(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members + [_member("ok.txt", data=b"fine")]:
            tf.addfile(info, BytesIO(data) if data is not None else None)
    return out.getvalue()


def _evil_cases(outside: Path) -> dict[str, list[tuple[tarfile.TarInfo, bytes | None]]]:
    return {
        "dotdot": [_member("../escaped")],
        "nested dotdot": [_member("a/b/../../../escaped")],
        "absolute": [_member(str(outside / "absolute"))],
        "file through a symlink": [_member("link", tarfile.SYMTYPE, str(outside)),
                                   _member("link/through")],
        "hard link with ..": [_member("hl", tarfile.LNKTYPE, "../outside/secret")],
        "absolute hard link": [_member("hl", tarfile.LNKTYPE, str(outside / "secret"))],
        "folder replaced by a symlink": [_member("d", tarfile.DIRTYPE),
                                         _member("d", tarfile.SYMTYPE, str(outside)),
                                         _member("d/inside")],
    }


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    return outside


@pytest.mark.parametrize("case", list(_evil_cases(Path("/x"))))
def test_evil_archives_are_refused_with_182(tmp_path: Path, case: str) -> None:
    outside = _outside(tmp_path)
    archive = tmp_path / "evil.tar"
    archive.write_bytes(_archive(_evil_cases(outside)[case]))
    before = sorted(os.listdir(tmp_path)), snapshot(outside)
    dest = tmp_path / "dest"
    r = agent("tar-restore", "-C", dest, "-f", archive)
    assert r.returncode == 182, r.stderr
    assert b"refused member" in r.stderr
    assert b"EXIT STATUS 182: tar received an invalid file name" in r.stderr
    assert (sorted(os.listdir(tmp_path)), snapshot(outside)) == \
        (sorted(before[0] + ["dest"]), before[1])
    assert (dest / "ok.txt").read_bytes() == b"fine"  # the rest of the stream goes on
    if case == "folder replaced by a symlink":
        assert (dest / "d").is_dir() and not (dest / "d").is_symlink()
        assert (dest / "d/inside").read_bytes() == b"evil"


def test_existing_symlinks_are_replaced_or_refused_never_followed(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside / "secret", dest / "victim")
    os.symlink(outside, dest / "sub")
    archive = tmp_path / "a.tar"
    archive.write_bytes(_archive([_member("victim", data=b"new"), _member("sub/x")]))
    r = agent("tar-restore", "-C", dest, "-f", archive)
    assert r.returncode == 182 and b"sub/x" in r.stderr
    assert (outside / "secret").read_bytes() == b"secret"
    assert sorted(os.listdir(outside)) == ["secret"]
    assert not (dest / "victim").is_symlink() and (dest / "victim").read_bytes() == b"new"


# --- under a controller, launched by a real bpcd ------------------------------------------

def launch(cfg: HostConfig, program: str) -> Connection:
    """Be bpbrm: have bpcd start `program`; the connection is now its control channel."""
    conn = client.connect(cfg, cfg.client_name, "bpcd")
    conn.request("launch", program=program, args=[])
    return conn


def frames_until_ack(ctl: Connection) -> list[Message]:
    """The agent's frames up to the first step it waits on, acknowledged, as bpbrm does
    (bpbkar's step 12: its image data comes only after)."""
    out = [ctl.recv(timeout=60)]
    while not out[-1].get("ack"):
        out.append(ctl.recv(timeout=60))
    ctl.send({"op": "ack"})
    return out


def frames_until_done(ctl: Connection) -> list[Message]:
    """The agent's frames up to "done", acknowledging steps it waits on, as bpbrm does."""
    out = []
    while not out or out[-1].get("op") != "done":
        out.append(ctl.recv(timeout=60))
        if out[-1].get("ack"):
            ctl.send({"op": "ack"})
    return out


def drain_in_thread(sock: socket.socket) -> tuple[threading.Thread, bytearray]:
    data = bytearray()

    def run() -> None:
        while chunk := sock.recv(1 << 20):
            data.extend(chunk)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, data


def controlled_backup(cfg: HostConfig, jobid: int,
                      **request: object) -> tuple[Message, list[Message], bytes]:
    """Run bpbkar as bpbrm and bptm would: (reply, frames to bpbrm, image bptm got)."""
    with Registration(cfg.paths, f"bptm.{jobid}", cfg.client_name) as reg, \
            launch(cfg, "bpbkar") as ctl:
        fields: dict[str, object] = {"since": None, "exclude": [], "tir": False, **request}
        reply = ctl.request("backup", jobid=jobid, client=cfg.client_name, **fields)
        ctl.send({"op": "send", "host": cfg.client_name, "service": f"bptm.{jobid}"})
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        with accepted.conn:
            thread, image = drain_in_thread(accepted.conn.sock)
            frames = frames_until_done(ctl)
            thread.join(60)
    return reply, frames, bytes(image)


def entries_of(frames: list[Message]) -> list[list[Any]]:
    return [e for f in frames if f["op"] == "files" for e in f["entries"]]


def assert_entries_point_at_members(entries: list[list[Any]], image: bytes) -> None:
    for (path, kind, mode, uid, gid, _u, _g, size, mtime_ns, _c, offset, hdr_len, link,
         in_image) in entries:
        if not in_image:
            assert offset == -1
            continue
        m, length = tarstream.member_at(image, offset)
        assert m.name == os.fsencode(path)[1:] + (b"/" if kind == "5" else b"")
        assert (length, m.type.decode(), m.mode, m.uid, m.gid, m.size, m.mtime_ns) == \
            (hdr_len, kind, mode, uid, gid, size, mtime_ns)
        if kind == "0":
            with open(path, "rb") as f:
                assert image[offset + hdr_len:offset + hdr_len + size] == f.read()
        if kind in "12":
            assert m.link == (os.fsencode(link)[1:] if kind == "1" else os.fsencode(link))


def test_bpbkar_sends_image_steps_entries_and_done(daemons: Callable[..., Host],
                                                  tmp_path: Path) -> None:
    cfg = daemons("bpcd").cfg
    src = build_hard_tree(tmp_path / "src")
    reply, frames, image = controlled_backup(cfg, 7, paths=[os.fsdecode(src)],
                                             block_size=65536, exclude=["*/empty.dat"])
    assert reply["status"] == 0 and reply["pid"] > 0
    ops = [f["op"] for f in frames]
    assert [f.get("step") for f in frames[:2]] == [11, 12] and ops[-1] == "done"
    assert set(ops[2:-1]) == {"files"}
    done = frames[-1]
    entries = entries_of(frames)
    assert done == {"op": "done", "status": 0, "files": len(entries),
                    "kbytes": (len(image) + 1023) // 1024, "stream_bytes": len(image),
                    "checksum": f"crc32:{zlib.crc32(image):08x}",
                    "dte": False}  # the stream stayed on this host: not encrypted
    expected = [p for p in all_paths(src) if not p.endswith(b"/empty.dat")]
    assert sorted(os.fsencode(e[0]) for e in entries) == sorted(expected)
    assert_entries_point_at_members(entries, image)
    assert image.endswith(bytes(1024))


def test_bpbkar_incremental_with_tir_and_mount_points(daemons: Callable[..., Host],
                                                      tmp_path: Path) -> None:
    cfg = daemons("bpcd").cfg
    src = build_hard_tree(tmp_path / "src")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "nbcli-test", src / "empty"],
                             capture_output=True).returncode == 0
    try:
        if mounted:
            (src / "empty/on-tmpfs").write_bytes(b"other file system")
        since = int(time.time()) + 1
        wait_for(lambda: time.time() >= since + 0.01, 3, "the clock to pass `since`")
        (src / "plain.txt").write_bytes(b"changed")
        _, frames, image = controlled_backup(cfg, 8, paths=[os.fsdecode(src)], since=since,
                                             tir=True)
        entries = {os.fsencode(e[0])[len(os.fsencode(src)):]: e for e in entries_of(frames)}
        assert_entries_point_at_members(list(entries.values()), image)
        in_image = {p for p, e in entries.items() if e[-1] and e[1] != "5"}
        assert in_image == {b"/plain.txt", b"/sub/hardlink", b"/sub/deeper/hardlink2"}
        assert entries[b"/big.bin"][10:12] == [-1, 0] and entries[b"/sub"][-1] == 1
        if mounted:
            assert b"/empty/on-tmpfs" not in entries
            _, frames, _ = controlled_backup(cfg, 9, paths=[os.fsdecode(src)],
                                             cross_mount_points=True)
            assert os.fsdecode(src / "empty/on-tmpfs") in [e[0] for e in entries_of(frames)]
    finally:
        if mounted:
            subprocess.run(["umount", src / "empty"], check=True)


def test_bpbkar_stops_when_its_controller_goes_away(daemons: Callable[..., Host],
                                                    tmp_path: Path) -> None:
    cfg = daemons("bpcd").cfg
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(4 << 30)
    with Registration(cfg.paths, "bptm.10", cfg.client_name) as reg:
        ctl = launch(cfg, "bpbkar")
        pid = ctl.request("backup", jobid=10, paths=[str(tmp_path)], since=None)["pid"]
        ctl.send({"op": "send", "host": cfg.client_name, "service": "bptm.10"})
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        frames_until_ack(ctl)
        with accepted.conn:
            assert len(accepted.conn.sock.recv(1 << 20)) > 0
            ctl.close()  # bpbrm is gone
            thread, rest = drain_in_thread(accepted.conn.sock)
            thread.join(60)
            assert not thread.is_alive() and len(rest) < 1 << 30
    wait_for(lambda: not psutil.pid_exists(pid) or
             psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 30, "bpbkar to exit")


def controlled_restore(cfg: HostConfig, jobid: int, image: bytes,
                       **request: object) -> tuple[Message, list[Message]]:
    """Run tar-restore as bpbrm child and bptm child would: serve it `image`."""
    with Registration(cfg.paths, f"bptm.{jobid}", cfg.client_name) as reg, \
            launch(cfg, "tar-restore") as ctl:
        reply = ctl.request("restore", jobid=jobid, host=cfg.client_name,
                            service=f"bptm.{jobid}", **request)
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        with accepted.conn:
            # tar-restore waits for its step 14 to be acknowledged while the image arrives:
            # send from a thread, as bptm child sends while bpbrm answers.
            sender = send_in_thread(accepted.conn.sock, image, end=True)
            frames = frames_until_done(ctl)
            sender.join(30)
    return reply, frames


def send_in_thread(sock: socket.socket, data: bytes, end: bool) -> threading.Thread:
    def run() -> None:
        try:
            sock.sendall(data)
            if end:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the agent went away; the test checks why

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_tar_restore_renames_into_its_destination(daemons: Callable[..., Host],
                                                  tmp_path: Path,
                                                  hard_image: tuple[Path, Path]) -> None:
    cfg = daemons("bpcd").cfg
    src, image = hard_image
    dest = tmp_path / "dest"
    reply, frames = controlled_restore(cfg, 11, image.read_bytes(),
                                       renames=[[str(src), str(dest / "renamed")]],
                                       keep_existing=False, dest=[str(dest)])
    assert reply["status"] == 0
    assert frames[0]["op"] == "step" and frames[0]["step"] == 14, frames
    done = frames[-1]
    assert (done["status"], done["files"]) == (0, len(all_paths(src)))
    assert done["kbytes"] == (image.stat().st_size + 1023) // 1024
    assert_same_tree(src, dest / "renamed")


def test_tar_restore_refuses_what_lies_outside_dest(daemons: Callable[..., Host],
                                                    tmp_path: Path,
                                                    hard_image: tuple[Path, Path]) -> None:
    cfg = daemons("bpcd").cfg
    src, image = hard_image
    before = snapshot(src)
    _, frames = controlled_restore(cfg, 12, image.read_bytes(), renames=[],
                                   dest=[str(tmp_path / "dest")])
    assert frames[-1]["status"] == 182 and frames[-1]["files"] == 0
    logs = [f["msg"] for f in frames if f["op"] == "log"]
    assert any(os.fsdecode(src / "plain.txt") in m and "outside" in m for m in logs)
    assert snapshot(src) == before  # the original location was not the destination


def test_tar_restore_stops_when_its_controller_goes_away(daemons: Callable[..., Host],
                                                         tmp_path: Path,
                                                         hard_image: tuple[Path, Path]) -> None:
    cfg = daemons("bpcd").cfg
    _, image = hard_image
    data = image.read_bytes()
    with Registration(cfg.paths, "bptm.13", cfg.client_name) as reg:
        ctl = launch(cfg, "tar-restore")
        pid = ctl.request("restore", jobid=13, host=cfg.client_name, service="bptm.13",
                          dest=[str(tmp_path / "dest")])["pid"]
        accepted = reg.accept(timeout=30)
        assert accepted is not None
        with accepted.conn:
            send_in_thread(accepted.conn.sock, data[:len(data) // 2], end=False)  # no more
            assert ctl.recv(timeout=30)["step"] == 14  # not acknowledged: the controller
            ctl.close()  # goes away instead
            wait_for(lambda: not psutil.pid_exists(pid) or
                     psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 30,
                     "tar-restore to exit")
    assert not [p for p in all_paths(tmp_path / "dest") if b".nbtr" in p]


def test_agents_answer_bad_requests_with_a_status(daemons: Callable[..., Host]) -> None:
    cfg = daemons("bpcd").cfg
    with launch(cfg, "bpbkar") as ctl:
        with pytest.raises(NbuError) as e:
            ctl.request("backup", jobid=1, paths=["relative/path"], since=None)
        assert e.value.status == 69
    with launch(cfg, "tar-restore") as ctl:
        with pytest.raises(NbuError) as e:
            ctl.request("restore", jobid=1, host=cfg.client_name, service="x", dest=[])
        assert e.value.status == 181
    # A field of the wrong shape is 143, as in every daemon's op table.
    for program, request in (("bpbkar", {"op": "backup", "jobid": 1, "paths": "/etc"}),
                             ("bpbkar", {"op": "backup", "jobid": 1, "paths": ["/etc"],
                                         "colour": "red"}),
                             ("bpbkar", {"op": "backup", "jobid": 1, "paths": ["/etc"],
                                         "tir": "yes"}),
                             ("tar-restore", {"op": "restore", "jobid": 1, "host": 5,
                                              "service": "x", "dest": ["/tmp"]}),
                             ("tar-restore", {"op": "restore", "jobid": 1, "host": "h",
                                              "service": "x", "dest": "/tmp"})):
        with launch(cfg, program) as ctl:
            with pytest.raises(NbuError) as e:
                ctl.request(request.pop("op"), **request)
            assert e.value.status == 143, (program, request)
