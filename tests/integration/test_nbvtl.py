"""nbvtl as an operator runs it: real processes on a host root, its output, its files and
its exit statuses."""

from __future__ import annotations

import tomllib

from nbcli.vtl import mtx
from tests.conftest import Host


def test_create_status_load_unload(aio_root: Host) -> None:
    """create makes library.toml and one .tap a barcode; status is mtx's format; load/unload
    move."""
    r = aio_root.run("nbvtl", "create", "--drives", "2", "--slots", "10", "--mailslots", "1",
                     "--capacity", "64M", "--barcodes", "A00000L6..A00009L6",
                     "--move-time", "0", "--speed", "160M")
    home = aio_root.root / "volmgr" / "vtl"
    assert str(home) in r.stdout
    state = tomllib.loads((home / "library.toml").read_text())
    assert state["library"]["capacity"] == 64 << 20
    assert state["library"]["speed"] == 160 << 20
    assert sorted(p.name for p in (home / "cartridges").iterdir()) == \
        [f"A0000{n}L6.tap" for n in range(10)]

    status = aio_root.run("nbvtl", "status").stdout
    lines = status.splitlines()
    assert lines[0] == f"  Storage Changer {home}:2 Drives, 11 Slots ( 1 Import/Export )"
    assert lines[1:3] == ["Data Transfer Element 0:Empty", "Data Transfer Element 1:Empty"]
    assert lines[3] == "      Storage Element 1:Full :VolumeTag=A00000L6"
    assert lines[-1] == "      Storage Element 11 IMPORT/EXPORT:Empty"

    aio_root.run("nbvtl", "load", "3", "1")
    inv = mtx.parse_status(aio_root.run("nbvtl", "status").stdout)
    assert inv.drives[1].barcode == "A00002L6" and inv.drives[1].source == 3
    assert not inv.slots[2].full
    r = aio_root.run("nbvtl", "unload", "1")
    assert "into Storage Element 3" in r.stdout
    inv = mtx.parse_status(aio_root.run("nbvtl", "status").stdout)
    assert inv.slots[2].barcode == "A00002L6" and not inv.drives[1].full


def test_errors_are_netbackup_statuses(aio_root: Host) -> None:
    """No library 227, exists 226, empty source 227, full drive 226, usage 20: never a traceback."""
    r = aio_root.run("nbvtl", "status", check=False)
    assert r.returncode == 227 and "EXIT STATUS 227" in r.stderr and "nbvtl create" in r.stderr
    aio_root.run("nbvtl", "create", "--slots", "3", "--barcodes", "X1,X2")
    again = aio_root.run("nbvtl", "create", check=False)
    assert again.returncode == 226
    empty = aio_root.run("nbvtl", "load", "3", "0", check=False)
    assert empty.returncode == 227 and "source element 3 is empty" in empty.stderr
    aio_root.run("nbvtl", "load", "1", "0")
    full = aio_root.run("nbvtl", "load", "2", "0", check=False)
    assert full.returncode == 226 and "drive 0 is full" in full.stderr
    bad = aio_root.run("nbvtl", "load", "1", check=False)
    assert bad.returncode == 20 and "Traceback" not in bad.stderr
    assert aio_root.run("nbvtl", "create", "--capacity", "lots", check=False).returncode == 20
    assert aio_root.run("nbvtl", "create", "--speed", "fast", check=False).returncode == 20
    assert aio_root.run("nbvtl", "fault", "melt", check=False).returncode == 20


def test_mail_slot_protect_and_faults(aio_root: Host) -> None:
    """import/export through the mail slot, protect, faults in status -l, a load into a down
    drive is 98."""
    aio_root.run("nbvtl", "create", "--slots", "2", "--barcodes", "A00000L6")
    r = aio_root.run("nbvtl", "import", "B00000L6")
    assert "into slot 2" in r.stdout
    aio_root.run("nbvtl", "export", "A00000L6")
    aio_root.run("nbvtl", "protect", "B00000L6", "on")
    aio_root.run("nbvtl", "fault", "write_error", "B00000L6", "7")
    aio_root.run("nbvtl", "fault", "read_error", "B00000L6", "3")
    aio_root.run("nbvtl", "fault", "drive_down", "1")
    long = aio_root.run("nbvtl", "status", "-l").stdout
    assert "      Storage Element 3 IMPORT/EXPORT:Full :VolumeTag=A00000L6" in long
    assert "drive 1: DOWN" in long
    flags = "write_protected,write_error@7,read_error@3"
    assert any(line.split()[0] == "B00000L6" and line.endswith(flags)
               for line in long.splitlines() if line.startswith("  B0"))
    down = aio_root.run("nbvtl", "load", "2", "1", check=False)
    assert down.returncode == 164 and "down" in down.stderr
    aio_root.run("nbvtl", "fault", "clear")
    aio_root.run("nbvtl", "load", "2", "1")
    aio_root.run("nbvtl", "remove", "A00000L6")
    assert "A00000L6" not in aio_root.run("nbvtl", "status").stdout


def test_help_shows_synopsis_and_exit_statuses(aio_root: Host) -> None:
    """--help: NetBackup's USAGE synopsis and the EXIT STATUS section."""
    r = aio_root.run("nbvtl", "--help")
    assert r.stdout.startswith("USAGE: nbvtl create")
    assert "EXIT STATUS" in r.stdout and "227" in r.stdout


def test_through_nbcmdd_on_a_running_host(aio: Host) -> None:
    """With the host's daemons up, nbcmdd runs nbvtl in a process it forks: same result."""
    aio.run("nbvtl", "create", "--slots", "2", "--drives", "1")
    aio.run("nbvtl", "load", "2", "0")
    inv = mtx.parse_status(aio.run("nbvtl", "status").stdout)
    assert inv.drives[0].barcode == "A00001L6"
    r = aio.run("nbvtl", "unload", "0", "2", check=False)
    assert r.returncode == 0, r.stderr


def test_mt_on_a_virtual_drive(aio_root: Host) -> None:
    """nbvtl mt: mt's operations, one open each; the position is kept between them."""
    aio_root.run("nbvtl", "create", "--slots", "1", "--drives", "1")
    aio_root.run("nbvtl", "load", "1", "0")
    aio_root.run("nbvtl", "mt", "0", "weof", "3")
    aio_root.run("nbvtl", "mt", "0", "rewind")
    aio_root.run("nbvtl", "mt", "0", "fsf", "2")
    st = aio_root.run("nbvtl", "mt", "0", "status").stdout.splitlines()
    assert st[1] == "File number=2, block number=0, partition=0."
    assert st[3] == "Logical block 2."
    assert aio_root.run("nbvtl", "mt", "0", "tell").stdout == "At block 2.\n"
    past = aio_root.run("nbvtl", "mt", "0", "fsf", "5", check=False)
    assert past.returncode == 86 and "EXIT STATUS 86: media position error" in past.stderr
    assert aio_root.run("nbvtl", "mt", "0", "tell").stdout == "At block 3.\n"  # at EOD
    aio_root.run("nbvtl", "protect", "A00000L6", "on")
    assert aio_root.run("nbvtl", "mt", "0", "weof", "1", check=False).returncode == 168
    aio_root.run("nbvtl", "unload", "0")
    assert aio_root.run("nbvtl", "mt", "0", "status", check=False).returncode == 98  # empty
