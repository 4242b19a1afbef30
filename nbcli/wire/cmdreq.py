"""What a command launcher and nbcmdd say to each other, free of I/O (and of imports: the
launcher is on every command's start-up path, so this module costs it nothing).

Theory of operation. A command's launcher (nbcli.launcher) connects to its host's nbcmdd over a
Unix SOCK_SEQPACKET socket and sends one request packet, with its stdin, stdout and stderr
attached as SCM_RIGHTS descriptors:

    nbcmd1 \\0 executable \\0 package \\0 program \\0 cwd \\0 umask \\0 encoding \\0 errors
           \\0 argc \\0 argv[1] ... \\0 argv[argc] \\0 NAME=value ... (the environment, to the end)

Every field is bytes as the OS gave them (no POSIX argument, path or environment entry can hold
a NUL, so NUL separates them unambiguously). `executable` and `package` say which interpreter
and which nbcli the launcher would have run the command with: nbcmdd runs only requests it
would run the same way. The answers are short packets:

    no <why>       refused; nothing was started, the launcher runs the command itself
    run            a process was forked for the command
    exit <n>       it exited with status n
    signal <n>     it was killed by signal n

and the launcher may send `kill <n>` to pass a signal it received on to the command.
"""

from __future__ import annotations

MAGIC = b"nbcmd1"
# A request is one packet; Linux's default socket buffer (~208 KiB) bounds what one may carry.
# An environment larger than this is sent nowhere: the launcher runs the command itself.
MAX_REQUEST = 192 << 10
_FIXED = 8  # magic .. errors


class RequestError(ValueError):
    """A request packet that does not follow the format above."""


class Request:
    """A decoded request (a plain class: `dataclasses` would import `inspect`, ~5 ms)."""

    def __init__(self, executable: bytes, package: bytes, program: str, cwd: bytes,
                 umask: int, encoding: str, errors: str, argv: list[bytes],
                 env: dict[bytes, bytes]) -> None:
        self.executable, self.package, self.program = executable, package, program
        self.cwd, self.umask, self.encoding, self.errors = cwd, umask, encoding, errors
        self.argv, self.env = argv, env


def encode_request(executable: bytes, package: bytes, program: str, cwd: bytes, umask: int,
                   encoding: str, errors: str, argv: list[bytes],
                   env: list[bytes]) -> bytes:
    """One request packet; `env` as the environment's NAME=value entries."""
    fields = [MAGIC, executable, package, program.encode(), cwd, b"%d" % umask,
              encoding.encode(), errors.encode(), b"%d" % len(argv), *argv, *env]
    return b"\0".join(fields)


def decode_request(packet: bytes) -> Request:
    """The request in `packet`; RequestError when it is not one."""
    fields = packet.split(b"\0")
    if fields[0] != MAGIC or len(fields) < _FIXED + 1:
        raise RequestError("not an nbcmd1 request")
    try:
        umask = int(fields[5])
        argc = int(fields[8])
        program, encoding, errors = (f.decode("ascii") for f in (fields[3], fields[6], fields[7]))
    except ValueError as e:  # UnicodeDecodeError is one
        raise RequestError(f"malformed request header: {e}") from e
    if not 0 <= umask <= 0o777 or not 0 <= argc <= len(fields) - _FIXED - 1:
        raise RequestError("umask or argument count out of range")
    argv = fields[_FIXED + 1:_FIXED + 1 + argc]
    env: dict[bytes, bytes] = {}
    for entry in fields[_FIXED + 1 + argc:]:
        name, sep, value = entry.partition(b"=")
        if not sep or not name:
            raise RequestError("environment entry without NAME=")
        env[name] = value
    return Request(fields[1], fields[2], program, fields[4], umask, encoding, errors, argv, env)


def reply(word: str, value: int | str = "") -> bytes:
    return f"{word} {value}".rstrip().encode()


def parse_reply(packet: bytes) -> tuple[str, str]:
    """(word, rest) of an answer or a `kill` packet; ("", "") for an empty one."""
    word, _, rest = packet.decode("ascii", "replace").partition(" ")
    return word, rest
