"""Attacks on a running all-in-one host, each a real process (issue 12).

Every op of every daemon - the list comes from the daemons' own tables (test_op_tables'
op_table), so a new op joins the attack by itself - is called by:

- a local unprivileged user (uid 65534, a child process that dropped to it) through PBX's
  Unix socket, and through PBX's TCP port from the host's own address (127.0.0.1, a server's);
- a host outside the SERVER list (a connection bound to 127.0.0.9 claiming to be the host).

Each is refused with NetBackup's status; the host's catalogs, policies, storage units and
jobs are byte for byte what they were, no agent was started, and each refusal is in the
master's error log (bperror -all).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbcli import multihost
from nbcli.net import tls
from nbcli.net.certpaths import CertPaths
from nbcli.net.service import Op
from nbcli.net.trust import CLIENT, OTHER, USER
from nbcli.wire import frames
from tests.conftest import Host, wait_for
from tests.flowkit import add_policy, add_stu
from tests.unit.test_op_tables import op_table

NOBODY = 65534
OUTSIDER = "127.0.0.9"
SAMPLES: dict[type, Any] = {str: "x", int: 1, float: 1.5, bool: True, list: [], dict: {}}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attacks as another user need root")

# The child that attacks as uid 65534: the standard library only (it runs as nobody), it
# sends the frames the test prepared and hands back the raw replies.
CHILD = r"""
import json, os, socket, struct, sys
jobs = json.load(sys.stdin)
out = []
def frame(s):
    head = b""
    while len(head) < 4:
        k = s.recv(4 - len(head))
        if not k:
            return None
        head += k
    (n,) = struct.unpack("!I", head)
    body = b""
    while len(body) < n:
        k = s.recv(n - len(body))
        if not k:
            return None
        body += k
    return body.decode()
for target, hello, request in jobs:
    if isinstance(target, str):
        s = socket.socket(socket.AF_UNIX)
    else:
        s = socket.socket()
    s.settimeout(20)
    try:
        s.connect(target if isinstance(target, str) else tuple(target))
        s.sendall(bytes.fromhex(hello))
        first = frame(s)
        s.sendall(bytes.fromhex(request))
        out.append([first, frame(s)])
    except OSError as e:
        out.append([None, "error " + str(e)])
    finally:
        s.close()
json.dump({"uid": os.getuid(), "replies": out}, sys.stdout)
"""

# Requests that mean harm when they get through (the rest carry samples of their fields).
HARM: dict[str, dict[str, Any]] = {
    "launch": {"program": "bpbkar", "args": []},
    "image_expire": {"client": "aio", "expiration": 0, "policy": "pol"},
    "stu_add": {"label": "evil", "path": "/root/evil", "host": "aio"},
    "setconfig": {"text": "SERVER = evil\n", "add": True},
    "job_delete": {"jobids": [1]},
    "policy_create": {"policy": "evil"},
}


def attack_ops(hostname: str, cfg: Any) -> list[tuple[str, str, Op, dict[str, Any]]]:
    """(service, op, entry, request) for every op no caller of ours may reach."""
    out = []
    for _name, service, op_name, entry in op_table(cfg):
        assert isinstance(entry, Op)
        if OTHER in entry.who:
            continue  # open to anyone by design (test_op_tables.OPEN_TO_ANYONE)
        msg: dict[str, Any] = {"op": op_name}
        for field_name, field in entry.fields.items():
            if field.required:
                kind = field.kind[0] if isinstance(field.kind, tuple) else field.kind
                msg[field_name] = next(iter(field.choices)) if field.choices else \
                    (field.lo if field.lo is not None and kind is int else SAMPLES[kind])
        for about in {entry.client, "client"} & set(entry.fields):
            msg[about] = hostname  # about the target's client, never the caller's own
        msg.update(HARM.get(op_name, {}))
        out.append((service, op_name, entry, msg))
    return out


def as_nobody(jobs: list[tuple[Any, bytes, bytes]]) -> list[tuple[dict | None, dict | None]]:
    payload = json.dumps([[t, h.hex(), r.hex()] for t, h, r in jobs])
    r = subprocess.run(["/usr/bin/python3", "-I", "-c", CHILD], input=payload, text=True,
                       capture_output=True, user=NOBODY, group=NOBODY, extra_groups=[],
                       timeout=300, cwd="/")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["uid"] == NOBODY
    return [(json.loads(a) if a else None, json.loads(b) if b and b[0] == "{" else None)
            for a, b in result["replies"]]


def as_outsider(target: Host, hello: bytes, request: bytes) -> dict[str, Any]:
    """The outsider's request: TLS with its own good certificate, from its own address."""
    raw = socket.socket()
    raw.bind((OUTSIDER, 0))
    raw.settimeout(20)
    raw.connect(target.cfg.address_of(target.name))
    outsider = target.root.parent / "outsider"
    with tls.wrap_client(raw, CertPaths(outsider), target.name) as s:
        s.sendall(hello)
        assert _frame(s)["status"] == 0
        s.sendall(request)
        return _frame(s)


