"""bpbkar: the client's backup agent - reads the files, sends the image and the file metadata.

Under bpbrm (launched by bpcd, docs/protocol.md "Agents"): a "backup" request, then a "send"
request naming bptm child's service; bpbkar connects there through PBX, streams the image
(nbcli.client.backup), and reports steps 11 and 12, file entries, problems and "done" to bpbrm.

By hand, NetBackup's troubleshooting form: `bpbkar -nocont PATH... > image.tar` writes the
image to stdout and one line per file to stderr; the exit status is the backup's (0, 1, 71).
The client's exclude list applies in both forms, its include list (exceptions) too; under
bpbrm the most specific of the job's policy and schedule (nbcli.exclude_lists).
"""

from __future__ import annotations

import fcntl
import io
import os
import socket
import stat
from collections.abc import Callable
from typing import BinaryIO

import click

from nbcli import config, exclude_lists
from nbcli import log as nblog
from nbcli.cli import command
from nbcli.client.agent import Controller, program, str_list
from nbcli.client.archive import ArchiveList
from nbcli.client.backup import DEFAULT_BLOCK_SIZE, BackupResult, BackupSpec, run_backup
from nbcli.client.blocks import Sink
from nbcli.client.identity import become
from nbcli.client.tarstream import BLOCK
from nbcli.config import HostConfig
from nbcli.net import client, dte, sealed
from nbcli.status import (
    FILE_WRITE_FAILED,
    INVALID_FILELIST,
    INVALID_PARAMETER,
    PROTOCOL_ERROR,
    SOCKET_WRITE_FAILED,
    NbuError,
)
from nbcli.wire.frames import Message

SYNOPSIS = "bpbkar -nocont [-dt N] [-nofileinfo] [-nokeepalives] [-since epoch] PATH..."
MAX_BLOCK_SIZE = 64 << 20


def _lists(cfg: HostConfig | None, policy: str | None = None,
           schedule: str | None = None) -> dict[str, list[str]]:
    """The exclude and include patterns of a backup of this policy and schedule."""
    if cfg is None:
        return {"exclude": [], "include": []}
    return {kind: exclude_lists.effective(cfg, kind, policy, schedule)
            for kind in exclude_lists.KINDS}


# --- run by hand ---------------------------------------------------------------------------

def _stdout_sink(fd: int, block_size: int) -> Sink:
    if stat.S_ISFIFO(os.fstat(fd).st_mode):
        try:  # a pipe as large as a block: one write per block, not sixteen 64 KiB ones
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, block_size)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size for an unprivileged user: keep 64 KiB

    def sink(block: memoryview) -> None:
        try:
            while block:
                block = block[os.write(fd, block):]
        except OSError as e:
            raise NbuError(FILE_WRITE_FAILED,
                           f"cannot write the image to standard output: {e.strerror}") \
                from e

    return sink


@command("bpbkar", SYNOPSIS)
@click.option("-nocont", "nocont", is_flag=True,
              help="Write the image to standard output (required when run by hand).")
@click.option("-dt", "dt", type=int, default=0, metavar="N",
              help="Accepted for NetBackup's troubleshooting command lines; no effect.")
@click.option("-nofileinfo", "nofileinfo", is_flag=True,
              help="Do not list the files on standard error.")
@click.option("-nokeepalives", "nokeepalives", is_flag=True,
              help="Accepted for compatibility; bpbkar -nocont sends no keepalives.")
@click.option("-since", "since", type=click.IntRange(min=0), default=None, metavar="epoch",
              help="Incremental: only files whose mtime or ctime is at or after this time.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def cli(nocont: bool, dt: int, nofileinfo: bool, nokeepalives: bool, since: int | None,
        paths: tuple[str, ...]) -> int:
    """Back up PATHs to standard output as a POSIX tar image (troubleshooting).

    Folders are walked without following symlinks or crossing into other file systems.

    \b
    EXIT STATUS
      0    every file was backed up
      1    some files could not be read, vanished or shrank (see standard error)
      14   the image could not be written to standard output
      20   invalid command parameter (no -nocont, or standard output is a terminal)
      71   none of the PATHs exists
    """
    if not nocont:
        raise NbuError(INVALID_PARAMETER,
                       "run by hand, bpbkar needs -nocont (the image goes to stdout)")
    if os.isatty(1):
        raise NbuError(INVALID_PARAMETER, "refusing to write the image to a terminal")
    try:
        cfg: HostConfig | None = config.load()
    except NbuError:
        cfg = None  # -nocont also works on a machine without a host root
    err: BinaryIO = io.BufferedWriter(io.FileIO(2, "w", closefd=False), 1 << 16)
    report = _stderr_report(err, cfg)
    lists = _lists(cfg)
    spec = BackupSpec([os.path.abspath(os.fsencode(p)) for p in paths], since=since,
                      exclude=lists["exclude"], include=lists["include"])

    def list_file(path: bytes) -> None:
        err.write(path + b"\n")

    try:
        result = run_backup(spec, _stdout_sink(1, spec.block_size), report,
                            on_file=None if nofileinfo else list_file)
    finally:
        err.flush()
    if result.status:
        raise NbuError(result.status, _summary(result))
    return 0


def _stderr_report(err: BinaryIO, cfg: HostConfig | None) -> Callable[[str], None]:
    log = nblog.setup(cfg.paths.logs, "bpbkar", cfg.verbose) if cfg is not None else None

    def report(text: str) -> None:
        err.write(text.encode("utf-8", "surrogateescape") + b"\n")
        if log is not None:
            log.warning("%s", text)

    return report


