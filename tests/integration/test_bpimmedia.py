"""bpimmedia on a real all-in-one host: a backup to a disk storage unit and two to the virtual
library (8 MiB cartridges: the 9 MiB image spans two tapes, the next one follows it on the
second), listed field by field against what the catalog holds; the filters; the errors."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbcli import clock, multihost
from tests.conftest import Host
from tests.flowkit import add_policy, add_stu
from tests.integration.test_tape_backup import (
    add_media,
    backup,
    data_dir,
    image,
    running_library,
    tape_policy,
)

DAY = 86400


@dataclass
class Site:
    host: Host
    stu: Path
    disk: dict[str, Any]  # the disk image, as bpdbm's image_list has it
    tape: dict[str, Any]  # the tape image spanning two tapes
    tape2: dict[str, Any]  # the tape image after it

    def newest_first(self) -> list[str]:
        return [im["backupid"] for im in (self.tape2, self.tape, self.disk)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The host with its library, a disk storage unit, and the images."""
    base = tmp_path_factory.mktemp("immedia")
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"  # this module's own clock moves the host's (last test)
    (h,) = [Host(s) for s in multihost.create(base / "hosts", layout=[
        ("aio", "127.0.0.1", ["master", "media", "client"])])]
    library = running_library(h)
    next(library)
    try:
        add_media(h, 1, 2, 3)
        add_stu(h, "disk1", base / "stu", media=h.name)
        add_policy(h, "diskpol", "disk1", [h.name], [str(data_dir(base, "d", 1, 1))])
        tape_policy(h, "tapepol", data_dir(base, "t", 9, 2))
        tape_policy(h, "tapepol2", data_dir(base, "t2", 0.5, 3))
        disk = image(h, backup(h, "diskpol")["backupid"])
        tape = image(h, backup(h, "tapepol")["backupid"])
        tape2 = image(h, backup(h, "tapepol2")["backupid"])
    except BaseException:
        library.close()
        raise
    yield Site(h, base / "stu", disk, tape, tape2)
    next(library, None)  # the host stopped, no process left
    if old is None:
        os.environ.pop("NBCLI_TESTING", None)
    else:
        os.environ["NBCLI_TESTING"] = old


def listing(h: Host, *argv: str) -> list[tuple[list[str], list[list[str]]]]:
    """`bpimmedia ARGV`'s images: (IMAGE fields, [FRAG fields, ...]), the tags left out."""
    out: list[tuple[list[str], list[list[str]]]] = []
    for line in h.run("bpimmedia", *argv).stdout.splitlines():
        tag, *fields = line.split()
        if tag == "IMAGE":
            out.append((fields, []))
        else:
            assert tag == "FRAG" and out, line
            out[-1][1].append(fields)
    return out


def ids(h: Host, *argv: str) -> list[str]:
    return [im[2] for im, _ in listing(h, *argv)]


def status(h: Host, *argv: str) -> int:
    return h.run("bpimmedia", *argv, check=False).returncode