def _frame(s: socket.socket) -> dict[str, Any]:
    head = _exact(s, frames.HEADER.size)
    return frames.decode_body(_exact(s, frames.frame_length(head)))


def _exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "the daemon closed the connection instead of answering"
        buf += chunk
    return buf


def state(host: Host) -> dict[str, str]:
    """A digest of every catalog file of the host: images, policies, EMM, jobs, config."""
    out = {}
    for path in sorted(host.root.rglob("*")):
        rel = path.relative_to(host.root)
        if not path.is_file() or {"logs", "var", "error"} & set(rel.parts) \
                or path.name.endswith("-shm"):  # SQLite's read marks, not data (-wal is)
            continue  # logs and the error log take the refusals; var holds sockets, pids
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def target() -> Iterator[Host]:
    """A running all-in-one host in a folder other users can reach, with one image."""
    base = Path(tempfile.mkdtemp(prefix="nbcli-attack-"))
    os.chmod(base, 0o755)
    old = os.environ.get("NBCLI_TESTING")
    os.environ["NBCLI_TESTING"] = "1"
    # the outsider: a host the CA enrolled (its certificate is good) but that is in no
    # SERVER list and is not the client it claims to be; it runs no daemon
    spec, outsider = multihost.create(base / "hosts", layout=[
        ("aio", "127.0.0.1", ["master", "media", "client"]), ("outsider", OUTSIDER, ["client"])])
    os.chmod(base / "hosts", 0o755)
    host = Host(spec)
    host.start()
    multihost.enrol([spec, outsider])
    try:
        data = base / "data"
        data.mkdir()
        (data / "f").write_text("backed up")
        add_stu(host, "disk1", base / "stu", media="aio")
        add_policy(host, "pol", "disk1", ["aio"], [str(data)])
        host.run("bpbackup", "-i", "-p", "pol", "-s", "full", "-w")
        yield host
    finally:
        host.stop()
        if old is None:
            os.environ.pop("NBCLI_TESTING", None)
        shutil.rmtree(base, ignore_errors=True)


def expected(entry: Op, local_user: bool) -> int:
    if local_user:
        return 135 if entry.who & (USER | CLIENT) else 46
    return 131 if CLIENT in entry.who else (135 if USER in entry.who else 46)