def _summary(result: BackupResult) -> str:
    return f"{result.files} files, {result.kbytes} KB written"


# --- under bpbrm ---------------------------------------------------------------------------

def spec_from_request(msg: Message, cfg: HostConfig) -> BackupSpec:
    """The "backup" op's fields, checked (69: bad file list, 20: other bad fields)."""
    paths = str_list(msg, "paths", 69)
    if not paths or not all(p.startswith("/") and "\0" not in p for p in paths):
        raise NbuError(INVALID_FILELIST, "the file list must hold absolute paths")
    since = msg.get("since")
    if since is not None and (not isinstance(since, int) or isinstance(since, bool)
                              or since < 0):
        raise NbuError(INVALID_PARAMETER, f"since must be epoch seconds or null, not {since!r}")
    block_size = msg.get("block_size") or DEFAULT_BLOCK_SIZE
    if not isinstance(block_size, int) or block_size % BLOCK \
            or not BLOCK <= block_size <= MAX_BLOCK_SIZE:
        raise NbuError(INVALID_PARAMETER,
                       f"block_size must be a multiple of {BLOCK} up to {MAX_BLOCK_SIZE}")
    policy, schedule = msg.get("policy"), msg.get("schedule")
    lists = _lists(cfg, policy if isinstance(policy, str) else None,
                   schedule if isinstance(schedule, str) else None)
    exclude = str_list(msg, "exclude", 20, []) + lists["exclude"]
    flags = {k: msg.get(k, False) for k in ("tir", "cross_mount_points")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise NbuError(INVALID_PARAMETER, "tir and cross_mount_points must be true or false")
    return BackupSpec([os.fsencode(p) for p in paths], since, block_size, exclude,
                      include=lists["include"], **flags)


def _socket_sink(sock: socket.socket) -> Sink:
    def sink(block: memoryview) -> None:
        try:
            sock.sendall(block)
        except OSError as e:
            raise NbuError(SOCKET_WRITE_FAILED,
                           f"the image connection to bptm broke: {e.strerror or e}") from e

    return sink


def serve(ctl: Controller, cfg: HostConfig, msg: Message) -> int:
    """One controlled backup: request, "send", image and metadata, "done"."""
    spec = spec_from_request(msg, cfg)
    archive = ArchiveList() if msg.get("archive") else None
    # Decided before the job is taken: one the modes forbid (26) fails as its answer, before
    # bptm is told where to wait for an image.
    encrypt = dte.decide(msg["dte_global"], str(cfg.get("DTE_CLIENT_MODE")), msg["dte_media"])
    required = dte.required(msg["dte_global"], str(cfg.get("DTE_CLIENT_MODE")))
    ctl.accept()
    send = ctl.receive("send")
    host, service = send.get("host"), send.get("service")
    if not isinstance(host, str) or not isinstance(service, str):
        raise NbuError(PROTOCOL_ERROR, "send needs host and service")
    secret = send.get("secret")
    with client.connect(cfg, host, service, secret=secret if isinstance(secret, str) else None,
                        encrypt=encrypt, direct=True, required=required) as data:
        # The image's DTE mode: whether this stream crosses to the media server encrypted.
        crossed_encrypted = data.encrypted
        # Connections made, logs open: from here on, a user's backup reads (and an archive
        # deletes) with that user's rights alone.
        become(msg.get("run_as"))
        ctl.step(11, "sending file metadata to bpbrm")
        # wait: bptm records its own step 12 when the first block reaches it, through bpbrm
        # too but on another connection, which bpbrm may read first
        ctl.step(12, "begin sending image data to bptm child"
                     + ("" if cfg.is_local(host) else dte.described(crossed_encrypted)),
                 wait=True, dte=crossed_encrypted)
        def on_entries(entries: list[list[object]]) -> None:
            ctl.send({"op": "files", "entries": entries})
            if archive is not None:
                archive.add(entries)

        result = run_backup(spec, _socket_sink(data.sock),
                            lambda text: ctl.report("Warning", text),
                            on_entries=on_entries, tick=ctl.check,
                            # a sealed stream proves bptm got every byte, in order: no CRC
                            checksummed=not isinstance(data.sock, sealed.SealedSocket))
        try:
            data.sock.shutdown(socket.SHUT_WR)  # bptm child sees EOF after the last byte
        except OSError:
            pass
    ctl.log.info("done: status %d, %s, stream %d bytes, %s", result.status, _summary(result),
                 result.stream_bytes, result.checksum)
    ctl.send({"op": "done", "status": result.status, "files": result.files,
              "kbytes": result.kbytes, "stream_bytes": result.stream_bytes,
              "checksum": result.checksum, "dte": crossed_encrypted})
    if archive is not None and result.status in (0, 1):
        return _archive_end(ctl, archive, result.status)
    return result.status


def _archive_end(ctl: Controller, archive: ArchiveList, status: int) -> int:
    """An archive waits until its image is in the catalog: then delete, or keep the files."""
    try:
        order = ctl.conn.recv()
    except (EOFError, NbuError):
        return status  # no word: the files stay
    if order.get("op") != "delete":
        return status
    result, removed = archive.delete(lambda text: ctl.report("Warning", text))
    ctl.log.info("archive: %d files deleted, status %d", removed, result)
    ctl.send({"op": "deleted", "status": result, "removed": removed})
    return result or status


# A crash is status 50 ("client process aborted"), as NetBackup reports its own agent dying.
main = program("bpbkar", cli, serve, "backup", crash_status=50)
