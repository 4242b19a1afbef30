"""`python -m nbcli <program> [args]`: run any nbcli program without its console script."""

import sys

from nbcli import programs

if len(sys.argv) < 2 or sys.argv[1] not in programs.ALL:
    sys.stderr.write("usage: python -m nbcli <program> [args]\nprograms: "
                     + " ".join(sorted(programs.ALL)) + "\n")
    sys.exit(20)
name = sys.argv.pop(1)
programs.run(name)
