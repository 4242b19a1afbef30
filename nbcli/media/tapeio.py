"""A mounted tape drive and the image writer and reader on it: the tape backend's I/O.

tape.py (TapeStorage) mounts a medium and hands its `Held` drive to a TapeWriter or a
TapeReader; the layout they write and read is described there, the record bytes in
tapefmt.py. Place: part of the tape backend; imports storage, checksum, tapefmt, status and
nbcli.vtl.api, never an agent, catalog or daemon.
"""

from __future__ import annotations

import errno
import logging
import time
import zlib
from dataclasses import dataclass

from nbcli.media import checksum, tapefmt
from nbcli.media.storage import Fragment, StoredImage
from nbcli.status import (
    CANNOT_POSITION,
    MEDIA_IN_USE,
    MEDIA_READ_ERROR,
    MEDIA_REQUEST_FAILED,
    NO_MEDIA_AVAILABLE,
    NbuError,
)
from nbcli.vtl.api import TapeDrive, status_for

log = logging.getLogger(__name__)
LABEL_READ = 256 * 1024  # enough for any header record; a larger first record is foreign


def locator(media_id: str, file_num: int, block: int, block_size: int, crc: int) -> str:
    return f"tape:{media_id}:{file_num}:{block}:{block_size}:{crc:08x}"


@dataclass(frozen=True)
class Located:
    """A fragment's place on tape, from its catalog record."""

    media_id: str
    file_num: int
    block: int       # logical block of its first data record
    block_size: int
    crc: int


def parse_locator(path: str) -> Located:
    parts = path.split(":")
    try:
        if len(parts) != 6 or parts[0] != "tape":
            raise ValueError(path)
        return Located(parts[1], int(parts[2]), int(parts[3]), int(parts[4]),
                       int(parts[5], 16))
    except ValueError:
        raise NbuError(MEDIA_READ_ERROR, f"{path!r} is not a tape fragment locator") from None


def fail(e: OSError, op: str, what: str) -> NbuError:
    return NbuError(status_for(e, op), f"{what}: {e.strerror or e}")


class Held:
    """A drive this process has open with a mounted medium; shared by the TapeStorage
    objects of one unit (bptm builds one per image), so that one process never opens a
    drive twice (st's open is exclusive)."""

    def __init__(self, key: tuple[str, int], drive: TapeDrive, media_id: str,
                 writable: bool, name: str) -> None:
        self.key = key
        self.drive = drive
        self.media_id = media_id
        self.writable = writable
        self.name = name              # "drive 0 (A00000)" for messages
        self.writer: TapeWriter | None = None
        self.user: object = None      # the reader or writer that moved the tape last
        self.bytes_read = 0           # bytes of records read from the cartridge while held

    def locate(self, block: int) -> None:
        """To logical block `block`: forward by MTSEEK; backward by spacing records (within a
        tape file: a virtual drive's MTSEEK backward starts again from BOT), else MTSEEK."""
        try:
            at = self.drive.tell()
            if block < at:
                try:
                    self.drive.backward_records(at - block)
                    return
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: a tape mark between: locate instead
                        raise
            if self.drive.tell() != block:
                self.drive.seek(block)
        except OSError as e:
            raise fail(e, "position", f"{self.name}: locate block {block}") from e

    def read_record(self, size: int = LABEL_READ) -> bytes:
        try:
            data = self.drive.read(size)
        except OSError as e:
            raise fail(e, "read", f"{self.name}: read at block "
                                   f"{self._tell_or_unknown()}") from e
        self.bytes_read += len(data)
        return data

    def _tell_or_unknown(self) -> str:
        try:
            return str(self.drive.tell())
        except OSError:
            return "?"

    def close(self) -> None:
        try:
            self.drive.close()
        except OSError as e:
            log.warning("%s: close: %s", self.name, e.strerror)


