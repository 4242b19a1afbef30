"""bptm's shared-memory ring: NUMBER_DATA_BUFFERS slots of SIZE_DATA_BUFFERS bytes.

The ring is one anonymous MAP_SHARED mmap made before bptm forks, so parent and child see the
same memory. One side fills slots (the producer), the other empties them (the consumer):
on a backup bptm child receives the image from bpbkar into slots and bptm parent writes them
to storage; on a restore the parent reads storage into slots and the child sends them to
tar-restore.

They hand slot numbers to each other over two pipes, never bytes of the image:

    producer -- (slot, offset, length, crc) 16-byte records -->  consumer      "full" pipe
    producer <---------------- 1 byte per slot freed ---------  consumer      "free" pipe

Slots go round in order, so a record names its slot only as a check. A record with slot -1
ends the stream; its length field carries the producer's status (0 = clean end). Either
process dying closes its pipe ends, which the other sees at once as EOF (RingBroken), so
nothing waits forever on a dead peer. Records are smaller than PIPE_BUF, so each write is
atomic. Memory use is the ring, whatever the size of the image.
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import signal
import struct

_RECORD = struct.Struct("=iIII")
END = -1


class RingBroken(Exception):
    """The other side of the ring went away without ending the stream."""


class Ring:
    """The shared slots and the two pipes; call `producer()` / `consumer()` after the fork."""

    def __init__(self, slots: int, slot_size: int) -> None:
        if slots < 2 or slot_size < 512:
            raise ValueError("a ring needs at least 2 slots of 512 bytes")
        self.slots = slots
        self.slot_size = slot_size
        self.map = mmap.mmap(-1, slots * slot_size, flags=mmap.MAP_SHARED)
        self.view = memoryview(self.map)
        self._full = os.pipe()
        self._free = os.pipe()

    def slot(self, index: int) -> memoryview:
        base = index * self.slot_size
        return self.view[base:base + self.slot_size]

    def producer(self) -> Producer:
        os.close(self._full[0])
        os.close(self._free[1])
        return Producer(self, self._full[1], self._free[0])

    def consumer(self) -> Consumer:
        os.close(self._full[1])
        os.close(self._free[0])
        return Consumer(self, self._full[0], self._free[1])


class Producer:
    """Fills slots in order; `acquire` waits for a free one, `post` hands it over."""

    def __init__(self, ring: Ring, full_w: int, free_r: int) -> None:
        self.ring = ring
        self._full_w = full_w
        self._free_r = free_r
        self._credits = ring.slots
        self._next = 0

    def fileno(self) -> int:
        """Readable when the consumer has freed slots."""
        return self._free_r

    def would_block(self) -> bool:
        """True when no slot is free and none has been handed back yet."""
        if self._credits:
            return False
        return not select.select([self._free_r], [], [], 0)[0]

    def acquire(self) -> tuple[int, memoryview]:
        """The next slot to fill (blocks until the consumer has freed one)."""
        while self._credits == 0:
            got = os.read(self._free_r, self.ring.slots)
            if not got:
                raise RingBroken("the consumer went away")
            self._credits += len(got)
        return self._next, self.ring.slot(self._next)

    def post(self, offset: int, length: int, crc: int = 0) -> None:
        """Hand the acquired slot's bytes [offset, offset + length) to the consumer, with their
        CRC-32 when the producer computed it (bptm child does, on the data it just received)."""
        self._write(_RECORD.pack(self._next, offset, length, crc))
        self._credits -= 1
        self._next = (self._next + 1) % self.ring.slots

    def end(self, status: int = 0) -> None:
        """End the stream; `status` other than 0 tells the consumer why it ended early."""
        self._write(_RECORD.pack(END, 0, status, 0))

    def _write(self, record: bytes) -> None:
        try:
            os.write(self._full_w, record)
        except BrokenPipeError as e:
            raise RingBroken("the consumer went away") from e

    def close(self) -> None:
        for fd in (self._full_w, self._free_r):
            try:
                os.close(fd)
            except OSError:
                pass


class Consumer:
    """Takes filled slots in order; `release` gives each back once its bytes are used."""

    def __init__(self, ring: Ring, full_r: int, free_w: int) -> None:
        self.ring = ring
        self._full_r = full_r
        self._free_w = free_w
        self._expect = 0

    def fileno(self) -> int:
        """Readable when a filled slot (or the end) is waiting."""
        return self._full_r

    def take(self) -> tuple[int, memoryview, int] | int:
        """The next filled (slot index, bytes, crc), or the producer's end status (an int)."""
        record = b""
        while len(record) < _RECORD.size:
            got = os.read(self._full_r, _RECORD.size - len(record))
            if not got:
                raise RingBroken("the producer went away without ending the stream")
            record += got
        index, offset, length, crc = _RECORD.unpack(record)
        if index == END:
            return int(length)
        if index != self._expect or offset + length > self.ring.slot_size:
            raise RingBroken(f"ring out of order: slot {index}, expected {self._expect}")
        self._expect = (self._expect + 1) % self.ring.slots
        return index, self.ring.slot(index)[offset:offset + length], crc

    def release(self) -> None:
        """Give the oldest taken slot back to the producer."""
        try:
            os.write(self._free_w, b"x")
        except OSError as e:
            # The producer exits once it has ended the stream; late credits are not an error.
            if e.errno != errno.EPIPE:
                raise

    def close(self) -> None:
        for fd in (self._full_r, self._free_w):
            try:
                os.close(fd)
            except OSError:
                pass


def ignore_sigpipe() -> None:
    """Writes to a closed pipe must raise EPIPE here, not kill the process."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
