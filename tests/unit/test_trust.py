"""The gate every request passes (nbcli.net.trust): what each kind of caller may do, and
NetBackup's status for each refusal. Peers are described as PBX describes them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nbcli import config
from nbcli.net import trust
from nbcli.net.trust import ADMIN, CLIENT, LISTERS, ROOT, USER, Gate
from nbcli.status import NbuError


@dataclass
class Peer:
    peer: str
    address: str
    uid: int | None = None
    port: int | None = None
    cert_names: list[str] = field(default_factory=list)


@pytest.fixture
def cfg(tmp_path: Path) -> config.HostConfig:
    return config.init_root(tmp_path / "netbackup", name="master", media_servers=["media"],
                            hosts={"media": "127.0.0.2:1556", "client": "127.0.0.3:1556"})


def refused(gate: Gate, who: trust.Who, peer: Peer, msg: dict[str, object] | None = None,
            field: str = "") -> int:
    with pytest.raises(NbuError) as e:
        gate.check("svc", "op", who, field, msg or {}, peer)
    return e.value.status


def test_root_users_servers_and_others(cfg: config.HostConfig) -> None:
    audit: list[tuple[str, str]] = []
    gate = Gate(lambda: cfg, lambda what, why: audit.append((what, why)))
    root, nobody = Peer("master", "local", 0), Peer("master", "local", 65534)
    media, stranger = Peer("media", "127.0.0.2"), Peer("x", "127.0.0.9")
    gate.check("svc", "op", ADMIN, "", {}, root)
    gate.check("svc", "op", ADMIN, "", {}, media)
    assert refused(gate, ADMIN, nobody) == 46
    assert refused(gate, ADMIN, stranger) == 46
    # a non-root process of this machine on a server's address is not that server
    assert refused(gate, ADMIN, Peer("media", "127.0.0.2", uid=1000)) == 46
    assert refused(gate, ROOT, media) == 46
    assert [w for w, _ in audit] == ["svc op"] * 4
    assert audit[1][1] == ("refused op from 127.0.0.9 (x) to svc: status 46, "
                           "server not allowed access")
    assert "from local (master, uid 65534)" in audit[0][1]


def test_a_client_asks_about_itself_only(cfg: config.HostConfig) -> None:
    gate = Gate(lambda: cfg)
    me = Peer("client", "127.0.0.3")
    msg: dict[str, object] = {}
    gate.check("bpdbm", "image_list", LISTERS, "client", msg, me)
    assert msg == {"client": "client"}  # left empty: filled in with the client itself
    assert refused(gate, LISTERS, me, {"client": "media"}, "client") == 131
    # a hello naming a client the address does not belong to
    assert refused(gate, LISTERS, Peer("client", "127.0.0.9"), {}, "client") == 131
    assert refused(gate, CLIENT | USER, Peer("client", "127.0.0.3", uid=1000), {}, "") == 135


def test_a_tls_peer_is_who_its_certificate_names(cfg: config.HostConfig) -> None:
    """In TLS the certificate's names decide, not the hello or the address: the media
    server's certificate is a server from any address; the client's certificate speaks for
    the client whatever its hello claims, and for nobody else."""
    gate = Gate(lambda: cfg)
    gate.check("svc", "op", ADMIN, "", {}, Peer("x", "127.0.0.9", cert_names=["media"]))
    assert refused(gate, ADMIN, Peer("media", "127.0.0.2", cert_names=["client"])) == 46
    msg: dict[str, object] = {}
    gate.check("bpdbm", "image_list", LISTERS, "client", msg,
               Peer("media", "127.0.0.9", cert_names=["client"]))
    assert msg == {"client": "client"}
    assert refused(gate, LISTERS, Peer("client", "127.0.0.3", cert_names=["other"]),
                   {"client": "client"}, "client") == 131


def test_a_user_of_this_host_asks_about_this_host_only(cfg: config.HostConfig) -> None:
    gate = Gate(lambda: cfg)
    nobody = Peer("master", "local", 65534)
    msg: dict[str, object] = {}
    gate.check("bpdbm", "file_list", LISTERS, "client", msg, nobody)
    assert msg == {"client": "master"}
    assert refused(gate, LISTERS, nobody, {"client": "client"}, "client") == 135


def test_tcp_owner_finds_a_process_of_this_machine() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as c:
            s, addr = listener.accept()
            with s:
                assert trust.tcp_owner(addr, s.getsockname()) == os.geteuid()
                assert c.getsockname() == addr
    assert trust.tcp_owner(("192.0.2.1", 9), ("127.0.0.1", 1556)) is None


def test_a_member_of_an_admin_group_is_an_administrator(cfg: config.HostConfig) -> None:
    import grp
    import pwd

    nobody = pwd.getpwuid(65534)
    group = grp.getgrgid(nobody.pw_gid).gr_name
    gate = Gate(lambda: cfg)
    user = Peer("master", "local", 65534)
    assert refused(gate, ADMIN, user) == 46
    cfg.data["ADMIN_GROUPS"] = [group]
    gate.check("bpdbm", "image_expire", ADMIN, "", {}, user)
    assert refused(gate, ROOT, user) == 46  # root's own ops stay root's


def test_a_flood_of_refusals_is_bounded_in_the_error_log(cfg: config.HostConfig,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from nbcli.daemons import base

    sent: list[str] = []
    monkeypatch.setattr(base.events, "daemon_event", lambda c, n, text, sev: sent.append(text))
    daemon = base.Daemon(cfg)
    for n in range(base.AUDIT_BURST + 50):
        daemon.audit("svc op", f"refused {n}")
    assert len(sent) == base.AUDIT_BURST
    daemon._audit_window[0] -= 61  # a minute later
    daemon.audit("svc op", "refused again")
    assert sent[-1].endswith("(50 more refusals in the last minute are in the log of daemon "
                             "only)")
