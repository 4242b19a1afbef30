"""Options several commands share, each declared once so that its flag, metavar and help read
the same in every command that takes it (a command's --help is its man page: two spellings of
one option would be two man pages disagreeing).

In the Media Manager commands -h names the EMM server, not help: NbCommand leaves a flag a
command declares out of its help options, so -help and --help still show the help there.

Place: imported by the commands (vm*, available_media, bpmedia, bpmedialist, bplabel,
bpexpdate, bperror, bpimagelist); imports click only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# -h EMM_server: the master whose nbemm the command asks (the caller's `emm_server or
# cfg.master`). The vm* changes (vmadd, vmchange, vmdelete, vmpool) word it one way...
emm_server_option = click.option("-h", "emm_server",
                                 help="EMM server (default: this host's master).")
# ... the queries (vmquery, available_media) another, with NetBackup's metavar.
emm_server_query_option = click.option("-h", "emm_server", metavar="EMM_SERVER",
                                       help="The EMM server (default: the master).")

# -M of the bp* commands, read by cli.master_list: the master (bpmedia, bplabel take the first
# of a list) or the masters to ask in turn (bpmedialist, bpexpdate).
first_master_option = click.option("-M", "masters", metavar="MASTER",
                                   help="The master (first of the list).")
masters_option = click.option("-M", "masters", metavar="MASTER",
                              help="Masters to ask (comma-separated).")

# -v of the bp* reports and media commands: NetBackup's verbose logging, which nbcli's
# commands do without.
verbose_accepted = click.option("-v", "verbose", is_flag=True, help="Accepted; no effect.")


def media_id_options(what: str) -> Callable[[F], F]:
    """`-m MEDIA_ID` and its synonym `-ev MEDIA_ID` (the command takes `media_id or ev`),
    `what` saying what the medium is for: "The medium", "This medium only"."""
    def decorate(f: F) -> F:
        f = click.option("-ev", "ev", metavar="MEDIA_ID", help=f"{what} (as -m).")(f)
        return click.option("-m", "media_id", metavar="MEDIA_ID", help=f"{what}.")(f)
    return decorate
