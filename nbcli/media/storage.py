"""Storage: what bptm and bpbrm need from the place images live, and which backend is which.

Place: the media server's agents (bptm_backup, bptm_restore, bpbrm_backup, bpbrm_delete,
bpbrm_list) see
a storage unit only through `open_unit(stu)` and the three protocols below; the backend
modules (disk.py: BasicDisk folders) implement them. This module imports no backend at import
time - `open_unit` imports the one a unit's type names - and never imports catalog, daemons
or the agents.

The model is NetBackup's: an image is one stream of bytes cut into blocks of `block_size`
(the last may be short), stored as numbered fragments, each ending when it reaches the unit's
maximum fragment size. Block k of the image is bytes [k * block_size, (k + 1) * block_size).
A tape drive fits it as one tape file per fragment, a block per tape record, positioned by
(tape file, record); an object store as one object per fragment, written whole when the
fragment ends (a writer may hold a fragment in memory until then: nothing needs append).

Adding a backend: a module with a class satisfying `Backend` (a `from_stu` constructor and
the `Storage` methods), one line in `BACKENDS` mapping its storage unit type to it, and one
line in tests/storage/backends.py to run the conformance suite against it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nbcli.status import INVALID_PARAMETER, NbuError

BASIC_DISK = 1  # the storage unit type of a BasicDisk folder (bpstuadd -dt 1; nbemm's "stype")
MEDIA_MANAGER = 2  # a tape storage unit (bpstuadd -dt 2: robot, drives and media of Media Manager)

# storage unit type -> "module:class" of its backend, imported on first use. A unit that does
# not say its type is a disk folder: restore and delete requests carry only label and path.
BACKENDS: dict[int, str] = {
    BASIC_DISK: "nbcli.media.disk:DiskStorage",
    MEDIA_MANAGER: "nbcli.media.tape:TapeStorage",
}


@dataclass
class Fragment:
    """One fragment of a stored image, as the catalog keeps it (image_add's "fragments").

    `path` is where the backend finds it: a file for disk; another backend puts its own
    locator there (a tape's media id and file number, an object's key). A tape fragment also
    fills the last five fields (NetBackup's FRAG id, file_num, offset, block_size and density
    code); disk leaves them at their defaults, and `as_dict` sends them only for a fragment on
    tape (the catalog's TAPE_FRAGMENT lines keep them)."""

    num: int
    path: str
    offset: int  # where the fragment starts in the image stream
    bytes: int
    media_id: str = ""      # tape: the medium holding it
    file_num: int = -1      # tape: the tape file number of its backup header
    block_offset: int = -1  # tape: logical block (from BOT) of its first data record
    block_size: int = 0     # tape: bytes of each data record (the last may be short)
    density: int = 0        # tape: NetBackup's density code of the medium (6 hcart)

    def as_dict(self, host: str) -> dict[str, object]:
        d: dict[str, object] = {"num": self.num, "path": self.path, "host": host,
                                "offset": self.offset, "bytes": self.bytes}
        if self.media_id:
            d.update(media_id=self.media_id, file_num=self.file_num,
                     block_offset=self.block_offset, block_size=self.block_size,
                     density=self.density)
        return d


@dataclass
class StoredImage:
    """What a reader needs of an image: the catalog's record of it (from bprd's request)."""

    backupid: str
    fragments: list[Fragment]  # in stream order, numbered from 1
    checksum: str  # the image's CRC as the catalog holds it (checksum.ImageCrc.text)
    block_size: int
    stream_bytes: int

    @classmethod
    def from_request(cls, im: Mapping[str, Any]) -> StoredImage:
        frags = sorted(im["fragments"], key=lambda f: int(f["offset"]))
        return cls(str(im["backupid"]),
                   [Fragment(i + 1, str(f["path"]), int(f["offset"]), int(f["bytes"]),
                             str(f.get("media_id", "")), int(f.get("file_num", -1)),
                             int(f.get("block_offset", -1)), int(f.get("block_size", 0)),
                             int(f.get("density", 0)))
                    for i, f in enumerate(frags)],
                   str(im["checksum"]), int(im["block_size"]), int(im["stream_bytes"]))

    def block_index(self, fragment: int, block: int) -> int:
        """Image block number of block `block` of fragment `fragment` (1-based): the
        `block`-th block that starts in that fragment. (Fragments of a unit whose fragment
        size is a multiple of the block size start on a block boundary, so this is the
        fragment's own block `block`; a tape record number.)"""
        start = self.fragments[fragment - 1].offset
        return -(-start // self.block_size) + block

    def locate(self, index: int) -> tuple[int, int]:
        """(fragment, block in it) of image block `index`: the inverse of block_index."""
        for frag in reversed(self.fragments):
            start = self.block_index(frag.num, 0)
            if start <= index:
                return frag.num, index - start
        return 1, index

    @property
    def blocks(self) -> int:
        return -(-self.stream_bytes // self.block_size)


class ImageWriter(Protocol):
    """Writes one image: blocks in stream order, fragments cut at the unit's size limit.

    Contract:
    - `write_block` appends one block (every block full but the last); it splits the stream
      into a new fragment when the current one reaches `max_fragment` bytes, so no fragment
      is larger. A write the unit has no room for raises NbuError(DISK_FULL) (129; a tape
      backend that cannot go on to another volume says so with its own media status: 96).
    - Nothing a writer stores is visible to a reader before `finish` returns; `finish`
      makes the image durable (fsync, a header written last, the tape mark) and returns its
      fragments for the catalog.
    - `abort`, at any point (also after `finish`, when bpbrm does not commit), removes all
      this writer stored and nothing else; it does not raise for what is already gone.
    - A writer touches only files/objects/tape files it created: two writers of different
      images never share one, and a second writer of the same image id fails (NbuError)
      rather than overwrite the first's.
    """

    @property
    def total(self) -> int:
        """Bytes of the stream written so far."""

    @property
    def checksum(self) -> str:
        """The image's CRC of all written blocks (checksum.ImageCrc.text)."""

    @property
    def where(self) -> str:
        """Where the blocks go, for the job's details (a folder, a drive and volume)."""

    @property
    def frame_room(self) -> tuple[int, int]:
        """Bytes before and after a block that the writer may use in the memory holding it
        (write_block's `slot`): a virtual tape drive puts a record's framing there and
        writes it with no copy; (0, 0) for a writer that needs none."""

    def write_block(self, data: memoryview, block_crc: int | None = None,
                    slot: memoryview | None = None) -> None:
        """Append one block; `block_crc` is its CRC-32 when the caller has it already;
        `slot`, when given, holds `data` at frame_room[0] with frame_room[1] bytes after it
        that the writer may overwrite (bptm's ring slot)."""

    def finish(self) -> list[Fragment]:
        """Make the image durable and complete; its fragments in stream order."""

    def abort(self) -> None:
        """Remove whatever this writer stored."""


class ImageReader(Protocol):
    """Reads an image's blocks, each checked against its CRC before it is returned.

    Contract: the reader starts where `Storage.open_reader` positioned it; `read` returns the
    block there and moves on to the next (0 past the last block); `seek` moves to any block.
    A restore seeks forward only, so a sequential medium can serve it by spacing forward; a
    backward seek is allowed and may be slow (a rewind). A block whose bytes do not match
    its CRC, or a fragment shorter than the catalog says, is NbuError(MEDIA_READ_ERROR) (85).
    """

    block_size: int
    bytes_read: int  # bytes of blocks read from the medium so far

    def seek(self, index: int) -> None:
        """Position to image block `index` (0-based)."""

    def read(self, into: memoryview) -> int:
        """Read the block at the position into `into` (len >= block_size); its length."""

    def close(self) -> None:
        """Release the files, drive or connections the reader holds."""


class Storage(Protocol):
    """One storage unit on this media server, as bptm and bpbrm use it.

    Constructing one does no I/O (bpbrm builds one to clean up after a dead bptm, bptm one per
    image of a restore); `mount` checks the unit is usable and is where a tape is loaded.
    """

    noun: str  # what the job's details call it: "disk storage unit"

    def mount(self) -> str:
        """Make the unit ready (the disk "mount" of seed step 10, a tape load); a phrase for
        the job's details ("disk storage unit L (/path)"). NbuError(MEDIA_OPEN_ERROR) (83)
        when it is not there or not writable."""

    def open_writer(self, backupid: str, block_size: int, max_fragment: int) -> ImageWriter:
        """A writer for a new image `backupid` on this unit (mounted)."""

    def open_reader(self, image: StoredImage, fragment: int = 1,
                    block: int = 0) -> ImageReader:
        """A reader of `image` positioned at block `block` of fragment `fragment` (see
        StoredImage.block_index); the image's block CRCs are checked against the catalog's
        checksum first (85 if they do not add up)."""

    def delete_image(self, backupid: str, fragments: Sequence[str] = ()) -> int:
        """Remove every fragment and header of `backupid` from the unit; how many pieces went
        (0 when it is gone already). `fragments` are the catalog's paths of its fragments:
        NbuError(MEDIA_OPEN_ERROR) if any is still there afterwards, or if the unit is not
        there (an unmounted file system looks like an empty one)."""

    def free_space(self) -> int | None:
        """Bytes a writer could still store on the unit (for a tape: on the mounted volume;
        None when the medium cannot tell, as a real tape drive cannot)."""

    def image_ids(self) -> dict[str, float]:
        """Backup id -> when its newest piece was written (epoch seconds, this host's clock),
        for every image that has anything stored on the unit: complete, partial (a writer
        still at work, or one that died) or orphaned (its catalog entry never made or gone).
        The image cleanup removes the ids the catalog does not know; the time lets it leave
        alone what a running job may still be writing. Empty where a unit keeps images it
        cannot remove one by one (a tape). NbuError(MEDIA_OPEN_ERROR) when the unit is not
        there (an unmounted file system looks like an empty one)."""


class Backend(Protocol):
    """A backend class: builds its Storage from a storage unit's record (a classmethod)."""

    def from_stu(self, stu: Mapping[str, Any]) -> Storage:
        """The unit's Storage; NbuError(INVALID_PARAMETER) for a record it cannot use."""


def unit_type(stu: Mapping[str, Any]) -> int:
    return int(stu.get("stype", BASIC_DISK))


def backend_modules() -> tuple[str, ...]:
    """The backend modules, for a spare to import ahead."""
    return tuple(dict.fromkeys(ref.split(":")[0] for ref in BACKENDS.values()))


def open_unit(stu: Mapping[str, Any]) -> Storage:
    """The Storage of storage unit record `stu` (nbemm's row, or the label/path/stype a
    request carries), built by the backend of its type. Status 20 for a type no backend
    serves or a record the backend refuses."""
    kind = unit_type(stu)
    ref = BACKENDS.get(kind)
    if ref is None:
        raise NbuError(INVALID_PARAMETER, f"storage unit type {kind} has no storage backend")
    module, _, name = ref.partition(":")
    backend: Backend = getattr(importlib.import_module(module), name)
    return backend.from_stu(stu)