class TapeWriter:
    """Writes one image after the last on the medium: BH *, data *, CRCS * per fragment."""

    def __init__(self, held: Held, backupid: str, block_size: int, max_fragment: int,
                 density: int = 6, after: TapeWriter | None = None) -> None:
        self.held = held
        self.density = density  # NetBackup's code, for the catalog's fragments
        self.backupid = backupid
        self.block_size = block_size
        self.max_fragment = max(max_fragment, block_size)
        self.fragments: list[Fragment] = []
        self.pending: bytes | None = None   # the block that met the end of medium
        self.state = "open"                 # open | failed | full | finished | aborted
        self._why: NbuError | None = None
        self._start: tuple[int, int] | None = None   # (block, file) of the first BH
        self._wrote = False                 # whether anything was written (abort cuts)
        self._next_file = 0
        self._eh_block = -1
        self._done_crc = 0                  # CRC of the finished fragments' bytes
        self._done_bytes = 0
        self._frag_crc = checksum.ImageCrc(block_size)
        self._blocks: list[int] = []        # block CRCs of the fragment being written
        self._frag: Fragment | None = None
        if after is not None:  # the image goes on from a full medium: its next fragment
            self.fragments = list(after.fragments)
            self._done_crc, self._done_bytes = after._done_crc, after._done_bytes
        self._append_point()

    @property
    def total(self) -> int:
        return self._done_bytes + self._frag_crc.length

    @property
    def checksum(self) -> str:
        return checksum.format_crc(checksum.crc32_combine(
            self._done_crc, self._frag_crc.value, self._frag_crc.length))

    @property
    def where(self) -> str:
        return self.held.name

    def _append_point(self) -> None:
        """Position to the EH after the last image and check it (NetBackup does before it
        appends): EOD, back over the last tape mark, back one record, read it."""
        d, name = self.held.drive, self.held.name
        self.held.user = self
        try:
            d.end_of_data()
            d.backward_files(1)
        except OSError as e:
            raise fail(e, "position", f"{name}: to the end of data") from e
        try:
            d.backward_records(1)
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: a tape mark, not a record, before the last one
                raise fail(e, "position", f"{name}: to the empty header") from e
            raise NbuError(NO_MEDIA_AVAILABLE, f"{name}: the tape ends with two tape marks "
                           f"and no empty header: the medium is full") from e
        try:
            at = d.tell()
            raw = self._read_header(at)
        except OSError as e:
            raise fail(e, "position", f"{name}: reading the empty header") from e
        eh = tapefmt.decode_eh(raw)
        if eh is None and tapefmt.kind_of(raw) == "MH":
            at, eh = self._after_cut_label(at, raw)
        elif eh is None:
            at, eh = self._after_dead_writer(at, raw)
        if eh is None or eh.media_id != self.held.media_id:
            kind = tapefmt.kind_of(raw) or "data"
            raise NbuError(CANNOT_POSITION, f"{name}: the last tape file is a {kind} record, "
                           f"not an empty header: the medium is damaged")
        self._start = (at, eh.file_num)
        self._next_file = eh.file_num

    def _read_header(self, at: int) -> bytes:
        """The record at block `at` if it may be a header (b"" for a larger one: data),
        leaving the tape at `at` again."""
        try:
            raw = self.held.drive.read(LABEL_READ)
        except OSError as e:
            if e.errno != errno.ENOMEM:  # ENOMEM: a record larger than the read (st)
                raise
            raw = b""
        self.held.locate(at)
        return raw

    def _after_cut_label(self, at: int,
                         raw: bytes) -> tuple[int, tapefmt.EmptyHeader | None]:
        """The tape ends with its media header: a labelling was cut off (a bptm killed
        between the MH and the EH). The EH goes after the MH's tape mark: (its block, the
        EH); (at, None) if the MH is another medium's."""
        if tapefmt.decode_mh(raw).media_id != self.held.media_id:
            return at, None
        eh = tapefmt.EmptyHeader(self.held.media_id, 1)
        log.warning("%s: the tape ends after its media header; writing the empty header",
                    self.held.name)
        try:
            self.held.locate(at + 2)  # past the MH and its tape mark
            self.held.drive.write(tapefmt.encode_eh(eh))
            self.held.drive.write_filemarks(1)
            self.held.locate(at + 2)
        except OSError as e:
            raise fail(e, "write", f"{self.held.name}: empty header after the media "
                                   f"header") from e
        return at + 2, eh

    def _after_dead_writer(self, at: int,
                           raw: bytes) -> tuple[int, tapefmt.EmptyHeader | None]:
        """The last tape file is not an EH but a backup header, data or a CRC record: a
        writer died (a killed bptm; the drive wrote a tape mark when its file closed) in
        the middle of an image, which was never in the catalog. The EH goes back where
        that fragment's BH is: (its block, the EH); (at, None) if no BH of this medium is
        one or two tape files back."""
        d, bh_at = self.held.drive, at
        try:
            for _ in range(2):  # from data: the BH is one file back; from a CRC record, two
                if tapefmt.kind_of(raw) == "BH":
                    break
                d.backward_files(1)
                d.backward_records(1)
                bh_at = d.tell()
                raw = self._read_header(bh_at)
        except (OSError, NbuError) as e:
            log.warning("%s: no backup header before the end of data: %s", self.held.name, e)
            return at, None
        if tapefmt.kind_of(raw) != "BH":
            return at, None
        bh = tapefmt.decode_bh(raw)
        if bh.media_id != self.held.media_id:
            return at, None
        eh = tapefmt.EmptyHeader(self.held.media_id, bh.file_num)
        log.warning("%s: image %s was left unfinished at tape file %d; writing the empty "
                    "header there again", self.held.name, bh.backupid, bh.file_num)
        try:
            d.write(tapefmt.encode_eh(eh))
            d.write_filemarks(1)
            self.held.locate(bh_at)
        except OSError as e:
            raise fail(e, "write", f"{self.held.name}: empty header after an unfinished "
                                   f"image") from e
        return bh_at, eh

    def _check(self) -> None:
        if self.state != "open":
            raise self._why or NbuError(MEDIA_IN_USE, f"the writer of {self.backupid} is "
                                        f"{self.state}")

    @property
    def frame_room(self) -> tuple[int, int]:
        return self.held.drive.frame_room

    def write_block(self, data: memoryview, block_crc: int | None = None,
                    slot: memoryview | None = None) -> None:
        self._check()
        if block_crc is None:
            block_crc = zlib.crc32(data)
        n = len(data)
        if self._frag is not None and (self._frag_crc.length + n > self.max_fragment or
                                       len(self._blocks) >= tapefmt.MAX_FRAGMENT_BLOCKS):
            self._end_fragment()
        if self._frag is None:
            self._begin_fragment()
        self.held.user = self
        try:
            if slot is not None:
                self.held.drive.write_framed(slot, self.frame_room[0], n)
            else:
                self.held.drive.write(data)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._end_of_medium(data)
            raise self._failed(fail(e, "write", f"{self.held.name}: writing block "
                                                 f"{len(self._blocks)} of {self.backupid}")) \
                from e
        self._blocks.append(block_crc)
        self._frag_crc.add(block_crc, n)

    def _failed(self, err: NbuError) -> NbuError:
        if self.state == "open":
            self.state = "failed"
        self._why = self._why or err
        return self._why

    def _begin_fragment(self) -> None:
        d = self.held.drive
        self._wrote = True
        try:
            block = d.tell()
            bh = tapefmt.BackupHeader(self.held.media_id, self.backupid,
                                      len(self.fragments) + 1, self.block_size,
                                      self._next_file, self._done_bytes, block + 2,
                                      int(time.time()))
            d.write(tapefmt.encode_bh(bh))
            d.write_filemarks(1)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._end_of_medium(None)
            raise self._failed(fail(e, "write", f"{self.held.name}: backup header")) from e
        self._frag = Fragment(len(self.fragments) + 1, "", self._done_bytes, 0,
                              self.held.media_id, self._next_file, block + 2, self.block_size,
                              self.density)
        self._blocks = []
        self._frag_crc = checksum.ImageCrc(self.block_size)

    def _end_fragment(self, marks: int = 1) -> None:
        """Tape mark after the data, the CRC record, `marks` tape marks (2: end of medium)."""
        frag, d = self._frag, self.held.drive
        assert frag is not None
        crcs = tapefmt.encode_crcs(tapefmt.FragmentCrcs(
            self.backupid, frag.num, self._frag_crc.length, self.block_size,
            self._frag_crc.value, self._blocks))
        try:
            d.write_filemarks(1)
            for attempt in (1, 2):  # past early warning every other write fails
                try:
                    d.write(crcs)
                    break
                except OSError as e:
                    if e.errno != errno.ENOSPC or attempt == 2:
                        raise
            d.write_filemarks(marks)
        except OSError as e:
            raise self._failed(fail(e, "write", f"{self.held.name}: closing fragment "
                                                 f"{frag.num}")) from e
        frag.bytes = self._frag_crc.length
        frag.path = locator(frag.media_id, frag.file_num, frag.block_offset,
                            self.block_size, self._frag_crc.value)
        self.fragments.append(frag)
        self._done_crc = checksum.crc32_combine(self._done_crc, self._frag_crc.value,
                                                frag.bytes)
        self._done_bytes += frag.bytes
        self._frag_crc = checksum.ImageCrc(self.block_size)
        self._frag = None
        self._next_file += 3

    def _end_of_medium(self, data: memoryview | None) -> None:
        """End the tape as NetBackup ends a full one: the fragment's CRCs, two tape marks,
        no EH. The writer then fails with 96; bptm spans: a writer on the next medium made
        `after` this one writes `pending` first (nbcli/media/bptm_tape.py)."""
        self.pending = bytes(data) if data is not None else None
        why = NbuError(NO_MEDIA_AVAILABLE, f"end of medium on {self.held.media_id} after "
                       f"{self.total} bytes of {self.backupid}: the medium is full "
                       f"(bptm goes on spanning to another medium)")
        try:
            if self._frag is not None:
                self._end_fragment(marks=2)
            else:
                self.held.drive.write_filemarks(2)
        except (NbuError, OSError) as e:
            log.warning("%s: ending the full medium: %s", self.held.name, e)
        self.state, self._why = "full", why

    def finish(self) -> list[Fragment]:
        self._check()
        if self._frag is not None:
            self._end_fragment()
        d = self.held.drive
        try:
            self._eh_block = d.tell()
            d.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.held.media_id,
                                                          self._next_file)))
            d.write_filemarks(1)
        except OSError as e:
            raise self._failed(fail(e, "write", f"{self.held.name}: empty header")) from e
        self.state = "finished"
        self._let_go()
        return self.fragments

    def _let_go(self) -> None:
        if self.held.writer is self:
            self.held.writer = None

    def abort(self) -> None:
        """Leave the tape as if the image was never written: an EH where its first BH was.
        After finish, only while it is still the last image (tape cannot cut out the middle:
        a later image keeps it, as dead space no catalog entry names)."""
        if self.state == "aborted":
            return
        state, self.state = self.state, "aborted"
        self._let_go()
        if self._start is None or not self._wrote:
            return  # nothing written
        block, file_num = self._start
        d = self.held.drive
        self.held.user = self
        try:
            if state == "finished":
                self.held.locate(self._eh_block)
                eh = tapefmt.decode_eh(d.read(LABEL_READ))
                if eh is None or eh.file_num != self._next_file:
                    log.warning("%s: image %s is no longer the last: left on the tape",
                                self.held.name, self.backupid)
                    return
            self.held.locate(block)
            d.write(tapefmt.encode_eh(tapefmt.EmptyHeader(self.held.media_id, file_num)))
            d.write_filemarks(1)
        except (NbuError, OSError) as e:
            # The next append finds no EH and refuses the medium: nothing is overwritten.
            log.warning("%s: abort of %s: %s", self.held.name, self.backupid, e)


