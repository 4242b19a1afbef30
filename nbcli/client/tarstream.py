"""The image stream's tar format: POSIX ustar headers and pax records, packed and parsed by hand.

An image is a POSIX pax/ustar archive (docs/protocol.md, "Image stream") so that GNU tar can
read one in an emergency. Python's tarfile costs 3-10x more per small file than one
`struct.pack` per header (reference/perf-baseline.md), so it stays off the data path: bpbkar
packs headers here straight into its send buffer, tar-restore parses them in place.

A member whose fields do not fit ustar gets a pax extended header ('x') in front of it: long
path or link target, sub-second mtime, size above 8 GiB, ids above 2097151, long owner names.
Values that are not UTF-8 are stored as raw bytes with hdrcharset=BINARY (GNU tar 1.34 warns
that it does not know the keyword, and reads the bytes back exactly). The reader also takes
GNU tar's own forms (././@LongLink 'L'/'K' members, base-256 numbers) so GNU archives restore.

No I/O here, and nothing from nbcli is imported: both agents and the tests build on this.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
END_OF_ARCHIVE = bytes(2 * BLOCK)

# name, numbers (mode uid gid size mtime + 8 checksum spaces), typeflag, linkname, magic and
# version, uname, gname, devmajor + devminor, prefix.
_PACK = struct.Struct("100s56sc100s8s32s32s16s155s12x")
_NUMS = b"%07o\0%07o\0%07o\0%011o\0%011o\0        "
_MAGIC = b"ustar\x0000"
_UNPACK = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")

MAX_ID = 0o7777777  # 8-byte octal field
MAX_SIZE = 0o77777777777  # 12-byte octal field: 8 GiB - 1
NS = 1_000_000_000
PAX_NAME = b"././@PaxHeader"
# A pax header or GNU long name larger than this is not ours and not sane: refuse it rather
# than allocate whatever a corrupt size field says.
MAX_EXTENDED = 1 << 20

REGULAR = b"0"
HARDLINK = b"1"
SYMLINK = b"2"
CHARDEV = b"3"
BLOCKDEV = b"4"
DIRECTORY = b"5"
FIFO = b"6"
PAX_LOCAL = b"x"
PAX_GLOBAL = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"


class ArchiveError(Exception):
    """The bytes are not a valid tar stream (tar-restore's status 183)."""


def padding(size: int) -> int:
    """Zero bytes after `size` data bytes, up to the next 512-byte block."""
    return -size % BLOCK


def byte_sum(block: bytes | bytearray | memoryview, off: int = 0) -> int:
    """Sum of the 512 bytes at block[off:], as tar's header checksum counts them.

    Adler-32's low half is 1 + the byte sum mod 65521, and 256 bytes sum to at most 65280:
    two adler32 calls in C cost an eighth of Python's sum() over 512 bytes.
    """
    view = memoryview(block)
    return ((zlib.adler32(view[off:off + 256]) & 0xFFFF)
            + (zlib.adler32(view[off + 256:off + BLOCK]) & 0xFFFF) - 2)


def _checksum_into(buf: bytearray | memoryview, off: int) -> None:
    buf[off + 148:off + 155] = b"%06o\0" % byte_sum(buf, off)


def pack_ustar_into(buf: bytearray | memoryview, off: int, name: bytes, typeflag: bytes,
                    mode: int, uid: int, gid: int, size: int, mtime: int, link: bytes = b"",
                    uname: bytes = b"", gname: bytes = b"", dev: bytes = b"",
                    prefix: bytes = b"") -> None:
    """One ustar header block at buf[off:off+512]; every field must already fit.

    `dev` is the packed devmajor/devminor pair (see `device_field`), empty for other types.
    """
    _PACK.pack_into(buf, off, name, _NUMS % (mode, uid, gid, size, mtime), typeflag, link,
                    _MAGIC, uname, gname, dev, prefix)
    _checksum_into(buf, off)


def device_field(major: int, minor: int) -> bytes:
    return b"%07o\0%07o\0" % (major, minor)


def split_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a name too long for the name field, or None when no split fits."""
    cut = name.rfind(b"/", 0, 156)
    rest = name[cut + 1:]
    if cut <= 0 or not rest or len(rest) > 100:
        return None
    return name[:cut], rest


def pax_record(key: bytes, value: bytes) -> bytes:
    """`<len> key=value\\n`, where len counts the whole record including its own digits."""
    n = len(key) + len(value) + 3
    total = n + len(str(n))
    if len(str(total)) != len(str(n)):
        total += 1
    return b"%d %s=%s\n" % (total, key, value)


def pax_time(ns: int) -> bytes:
    """Seconds with the fraction GNU tar writes (trailing zeros dropped), sign kept."""
    sign = b"-" if ns < 0 else b""
    sec, frac = divmod(abs(ns), NS)
    if not frac:
        return b"%s%d" % (sign, sec)
    return b"%s%d.%s" % (sign, sec, (b"%09d" % frac).rstrip(b"0"))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def pax_records(name: bytes, link: bytes, size: int, uid: int, gid: int, uname: bytes,
                gname: bytes, mtime_ns: int) -> bytes:
    """The pax records a member needs (empty when plain ustar holds it all)."""
    recs = []
    if len(name) > 100 and split_name(name) is None:
        recs.append(pax_record(b"path", name))
    if len(link) > 100:
        recs.append(pax_record(b"linkpath", link))
    if size > MAX_SIZE:
        recs.append(pax_record(b"size", b"%d" % size))
    if uid > MAX_ID:
        recs.append(pax_record(b"uid", b"%d" % uid))
    if gid > MAX_ID:
        recs.append(pax_record(b"gid", b"%d" % gid))
    if len(uname) > 32:
        recs.append(pax_record(b"uname", uname))
    if len(gname) > 32:
        recs.append(pax_record(b"gname", gname))
    if mtime_ns % NS or not 0 <= mtime_ns <= MAX_SIZE * NS:
        recs.append(pax_record(b"mtime", pax_time(mtime_ns)))
    if recs and not all(_is_utf8(r) for r in recs):
        recs.insert(0, pax_record(b"hdrcharset", b"BINARY"))
    return b"".join(recs)


def pack_pax_into(buf: bytearray | memoryview, off: int, recs: bytes) -> None:
    """The 'x' header block for `recs` at buf[off:]; the caller appends recs and padding."""
    pack_ustar_into(buf, off, PAX_NAME, PAX_LOCAL, 0o644, 0, 0, len(recs), 0)


_PAX_BLOCKS: dict[int, bytes] = {}


def pax_header_block(length: int) -> bytes:
    """The 'x' header block for `length` bytes of records: it differs only by that length,
    so each is built once (nearly every member of a stream uses the same one or two)."""
    block = _PAX_BLOCKS.get(length)
    if block is None:
        buf = bytearray(BLOCK)
        pack_ustar_into(buf, 0, PAX_NAME, PAX_LOCAL, 0o644, 0, 0, length, 0)
        block = _PAX_BLOCKS[length] = bytes(buf)
    return block


def mtime_record(sec: int, frac: int) -> bytes:
    """The pax record of a non-negative mtime with a fraction (as pax_record/pax_time)."""
    value = (b"%d.%09d" % (sec, frac)).rstrip(b"0")
    n = len(value) + 8  # "mtime", " ", "=", "\n" and the value; then the length's digits
    total = n + len(str(n))
    if len(str(total)) != len(str(n)):
        total += 1
    return b"%d mtime=%s\n" % (total, value)


def pack_simple_into(buf: bytearray | memoryview, off: int, name: bytes, typeflag: bytes,
                     mode: int, uid: int, gid: int, size: int, sec: int, uname: bytes,
                     gname: bytes) -> None:
    """A member whose every field fits ustar: one pack and the checksum (the fast path of
    pack_member_into, for names up to 100 bytes, no link, no device)."""
    _PACK.pack_into(buf, off, name, _NUMS % (mode, uid, gid, size, sec), typeflag, b"",
                    _MAGIC, uname, gname, b"", b"")
    buf[off + 148:off + 155] = b"%06o\0" % byte_sum(buf, off)


def pack_member_into(buf: bytearray | memoryview, off: int, name: bytes, typeflag: bytes,
                     mode: int, uid: int, gid: int, size: int, mtime_ns: int,
                     link: bytes = b"", uname: bytes = b"", gname: bytes = b"",
                     dev: bytes = b"") -> None:
    """A member's ustar block; fields too big for it hold 0 (its pax records carry them)."""
    prefix = b""
    if len(name) > 100:
        prefix, name = split_name(name) or (b"", name[:100])
    sec = mtime_ns // NS
    pack_ustar_into(buf, off, name, typeflag, mode, uid if uid <= MAX_ID else 0,
                    gid if gid <= MAX_ID else 0, size if size <= MAX_SIZE else 0,
                    sec if 0 <= sec <= MAX_SIZE else 0, link[:100], uname[:32], gname[:32],
                    dev, prefix)


@dataclass(slots=True)
class Member:
    """One archive member as a reader sees it, extended headers applied."""

    name: bytes
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    link: bytes = b""
    uname: bytes = b""
    gname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    sparse: bool = field(default=False)


def header(m: Member) -> bytes:
    """Every header block of `m`: a pax header when needed, then its ustar block."""
    recs = pax_records(m.name, m.link, m.size, m.uid, m.gid, m.uname, m.gname, m.mtime_ns)
    out = bytearray(BLOCK)
    if recs:
        ext = bytearray(BLOCK)
        pack_pax_into(ext, 0, recs)
        out = ext + recs + bytes(padding(len(recs))) + out
    dev = device_field(m.devmajor, m.devminor) if m.type in (CHARDEV, BLOCKDEV) else b""
    pack_member_into(out, len(out) - BLOCK, m.name, m.type, m.mode, m.uid, m.gid, m.size,
                     m.mtime_ns, m.link, m.uname, m.gname, dev)
    return bytes(out)


# --- reading ------------------------------------------------------------------------------

def _number(raw: bytes) -> int:
    """An octal field, or GNU tar's base-256 form (first byte 0x80 or 0xff)."""
    if raw and raw[0] & 0x80:
        value = int.from_bytes(raw[1:], "big")
        return value - (1 << (8 * len(raw) - 8)) if raw[0] == 0xFF else value
    text = raw.split(b"\0", 1)[0]
    try:
        return int(text, 8) if text.strip() else 0  # int() allows the spaces tar pads with
    except ValueError:
        raise ArchiveError(f"bad number field {raw!r}") from None


def _cstr(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def extended_size(block: bytes | memoryview) -> tuple[bytes, int] | None:
    """(type, size) of an extended header block (pax 'x'/'g', GNU 'L'/'K'), checksum
    checked; None for any other block. Half the blocks of a stream are these: they need no
    Member."""
    kind = bytes(block[156:157])
    if kind not in (PAX_LOCAL, b"g", b"L", b"K"):
        return None
    stored = _number(bytes(block[148:156]))
    total = byte_sum(block) - sum(block[148:156]) + 8 * 32
    if stored != total:
        return None  # let parse_header judge it (and its signed-checksum variant)
    size = _number(bytes(block[124:136]))
    if size < 0:
        raise ArchiveError("negative member size")
    return kind, size


def parse_header(block: bytes | memoryview) -> Member:
    """The member a 512-byte header block describes (before extended headers apply)."""
    (name, mode, uid, gid, size, mtime, chk, typeflag, link, magic, _version, uname, gname,
     major, minor, prefix) = _UNPACK.unpack(block)
    total = byte_sum(block) - sum(chk) + 8 * 32
    stored = _number(chk)
    if stored != total and stored != total - 256 * sum(b > 127 for b in bytes(block)):
        raise ArchiveError("header checksum mismatch")
    name = _cstr(name)
    if magic == b"ustar\0" and prefix[0]:
        name = _cstr(prefix) + b"/" + name
    m = Member(name, typeflag if typeflag != b"\0" else REGULAR, _number(mode) & 0o7777,
               _number(uid), _number(gid), _number(size), _number(mtime) * NS, _cstr(link),
               _cstr(uname), _cstr(gname))
    if typeflag in (CHARDEV, BLOCKDEV):
        m.devmajor, m.devminor = _number(major), _number(minor)
    if m.size < 0:
        raise ArchiveError("negative member size")
    return m


def parse_pax(data: bytes) -> dict[bytes, bytes]:
    """The records of a pax extended header's data."""
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 24)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ArchiveError("bad pax record length") from None
        end = pos + length
        if space < 0 or length < 5 or end > len(data) or data[end - 1] != 0x0A:
            raise ArchiveError("bad pax record")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise ArchiveError("pax record without '='")
        out[key] = value
        pos = end
    return out


def _pax_ns(value: bytes) -> int:
    neg = value.startswith(b"-")
    sec, _, frac = value.lstrip(b"-").partition(b".")
    if not sec.isdigit() or (frac and not frac.isdigit()):
        raise ArchiveError(f"bad pax time {value!r}")
    ns = int(sec) * NS + int(frac[:9].ljust(9, b"0") or b"0")
    return -ns if neg else ns


def _pax_int(value: bytes) -> int:
    if not value.isdigit():
        raise ArchiveError(f"bad pax number {value!r}")
    return int(value)


# pax keyword -> (Member field, how its value reads); other keywords (atime, ctime, comment,
# charset, hdrcharset, SCHILY.*) are not restored.
_PAX_FIELDS: dict[bytes, tuple[str, Callable[[bytes], object]]] = {
    b"path": ("name", bytes), b"linkpath": ("link", bytes), b"size": ("size", _pax_int),
    b"uid": ("uid", _pax_int), b"gid": ("gid", _pax_int), b"uname": ("uname", bytes),
    b"gname": ("gname", bytes), b"mtime": ("mtime_ns", _pax_ns)}


def apply_pax(m: Member, recs: dict[bytes, bytes]) -> None:
    """Let extended records override the ustar fields they name."""
    for key, value in recs.items():
        known = _PAX_FIELDS.get(key)
        if known is not None:
            setattr(m, known[0], known[1](value))
        elif key.startswith(b"GNU.sparse."):
            m.sparse = True

def member_at(data: bytes | memoryview, offset: int) -> tuple[Member, int]:
    """The member whose first header block (pax included) is at data[offset:], and the length
    of its header blocks: what a catalog entry's offset and hdr_len point at."""
    view = memoryview(data)
    pos, recs = offset, {}
    while True:
        block = view[pos:pos + BLOCK]
        if len(block) < BLOCK:
            raise ArchiveError(f"no header at offset {pos}")
        m = parse_header(block)
        pos += BLOCK
        if m.type != PAX_LOCAL:
            break
        recs.update(parse_pax(bytes(view[pos:pos + m.size])))
        pos += m.size + padding(m.size)
    apply_pax(m, recs)
    return m, pos - offset
