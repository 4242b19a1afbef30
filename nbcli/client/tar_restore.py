"""tar-restore: the client's restore agent - reads an image stream and writes its files.

Under bpbrm child (launched by bpcd, docs/protocol.md "Agents"): a "restore" request with the
renames and the destination roots; tar-restore connects to bptm child's service through PBX,
reads the stream to EOF, and reports step 14, problems and "done" (status, files, kbytes).
Member paths are "/" + name, renamed, and must lie inside one of the roots.

By hand: `tar-restore -C DIR [-K] [-f FILE]` restores a stream (standard input by default)
below DIR, the way `tar -xpf FILE -C DIR` would, but refusing anything that would land outside
DIR. The safety rules and the statuses are nbcli.client.untar's and nbcli.client.destination's.
"""

from __future__ import annotations

import os
import select
import socket
import sys

import click

from nbcli.cli import command
from nbcli.client.agent import Controller, program, str_list
from nbcli.client.destination import Destination, clean_root
from nbcli.client.identity import become
from nbcli.client.streamreader import ReadInto, StreamReader, reader_for_fd
from nbcli.client.untar import RestoreResult, Untar
from nbcli.config import HostConfig
from nbcli.net import client, dte
from nbcli.status import FILE_OPEN_FAILED, TAR_INVALID_ARGUMENT, NbuError
from nbcli.wire.frames import Message

SYNOPSIS = "tar-restore -C DIR [-K] [-f FILE]"


# --- run by hand ---------------------------------------------------------------------------

def _open_input(path: str) -> int:
    if path == "-":
        if os.isatty(0):
            raise NbuError(TAR_INVALID_ARGUMENT, "refusing to read an image from a terminal")
        return 0
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NbuError(FILE_OPEN_FAILED, f"cannot open {path}: {e.strerror}") from e


def _stderr_report(severity: str, msg: str) -> None:
    sys.stderr.write(msg + "\n")


@command("tar-restore", SYNOPSIS)
@click.option("-C", "directory", required=True, metavar="DIR",
              help="Restore below this folder (created when missing).")
@click.option("-K", "keep", is_flag=True, help="Keep existing files; do not replace them.")
@click.option("-f", "path", default="-", metavar="FILE",
              help="Read the image from FILE (default: standard input).")
def cli(directory: str, keep: bool, path: str) -> int:
    """Restore a tar image (from bpbkar, or GNU tar's posix and gnu formats) below DIR.

    Modes, numeric owners (as root), nanosecond mtimes, hard links, symlinks, fifos and empty
    folders come back as they were. Members that would land outside DIR - absolute names,
    '..', a path through a symlink, a hard link to outside - are refused and skipped.

    \b
    EXIT STATUS
      0    every member was restored
      1    some members could not be written (see standard error)
      5    no file could be written (only folders, if anything, were restored)
      12   FILE cannot be opened
      181  invalid argument (DIR cannot be created, or input is a terminal)
      182  some members were refused: their names lead outside DIR
      183  the image is truncated or corrupt (what was restored is whole)
      186  the image is empty
    """
    fd = _open_input(path)
    try:
        dest = Destination([os.fsencode(directory)])
    except OSError as e:
        raise NbuError(TAR_INVALID_ARGUMENT,
                       f"cannot use {directory} as the destination: {e.strerror}") from e
    try:
        result = Untar(StreamReader(reader_for_fd(fd)), dest, _stderr_report, keep).run()
    finally:
        dest.close()
    if result.status:
        raise NbuError(result.status, _summary(result))
    return 0


def _summary(result: RestoreResult) -> str:
    return f"{result.files} files restored, {result.kbytes} KB read"


# --- under bpbrm child ---------------------------------------------------------------------

def _paths(msg: Message, key: str) -> list[bytes]:
    try:
        return [clean_root(os.fsencode(p)) for p in str_list(msg, key, 181, [])]
    except ValueError as e:
        raise NbuError(TAR_INVALID_ARGUMENT, f"{key}: {e}") from e


def _renames(msg: Message) -> list[tuple[bytes, bytes]]:
    pairs = msg.get("renames") or []
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in pairs):
        raise NbuError(TAR_INVALID_ARGUMENT, "renames must be a list of [from, to] paths")
    try:
        return [(clean_root(os.fsencode(a)), clean_root(os.fsencode(b))) for a, b in pairs]
    except ValueError as e:
        raise NbuError(TAR_INVALID_ARGUMENT, f"renames: {e}") from e


