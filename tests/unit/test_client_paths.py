"""tar-restore's path rules: member names, renames, destination roots, symlink-free folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbcli.client import destination as dst
from nbcli.client.destination import Destination, Refused


@pytest.mark.parametrize("name", [b"", b"/", b"/etc/passwd", b"..", b"a/../b", b"a/..",
                                  b"a\0b", b"./../x"])
def test_names_that_are_refused(name: bytes) -> None:
    with pytest.raises(Refused):
        dst.components(name)


def test_names_are_split_into_components() -> None:
    assert dst.components(b"./a//b/./c/") == (b"a", b"b", b"c")
    assert dst.components(b"./") == ()
    assert dst.components(b"caf\xe9/..x") == (b"caf\xe9", b"..x")


@pytest.mark.parametrize("path,expected", [
    (b"/a/b/c", b"/x/y/c"),  # the longest rename wins
    (b"/a/b", b"/x/y"),
    (b"/a/bc", b"/q/bc"),  # whole components only
    (b"/a", b"/q"),
    (b"/other", b"/other"),
])
def test_renames(path: bytes, expected: bytes) -> None:
    renames = [(b"/a", b"/q"), (b"/a/b", b"/x/y")]
    assert dst.rename(path, renames) == expected


def test_rename_of_the_root_and_to_the_root() -> None:
    assert dst.rename(b"/etc/hosts", [(b"/", b"/restore")]) == b"/restore/etc/hosts"
    assert dst.rename(b"/a/b", [(b"/a", b"/")]) == b"/b"


@pytest.mark.parametrize("bad", [b"relative", b"/a/../b", b"/a\0"])
def test_roots_must_be_clean_absolute_paths(bad: bytes) -> None:
    with pytest.raises(ValueError):
        dst.clean_root(bad)
    assert dst.clean_root(b"/a//b/./") == b"/a/b"


def test_control_mode_places_members_below_the_longest_root(tmp_path: Path) -> None:
    top, inner = os.fsencode(tmp_path / "top"), os.fsencode(tmp_path / "top/inner")
    d = Destination([top, inner], [(b"/src", inner + b"/moved")], absolute=True)
    try:
        assert d.locate(b"src/f") == (1, (b"moved", b"f"))
        assert d.locate(top[1:] + b"/g") == (0, (b"g",))
        assert d.locate(inner[1:] + b"/") == (1, ())
        with pytest.raises(Refused, match="outside the restore destinations"):
            d.locate(b"etc/passwd")
    finally:
        d.close()


def test_folders_are_reached_without_following_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    d = Destination([os.fsencode(root)])
    try:
        os.symlink(outside, root / "link")
        (root / "file").write_bytes(b"")
        with pytest.raises(Refused, match="symbolic link"):
            d.folder((0, (b"link", b"x")))
        with pytest.raises(Refused):
            d.folder((0, (b"file", b"x")))
        with pytest.raises(Refused, match="replace a restore destination"):
            d.parent((0, ()))
        fd = d.folder((0, (b"new", b"deeper")))
        assert os.path.samestat(os.fstat(fd), os.stat(root / "new/deeper"))
        with pytest.raises(FileNotFoundError):
            d.folder((0, (b"missing",)), create=False)
    finally:
        d.close()
    assert os.listdir(outside) == []


def test_the_folder_cache_stays_bounded_and_closes_everything(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setattr(dst, "CACHE_SIZE", 3)
    before = len(os.listdir("/proc/self/fd"))
    d = Destination([os.fsencode(tmp_path)])
    for i in range(10):
        fd = d.folder((0, (b"a", b"b%d" % i, b"c")))
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / f"a/b{i}/c"))
    assert len(os.listdir("/proc/self/fd")) <= before + 1 + 3
    d.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_canonical_names_are_their_own_components() -> None:
    for name in [b"a", b"a/b", b"caf\xe9/..x", b"a/.b"]:
        assert dst.canonical(name) and b"/".join(dst.components(name)) == name
    for name in [b"", b"/a", b"a/", b"a//b", b"./a", b"a/./b", b"a/..", b"..", b"a\0b"]:
        assert not dst.canonical(name)


def test_leaves_follow_their_folder_unless_a_rename_or_root_names_one(tmp_path: Path) -> None:
    """Whenever leaves_follow(F) holds, every F/LEAF lands in one folder as LEAF (or every one
    is refused): what lets tar-restore place a folder's files without locating each."""
    import itertools
    import random

    rng = random.Random(5)
    sources = [b"/", b"/s", b"/s/a", b"/s/a/f1", b"/s/a/f2", b"/s/b", b"/t"]
    targets = [b"/", b"/r", b"/r/a", b"/r/a/f1", b"/r/x/y", b"/q"]
    folders = [b"", b"s", b"s/a", b"s/b", b"t", b"s/a/f1"]
    leaves = [b"f1", b"f2", b"f3", b"a", b"b"]
    held = declined = 0
    for _ in range(400):
        renames = list({s: t for s, t in (rng.choice(list(itertools.product(sources, targets)))
                                          for _ in range(rng.randint(0, 3)))}.items())
        roots = sorted({rng.choice(targets + [b"/s/a/f2"]) for _ in range(rng.randint(1, 3))})
        d = Destination.__new__(Destination)  # locate needs no folders opened
        d.roots, d.renames, d.absolute = roots, renames, True
        for folder in folders:
            if not d.leaves_follow(folder):
                declined += 1
                continue
            held += 1
            places = []
            for leaf in leaves:
                name = folder + b"/" + leaf if folder else leaf
                try:
                    places.append(d.locate(name))
                except Refused:
                    places.append(None)
            if None in places:
                assert set(places) == {None}, (roots, renames, folder, places)
                continue
            assert len({(r, p[:-1]) for r, p in places}) == 1, (roots, renames, folder, places)
            assert [p[-1] for _, p in places] == leaves
    assert held > 1000 and declined > 100  # both answers were put to the test
