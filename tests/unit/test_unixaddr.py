"""unixaddr.Reach: a socket file at a path longer than sun_path is bound and reached."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from nbcli.unixaddr import SUN_PATH, Reach


def test_a_path_that_fits_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with Reach(path) as address:
        assert address == str(path)


def test_a_long_path_is_bound_and_connected_through_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / ("a" * 70) / ("b" * 70)
    folder.mkdir(parents=True)
    path = folder / "s.sock"
    assert len(os.fsencode(path)) >= SUN_PATH
    with socket.socket(socket.AF_UNIX) as plain, pytest.raises(OSError):
        plain.bind(str(path))  # what bind does without Reach
    server = socket.socket(socket.AF_UNIX)
    with Reach(path) as address:
        server.bind(address)
    server.listen()
    assert path.exists()  # the socket file is where it was meant to be
    with socket.socket(socket.AF_UNIX) as c, Reach(path) as address:
        c.connect(address)
        peer, _ = server.accept()
        c.sendall(b"hi")
        assert peer.recv(2) == b"hi"
        peer.close()
    server.close()
    fds = len(os.listdir("/proc/self/fd"))
    with Reach(path):
        assert len(os.listdir("/proc/self/fd")) == fds + 1
    assert len(os.listdir("/proc/self/fd")) == fds  # the folder's descriptor is closed