def destination_from_request(msg: Message) -> tuple[Destination, bool]:
    """The "restore" op's destination and keep_existing, checked (181 when invalid)."""
    roots = _paths(msg, "dest")
    if not roots:
        raise NbuError(TAR_INVALID_ARGUMENT, "dest must name at least one destination folder")
    keep = msg.get("keep_existing", False)
    if not isinstance(keep, bool):
        raise NbuError(TAR_INVALID_ARGUMENT, "keep_existing must be true or false")
    renames = _renames(msg)
    try:
        return Destination(roots, renames, absolute=True), keep
    except OSError as e:
        raise NbuError(TAR_INVALID_ARGUMENT,
                       f"cannot use the destination {e.filename}: {e.strerror}") from e


def _watched(sock: socket.socket, ctl: Controller, transit: str = "",
             encrypted: bool = False) -> ReadInto:
    """recv_into on the image connection that also notices the controller going away.

    Seed restore step 14 is tar-restore's when the image starts arriving: it is reported then,
    and acknowledged before the first byte is written, so it lands between bptm's step 14
    (bptm starts sending) and its step 15 (bptm sees tar-restore finish)."""
    poll = select.poll()
    poll.register(sock.fileno(), select.POLLIN)
    poll.register(ctl.conn.fileno(), select.POLLIN)
    data_fd = sock.fileno()
    started = False
    # A sealed stream (another host) may hold opened bytes of a frame here, not in the socket
    decrypted = getattr(sock, "pending", lambda: 0)

    def readinto(view: memoryview) -> int:
        nonlocal started
        while True:
            ready = {data_fd} if decrypted() else {fd for fd, _ in poll.poll()}
            if ctl.conn.fileno() in ready:
                ctl.check()
            if data_fd in ready:
                n = sock.recv_into(view)  # an OSError here ends the restore with 183
                if not started:
                    started = True
                    ctl.step(14, "tar-restore receiving the image from bptm child and "
                                 f"writing files{transit}", wait=True, dte=encrypted)
                return n

    return readinto


def serve(ctl: Controller, cfg: HostConfig, msg: Message) -> int:
    """One controlled restore: request, image from bptm child, "done"."""
    host, service = msg.get("host"), msg.get("service")
    if not isinstance(host, str) or not isinstance(service, str):
        raise NbuError(TAR_INVALID_ARGUMENT, "restore needs host and service")
    run_as = msg.get("run_as")
    # A user's restore opens its destination only once it is that user (below).
    opened = None if run_as is not None else destination_from_request(msg)
    try:
        # Decided before the job is taken: one the modes forbid (26) fails as its answer.
        encrypt = dte.decide(msg["dte_global"], str(cfg.get("DTE_CLIENT_MODE")),
                             msg["dte_media"], msg["image_dte"], msg["dte_ignore_image"])
        required = dte.required(msg["dte_global"], str(cfg.get("DTE_CLIENT_MODE")),
                                msg["image_dte"], msg["dte_ignore_image"])
        ctl.accept()
        secret = msg.get("secret")
        with client.connect(cfg, host, service,
                            secret=secret if isinstance(secret, str) else None,
                            encrypt=encrypt, direct=True, required=required) as data:
            if opened is None:
                # Connections made, logs open: from here on a user's restore makes folders
                # and files with that user's rights alone (and they are the user's).
                become(run_as)
                opened = destination_from_request(msg)
            # the job's DTE mode is what the stream did (sealed or not), as the image's is
            # (and the details say what it did: not encrypted without a host certificate)
            reader = StreamReader(_watched(data.sock, ctl, "" if cfg.is_local(host)
                                           else dte.described(data.encrypted), data.encrypted))
            result = Untar(reader, opened[0], ctl.report, opened[1]).run()
    finally:
        if opened is not None:
            opened[0].close()
    ctl.log.info("done: status %d, %s; %d files made by the file writer process",
                 result.status, _summary(result), result.by_writer)
    ctl.send({"op": "done", "status": result.status, "files": result.files,
              "kbytes": result.kbytes})
    return result.status


# A crash is status 184 ("tar had an unexpected error"), as NetBackup reports its own agent dying.
main = program("tar-restore", cli, serve, "restore", crash_status=184)
