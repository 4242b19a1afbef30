"""Disk storage units: an image is fragment files plus a header file in the STU's folder.

NetBackup's BasicDisk naming: `<backupid>_C1_F<n>` for the fragments of copy 1 and
`<backupid>_C1_HDR` for its header (PIECE matches both: what `image_ids` lists, for the image
cleanup to find orphans). A fragment ends when it reaches the storage unit's maximum
fragment size. The header lists every block's CRC-32 (see checksum.py) and is written last,
atomically, after the fragments are fsynced: an image folder without a header is not an image.

Writing knows nothing of the ring; it takes memoryviews and moves them with os.write, splitting
at fragment boundaries. Fragments are opened with O_DIRECT where the file system allows it: the
blocks go from bptm's shared ring to the disk without a copy into the page cache (and without
the memory that copy would take first-touch, which is slow here), and the final fsync has
little left to do. A tail that is not a multiple of the page size is written buffered.

Reading serves any byte range of the image, block-aligned, checking each block's CRC, so a
restore of one file reads one block instead of the image. It reads with O_DIRECT too, into the
ring's page-aligned slots: read buffered, the first restore of a fresh 2 GiB image took 5 s
here (the page cache growing by the image) and the next ones 1.4 s; direct, every one takes
the time of the second. A read that cannot be direct (an unaligned buffer or offset, a file
system without O_DIRECT) is made buffered.

Place: the BasicDisk backend of storage.py (DiskStorage); bptm and bpbrm reach it only
through storage.open_unit. Imports storage, checksum, atomic and status; never an agent,
catalog or daemon.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import os
import re
import stat
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nbcli import atomic
from nbcli.media import checksum
from nbcli.media.storage import Fragment, StoredImage
from nbcli.status import (
    DISK_FULL,
    INVALID_PARAMETER,
    MEDIA_OPEN_ERROR,
    MEDIA_READ_ERROR,
    MEDIA_WRITE_ERROR,
    SYSTEM_CALL_FAILED,
    NbuError,
)

HDR_MAGIC = "NBCLI_DISK_IMAGE 1"
_O_DIRECT = getattr(os, "O_DIRECT", 0)
DIRECT_ALIGN = 4096  # O_DIRECT wants page-aligned lengths (the ring's slots are page-aligned)


def fragment_name(backupid: str, num: int) -> str:
    return f"{backupid}_C1_F{num}"


def header_name(backupid: str) -> str:
    return f"{backupid}_C1_HDR"


# A fragment's or header's name; the backup id as bpbrm_delete accepts it (<name>_<digits>).
PIECE = re.compile(r"(?P<backupid>[A-Za-z0-9][A-Za-z0-9_.+-]*_[0-9]+)_C1_(?:F[1-9][0-9]*|HDR)\Z")


def mount(path: str) -> Path:
    """Check a disk STU folder is there and writable (the disk "mount" of seed step 10)."""
    folder = Path(path)
    if not folder.is_dir():
        raise NbuError(MEDIA_OPEN_ERROR, f"storage unit folder {path} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NbuError(MEDIA_OPEN_ERROR, f"storage unit folder {path} is not writable")
    return folder


class DiskStorage:
    """A BasicDisk storage unit: a folder on this media server (storage.Storage)."""

    noun = "disk storage unit"

    def __init__(self, label: str, path: str) -> None:
        self.label = label
        self.path = path  # as the unit's record says it (the job's details show it so)
        self.folder = Path(path)

    @classmethod
    def from_stu(cls, stu: Mapping[str, Any]) -> DiskStorage:
        path = stu.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise NbuError(INVALID_PARAMETER,
                           f"storage unit folder {path!r} is not an absolute path")
        return cls(str(stu.get("label", "")), path)

    def mount(self) -> str:
        mount(self.path)
        return f"{self.noun} {self.label} ({self.path})"

    def open_writer(self, backupid: str, block_size: int, max_fragment: int) -> ImageWriter:
        return ImageWriter(self.folder, backupid, max_fragment, block_size)

    def open_reader(self, image: StoredImage, fragment: int = 1,
                    block: int = 0) -> ImageReader:
        reader = ImageReader([{"offset": f.offset, "bytes": f.bytes, "path": f.path}
                              for f in image.fragments],
                             self.folder / header_name(image.backupid), image.checksum,
                             image.block_size, image.stream_bytes)
        reader.seek(image.block_index(fragment, block))
        return reader

    def delete_image(self, backupid: str, fragments: Sequence[str] = ()) -> int:
        if not self.folder.is_dir():
            raise NbuError(MEDIA_OPEN_ERROR, f"storage unit folder {self.folder} is not there")
        try:
            removed = remove_image(self.folder, backupid)
        except OSError as e:
            raise NbuError(SYSTEM_CALL_FAILED, f"cannot remove {backupid} from {self.folder}: "
                                               f"{e.strerror}") from e
        left = [f for f in fragments if os.path.lexists(f)]
        if left:
            raise NbuError(MEDIA_OPEN_ERROR, f"fragment {left[0]} of {backupid} is still there")
        return removed

    def image_ids(self) -> dict[str, float]:
        if not self.folder.is_dir():
            raise NbuError(MEDIA_OPEN_ERROR, f"storage unit folder {self.folder} is not there")
        return stored_images(self.folder)

    def free_space(self) -> int:
        try:
            st = os.statvfs(self.folder)
        except OSError as e:
            raise NbuError(MEDIA_OPEN_ERROR, f"storage unit folder {self.folder}: "
                                             f"{e.strerror}") from e
        return st.f_bavail * st.f_frsize


class ImageWriter:
    """Writes one image's stream into fragments, block CRCs alongside."""

    def __init__(self, folder: Path, backupid: str, max_fragment: int, block_size: int) -> None:
        self.folder = folder
        self.backupid = backupid
        self.max_fragment = max(max_fragment, 512)
        self.block_size = block_size
        self.fragments: list[Fragment] = []
        self.block_crcs: list[int] = []
        self.crc = checksum.ImageCrc(block_size)
        self._fd = -1
        self._direct = False
        self._left = 0
        self._header = False  # whether finish wrote the header (abort then removes it too)

    @property
    def total(self) -> int:
        return self.crc.length

    @property
    def checksum(self) -> str:
        return self.crc.text

    @property
    def where(self) -> str:
        return str(self.folder)

    frame_room = (0, 0)  # blocks go to the fragment files as they are (O_DIRECT from the ring)

    def write_block(self, data: memoryview, block_crc: int | None = None,
                    slot: memoryview | None = None) -> None:
        """Append one block of the stream (full blocks except the last); `block_crc` is its
        CRC-32 when the caller has it already (bptm child computes it as it receives)."""
        if block_crc is None:
            block_crc = zlib.crc32(data)
        self.block_crcs.append(block_crc)
        self.crc.add(block_crc, len(data))
        while data:
            if self._left == 0:
                self._next_fragment()
            n = min(self._left, len(data))
            self._write_all(data[:n])
            self.fragments[-1].bytes += n
            self._left -= n
            data = data[n:]

    def _next_fragment(self) -> None:
        self._close_fragment()
        num = len(self.fragments) + 1
        path = self.folder / fragment_name(self.backupid, num)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                self._fd = os.open(path, flags | _O_DIRECT, 0o600)
                self._direct = bool(_O_DIRECT)
            except OSError as e:
                if e.errno != errno.EINVAL:  # tmpfs and others refuse O_DIRECT
                    raise
                self._fd = os.open(path, flags, 0o600)
                self._direct = False
        except OSError as e:
            raise self._media_error(e, path) from e
        offset = self.fragments[-1].offset + self.fragments[-1].bytes if self.fragments else 0
        self.fragments.append(Fragment(num, str(path), offset, 0))
        self._left = self.max_fragment

    def _write_all(self, data: memoryview) -> None:
        if self._direct and len(data) % DIRECT_ALIGN:
            self._buffered()  # the stream's tail: O_DIRECT takes whole pages only
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as e:
            if e.errno == errno.EINVAL and self._direct:
                self._buffered()  # memory or offset not aligned after all: go on buffered
                return self._write_all(data)
            raise self._media_error(e, Path(self.fragments[-1].path)) from e

    def _buffered(self) -> None:
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self._direct = False

    def _close_fragment(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.fsync(fd)
            except OSError as e:
                os.close(fd)
                raise self._media_error(e, Path(self.fragments[-1].path)) from e
            os.close(fd)

    @staticmethod
    def _media_error(e: OSError, path: Path) -> NbuError:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return NbuError(DISK_FULL, f"no space left writing {path}")
        return NbuError(MEDIA_WRITE_ERROR, f"{path}: {e.strerror}")

    def finish(self) -> list[Fragment]:
        """Make the fragments durable and write the header; the image is on disk now."""
        self._close_fragment()
        lines = [HDR_MAGIC, f"BACKUP_ID {self.backupid}", f"BLOCK_SIZE {self.block_size}",
                 f"STREAM_BYTES {self.total}", f"CHECKSUM {self.crc.text}",
                 f"FRAGMENTS {len(self.fragments)}",
                 "BLOCK_CRCS " + "".join(f"{c:08x}" for c in self.block_crcs)]
        try:
            atomic.write_text(self.folder / header_name(self.backupid), "\n".join(lines) + "\n",
                              mode=0o600)
        except OSError as e:
            raise self._media_error(e, self.folder / header_name(self.backupid)) from e
        self._header = True
        return self.fragments

    def abort(self) -> None:
        """Remove whatever this image wrote: a failed backup leaves nothing behind. Only the
        files this writer made: a writer that failed to create a fragment because another
        has it (the same backup id) must not remove the other's (bpbrm's clean-up after a
        dead bptm removes by name, remove_image)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        mine = [Path(f.path) for f in self.fragments]
        if self._header:
            mine.append(self.folder / header_name(self.backupid))
        removed = 0
        for p in mine:
            try:
                p.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        if removed:
            atomic.fsync_dir(self.folder)


def remove_image(folder: Path, backupid: str) -> int:
    """Delete an image's fragments and header from a disk STU; returns files removed."""
    removed = 0
    for p in folder.glob(f"{backupid}_C1_*"):
        try:
            p.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        atomic.fsync_dir(folder)
    return removed


def stored_images(folder: Path) -> dict[str, float]:
    """Backup id -> newest mtime of its pieces, for every regular file in `folder` named as
    a fragment or header of an image (PIECE); other files, and links, are none of ours."""
    out: dict[str, float] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                m = PIECE.match(entry.name)
                if not m:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we looked (an abort, a delete)
                if stat.S_ISREG(st.st_mode):
                    out[m["backupid"]] = max(out.get(m["backupid"], 0.0), st.st_mtime)
    except OSError as e:
        raise NbuError(MEDIA_OPEN_ERROR, f"cannot list storage unit folder {folder}: "
                                         f"{e.strerror}") from e
    return out


class ImageReader:
    """Reads blocks of an image from its fragments, checking each against its CRC."""

    def __init__(self, fragments: list[dict[str, Any]], header: Path, checksum_text: str,
                 block_size: int, stream_bytes: int) -> None:
        self.fragments = sorted(fragments, key=lambda f: int(f["offset"]))
        self.starts = [int(f["offset"]) for f in self.fragments]
        self.block_size = block_size
        self.stream_bytes = stream_bytes
        self.block_crcs = self._load_crcs(header, checksum_text)
        self._fds: dict[tuple[int, bool], int] = {}  # (fragment, direct) -> fd
        self.bytes_read = 0
        self.position = 0  # the block `read` reads next

    def seek(self, index: int) -> None:
        self.position = index

    def read(self, into: memoryview) -> int:
        """The block at the position (storage.ImageReader); 0 past the end."""
        if self.position * self.block_size >= self.stream_bytes:
            return 0
        n = self.read_block(self.position, into)
        self.position += 1
        return n

    def _load_crcs(self, header: Path, checksum_text: str) -> list[int]:
        try:
            fields = dict(line.split(" ", 1) for line in header.read_text().splitlines()[1:])
        except (OSError, ValueError) as e:
            raise NbuError(MEDIA_READ_ERROR, f"cannot read image header {header}: {e}") from e
        hexes = fields.get("BLOCK_CRCS", "").strip()
        crcs = [int(hexes[i:i + 8], 16) for i in range(0, len(hexes), 8)]
        combined = checksum.format_crc(
            checksum.combine_blocks(crcs, self.block_size, self.stream_bytes))
        # The catalog on the master holds the image checksum; the block list on the storage
        # unit is trusted only if it adds up to it.
        if combined != checksum_text or int(fields.get("STREAM_BYTES", -1)) != self.stream_bytes:
            raise NbuError(MEDIA_READ_ERROR,
                           f"image header {header} does not match the catalog checksum")
        return crcs

    def read_block(self, index: int, into: memoryview) -> int:
        """Read block `index` into `into`; return its length. Status 85 if it is corrupt."""
        start = index * self.block_size
        length = min(self.block_size, self.stream_bytes - start)
        got = 0
        while got < length:
            frag_i = bisect.bisect_right(self.starts, start + got) - 1
            frag = self.fragments[frag_i]
            local = start + got - int(frag["offset"])
            n = min(length - got, int(frag["bytes"]) - local)
            k = self._pread(frag_i, into[got:], n, local)
            if k <= 0:
                raise NbuError(MEDIA_READ_ERROR,
                               f"fragment {frag['path']} is shorter than the catalog says")
            got += k
        self.bytes_read += length
        if zlib.crc32(into[:length]) != self.block_crcs[index]:
            raise NbuError(MEDIA_READ_ERROR, f"block {index} of the image fails its checksum")
        return length

    def _pread(self, frag_i: int, into: memoryview, n: int, offset: int) -> int:
        """Up to `n` bytes of fragment `frag_i` at `offset` into `into`: direct when the
        offset and a length rounded up to whole pages fit (O_DIRECT reads whole pages; a read
        past the end of the file comes back short), else buffered."""
        whole = -(-n // DIRECT_ALIGN) * DIRECT_ALIGN
        if _O_DIRECT and offset % DIRECT_ALIGN == 0 and whole <= len(into):
            try:
                return min(n, os.preadv(self._fd(frag_i, direct=True), [into[:whole]], offset))
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise NbuError(MEDIA_READ_ERROR,
                                   f"cannot read fragment {self.fragments[frag_i]['path']}: "
                                       f"{e.strerror}") from e
        return os.preadv(self._fd(frag_i, direct=False), [into[:n]], offset)

    def _fd(self, frag_i: int, direct: bool) -> int:
        key = (frag_i, direct)
        if key not in self._fds:
            path = str(self.fragments[frag_i]["path"])
            try:
                self._fds[key] = os.open(path, os.O_RDONLY | (_O_DIRECT if direct else 0))
            except OSError as e:
                if direct and e.errno == errno.EINVAL:  # tmpfs and others refuse O_DIRECT
                    self._fds[key] = self._fd(frag_i, direct=False)
                    return self._fds[key]
                raise NbuError(MEDIA_OPEN_ERROR,
                               f"cannot open fragment {path}: {e.strerror}") from e
        return self._fds[key]

    def close(self) -> None:
        for fd in set(self._fds.values()):
            os.close(fd)
        self._fds.clear()
