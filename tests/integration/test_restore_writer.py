"""tar-restore's file writer process (nbcli/client/filewriter.py) for real: forked, fed through
shared memory, killed; the files must come out as a restore without it makes them."""

from __future__ import annotations

import io
import os
import random
import signal
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from nbcli import programs
from nbcli.client import _untar, filewriter
from nbcli.client.destination import Destination
from nbcli.client.streamreader import StreamReader
from nbcli.client.untar import RestoreResult, Untar
from tests.unit.test_client_trees import assert_same_tree, build_hard_tree, snapshot


def restore(stream: bytes, dest: Path, keep: bool = False, writer_after: int | None = 0,
            chunk: int = 64 << 10, on_read: object = None,
            writers: int | None = None) -> tuple[RestoreResult, list[str]]:
    """Untar `stream` below `dest`, read `chunk` bytes at a time; (result, report lines)."""
    src = io.BytesIO(stream)
    reports: list[str] = []

    def readinto(view: memoryview) -> int:
        if on_read is not None:
            on_read()  # type: ignore[operator]
        return src.readinto(view[:chunk])

    d = Destination([os.fsencode(dest)])
    try:
        untar = Untar(StreamReader(readinto), d, lambda sev, msg: reports.append(f"{sev} {msg}"),
                      keep, writer_after=writer_after, writers=writers)
        return untar.run(), reports
    finally:
        d.close()


def many_files(root: Path, folders: int = 6, per_folder: int = 60) -> Path:
    for d in range(folders):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(per_folder):
            p = root / f"d{d}" / f"f{f}"
            p.write_bytes(os.urandom(1 + (d * 977 + f * 131) % 9000))
            os.utime(p, ns=(1_600_000_000_000_000_000 + f, 1_600_000_000_123_456_789 + f))
    return root


def posix_tar(src: Path) -> bytes:
    return subprocess.run(["tar", "--format=posix", "-cf", "-", "-C", src, "."],
                          check=True, capture_output=True).stdout


def test_a_tree_with_every_hard_case_comes_out_identical(tmp_path: Path) -> None:
    src = many_files(build_hard_tree(tmp_path / "src"))
    result, reports = restore(posix_tar(src), tmp_path / "out")
    assert (result.status, reports) == (0, [])
    assert result.by_writer >= 360  # the small files went through the writer process
    assert_same_tree(src, tmp_path / "out")


def test_without_the_writer_the_result_is_the_same(tmp_path: Path) -> None:
    src = many_files(tmp_path / "src", folders=2, per_folder=30)
    result, _ = restore(posix_tar(src), tmp_path / "out", writer_after=None)
    assert (result.status, result.by_writer) == (0, 0)
    assert_same_tree(src, tmp_path / "out")


@pytest.mark.parametrize("writers,kill", [(1, 1), (2, 1), (2, 2)])
def test_a_killed_writer_loses_no_file(tmp_path: Path, writers: int, kill: int) -> None:
    """SIGKILL `kill` of the `writers` writer processes mid-stream: every file still comes."""
    src = many_files(tmp_path / "src", folders=4, per_folder=200)
    untars: list[Untar] = []
    reads = 0
    killed: list[int] = []

    def kill_writer_once() -> None:
        nonlocal reads
        reads += 1
        pool = untars[0].writer if untars else None
        if reads >= 30 and pool is not None and not killed:
            for w in pool.writers[:kill]:
                os.kill(w.pid, signal.SIGKILL)
                killed.append(w.pid)

    real_init = Untar.__init__

    def remember(self: Untar, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        untars.append(self)

    # As in tar-restore, whose commands die of SIGPIPE: telling a dead writer must not kill.
    sigpipe = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Untar, "__init__", remember)
            result, reports = restore(posix_tar(src), tmp_path / "out", chunk=16 << 10,
                                      on_read=kill_writer_once, writers=writers)
    finally:
        signal.signal(signal.SIGPIPE, sigpipe)
    assert killed, "the writer was never running"
    assert (result.status, reports) == (0, [])
    assert result.files == 805  # 800 files and 5 folders (the top one included)
    assert_same_tree(src, tmp_path / "out")


