"""The launcher <-> nbcmdd packets (nbcli.wire.cmdreq) and the launcher's guess of the root."""

from __future__ import annotations

import pytest

from nbcli import launcher
from nbcli.wire import cmdreq


def request(**change: object) -> bytes:
    fields: dict[str, object] = dict(
        executable=b"/venv/bin/python3", package=b"/src/nbcli", program="bpdbjobs",
        cwd=b"/home/\xff", umask=0o027, encoding="utf-8", errors="surrogateescape",
        argv=[b"-jobid", b"7", b""], env=[b"TZ=UTC", b"A=b=c", b"EMPTY="])
    fields.update(change)
    return cmdreq.encode_request(**fields)  # type: ignore[arg-type]


def test_a_request_comes_back_as_sent_bytes_and_all() -> None:
    req = cmdreq.decode_request(request())
    assert (req.executable, req.package, req.program, req.cwd, req.umask) == \
        (b"/venv/bin/python3", b"/src/nbcli", "bpdbjobs", b"/home/\xff", 0o027)
    assert (req.encoding, req.errors) == ("utf-8", "surrogateescape")
    assert req.argv == [b"-jobid", b"7", b""]  # an empty argument survives
    assert req.env == {b"TZ": b"UTC", b"A": b"b=c", b"EMPTY": b""}


def test_no_arguments_and_no_environment() -> None:
    req = cmdreq.decode_request(request(argv=[], env=[]))
    assert (req.argv, req.env) == ([], {})


@pytest.mark.parametrize("packet", [
    b"", b"garbage", b"nbcmd2\0a\0b\0c\0d\x000\0e\0f\x000",
    request().replace(b"\x0023\0", b"\0x\0", 1),         # umask not a number
    request(umask=0o1000),                                # umask out of range
    request(argv=[]).replace(b"\x000\0TZ", b"\x009\0TZ"),  # more arguments than fields
    request(env=[b"NOEQUALS"]), request(env=[b"=value"]),
    request(program="bpdb\xe9jobs"),                      # not ASCII
])
def test_malformed_requests_are_refused(packet: bytes) -> None:
    with pytest.raises(cmdreq.RequestError):
        cmdreq.decode_request(packet)


def test_replies() -> None:
    assert cmdreq.reply("run") == b"run"
    assert cmdreq.parse_reply(cmdreq.reply("exit", 230)) == ("exit", "230")
    assert cmdreq.parse_reply(cmdreq.reply("no", "not our user")) == ("no", "not our user")
    assert cmdreq.parse_reply(b"") == ("", "")


def test_the_launcher_finds_the_root_as_the_command_will(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NB_ROOT", "/env/root")
    assert launcher.host_root(["-L", "--root", "/a"]) == "/a"
    assert launcher.host_root(["-root", "/b"]) == "/b"
    assert launcher.host_root(["--root=/c"]) == "/c"
    assert launcher.host_root(["-L"]) == "/env/root"
    monkeypatch.delenv("NB_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", "/xdg")
    from nbcli import config
    assert launcher.host_root([]) == "/xdg/nbcli/openv" == str(config.default_root())
