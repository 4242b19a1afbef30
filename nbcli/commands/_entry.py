"""How every nbcli command starts, fails and exits: the one place that maps errors to statuses.

A command is a click command of class `NbCommand`. Its callback returns the NetBackup status of
what it did (None = 0) or raises NbuError. This module alone prints the failure and exits:

    <command>: <detail>                 (when there is one)
    EXIT STATUS <n>: <NetBackup message>

on stderr, with exit code n (a status over 255 reaches the shell modulo 256, as NetBackup's do;
the EXIT STATUS line carries the full number). A usage error prints the real synopsis and exits
with status 20, "invalid command parameter". A bug prints one line, not a traceback; the
traceback goes to the admin log.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import click

from nbcli import clock, config
from nbcli import log as nblog
from nbcli.config import HostConfig
from nbcli.status import NbuError, exit_line


def load_cfg(root: str | None) -> HostConfig:
    """The host this command runs on (--root, NB_ROOT or the default), its clock set up."""
    cfg = config.load(root)
    clock.use_root(cfg.root)
    return cfg


def admin_log(cfg: HostConfig) -> logging.Logger:
    return nblog.setup(cfg.paths.logs, "admin", cfg.verbose)


class NbCommand(click.Command):
    """A click command that behaves like a NetBackup binary (see the module docstring)."""

    def __init__(self, *args: Any, synopsis: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("help_option_names",
                                                              ["-help", "--help", "-h"])
        super().__init__(*args, **kwargs)
        self.synopsis = synopsis.strip()

    def get_usage(self, ctx: click.Context) -> str:
        if self.synopsis:
            return "USAGE: " + self.synopsis.replace("\n", "\n       ")
        return super().get_usage(ctx)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             **extra: Any) -> Any:
        prog = prog_name or self.name or "nbcli"
        try:
            rv = super().main(args, prog_name=prog, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help(), err=True)
            sys.exit(20)
        except click.UsageError as e:
            click.echo(f"{prog}: {e.format_message()}", err=True)
            click.echo(self.get_usage(e.ctx) if e.ctx else self.synopsis, err=True)
            click.echo(exit_line(20), err=True)
            sys.exit(20)
        except click.Abort:
            click.echo(exit_line(150), err=True)
            sys.exit(150)
        except NbuError as e:
            fail(prog, e)
        except (BrokenPipeError, KeyboardInterrupt):
            # `bpdbjobs | head` closes the pipe early; that is not an error of ours.
            os._exit(0)
        except Exception as e:
            _log_bug(prog)
            fail(prog, NbuError(256, f"{type(e).__name__}: {e}"))
        status = rv if isinstance(rv, int) else 0
        sys.stdout.flush()
        sys.exit(status)


def fail(prog: str, e: NbuError) -> None:
    """Print a failure NetBackup's way and exit with its status."""
    sys.stdout.flush()
    if e.detail:
        click.echo(f"{prog}: {e.detail}", err=True)
    click.echo(exit_line(e.status), err=True)
    sys.exit(e.status)


def _log_bug(prog: str) -> None:
    try:
        cfg = config.load(None)
        admin_log(cfg).error("%s failed:\n%s", prog, traceback.format_exc())
    except Exception:
        pass


def command(name: str, synopsis: str, **kwargs: Any) -> Callable[[Callable[..., Any]], NbCommand]:
    """Declare a NetBackup command: `@command("bpps", "bpps [-a | -x]")`."""
    return click.command(name=name, cls=NbCommand, synopsis=synopsis, **kwargs)


def root_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--root DIR`: the host root (default $NB_ROOT, else the user's data folder)."""
    return click.option("--root", "-root", "root", type=click.Path(file_okay=False),
                        default=None, envvar="NB_ROOT", show_envvar=True,
                        help="Host root folder (default: the user data folder).")(f)


def entry(cmd: NbCommand) -> Callable[[], None]:
    """The console-script function for `cmd`."""

    def main() -> None:
        cmd.main(prog_name=cmd.name)

    return main