def _tar(*members: tuple[str, bytes, bytes | None]) -> bytes:
    """(name, type, data or link target) -> a pax stream."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = kind, 1_600_000_000, 0o644
            if kind == tarfile.REGTYPE:
                info.size = len(payload or b"")
                tf.addfile(info, io.BytesIO(payload or b""))
            else:
                if kind in (tarfile.LNKTYPE, tarfile.SYMTYPE):
                    info.linkname = (payload or b"").decode()
                if kind == tarfile.DIRTYPE:
                    info.mode = 0o755
                tf.addfile(info)
    return out.getvalue()


def test_members_take_effect_in_stream_order(tmp_path: Path) -> None:
    stream = _tar(("d", tarfile.DIRTYPE, None),
                  *[(f"d/f{i}", tarfile.REGTYPE, b"x%d" % i) for i in range(40)],
                  ("d/hard", tarfile.LNKTYPE, b"d/f39"),  # its target is queued just before
                  ("d/f1", tarfile.REGTYPE, b"second f1"),  # the same name again: last wins
                  ("d/f2", tarfile.DIRTYPE, None),  # a folder where a queued file was
                  ("d/f2/inside", tarfile.REGTYPE, b"in"))
    result, reports = restore(stream, tmp_path / "out")
    assert (result.status, reports) == (0, [])
    d = tmp_path / "out" / "d"
    assert (d / "hard").read_bytes() == b"x39" and os.stat(d / "hard").st_nlink == 2
    assert (d / "f1").read_bytes() == b"second f1"
    assert (d / "f2" / "inside").read_bytes() == b"in"
    assert result.by_writer == 42  # d/f0..f39, the second d/f1, d/f2/inside


def test_the_writer_replaces_keeps_and_refuses_as_the_parser_does(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"not yours")
    stream = _tar(*[(f"f{i}", tarfile.REGTYPE, b"new %d" % i) for i in range(30)])
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f3").write_bytes(b"old")
    (dest / "f4").symlink_to(outside)
    (dest / "f5").mkdir()
    result, reports = restore(stream, dest)
    assert result.status == 182
    assert reports == ["Error ERR - refused member f5: it would replace a folder "
                       "(tar received an invalid file name)"]
    assert (dest / "f3").read_bytes() == b"new 3"
    assert not (dest / "f4").is_symlink() and (dest / "f4").read_bytes() == b"new 4"
    assert outside.read_bytes() == b"not yours" and (dest / "f5").is_dir()
    assert not [p for p in os.listdir(dest) if p.startswith(".nbtr")]

    (dest / "f6").write_bytes(b"mine")
    result, reports = restore(stream, dest, keep=True)
    assert (dest / "f6").read_bytes() == b"mine"
    assert "Info INF - kept existing file f6" in reports and result.files == 0


def test_a_stream_cut_inside_a_file_leaves_the_files_before_it_whole(tmp_path: Path) -> None:
    stream = _tar(*[(f"f{i:02d}", tarfile.REGTYPE, bytes([i]) * 3000) for i in range(60)])
    cut = stream.index(bytes([50]) * 3000) + 1000  # inside f50's data
    result, reports = restore(stream[:cut], tmp_path / "out")
    assert result.status == 183 and "invalid archive" in reports[-1]
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == [f"f{i:02d}" for i in range(50)]
    assert all((out / f"f{i:02d}").read_bytes() == bytes([i]) * 3000 for i in range(50))


def test_many_long_failures_come_back_whole_and_in_order(tmp_path: Path) -> None:
    """Hundreds of refusals with long non-ASCII names: the writer's answers span many
    messages, none cut."""
    names = [f"{i:03d}-" + "é" * 100 for i in range(300)]  # 205 bytes of UTF-8 each
    dest = tmp_path / "out"
    for name in names:
        (dest / name).mkdir(parents=True)  # a folder where each file goes: refused
    result, reports = restore(_tar(*[(n, tarfile.REGTYPE, b"x") for n in names]), dest)
    assert result.status == 182 and result.files == 0
    assert reports == [f"Error ERR - refused member {n}: it would replace a folder "
                       "(tar received an invalid file name)" for n in names]


# --- the C loops (nbcli/client/_untar.c) and several writers --------------------------------

def bpbkar_stream(*paths: Path) -> bytes:
    """An image stream as bpbkar sends it: canonical names, a pax mtime per member."""
    return subprocess.run(programs.argv_for("bpbkar") + ["-nocont", "-nofileinfo",
                                                         *map(os.fspath, paths)],
                          check=True, capture_output=True).stdout


class CountingScan:
    """nbcli.client._untar, counting the members its scan queued (in this process)."""

    def __init__(self) -> None:
        self.queued = 0

    def scan(self, *args: object) -> tuple[int, int, int]:
        got = _untar.scan(*args)
        self.queued += got[2]
        return got

    make = staticmethod(_untar.make)


def below(out: Path, src: Path) -> Path:
    """Where a bpbkar image of `src` lands under tar-restore -C `out`."""
    return out / src.relative_to("/")


@pytest.mark.parametrize("writers", [1, 2])
def test_plain_files_go_through_c_and_come_out_identical(tmp_path: Path, writers: int) -> None:
    src = many_files(build_hard_tree(tmp_path / "src"))
    counting = CountingScan()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filewriter, "_untar", counting)
        result, reports = restore(bpbkar_stream(src), tmp_path / "out", writers=writers)
    assert (result.status, reports) == (0, [])
    assert counting.queued >= 300  # of the 360 small files of many_files
    assert_same_tree(src, below(tmp_path / "out", src))


def test_without_the_c_module_the_result_is_the_same(tmp_path: Path) -> None:
    src = many_files(build_hard_tree(tmp_path / "src"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filewriter, "_untar", None)
        result, reports = restore(bpbkar_stream(src), tmp_path / "out", writers=2)
    assert (result.status, reports) == (0, [])
    assert_same_tree(src, below(tmp_path / "out", src))


def header_offsets(stream: bytes) -> list[int]:
    """Offsets of the bytes of ustar header blocks (pax ones included)."""
    return [b + i for b in range(0, len(stream) - 511, 512)
            if stream[b + 257:b + 263] == b"ustar\0" for i in range(512)]


def test_damaged_streams_restore_alike_with_and_without_c(tmp_path: Path) -> None:
    """Header bytes changed at random: the C loops and Python alone give the same status,
    the same reports and the same files."""
    src = many_files(tmp_path / "src", folders=3, per_folder=25)
    os.symlink("d0/f1", src / "link")
    stream = bpbkar_stream(src)
    offsets = header_offsets(stream)
    rng = random.Random(1203)
    statuses = set()
    for i in range(40):
        damaged = bytearray(stream)
        for _ in range(rng.randint(1, 4)):
            at = rng.choice(offsets)
            damaged[at] = rng.choice([0, ord("."), ord("/"), ord("1"), ord("5"), ord("7"),
                                      ord("x"), rng.randrange(256)])
            if i % 4:  # mostly a header still valid, only saying something else
                block = at - at % 512
                damaged[block + 148:block + 156] = b" " * 8
                damaged[block + 148:block + 155] = b"%06o\0" % sum(damaged[block:block + 512])
        outcomes = []
        for fast, writers in ((True, 2), (False, 1)):
            out = tmp_path / f"out{i}-{fast}"
            with pytest.MonkeyPatch.context() as mp:
                if not fast:
                    mp.setattr(filewriter, "_untar", None)
                result, reports = restore(bytes(damaged), out, writers=writers)
            outcomes.append((result.status, result.files, sorted(reports), out))
        (s1, f1, r1, a), (s2, f2, r2, b) = outcomes
        assert (s1, f1, r1) == (s2, f2, r2)
        assert files_and_folders(a) == files_and_folders(b)
        statuses.add(s1)
    assert {0, 183} <= statuses  # damage that changed only what a member says, and a stop


def files_and_folders(root: Path) -> dict[bytes, tuple[object, ...]]:
    """snapshot(), without the mtimes of folders: a folder whose header was damaged, or one
    made on the way to a member, has the time it was made."""
    return {path: info[:3] + info[4:] if stat.S_ISDIR(info[0]) else info  # type: ignore[arg-type]
            for path, info in snapshot(root).items()}


def test_renames_that_name_one_file_are_kept_by_c(tmp_path: Path) -> None:
    """bprestore -R: a rename of a whole folder, of one file in it, and a destination root
    that is one file's new name - each member lands where Destination.locate puts it."""
    src = many_files(tmp_path / "src", folders=2, per_folder=40)
    out = tmp_path / "out"
    stream = bpbkar_stream(src)
    s, o = os.fsencode(src), os.fsencode(out)
    renames = [(s + b"/d0", o + b"/zero"), (s + b"/d0/f7", o + b"/alone/f7"),
               (s + b"/d1", o + b"/one")]
    roots = [o, o + b"/one/f9"]
    results = []
    for fast in (True, False):
        dest_root = tmp_path / f"run-{fast}"
        moved = [(a, b.replace(o, os.fsencode(dest_root))) for a, b in renames]
        reports: list[str] = []
        with pytest.MonkeyPatch.context() as mp:
            if not fast:
                mp.setattr(filewriter, "_untar", None)
            d = Destination([r.replace(o, os.fsencode(dest_root)) for r in roots], moved,
                            absolute=True)
            try:
                result = Untar(StreamReader(io.BytesIO(stream).readinto), d,
                               lambda sev, msg, got=reports: got.append(msg), writer_after=0,
                               writers=2).run()
            finally:
                d.close()
        results.append((result.status, sorted(reports)))
        assert (dest_root / "alone" / "f7").read_bytes() == (src / "d0" / "f7").read_bytes()
        assert not (dest_root / "zero" / "f7").exists()
        assert (dest_root / "zero" / "f8").read_bytes() == (src / "d0" / "f8").read_bytes()
        assert (dest_root / "one" / "f10").read_bytes() == (src / "d1" / "f10").read_bytes()
        assert not (dest_root / "one" / "f9").is_file()  # a root: refused, never replaced
    assert results[0] == results[1]
    assert results[0][0] == 182 and any("f9" in r for r in results[0][1])


