"""Reading frames from several peers at once (bpbrm's loop over nbjm/bprd, bpbkar, bptm ...).

bpbrm is one thread: it waits on all its connections and handles whatever arrives first, in
arrival order, so the steps it records keep the order in which its peers reported them.
"""

from __future__ import annotations

import selectors
from collections.abc import Iterator

from nbcli.net.conn import Connection
from nbcli.status import NbuError
from nbcli.wire.frames import Message

EOF_MARK: Message = {"op": "__eof__"}


class Mux:
    """Named connections; `events()` yields (name, message), EOF_MARK when a peer closes."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.conns: dict[str, Connection] = {}

    def add(self, name: str, conn: Connection) -> None:
        self.conns[name] = conn
        self.sel.register(conn.sock, selectors.EVENT_READ, name)

    def drop(self, name: str) -> None:
        conn = self.conns.pop(name, None)
        if conn is not None:
            self.sel.unregister(conn.sock)

    def events(self, timeout: float | None = None) -> Iterator[tuple[str, Message]]:
        """Messages as they come; (\"\", {}) after `timeout` seconds with nothing."""
        while self.conns:
            buffered = [n for n, c in self.conns.items() if c.buffered()]
            names = buffered or [key.data for key, _ in self.sel.select(timeout)]
            if not names:
                yield "", {}
                continue
            for name in names:
                conn = self.conns.get(name)
                if conn is None:
                    continue
                try:
                    msg = conn.recv()
                except (EOFError, NbuError):
                    self.drop(name)
                    yield name, EOF_MARK
                    continue
                yield name, msg

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
        self.sel.close()
