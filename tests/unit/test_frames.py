"""The sans-I/O framing layer, tested on bytes alone."""

import json
import struct

import pytest

from nbcli.status import NbuError
from nbcli.wire import frames
from nbcli.wire.frames import Decoder, Message, ProtocolError


def feed_all(dec: Decoder, data: bytes) -> list[Message]:
    out = []
    while data:
        n = dec.wanted()
        msg = dec.feed(data[:n])
        data = data[n:]
        if msg is not None:
            out.append(msg)
    return out


def test_round_trip_and_exact_reads() -> None:
    msgs: list[Message] = [{"op": "a", "n": 1}, {"op": "b", "path": "/x/\udcff\udcfe"},
                           {"status": 0}]
    stream = b"".join(frames.encode(m) for m in msgs) + b"RAW IMAGE BYTES"
    dec = Decoder()
    got = feed_all(dec, stream[: len(stream) - len(b"RAW IMAGE BYTES")])
    assert got == msgs
    assert dec.wanted() == 4 and not dec.in_frame


def test_byte_at_a_time() -> None:
    data = frames.encode({"op": "hello", "x": "y" * 1000})
    dec = Decoder()
    out = [m for b in data if (m := dec.feed(bytes([b]))) is not None]
    assert out == [{"op": "hello", "x": "y" * 1000}]


def test_non_utf8_names_survive() -> None:
    import os
    name = os.fsdecode(b"/data/caf\xe9/\xff\xfe")
    (msg,) = feed_all(Decoder(), frames.encode({"p": name}))
    assert os.fsencode(msg["p"]) == b"/data/caf\xe9/\xff\xfe"


@pytest.mark.parametrize("body", [b"garbage!", b"[1,2,3]", b"\xff\xfe\x00", b'"str"'])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ProtocolError) as e:
        feed_all(Decoder(), struct.pack("!I", len(body)) + body)
    assert e.value.status == 232


def test_oversized_length_is_refused_before_reading() -> None:
    dec = Decoder()
    with pytest.raises(ProtocolError) as e:
        dec.feed(struct.pack("!I", 2 << 30))
    assert e.value.status == 232 and "exceeds" in e.value.detail
    with pytest.raises(ProtocolError):
        Decoder(limit=100).feed(struct.pack("!I", 101))


def test_truncated_frame_is_visible() -> None:
    dec = Decoder()
    data = frames.encode({"op": "x"})
    dec.feed(data[:4])
    dec.feed(data[4:6])
    assert dec.in_frame and dec.wanted() == len(data) - 6


def test_hello_checks() -> None:
    assert frames.check_hello(frames.hello("bpcd", "h1")) == "bpcd"
    for bad in ({"op": "other"}, {"op": "hello", "v": 99, "service": "x"},
                {"op": "hello", "v": 1}):
        with pytest.raises(ProtocolError):
            frames.check_hello(bad)


def test_remote_errors_come_back_as_the_same_status() -> None:
    wire = frames.error(NbuError(230, "no policy P"))
    with pytest.raises(NbuError) as e:
        frames.raise_for_status(wire)
    assert e.value.status == 230 and e.value.detail == "no policy P"
    assert frames.raise_for_status({"status": 0, "x": 1})["x"] == 1
    with pytest.raises(ProtocolError):
        frames.raise_for_status({"nostatus": True})


def test_encode_refuses_huge_messages() -> None:
    with pytest.raises(ProtocolError):
        frames.encode({"x": "a" * (frames.MAX_FRAME + 1)})


def frame_of(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


@pytest.mark.parametrize("body", [
    b"[" * 5000,                                          # the frame that killed pbx_exchange
    b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a":' * 33 + b"1" + b"}" * 33,                     # objects count as levels too
    b'{"a":' + b"[1," * 40 + b"1" + b"]" * 40 + b"}",      # not all in a row
    b'{"a":' + b"[[]," * 40 + b"1" + b"]" * 40 + b"}",     # siblings on every level
    b'{"a":' + b"[" * 32 + b"]" * 32 + b"}",              # 33 with the object
])
def test_frames_nested_too_deep_are_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(ProtocolError) as e:
        feed_all(Decoder(), frame_of(body))
    assert e.value.status == 232 and "nests deeper than 32" in e.value.detail


@pytest.mark.parametrize("value", [
    json.loads("[" * 31 + "1" + "]" * 31),             # 31 + the object: 32 levels
    ["[" * 100, "]" * 100, "[[" * 50],                  # brackets inside strings are text
    ['\\"[[[[' * 20, "\\" * 7 + "[" * 40, '"' * 40],   # escapes before and inside them
    {"entries": [["/a[1]/b", "0", 1, "", "{x}"] for _ in range(1000)]},
    [{"k" + "[" * 40: [{"x": []}]} for _ in range(100)],
])
def test_deep_looking_but_shallow_frames_pass(value: object) -> None:
    msg = {"v": value}
    assert feed_all(Decoder(), frames.encode(msg)) == [msg]


def test_depth_check_is_cheap_on_a_full_frame() -> None:
    """A 16 MiB listing frame: the depth check costs a small part of the decoding."""
    import time

    row = ["/cat/d0001/file_000001.dat", "0", 420, 1000, 1000, "user", "staff", 1000,
           1_700_000_000_123_456_789, 1_700_000_000, 1536, 512, "", 1]
    body = json.dumps({"status": 0, "entries": [row] * 150_000}).encode()
    assert len(body) > 15 << 20
    check = parse = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        frames.check_depth(body)
        t1 = time.perf_counter()
        json.loads(body)
        t2 = time.perf_counter()
        check, parse = min(check, t1 - t0), min(parse, t2 - t1)
    assert check < parse / 3, (check, parse)