def test_an_owner_id_beyond_32_bits_fails_that_member_only(tmp_path: Path) -> None:
    """A pax header may carry any uid: as root the member cannot be made (status 1, said);
    otherwise ids are not set and it is restored. Never a crash of the restore."""
    from nbcli.client.tarstream import END_OF_ARCHIVE, REGULAR, Member, header
    stream = b""
    for i in range(20):
        stream += header(Member(b"d/f%d" % i, REGULAR, 0o644, 0, 0, 1, 0)) + b"x" + bytes(511)
    for name, size in ((b"d/small", 1), (b"e/large", 300_000)):
        stream += header(Member(name, REGULAR, 0o644, 1 << 40, 5, size, 0))
        stream += bytes(size) + bytes(-size % 512)
    result, reports = restore(stream + END_OF_ARCHIVE, tmp_path / "out")
    assert len(list((tmp_path / "out" / "d").glob("f*"))) == 20
    if os.geteuid() == 0:
        assert result.status == 1
        assert reports == [f"Error ERR - cannot restore {n}: owner {1 << 40}:5 cannot be set "
                           "here" for n in ("d/small", "e/large")]
        assert not (tmp_path / "out" / "d" / "small").exists()
    else:
        assert (result.status, reports) == (0, [])
        assert (tmp_path / "out" / "e" / "large").stat().st_size == 300_000


def test_keep_and_replace_over_a_restore_made_through_c(tmp_path: Path) -> None:
    """The same bpbkar image restored three times into one folder: made, then kept (-K:
    every file reported, none touched), then replaced (C hands existing names to Python)."""
    src = many_files(tmp_path / "src", folders=2, per_folder=30)
    stream = bpbkar_stream(src)
    out = tmp_path / "out"
    assert restore(stream, out, writers=2) == (RestoreResult(0, 63, len(stream), 60), [])
    changed = below(out, src) / "d1" / "f7"
    changed.write_bytes(b"changed since")
    result, reports = restore(stream, out, keep=True, writers=2)
    assert result.status == 0
    assert sorted(reports) == sorted(f"Info INF - kept existing file {p}" for p in
                                     (os.fspath(f.relative_to("/")) for f in src.rglob("f*")))
    assert changed.read_bytes() == b"changed since"
    result, reports = restore(stream, out, writers=2)
    assert (result.status, reports) == (0, [])
    assert_same_tree(src, below(out, src))
