"""Message framing, free of I/O: bytes in, messages out, and back.

Theory of operation. Every nbcli connection starts as a stream of frames:

    +---------------------+-----------------------------------------+
    | length: 4 bytes, BE | JSON object (UTF-8), `length` bytes      |
    +---------------------+-----------------------------------------+

A request is an object with an "op"; a reply carries "status" (a NetBackup status code,
0 = success) and, when not 0, "msg". The first frame on a connection is a hello naming the
protocol version and the service wanted; the service answers it. After that, an op may switch
the connection to raw bytes (the image data stream); framing then stops for good.

Frames are bounded (MAX_FRAME), and so is their nesting (MAX_DEPTH, checked on the bytes before
the JSON decoder sees them: a frame of 5,000 `[` would otherwise make the decoder raise
RecursionError, or worse, deep in a daemon). Anything malformed - a length over the bound, bytes
that are not JSON or nest too deep, JSON that is not an object, a frame cut short by EOF - raises
ProtocolError with a NetBackup status, so the I/O layer can answer with an error frame and close
that one connection.

Strings survive any bytes: file names that are not UTF-8 travel as surrogate-escaped str
(os.fsdecode), which json writes as \\udcXX escapes and reads back unchanged.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from nbcli.status import NO_BUFFER_SPACE, PROTOCOL_ERROR, NbuError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("!I")
# Large enough for a batch of file metadata, small enough that a bogus length cannot make a
# daemon allocate gigabytes (a 2 GiB prefix is refused before anything is read).
MAX_FRAME = 16 << 20

# No message of any op nests deeper than a handful of levels (a listing frame: 3).
MAX_DEPTH = 32

Message = dict[str, Any]


class ProtocolError(NbuError):
    """A peer broke the framing rules; the connection cannot be trusted any further."""


# check_depth's byte tables: keep the brackets and quotes, and see `{}` as `[]`.
_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_SQUARE = bytes.maketrans(b"{}", b"[]")


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """ProtocolError 232 when the JSON text `body` nests deeper than `limit` arrays/objects.

    On the bytes, at C speed (bytes methods only, a few ms on a 16 MiB listing frame): escapes
    go first (so that a quote inside a string is not taken for its end), then everything but
    brackets and quotes, then the strings with what they hold; what is left is the nesting
    alone, and each `replace("[]")` takes away its innermost level. Not a JSON validator:
    what is not JSON, the decoder refuses afterwards."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    nest = body.translate(_SQUARE, _STRUCTURE)
    if nest.count(b"[") <= limit:
        return  # the usual request: too few brackets to nest that deep
    # Two quotes side by side are an empty string, or the end of one string and the start of
    # the next with no bracket between: either way nothing of the structure.
    nest = nest.replace(b'""', b"")
    if b'"' in nest:  # strings with brackets in them: drop what they hold
        nest = b"".join(nest.split(b'"')[::2])
    run = b"[" * (limit + 1)
    for _ in range(limit):
        if run in nest:
            break  # that many opened in a row: nested deeper than the limit
        inner = nest.replace(b"[]", b"")
        if not inner:
            return
        if len(inner) == len(nest):
            break  # brackets that do not pair: not JSON (or too deep)
        nest = inner
    raise ProtocolError(PROTOCOL_ERROR, f"frame nests deeper than {limit} levels")


def encode(msg: Message) -> bytes:
    """One frame: length prefix and compact JSON, ready for a single sendall."""
    body = json.dumps(msg, separators=(",", ":")).encode("ascii")
    if len(body) > MAX_FRAME:
        raise ProtocolError(NO_BUFFER_SPACE, f"message of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes, limit: int = MAX_FRAME) -> int:
    """The body length a 4-byte header announces, checked against the bound."""
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(PROTOCOL_ERROR, f"frame length {length} exceeds the limit of {limit}")
    return int(length)


def decode_body(body: bytes) -> Message:
    """A frame's body as a message object."""
    check_depth(body)
    try:
        msg = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(PROTOCOL_ERROR, f"frame is not JSON: {e}") from e
    except RecursionError as e:  # only if MAX_DEPTH is ever raised near the decoder's own limit
        raise ProtocolError(PROTOCOL_ERROR, "frame nests too deep") from e
    if not isinstance(msg, dict):
        raise ProtocolError(PROTOCOL_ERROR, f"frame is a JSON {type(msg).__name__}, not an object")
    return msg


class Decoder:
    """Feed bytes, take whole messages; never reads past the frame it is in.

    `wanted()` says how many more bytes finish the current header or body, so a reader can ask
    the socket for exactly that much and leave whatever follows (raw image data, a handed-over
    connection's first request) in the socket.
    """

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._length: int | None = None
        self._limit = limit

    def wanted(self) -> int:
        if self._length is None:
            return HEADER.size - len(self._buf)
        return self._length - len(self._buf)

    def feed(self, data: bytes) -> Message | None:
        """Add bytes (at most `wanted()`); return the message they complete, if any."""
        if len(data) > self.wanted():
            raise ValueError("fed more bytes than the current frame wants")
        self._buf += data
        if self._length is None:
            if len(self._buf) < HEADER.size:
                return None
            self._length = frame_length(bytes(self._buf), self._limit)
            self._buf.clear()
        if len(self._buf) < self._length:
            return None
        body = bytes(self._buf)
        self._buf.clear()
        self._length = None
        return decode_body(body)

    @property
    def in_frame(self) -> bool:
        """True when part of a frame has arrived (EOF now means a truncated frame)."""
        return bool(self._buf) or self._length is not None


# --- messages every service speaks ---------------------------------------------------------

def hello(service: str, host: str, **extra: Any) -> Message:
    return {"op": "hello", "v": PROTOCOL_VERSION, "service": service, "host": host, **extra}


def check_hello(msg: Message) -> str:
    """The service a hello asks for; ProtocolError when it is not a hello we speak."""
    if msg.get("op") != "hello":
        raise ProtocolError(PROTOCOL_ERROR, f"first frame must be a hello, not {msg.get('op')!r}")
    if msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(PROTOCOL_ERROR, f"protocol version {msg.get('v')!r} not supported "
                                 f"(this side speaks {PROTOCOL_VERSION})")
    service = msg.get("service")
    if not isinstance(service, str) or not service:
        raise ProtocolError(PROTOCOL_ERROR, "hello names no service")
    return service


def reply(status: int = 0, **fields: Any) -> Message:
    return {"status": status, **fields}


def error(exc: NbuError) -> Message:
    return {"status": exc.status, "msg": exc.detail or exc.message}


def raise_for_status(msg: Message) -> Message:
    """Return a successful reply, or raise the remote error as the same NbuError."""
    status = msg.get("status")
    if not isinstance(status, int):
        raise ProtocolError(PROTOCOL_ERROR, f"reply without a status: {str(msg)[:200]}")
    if status != 0:
        raise NbuError(status, str(msg.get("msg") or ""))
    return msg