class TapeReader:
    """Reads an image's blocks from its fragments' data files, each checked against its CRC
    from the fragment's CRC record (itself checked against the catalog's checksum)."""

    def __init__(self, held: Held, image: StoredImage) -> None:
        self.held = held
        self.image = image
        self.block_size = image.block_size
        self.bytes_read = 0
        self.position = 0
        self.places = [parse_locator(f.path) for f in image.fragments]
        self._crcs: dict[int, list[int]] = {}
        self._at = -1  # the logical block the drive is at, when this reader moved it last
        acc = 0
        for f, p in zip(image.fragments, self.places):
            acc = checksum.crc32_combine(acc, p.crc, f.bytes)
        if checksum.format_crc(acc) != image.checksum or \
                sum(f.bytes for f in image.fragments) != image.stream_bytes:
            raise NbuError(MEDIA_READ_ERROR, f"the fragments of {image.backupid} do not add "
                                             f"up to the catalog's checksum")
        if all(p.media_id != held.media_id for p in self.places):
            raise NbuError(MEDIA_REQUEST_FAILED, f"{image.backupid} has no fragment on media "
                           f"{held.media_id}")

    def media_of(self, index: int) -> str:
        """The medium holding image block `index` (a spanned image's blocks are on several:
        this reader reads those on its own, the restore mounts the others in turn)."""
        return self.places[self.image.locate(index)[0] - 1].media_id

    def position_at(self, index: int) -> tuple[int, int]:
        """Move the tape to image block `index` now (the read after does not move it):
        locate to its fragment's backup header, check it, read the CRC record, locate to the
        block. (tape file of the fragment, logical block of `index`)."""
        self.seek(index)
        num, blk = self.image.locate(index)
        place = self._place(num)
        self._load(num)
        target = place.block + blk
        self.held.locate(target)
        self.held.user, self._at = self, target
        return place.file_num, target

    def _place(self, num: int) -> Located:
        place = self.places[num - 1]
        if place.media_id != self.held.media_id:
            raise NbuError(MEDIA_REQUEST_FAILED, f"fragment {num} of {self.image.backupid} "
                           f"is on media {place.media_id}, not {self.held.media_id}")
        return place

    def seek(self, index: int) -> None:
        self.position = index

    def read(self, into: memoryview) -> int:
        if self.position * self.block_size >= self.image.stream_bytes:
            return 0
        num, blk = self.image.locate(self.position)
        frag, place = self.image.fragments[num - 1], self._place(num)
        crcs = self._load(num)
        target = place.block + blk
        if self.held.user is not self or self._at != target:
            self.held.locate(target)
        self.held.user = self
        want = min(self.block_size, frag.bytes - blk * self.block_size)
        try:
            n = self.held.drive.readinto(into[:max(want, self.block_size)])
        except OSError as e:
            self._at = -1
            raise fail(e, "read", f"{self.held.name}: block {target}") from e
        self._at = target + 1
        if n != want:
            raise NbuError(MEDIA_READ_ERROR, f"{self.held.name}: block {target} holds {n} "
                           f"bytes, the catalog says {want}")
        if zlib.crc32(into[:n]) != crcs[blk]:
            raise NbuError(MEDIA_READ_ERROR, f"block {self.position} of {self.image.backupid} "
                           f"fails its checksum")
        self.bytes_read += n
        self.held.bytes_read += n
        self.position += 1
        return n

    def _load(self, num: int) -> list[int]:
        """The block CRCs of fragment `num`: check its BH (94), read its CRC record (after
        the data, past one tape mark), check it against the catalog's fragment CRC."""
        if num in self._crcs:
            return self._crcs[num]
        frag, place = self.image.fragments[num - 1], self.places[num - 1]
        blocks = -(-frag.bytes // self.block_size)
        held, d = self.held, self.held.drive
        held.user, self._at = self, -1
        held.locate(place.block - 2)
        try:
            bh = tapefmt.decode_bh(held.read_record())
        except NbuError as e:
            raise NbuError(CANNOT_POSITION, f"{held.name}: block {place.block - 2}: "
                           f"{e.detail or e.message}") from e
        if (bh.backupid, bh.fragment) != (self.image.backupid, num):
            raise NbuError(CANNOT_POSITION, f"{held.name}: file {place.file_num} holds "
                           f"{bh.backupid} fragment {bh.fragment}, not {self.image.backupid} "
                           f"fragment {num}")
        held.locate(place.block + blocks + 1)
        got = tapefmt.decode_crcs(held.read_record(tapefmt.CRCS_HEAD + 4 * blocks))
        if (got.fragment, got.nbytes, got.crc, len(got.blocks)) != \
                (num, frag.bytes, place.crc, blocks) or checksum.combine_blocks(
                got.blocks, self.block_size, frag.bytes) != got.crc:
            raise NbuError(MEDIA_READ_ERROR, f"{held.name}: the CRC record of fragment {num} "
                           f"of {self.image.backupid} does not match the catalog")
        try:  # back to the data's end by spacing (st's MTBSF: onto the mark's BOT side)
            d.backward_files(1)
            self._at = place.block + blocks
        except OSError as e:
            raise fail(e, "position", f"{held.name}: back to fragment {num}") from e
        self._crcs[num] = got.blocks
        return got.blocks

    def close(self) -> None:
        """Nothing to release: the drive stays mounted for the unit (unmount lets it go)."""