def test_disk_and_tape_images_field_by_field(site: Site) -> None:
    h, disk, tapes = site.host, site.disk, (site.tape2, site.tape)
    assert len({f["media_id"] for f in site.tape["fragments"]}) == 2  # it spans two tapes
    # not on the tapes' first files: the numbers come from the catalog, not from a default
    assert max(f["file_num"] for f in site.tape2["fragments"]) > 1
    # no option: every image, newest first, each with all its fragments
    got = listing(h)
    assert [im[2] for im, _ in got] == site.newest_first()
    for (im, frags), want in zip(got, (*tapes, disk)):
        assert len(im) == 13 and all(len(f) == 20 for f in frags)
        assert im == [h.name, str(want["version"]), want["backupid"], want["policy"], "0",
                      "full", "0", str(want["retention_level"]), str(want["num_files"]),
                      str(want["expiration"]), "0", "0", "0"]
        assert [f[1] for f in frags] == [str(fr["num"]) for fr in want["fragments"]]
        for f, fr in zip(frags, want["fragments"]):
            assert (f[0], f[2], f[3]) == ("1", str(fr["bytes"] // 1024),
                                          str(fr["bytes"] % 1024))
            assert (f[8], f[11], f[15], f[17]) == (
                h.name, str(want["backup_time"]), str(want["expiration"]),
                str(want["retention_level"]))
    # tape: media type 2, density hcart, and where the catalog says each fragment lies: its
    # media id, the tape file of its backup header, its record size and first logical block
    for (_, frags), want in zip(got, tapes):
        for f, fr in zip(frags, want["fragments"]):
            assert (f[4], f[5], f[6], f[7], f[9], f[10]) == (
                "2", "6", str(fr["file_num"]), fr["media_id"], str(fr["block_size"]),
                str(fr["block_offset"]))
            assert fr["file_num"] >= 1 and fr["block_offset"] >= 4
    # disk: media type 0, the fragment file's path and its offset in the image
    for f, fr in zip(got[2][1], disk["fragments"]):
        assert (f[4], f[5], f[6], f[7], f[9], f[10]) == (
            "0", "0", "0", fr["path"], str(disk["block_size"]), str(fr["offset"]))
        assert Path(fr["path"]).parent == site.stu
    # the same values as bpimagelist -l's fields of the same names
    for im, frags in got:
        raw = h.run("bpimagelist", "-backupid", im[2], "-l").stdout.splitlines()
        whole = raw[0].split()[1:]
        assert [whole[i] for i in (0, 3, 4, 5, 6, 9, 10, 11, 18, 14)] == im[:10]
        assert [ln.split()[1:20] for ln in raw if ln.startswith("FRAG")] == \
            [f[:19] for f in frags]


def test_mediaid_lists_the_fragments_on_that_medium(site: Site) -> None:
    h = site.host
    on: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # medium: (backupid, fragment)
    for im in (site.tape2, site.tape):
        for fr in im["fragments"]:
            on.setdefault(fr["media_id"], []).append((im["backupid"], fr))
    assert len(on) == 2 and len(on[site.tape2["fragments"][0]["media_id"]]) == 2
    for medium, frs in on.items():
        for asked in (medium, medium.lower()):
            got = listing(h, "-l", "-mediaid", asked)
            assert [(im[2], f[1], f[6], f[7], f[10]) for im, frags in got for f in frags] == [
                (backupid, str(fr["num"]), str(fr["file_num"]), medium,
                 str(fr["block_offset"])) for backupid, fr in frs]
    assert status(h, "-mediaid", "A00009") == 227  # in the library, never written
    # a disk storage unit's folder, or one fragment file of it
    for path in (str(site.stu), f"{site.stu}/", site.disk["fragments"][0]["path"]):
        ((im, frags),) = listing(h, "-mediaid", path)
        assert im[2] == site.disk["backupid"]
        assert frags[0][7] == site.disk["fragments"][0]["path"]
    assert status(h, "-mediaid", str(site.stu) + "x") == 227


def test_filters(site: Site) -> None:
    h, disk = site.host, site.disk["backupid"]
    tape2, tape, _ = every = site.newest_first()
    for argv, want in ((["-disk"], [disk]), (["-tape"], [tape2, tape]),
                       (["-policy", "diskpol"], [disk]), (["-policy", "tapepol"], [tape]),
                       (["-client", h.name], every), (["-t", "FULL"], every),
                       (["-hoursago", "1"], every), (["-server", h.name], every),
                       (["-tape", "-policy", "tapepol2", "-t", "FULL"], [tape2]),
                       (["-M", h.name, "-verbose"], every)):
        assert ids(h, *argv) == want, argv
    now = time.time()
    for argv in (["-policy", "nopolicy"], ["-client", "nobody"], ["-t", "INCR"],
                 ["-disk", "-policy", "tapepol"], ["-server", "othermedia"],
                 ["-d", time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(now + 3600))],
                 ["-e", time.strftime("%m/%d/%Y", time.localtime(now - 2 * DAY))]):
        r = h.run("bpimmedia", *argv, check=False)
        assert r.returncode == 227 and "EXIT STATUS 227: no entity was found" in r.stderr, \
            argv
        assert r.stdout == ""


def test_errors_are_netbackup_statuses(site: Site) -> None:
    h = site.host
    for argv, want in ((["-bogus"], 20), (["-L"], 20), (["-U"], 20), (["-spanpools"], 20),
                       (["-t", "WEEKLY"], 20), (["-hoursago", "2", "-d", "01/01/2020"], 20),
                       (["-mediaid", "TOOLONG1"], 20), (["-mediaid"], 20),
                       (["-d", "13/45/2020"], 109), (["-M", "nosuchhost.invalid"], 48)):
        r = h.run("bpimmedia", *argv, check=False)
        assert r.returncode == want and f"EXIT STATUS {want}:" in r.stderr, (argv, r.stderr)
        assert r.stderr.startswith("bpimmedia: ") and "Traceback" not in r.stderr
        assert r.stdout == ""
    # --help: NetBackup's synopsis, and the EXIT STATUS section
    out = h.run("bpimmedia", "-help").stdout
    assert out.startswith("USAGE: bpimmedia [-l]")
    codes = [line.split()[0] for line in out.split("Options:")[0].split("EXIT STATUS")[1]
             .splitlines() if line.strip()]
    assert codes == ["0", "20", "25", "48", "109", "227"]


def test_every_image_whatever_its_age(site: Site) -> None:
    # two days on, bpimagelist's default (the last 24 hours) has nothing; bpimmedia's default
    # is the whole catalog
    h = site.host
    clock.set_test_clock(h.root, offset=2 * DAY)
    try:
        assert h.run("bpimagelist", check=False).returncode == 227
        assert ids(h) == site.newest_first()
        assert status(h, "-hoursago", "24") == 227
        assert ids(h, "-hoursago", "49") == site.newest_first()
    finally:
        clock.set_test_clock(h.root, offset=0)
