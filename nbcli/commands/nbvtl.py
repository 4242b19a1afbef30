"""nbvtl: create and drive this host's virtual tape library (nbcli's own, as mhvtl is to
Linux), and inject faults into it for tests.

The library lives under <root>/volmgr/vtl (nbcli.vtl); this command works on its files
directly, as mtx and robtest work on the robot's device, so it needs no daemon. It parses
the action and its words, calls nbcli.vtl.admin and prints.
"""

from __future__ import annotations

import click

from nbcli.cli import command, entry, load_cfg, root_option
from nbcli.render import echo_lines
from nbcli.status import INVALID_PARAMETER, NbuError
from nbcli.vtl import admin
from nbcli.vtl.library import Library

SYNOPSIS = """nbvtl create [--drives N] [--slots N] [--mailslots N] [--capacity SIZE]
          [--early-warning SIZE] [--barcodes FIRST..LAST] [--move-time SECONDS]
          [--speed SIZE]
nbvtl status [-l]
nbvtl load SLOT DRIVE | unload DRIVE [SLOT] | transfer FROM TO
nbvtl import BARCODE [--slot N] | insert BARCODE | export BARCODE | remove BARCODE
nbvtl protect BARCODE on|off
nbvtl mt DRIVE status | tell | rewind | eom | fsf N | bsf N | fsr N | bsr N | seek N
          | weof N
nbvtl fault write_error BARCODE BLOCK | read_error BARCODE BLOCK | load_fail BARCODE
          | drive_down DRIVE | drive_up DRIVE | clear [BARCODE ...]"""

MOVES = ("load", "unload", "transfer", "import", "insert", "export", "remove")


@command("nbvtl", SYNOPSIS)
@click.argument("action", type=click.Choice(["create", "status", "protect", "fault", "mt",
                                             *MOVES]))
@click.argument("words", nargs=-1)
@click.option("--drives", "-drives", type=click.IntRange(1, 64), default=2, show_default=True,
              help="create: number of drives.")
@click.option("--slots", "-slots", type=click.IntRange(1, 10000), default=10,
              show_default=True, help="create: number of storage slots.")
@click.option("--mailslots", "-mailslots", type=click.IntRange(0, 100), default=1,
              show_default=True, help="create: number of mail slots (import/export).")
@click.option("--capacity", "-capacity", default="64M", show_default=True,
              help="create: bytes a cartridge holds (K, M, G, T suffixes).")
@click.option("--early-warning", "-early_warning", "early_warning", default=None,
              help="create: early warning this many bytes before the end [capacity/32].")
@click.option("--barcodes", "-barcodes", default=None,
              help="create: cartridges for slots 1, 2...: FIRST..LAST or A,B,C "
                   "[A00000L6.. one per slot].")
@click.option("--move-time", "-move_time", "move_time", type=click.FloatRange(0), default=0.0,
              show_default=True, help="create: seconds each robot move takes.")
@click.option("--speed", "-speed", default="0", show_default=True,
              help="create: bytes a second each drive reads and writes (K, M, G suffixes; "
                   "0: as fast as the disk).")
@click.option("--slot", "-slot", "slot", type=click.IntRange(1), default=None,
              help="import/unload: the slot to move the cartridge to.")
@click.option("-l", "long", is_flag=True, help="status: also list cartridges and drives.")
@root_option
def cli(action: str, words: tuple[str, ...], drives: int, slots: int, mailslots: int,
        capacity: str, early_warning: str | None, barcodes: str | None, move_time: float,
        speed: str, slot: int | None, long: bool, root: str | None) -> int:
    """Create and operate this host's virtual tape library.

    \b
    EXIT STATUS
      0     done
      20    invalid parameter (a bad number, barcode, element or usage)
      83-86 mt: the drive could not be opened, written, read or positioned
      168   mt weof: the cartridge is write protected
      97    the drive is open: medium removal prevented
      98    the move or the load failed (a cartridge that will not load); mt on
            an empty drive
      164   a load into a drive that is down
      226   a library already exists; the destination element is full
      227   no library on this host; the source element is empty; no such cartridge
    """
    cfg = load_cfg(root)
    args = list(words)
    if action == "create":
        _no_words(args, action)
        lib = admin.create(cfg.root, drives, slots, mailslots, admin.parse_size(capacity),
                           admin.parse_size(early_warning) if early_warning else None,
                           barcodes, move_time, admin.parse_size(speed))
        click.echo(f"created a tape library with {drives} drives, {slots} slots and "
                   f"{mailslots} mail slots in {lib.home}")
        return 0
    lib = admin.library(cfg.root)
    if action == "status":
        _no_words(args, action)
        click.echo(admin.status_text(lib), nl=False)
        if long:
            echo_lines(_long_lines(lib))
    elif action == "protect":
        click.echo(admin.protect(lib, args))
    elif action == "fault":
        click.echo(admin.fault(lib, args))
    elif action == "mt":
        echo_lines(admin.mt(lib, args))
    else:
        click.echo(admin.move(lib, action, args, slot))
    return 0


def _no_words(args: list[str], action: str) -> None:
    if args:
        raise NbuError(INVALID_PARAMETER, f"{action} takes no words: {' '.join(args)}")


def _long_lines(lib: Library) -> list[str]:
    lines = ["", "Drives:", *("  " + d for d in admin.drive_lines(lib)), "", "Cartridges:",
             f"  {'barcode':<16} {'where':<12} {'used':>12} {'capacity':>12}  faults"]
    for c in admin.cartridges(lib):
        lines.append(f"  {c.barcode:<16} {c.where:<12} {c.used:>12} {c.capacity:>12}  "
                     f"{c.flags}")
    return lines


main = entry(cli)