def test_every_op_refuses_a_local_user_and_an_outsider(target: Host) -> None:
    cfg = target.cfg
    ops = attack_ops(target.name, cfg)
    assert len(ops) > 60
    before_state = state(target)
    before_procs = {p.proc.pid for p in target.processes(spares=False)}
    sock = str(cfg.paths.pbx_socket)
    addr = cfg.address_of(target.name)

    # uid 65534 through the Unix socket and through TCP from the server's own address; ops
    # a local user may call (user-directed) are the handlers' to bound: test below
    jobs, rows = [], []
    for service, op_name, entry, msg in ops:
        if USER in entry.who:
            continue
        hello, request = frames.encode(frames.hello(service, target.name)), frames.encode(msg)
        for where in (sock, list(addr)):
            jobs.append((where, hello, request))
            rows.append((service, op_name, entry, where))
    replies = as_nobody(jobs)
    for (service, op_name, entry, where), (first, reply) in zip(rows, replies, strict=True):
        assert first is not None and first["status"] == 0, (service, op_name, where, first)
        assert reply is not None, (service, op_name, where)
        assert reply["status"] == expected(entry, True), (service, op_name, where,
                                                                  reply)
        assert set(reply) == {"status", "msg"}, reply  # nothing read comes back
    # a host outside the SERVER list, claiming to be the host itself
    at_gate = set()  # refused by the gate (which audits), not by a handler's own check
    for service, op_name, entry, msg in ops:
        reply = as_outsider(target, frames.encode(frames.hello(service, target.name)),
                            frames.encode(msg))
        # its certificate says who it is: asking about the target's client is 131 at the
        # gate, or 135 where the handler compares the record's client with the caller's
        allowed = {131, 135} if CLIENT in entry.who else {expected(entry, False)}
        assert reply["status"] in allowed, (service, op_name, reply)
        assert OUTSIDER in reply["msg"] or "outsider" in reply["msg"], reply
        assert set(reply) == {"status", "msg"}, reply
        if OUTSIDER in reply["msg"]:
            at_gate.add((service, op_name))

    assert state(target) == before_state
    assert {p.proc.pid for p in target.processes(spares=False)} == before_procs
    assert not [p for p in target.processes(spares=False)
                if p.program in ("bpbkar", "tar-restore", "bpbrm", "bptm")]
    # every refusal at the gate is in the master's error log
    refused = at_gate
    assert len(refused) > 60

    def logged() -> set[tuple[str, str]]:
        text = target.run("bperror", "-all", "-hoursago", "1").stdout
        return {(s, o) for s, o in refused if f"refused {o} from {OUTSIDER}" in text
                and f"to {s}:" in text}

    try:
        wait_for(lambda: logged() == refused, timeout=60, what="refusals in the error log")
    except AssertionError as e:
        raise AssertionError(f"{e}; missing {sorted(refused - logged())[:8]}") from None
    text = target.run("bperror", "-all", "-hoursago", "1").stdout
    assert "uid 65534" in text


def test_image_expire_by_a_local_user_is_refused(target: Host) -> None:
    """The probe of the issue: uid 65534 expired every image over the Unix socket."""
    cfg = target.cfg
    images = target.run("bpimagelist", "-idonly").stdout
    hello = frames.encode(frames.hello("bpdbm", target.name))
    request = frames.encode({"op": "image_expire", "client": "aio", "policy": "pol",
                             "expiration": 0})
    ((first, reply),) = as_nobody([(str(cfg.paths.pbx_socket), hello, request)])
    assert reply is not None and reply["status"] == 46
    assert target.run("bpimagelist", "-idonly").stdout == images


def test_a_local_user_lists_and_restores_this_host_only(target: Host) -> None:
    """User-directed ops pass the gate, bound to this host's client: another client's images
    are refused (135) before the catalog is read."""
    sock = str(target.cfg.paths.pbx_socket)
    hello = frames.encode(frames.hello("bpdbm", target.name))
    jobs = [(sock, hello, frames.encode({"op": "image_list", "client": "other"})),
            (sock, hello, frames.encode({"op": "image_list"}))]
    (_, other), (_, own) = as_nobody(jobs)
    assert other is not None and other["status"] == 135
    assert own is not None and own["status"] == 0
    assert {im["client"] for im in own["images"]} == {"aio"}


def test_a_users_restore_into_a_folder_they_cannot_write_is_refused(target: Host) -> None:
    """The probe of the issue: a bprd restore renamed into a root-only folder, by uid 65534."""
    base = target.root.parent.parent
    locked = base / "locked"
    locked.mkdir(mode=0o700, exist_ok=True)
    data = str(base / "data")
    hello = frames.encode(frames.hello("bprd", target.name))
    request = frames.encode({"op": "restore", "paths": [data],
                             "renames": [[data, str(locked / "x")]]})
    jobs = target.run("bpdbjobs", "-most_columns").stdout
    ((_, reply),) = as_nobody([(str(target.cfg.paths.pbx_socket), hello, request)])
    assert reply is not None and reply["status"] == 135 and "may not write" in reply["msg"]
    assert list(locked.iterdir()) == []
    assert target.run("bpdbjobs", "-most_columns").stdout == jobs  # no restore job


