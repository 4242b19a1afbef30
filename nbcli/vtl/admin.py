"""What an operator does to the virtual library (nbvtl): create it, look at it, move
cartridges, protect them, inject faults. Errors are NbuError with NetBackup's statuses, so
that the command only parses and prints.

Faults are kept in library.toml (state.py), where every process using the library sees them:
a write error at a logical block of a cartridge (EIO each time that block is written), a
cartridge that will not load (the load fails with EIO and the cartridge stays in its slot),
a drive that is down (its open and every op fail with EIO, and nothing loads into it).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nbcli import status
from nbcli.status import NbuError
from nbcli.vtl import mtx
from nbcli.vtl.api import ChangerError, DriveStatus, status_for
from nbcli.vtl.library import Library, VirtualChanger, home_of
from nbcli.vtl.state import BARCODE, Cartridge, Geometry, State, barcode_range
from nbcli.vtl.vdrive import VirtualDrive

_SIZE = re.compile(r"(\d+)([KMGT]?)B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
FAULTS = ("write_error", "read_error", "load_fail", "drive_down", "drive_up", "clear")


def parse_size(text: str) -> int:
    """`64M` -> 67108864 (K, M, G, T are powers of 1024); INVALID_PARAMETER otherwise."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise NbuError(status.INVALID_PARAMETER, f"size {text!r}: a number, then K, M, G or T")
    return int(m[1]) * _UNITS[m[2].upper()]


@contextmanager
def errors() -> Iterator[None]:
    """Library and changer errors as NbuError."""
    try:
        yield
    except ChangerError as e:
        raise NbuError(status_for(e), e.strerror or str(e)) from None
    except FileNotFoundError as e:
        raise NbuError(status.NO_ENTITY, f"no tape library here ({e.filename}): "
                       "create one with nbvtl create") from None
    except ValueError as e:
        raise NbuError(status.INVALID_PARAMETER, str(e).strip("'\"")) from None


def library(root: str | os.PathLike[str]) -> Library:
    lib = Library(home_of(root))
    if not lib.exists():
        raise NbuError(status.NO_ENTITY, f"no tape library under {lib.home}: "
                       "create one with nbvtl create")
    return lib


def create(root: str | os.PathLike[str], drives: int, slots: int, mailslots: int,
           capacity: int, early_warning: int | None, barcodes: str | None,
           move_time: float, speed: int = 0) -> Library:
    if not (1 <= drives <= 64 and 1 <= slots <= 10000 and 0 <= mailslots <= 100):
        raise NbuError(status.INVALID_PARAMETER, "1-64 drives, 1-10000 slots, 0-100 mail slots")
    if capacity < 4096 or move_time < 0 or speed < 0:
        raise NbuError(status.INVALID_PARAMETER,
                       "capacity of at least 4K, move time >= 0, speed >= 0")
    ew = capacity // 32 if early_warning is None else early_warning
    if not 0 <= ew < capacity:
        raise NbuError(status.INVALID_PARAMETER, "early warning must be below the capacity")
    with errors():
        codes = barcode_range(barcodes) if barcodes else \
            [f"A{n:05d}L6" for n in range(slots)]
        if len(codes) > slots:
            raise ValueError(f"{len(codes)} barcodes for {slots} slots")
        try:
            return Library.create(home_of(root), Geometry(drives, slots, mailslots, capacity,
                                                          ew, move_time, speed), codes)
        except FileExistsError:
            raise NbuError(status.ENTITY_EXISTS,
                           f"a tape library exists under {home_of(root)}") from None


def status_text(lib: Library) -> str:
    """The library as `mtx status` prints one."""
    with errors():
        return mtx.format_status(VirtualChanger(lib).inventory(), str(lib.home))


@dataclass(frozen=True)
class CartridgeLine:
    barcode: str
    where: str
    used: int
    capacity: int
    flags: str


def cartridges(lib: Library) -> list[CartridgeLine]:
    """Every cartridge the library knows (the shelf included), with its use and faults."""
    s = lib.state()
    out = []
    for code, c in sorted(s.cartridges.items()):
        where = "shelf" if c.location == "shelf" else f"{c.location} {c.element}"
        flags = [f for f, on in (("write_protected", c.write_protected),
                                 ("load_fail", c.wont_load)) if on]
        flags += [f"write_error@{b}" for b in c.write_errors]
        flags += [f"read_error@{b}" for b in c.read_errors]
        out.append(CartridgeLine(code, where, _used(lib.cartridge_path(code)), c.capacity,
                                 ",".join(flags) or "-"))
    return out


