"""Three nbcli hosts for a benchmark: master, media (a disk storage unit) and client on
127.0.0.1-3, driven through the real commands, plus what the benchmarks read back (jobs,
the agents' log lines)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness import fresh_bytecode
from nbcli import config, multihost
from nbcli.net import client


class Site:
    def __init__(self, base: Path, stu: Path | None = None) -> None:
        fresh_bytecode()
        self.base = base
        self.hosts = {s.name: s for s in multihost.create(base / "hosts")}
        master_cfg = config.load(self.hosts["master"].root)
        # The race is against tools that send in the clear (tar | socat): the image stream
        # goes in the clear here too; bench/dte.py measures what encrypting it costs.
        config.apply_settings(master_cfg, {"DTE_GLOBAL_MODE": "PREFERRED_OFF"})
        master_cfg.save()
        multihost.up(list(self.hosts.values()))
        multihost.enrol(list(self.hosts.values()))  # control connections are TLS, as in use
        self.stu = stu or base / "stu"
        self.stu.mkdir(parents=True, exist_ok=True)
        self.run("bpstuadd", "-label", "bench", "-path", str(self.stu), "-host", "media")
        self.cfg = config.load(self.hosts["master"].root)
        self._policies: set[str] = set()

    def run(self, *argv: str, host: str = "master") -> subprocess.CompletedProcess[str]:
        r = multihost.run(self.hosts[host], *argv, check=False)
        if r.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr}")
        return r

    def policy(self, name: str, paths: list[Path], client_name: str = "client") -> str:
        if name not in self._policies:
            self.run("bppolicynew", name)
            self.run("bpplinfo", name, "-modify", "-residence", "bench")
            self.run("bpplinclude", name, "-add", *[str(p) for p in paths])
            self.run("bpplsched", name, "-add", "full", "-st", "FULL")
            self._policies.add(name)
        self.run("bpplclients", name, "-add", client_name, "Linux", "Debian")
        return name

    def backup(self, policy: str) -> int:
        self.run("bpbackup", "-i", "-p", policy, "-s", "full", "-w")
        return self.last_job()

    def restore(self, source: Path, into: Path, *paths: Path) -> int:
        rename = self.base / f"rename_{time.monotonic_ns()}"
        rename.write_text(f"change {source} to {into}\n")
        self.run("bprestore", "-C", "client", "-R", str(rename), "-w",
                 *[str(p) for p in paths or (source,)])
        return self.last_job()

    def last_job(self) -> int:
        return int(self.call("bpjobd", "job_list", limit=1)["jobs"][0]["jobid"])

    def job(self, jobid: int) -> dict[str, Any]:
        return dict(self.call("bpjobd", "job_get", jobid=jobid)["job"])

    def call(self, service: str, op: str, **fields: Any) -> dict[str, Any]:
        return client.call(self.cfg, "master", service, op, **fields)

    def log_values(self, jobid: int, pattern: str) -> list[str]:
        """A regex's first group in every log line of the job, on every host."""
        found = []
        rx = re.compile(rf"\[jobid={jobid}\] .*{pattern}")
        for log in self.base.glob("hosts/*/netbackup/logs/*/log.*"):
            for line in log.read_text(errors="replace").splitlines():
                m = rx.search(line)
                if m:
                    found.append(m.group(1))
        return found

    def clear_stu(self) -> None:
        for f in self.stu.glob("*_C1_*"):
            f.unlink()

    def down(self) -> None:
        multihost.down(list(self.hosts.values()))
