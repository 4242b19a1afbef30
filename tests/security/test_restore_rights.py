"""Client A lists and restores only its own backups until the master's altnames allow more;
`bpclient -list_restore 2` lists but does not restore (issue 12, next-areas §5)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbcli import config, multihost
from nbcli.catalog import clientattrs
from nbcli.daemons import restore_rights
from nbcli.model.clientattrs import ClientAttrs
from nbcli.status import NbuError
from tests.conftest import Host, start_enrolled
from tests.flowkit import add_policy, add_stu

LAYOUT = [("master", "127.0.0.1", ["master", "media"]), ("c1", "127.0.0.3", ["client"]),
          ("c2", "127.0.0.4", ["client"])]


# --- the rules ------------------------------------------------------------------------------

@pytest.fixture
def cfg(tmp_path: Path) -> config.HostConfig:
    return config.init_root(tmp_path / "netbackup", name="master")


def allowed(cfg: config.HostConfig, requester: str, owner: str, restore: bool) -> bool:
    try:
        restore_rights.check(cfg, requester, owner, restore=restore)
        return True
    except NbuError as e:
        assert e.status == 135
        return False


def test_own_backups_only_until_altnames(cfg: config.HostConfig) -> None:
    assert allowed(cfg, "c1", "c1", True)
    assert not allowed(cfg, "c1", "c2", False)
    altnames = cfg.paths.db / "altnames"
    altnames.mkdir(parents=True, exist_ok=True)
    (altnames / "c1").write_text("c3\nc2\n")
    assert allowed(cfg, "c1", "c2", True) and not allowed(cfg, "c2", "c1", True)
    (altnames / "No.Restrictions").write_text("")
    assert allowed(cfg, "c2", "c1", True)


def test_list_restore_and_the_bpconf_defaults(cfg: config.HostConfig) -> None:
    clientattrs.add_client(cfg.paths, ClientAttrs(name="c1", list_restore=2))
    assert allowed(cfg, "c1", "c1", False) and not allowed(cfg, "c1", "c1", True)
    with clientattrs.modify_client(cfg.paths, "c1") as attrs:
        attrs.list_restore = 3
    assert not allowed(cfg, "c1", "c1", False)
    cfg.data["DISALLOW_CLIENT_RESTORE"] = True
    assert allowed(cfg, "c2", "c2", False) and not allowed(cfg, "c2", "c2", True)
    cfg.data["DISALLOW_CLIENT_LIST_RESTORE"] = True
    assert not allowed(cfg, "c2", "c2", False)
    with clientattrs.modify_client(cfg.paths, "c1") as attrs:
        attrs.list_restore = 1  # a client's own value wins over the default
    assert allowed(cfg, "c1", "c1", True)


# --- for real: two clients, one master ------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    base = tmp_path_factory.mktemp("rights")
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    hosts = {s.name: Host(s) for s in multihost.create(base, layout=LAYOUT)}
    try:
        start_enrolled(list(hosts.values()))
        data = base / "data2"
        data.mkdir()
        (data / "secret.txt").write_text("c2's file")
        add_stu(hosts["master"], "disk1", base / "stu", media="master")
        add_policy(hosts["master"], "p2", "disk1", ["c2"], [str(data)])
        hosts["master"].run("bpbackup", "-i", "-p", "p2", "-s", "full", "-w")
        yield hosts
    finally:
        for h in hosts.values():
            h.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)


def test_client_a_lists_and_restores_client_b_only_with_altnames(site: dict[str, Host],
                                                                 tmp_path: Path) -> None:
    master, c1 = site["master"], site["c1"]
    data = str(master.root.parent / "data2")
    listing = c1.run("bplist", "-C", "c2", "-R", data, check=False)
    assert listing.returncode == 135 and "secret.txt" not in listing.stdout, listing
    dest = tmp_path / "got"
    rename = tmp_path / "rename"
    rename.write_text(f"change {data} to {dest}\n")
    r = c1.run("bprestore", "-C", "c2", "-D", "c1", "-R", str(rename), "-w", data,
               check=False)
    assert r.returncode == 135 and not dest.exists(), r
    # the master allows c1 c2's backups
    altnames = master.cfg.paths.db / "altnames"
    altnames.mkdir(parents=True, exist_ok=True)
    (altnames / "c1").write_text("c2\n")
    assert "secret.txt" in c1.run("bplist", "-C", "c2", "-R", data).stdout
    # list only (bpclient -list_restore 2): lists, does not restore
    master.run("bpclient", "-client", "c1", "-add", "-list_restore", "2")
    assert "secret.txt" in c1.run("bplist", "-C", "c2", "-R", data).stdout
    r = c1.run("bprestore", "-C", "c2", "-D", "c1", "-R", str(rename), "-w", data,
               check=False)
    assert r.returncode == 135 and not dest.exists(), r
    master.run("bpclient", "-client", "c1", "-update", "-list_restore", "1")
    c1.run("bprestore", "-C", "c2", "-D", "c1", "-R", str(rename), "-w", data)
    assert (dest / "secret.txt").read_text() == "c2's file"
    # c2 was never allowed c1's: nor may it restore to c1
    r = site["c2"].run("bprestore", "-C", "c2", "-D", "c1", data, check=False)
    assert r.returncode == 135, r
