"""Moving a drive's position over the objects of a SIMH image, forward and back, keeping
the counters st keeps: the logical block (MTIOCPOS), the file and block numbers (MTIOCGET;
-1 where st does not know them).

The moves of vdrive, without its policies (EIO at BOT or EOD, tape marks written before a
move): each function moves over at most one object and says what it was. Imports only
nbcli.vtl's image, simh and state.
"""

from __future__ import annotations

import errno

from nbcli.vtl import image, simh
from nbcli.vtl.state import DriveState

RECORD = "record"
MARK = "mark"
EOD = "eod"   # the end of recorded data: nothing to move over
BOT = "bot"   # the beginning of tape: nothing to move back over


def forward(fd: int, pos: DriveState) -> str:
    """Move over the object at the position: RECORD or MARK; EOD without moving (but past
    any erase gap before it: gaps are not objects)."""
    word = next_word(fd, pos)
    if word is None or word == simh.END_OF_MEDIUM:
        return EOD
    if word == simh.TAPE_MARK:
        over_mark(pos)
        return MARK
    check_data(word, pos.offset)
    over_record(pos, simh.length_of(word))
    return RECORD


def backward(fd: int, pos: DriveState) -> str:
    """Move back over the object before the position: RECORD or MARK (onto its BOT side);
    BOT without moving."""
    off = pos.offset
    word = image.read_word(fd, off - simh.WORD) if off >= simh.WORD else None
    if word == simh.ERASE_GAP:
        off = image.gaps_before(fd, off)
        word = image.read_word(fd, off - simh.WORD) if off >= simh.WORD else None
    if off == 0:
        return BOT
    if word == simh.TAPE_MARK:
        pos.offset = off - simh.WORD
        pos.logical -= 1
        pos.file = pos.file - 1 if pos.file > 0 else -1 if pos.file < 0 else 0
        pos.block = -1  # st cannot tell the block number past a mark spaced backward
        return MARK
    if word is None or not simh.is_data(word):
        raise OSError(errno.EIO, f"unreadable object before byte {off} of the image")
    pos.offset = off - simh.record_size(simh.length_of(word))
    pos.logical -= 1
    if pos.block > 0:
        pos.block -= 1
    return RECORD


def next_word(fd: int, pos: DriveState) -> int | None:
    """The word of the object at the position, moving the position past the erase gap
    words before it; None at the end of the file."""
    pos.offset, word = image.next_object(fd, pos.offset)
    return word


def over_mark(pos: DriveState) -> None:
    pos.offset += simh.WORD
    pos.logical += 1
    pos.file = pos.file + 1 if pos.file >= 0 else -1
    pos.block = 0


def over_record(pos: DriveState, length: int) -> None:
    pos.offset += simh.record_size(length)
    pos.logical += 1
    if pos.block >= 0:
        pos.block += 1


def check_data(word: int, offset: int) -> None:
    """EIO unless `word` starts a data record (a reserved word does not)."""
    if not simh.is_data(word):
        raise OSError(errno.EIO, f"object {word:#010x} at byte {offset} of the image "
                      "(reserved)")
