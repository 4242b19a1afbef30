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

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from nbcli import clock, config
from nbcli.config import HostConfig
from nbcli.status import INVALID_PARAMETER, LOGIC_ERROR, NbuError, exit_code, exit_line

if TYPE_CHECKING:
    import logging


def load_cfg(root: str | None) -> HostConfig:
    """The host this command runs on (--root, NB_ROOT or the default), its clock set up."""
    cfg = config.load(root)
    clock.use_root(cfg.root)
    return cfg


def master_list(cfg: HostConfig, option: str | None) -> list[str]:
    """`-M master_server,...`: the masters to ask, in order (default: this host's master)."""
    if option is None:
        return [cfg.master]
    names = [n.strip() for n in option.split(",") if n.strip()]
    if not names:
        raise NbuError(INVALID_PARAMETER, "-M needs a master server name")
    return names


def admin_log(cfg: HostConfig) -> logging.Logger:
    # Imported here: most commands never log, and `logging` costs each of them ~2.5 ms.
    from nbcli import log as nblog
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

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """--help shows NetBackup's synopsis, as the usage error does."""
        if self.synopsis:
            formatter.write(self.get_usage(ctx) + "\n")
        else:
            super().format_usage(ctx, formatter)

    # click's main is overloaded on standalone_mode; this one is always standalone (it exits).
    def main(self, args: Sequence[str] | None = None,  # type: ignore[override]
             prog_name: str | None = None, **extra: Any) -> Any:
        prog = prog_name or self.name or "nbcli"
        # `bpdbjobs | head`: die quietly of SIGPIPE when the reader goes away, as ls does.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
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
            fail(prog, NbuError(LOGIC_ERROR, f"{type(e).__name__}: {e}"))
        status = rv if isinstance(rv, int) else 0
        sys.stdout.flush()
        if status:
            # `bpbackup -w` ending with the job's status: the full number on stderr too.
            click.echo(exit_line(status), err=True)
        sys.exit(exit_code(status))


def fail(prog: str, e: NbuError) -> None:
    """Print a failure NetBackup's way and exit with its status."""
    sys.stdout.flush()
    if e.detail:
        click.echo(f"{prog}: {e.detail}", err=True)
    click.echo(exit_line(e.status), err=True)
    sys.exit(exit_code(e.status))



def _log_bug(prog: str) -> None:
    import traceback
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


# --- NetBackup argument forms click does not parse by itself --------------------------------

def _is_clock(token: str) -> bool:
    parts = token.split(":")
    return 2 <= len(parts) <= 3 and all(p.isdigit() and len(p) <= 2 for p in parts)


def join_date_times(args: list[str], options: set[str]) -> list[str]:
    """`-s 01/01/2008 00:00:00` -> `-s "01/01/2008 00:00:00"`: a date option's time is the
    next word when it looks like a time, as NetBackup's commands read it."""
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        out.append(word)
        i += 1
        if word in options and i < len(args):
            value = args[i]
            i += 1
            if i < len(args) and _is_clock(args[i]):
                value = f"{value} {args[i]}"
                i += 1
            out.append(value)
    return out


def optional_clock(args: list[str], option: str, into: str) -> list[str]:
    """`-w [hh:mm:ss]`: the value is taken only when it looks like a time, so that
    `bpbackup -w /home` keeps /home as a file name. The value moves to `into`."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == option and i + 1 < len(args) and _is_clock(args[i + 1]):
            out += [option, into, args[i + 1]]
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out
