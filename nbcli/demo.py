"""The README's main job: an all-in-one host on the embedded default root, shown working.

`python -m nbcli.demo` starts the default host (created on first use under the user's data
folder), then shows its processes (`bpps -x`) and daemons (`netbackup status`). The host keeps
running afterwards; `netbackup stop` stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from nbcli import config, programs


def sh(*argv: str) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    r = subprocess.run(programs.argv_for(argv[0]) + list(argv[1:]))
    if r.returncode:
        sys.exit(r.returncode)


def main() -> None:
    cfg = config.ensure_default_root()
    os.environ["NB_ROOT"] = str(cfg.root)
    print(f"nbcli demo: all-in-one host {cfg.client_name} in {cfg.root}", flush=True)
    sh("netbackup", "start")
    sh("bpps", "-x")
    sh("netbackup", "status")
    print(f"\nThe host keeps running. Try: NB_ROOT={cfg.root} bpps -x; "
          f"stop it with: NB_ROOT={cfg.root} netbackup stop")


if __name__ == "__main__":
    main()