def drive_lines(lib: Library) -> list[str]:
    s = lib.state()
    return [f"drive {i}: {'DOWN' if d.down else 'UP'}"
            f"{' ' + (s.at('drive', i) or '') if s.at('drive', i) else ''}"
            for i, d in enumerate(s.drives)]


def _used(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def move(lib: Library, action: str, args: list[str], slot: int | None) -> str:
    """load SLOT DRIVE | unload DRIVE [SLOT] | transfer FROM TO | import BARCODE |
    insert BARCODE | export BARCODE | remove BARCODE: what was done, as one line."""
    robot = VirtualChanger(lib)
    with errors():
        if action == "load":
            src, drive = _ints(args, 2, "load SLOT DRIVE")
            robot.load(src, drive)
            return f"Loading media from Storage Element {src} into drive {drive}...done"
        if action == "unload":
            nums = _ints(args, 1, "unload DRIVE [SLOT]", optional=1)
            target = nums[1] if len(nums) > 1 else slot
            held = next((d for d in robot.inventory().drives if d.number == nums[0]), None)
            robot.unload(nums[0], target)
            into = target if target is not None else held.source if held else None
            return f"Unloading drive {nums[0]} into Storage Element {into}...done"
        if action == "transfer":
            src, dst = _ints(args, 2, "transfer FROM TO")
            robot.transfer(src, dst)
            return f"Transferring Storage Element {src} to {dst}...done"
        code = _barcode(args, f"{action} BARCODE")
        if action == "import":
            where = robot.inventory().find(code)
            mail = where.number if where and where.kind == "mailslot" else robot.insert(code)
            dst = slot or robot.first_free("slot")
            robot.transfer(mail, dst)
            return f"Imported {code} through mail slot {mail} into slot {dst}"
        if action == "insert":  # the operator's hand: the robot takes it in later
            return f"Inserted {code} into mail slot {robot.insert(code)}"
        if action == "export":
            where = robot.inventory().find(code)
            if where is None or where.kind != "slot":
                raise ChangerError(errno.ENOMEDIUM, f"{code} is not in a slot")
            mail = robot.first_free("mailslot")
            robot.transfer(where.number, mail)
            return f"Exported {code} from slot {where.number} to mail slot {mail}"
        if action == "remove":
            robot.remove(code)
            return f"Removed {code} from its mail slot"
    raise NbuError(status.INVALID_PARAMETER, f"unknown action {action!r}")


def protect(lib: Library, args: list[str]) -> str:
    if len(args) != 2 or args[1] not in ("on", "off"):
        raise NbuError(status.INVALID_PARAMETER, "protect BARCODE on|off")
    code = _barcode(args[:1], "protect BARCODE on|off")
    with errors(), lib.update() as s:
        _cartridge(s, code).write_protected = args[1] == "on"
    return f"{code} write protection {args[1]}"


def fault(lib: Library, args: list[str]) -> str:
    """write_error BARCODE BLOCK | read_error BARCODE BLOCK | load_fail BARCODE |
    drive_down DRIVE | drive_up DRIVE | clear [BARCODE ...]"""
    kind = args[0].replace("-", "_") if args else ""
    if kind not in FAULTS:
        raise NbuError(status.INVALID_PARAMETER, f"fault {'|'.join(FAULTS)} ...")
    rest = args[1:]
    with errors(), lib.update() as s:
        if kind in ("write_error", "read_error"):
            usage = f"fault {kind} BARCODE BLOCK"
            code = _barcode(rest[:1], usage)
            (block,) = _ints(rest[1:], 1, usage)
            c = _cartridge(s, code)
            if kind == "write_error":
                c.write_errors = sorted({*c.write_errors, block})
                return f"{code}: writing block {block} fails with EIO"
            c.read_errors = sorted({*c.read_errors, block})
            return f"{code}: reading block {block} fails with EIO"
        if kind == "load_fail":
            code = _barcode(rest, "fault load_fail BARCODE")
            _cartridge(s, code).wont_load = True
            return f"{code} will not load"
        if kind in ("drive_down", "drive_up"):
            (drive,) = _ints(rest, 1, f"fault {kind} DRIVE")
            if not 0 <= drive < len(s.drives):
                raise ChangerError(errno.EINVAL, f"no drive {drive}")
            s.drives[drive].down = kind == "drive_down"
            return f"drive {drive} {'DOWN' if kind == 'drive_down' else 'UP'}"
        for code in rest or list(s.cartridges):
            c = _cartridge(s, code)
            c.wont_load, c.write_errors, c.read_errors = False, [], []
        if not rest:
            for d in s.drives:
                d.down = False
        return "faults cleared"


def _cartridge(s: State, code: str) -> Cartridge:
    c = s.cartridges.get(code)
    if c is None:
        raise ChangerError(errno.ENOMEDIUM, f"no cartridge {code} in the library")
    return c


def _barcode(args: list[str], usage: str) -> str:
    if len(args) != 1 or not BARCODE.fullmatch(args[0]):
        raise NbuError(status.INVALID_PARAMETER, f"usage: {usage}")
    return args[0]


def _ints(args: list[str], n: int, usage: str, optional: int = 0) -> list[int]:
    if not n <= len(args) <= n + optional or not all(a.isdigit() for a in args):
        raise NbuError(status.INVALID_PARAMETER, f"usage: {usage}")
    return [int(a) for a in args]


# mt's operations nbvtl offers: name -> (needs a writable open, takes a count)
MT_OPS = {"status": (False, False), "tell": (False, False), "rewind": (False, False),
          "eom": (False, False), "fsf": (False, True), "bsf": (False, True),
          "fsr": (False, True), "bsr": (False, True), "seek": (False, True),
          "weof": (True, True)}


def mt(lib: Library, args: list[str]) -> list[str]:
    """`mt -f /dev/nstN OP [COUNT]` on a virtual drive: DRIVE OP [COUNT]; what mt prints."""
    usage = f"mt DRIVE {'|'.join(MT_OPS)} [COUNT]"
    if len(args) not in (2, 3) or args[1] not in MT_OPS or not args[0].isdigit() \
            or not all(a.isdigit() for a in args[2:]):
        raise NbuError(status.INVALID_PARAMETER, f"usage: {usage}")
    drive, op = int(args[0]), args[1]
    writable, counted = MT_OPS[op]
    count = int(args[2]) if len(args) == 3 else 1
    if len(args) == 3 and not counted:
        raise NbuError(status.INVALID_PARAMETER, f"usage: {usage}")
    d = VirtualDrive(lib, drive)
    what = "open"
    try:
        d.open(writable)
        what = "write" if writable else "position"
        try:
            out = _mt_op(d, op, count)
        finally:
            d.close()
    except OSError as e:
        raise NbuError(status_for(e, what), f"drive {drive}: {e.strerror}") from None
    return out


def _mt_op(d: VirtualDrive, op: str, count: int) -> list[str]:
    calls = {"rewind": lambda: d.rewind(), "eom": lambda: d.end_of_data(),
             "fsf": lambda: d.forward_files(count), "bsf": lambda: d.backward_files(count),
             "fsr": lambda: d.forward_records(count), "bsr": lambda: d.backward_records(count),
             "seek": lambda: d.seek(count), "weof": lambda: d.write_filemarks(count)}
    if op in calls:
        calls[op]()
        return []
    if op == "tell":
        return [f"At block {d.tell()}."]
    return status_lines(d.status())


def status_lines(st: DriveStatus) -> list[str]:
    """A drive's status as mt-st prints it (`mt status`), with the logical block added."""
    bits = [name for name, on in (("EOF", st.eof), ("BOT", st.bot), ("EOT", st.eot),
                                  ("EOD", st.eod), ("WR_PROT", st.write_protected),
                                  ("ONLINE", st.online), ("DR_OPEN", not st.loaded)) if on]
    return ["SCSI 2 tape drive:",
            f"File number={st.file_number}, block number={st.block_number}, partition=0.",
            f"Tape block size {st.block_size} bytes. Density code 0x0 (default).",
            f"Logical block {st.logical_block}.",
            "General status bits on:",
            " " + " ".join(bits)]