def test_admin_changes_and_restores_elsewhere_are_in_the_audit_trail(target: Host) -> None:
    base = target.root.parent.parent
    target.run("bpstuadd", "-label", "audited", "-path", str(base / "stu2"), "-host", "aio")
    target.run("bpstudel", "-label", "audited")
    target.run("bpplinfo", "pol", "-modify", "-active")
    data = str(base / "data")
    rename = base / "rename"
    rename.write_text(f"change {data} to {base / 'elsewhere'}\n")
    target.run("bprestore", "-R", str(rename), "-w", data)
    wanted = ["stu_add by aio (local, uid 0) on nbemm: label='audited'",
              "stu_delete by aio (local, uid 0) on nbemm: label='audited'",
              "policy_set_info by aio (local, uid 0) on bpdbm: policy='pol'",
              f"by aio (local, uid 0): aio's ['{data}'] to client aio, renamed"]

    def trail() -> list[str]:
        text = target.run("bperror", "-all", "-hoursago", "1").stdout
        return [w for w in wanted if w not in text]

    wait_for(lambda: trail() == [], timeout=60, what=f"audit entries {trail()}")


def test_the_issues_probes_through_bpcd_run_nothing(target: Host) -> None:
    """uid 65534 asks bpcd (Unix socket and TCP) to launch bpbkar on a root-only file and
    tar-restore into a root-only folder: 46, no agent starts, nothing is read or written."""
    cfg = target.cfg
    base = target.root.parent.parent
    secret = base / "root-only.txt"
    secret.write_text("root's secret")
    os.chmod(secret, 0o600)
    locked = base / "locked-bpcd"
    locked.mkdir(mode=0o700, exist_ok=True)
    hello = frames.encode(frames.hello("bpcd", target.name))
    before = {p.proc.pid for p in target.processes(spares=False)}
    jobs = []
    for program in ("bpbkar", "tar-restore"):  # refused at launch: no backup/restore follows
        launch = frames.encode({"op": "launch", "program": program, "args": []})
        for where in (str(cfg.paths.pbx_socket), list(cfg.address_of(target.name))):
            jobs.append((where, hello, launch))
    for (_, reply) in as_nobody(jobs):
        assert reply is not None and reply["status"] == 46, reply
    assert {p.proc.pid for p in target.processes(spares=False)} == before
    assert list(locked.iterdir()) == []


def test_a_users_restore_through_bpcd(target: Host) -> None:
    """bprestore by a user goes through the client's bpcd, which vouches for the user: into
    a folder the user cannot write it is refused (135) before any job; into the user's own
    folder it runs as the user's restore job."""
    base = target.root.parent.parent
    data = str(base / "data")
    locked = base / "locked-user"
    locked.mkdir(mode=0o700, exist_ok=True)
    mine = base / "nobodys"
    mine.mkdir(exist_ok=True)
    os.chown(mine, NOBODY, NOBODY)
    hello = frames.encode(frames.hello("bpcd", target.name))
    sock = str(target.cfg.paths.pbx_socket)
    ask = [(sock, hello, frames.encode({"op": "user_restore", "paths": [data],
                                        "renames": [[data, str(where / "x")]]}))
           for where in (locked, mine)]
    (_, refused), (_, accepted) = as_nobody(ask)
    assert refused is not None and refused["status"] == 135, refused
    assert list(locked.iterdir()) == []
    assert accepted is not None and accepted["status"] == 0, accepted
    job = target.run("bpdbjobs", "-jobid", str(accepted["jobid"]), "-all_columns").stdout
    assert ",nobody," in job or "nobody" in job
    wait_for(lambda: (mine / "x" / "f").exists(), timeout=60, what="the restored file")
    assert (mine / "x" / "f").read_text() == "backed up"
