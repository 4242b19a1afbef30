"""The README's main job: an all-in-one host on the embedded default root, a backup and a
restore through the real daemons, and the Activity Monitor; the host's certificate is shown
after start (nbwmc, the master's CA, enrols the master itself).

`python -m nbcli.demo` starts the default host (created on first use under the user's data
folder), adds a disk storage unit and a policy (once), writes a sample folder, backs it up
with `bpbackup -i -w`, restores it to a new folder with `bprestore -R -w`, checks that the two
trees are the same, and shows `bpdbjobs`. The host keeps running; `netbackup stop` stops it.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import time
from pathlib import Path

from nbcli import config, programs


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(argv)}", flush=True)
    r = subprocess.run(programs.argv_for(argv[0]) + list(argv[1:]), text=True,
                       capture_output=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if check and r.returncode:
        sys.exit(r.returncode)
    return r


def quiet(*argv: str) -> int:
    return subprocess.run(programs.argv_for(argv[0]) + list(argv[1:]),
                          capture_output=True).returncode


def make_sample(folder: Path) -> None:
    """A small tree with the usual things in it: text, binary, nested folders, a link."""
    if folder.exists():
        return
    (folder / "docs" / "notes").mkdir(parents=True)
    (folder / "bin").mkdir()
    (folder / "docs" / "readme.txt").write_text("nbcli demo\n" * 100)
    for i in range(20):
        (folder / "docs" / "notes" / f"note{i:02d}.txt").write_text(f"note {i}\n" * (i + 1))
    (folder / "bin" / "data.bin").write_bytes(os.urandom(2 << 20))
    (folder / "bin" / "run.sh").write_text("#!/bin/sh\necho hello\n")
    os.chmod(folder / "bin" / "run.sh", 0o755)
    os.symlink("docs/readme.txt", folder / "README")
    (folder / "empty").mkdir()


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def main() -> None:
    cfg = config.ensure_default_root()
    os.environ["NB_ROOT"] = str(cfg.root)
    name = cfg.client_name
    demo = cfg.root / "demo"
    print(f"nbcli demo: all-in-one host {name} in {cfg.root}\n", flush=True)
    sh("netbackup", "start")
    # The master enrols itself when nbwmc starts (the CA and its host-ID certificate).
    sh("nbcertcmd", "-listCertDetails")
    (demo / "stu").mkdir(parents=True, exist_ok=True)
    sample = demo / "sample"
    make_sample(sample)
    if quiet("bpstulist", "-label", "demo_stu") != 0:
        sh("bpstuadd", "-label", "demo_stu", "-path", str(demo / "stu"), "-host", name)
    if quiet("bppllist", "demo") != 0:
        sh("bppolicynew", "demo")
        sh("bpplinfo", "demo", "-modify", "-residence", "demo_stu")
        sh("bpplclients", "demo", "-add", name, "Linux", "Linux")
        sh("bpplinclude", "demo", "-add", str(sample))
        sh("bpplsched", "demo", "-add", "full", "-st", "FULL", "-rl", "1")
    sh("bpbackup", "-i", "-p", "demo", "-s", "full", "-w")
    sh("bplist", "-C", name, "-R", "-l", str(sample / "docs" / "notes"))
    restored = demo / f"restored_{time.strftime('%Y%m%d_%H%M%S')}"
    rename = demo / "rename_file"
    rename.write_text(f"change {sample} to {restored}\n")
    sh("bprestore", "-C", name, "-R", str(rename), "-w", str(sample))
    if not same_tree(sample, restored):
        print(f"\nFAILED: {restored} differs from {sample}", file=sys.stderr)
        sys.exit(1)
    print(f"\nRestored {restored}: identical to {sample}.\n", flush=True)
    sh("bpdbjobs")
    print(f"\nThe host keeps running. Try: NB_ROOT={cfg.root} bpdbjobs -all_columns; "
          f"stop it with: NB_ROOT={cfg.root} netbackup stop")


if __name__ == "__main__":
    main()
