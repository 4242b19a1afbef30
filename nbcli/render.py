"""Output helpers shared by the commands: NetBackup's tables, raw lines, CSV and JSON.

Formats themselves (which columns, which labels) live with each command's renderer; this module
only has the mechanics they share, so that every table pads and every CSV escapes the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click


def csv_field(value: Any) -> str:
    """One field of NetBackup's comma lists: commas escaped as \\, and backslashes as \\\\."""
    if value is None:
        return ""
    text = str(value)
    return text.replace("\\", "\\\\").replace(",", "\\,")


def csv_line(values: Iterable[Any]) -> str:
    return ",".join(csv_field(v) for v in values)


def raw_field(value: Any) -> str:
    """A field of a space-separated raw (-l) line: empty strings are *NULL*, as NetBackup's."""
    if value is None or value == "":
        return "*NULL*"
    text = str(value)
    return text.replace(" ", "_") if " " in text else text


def table(rows: Sequence[Sequence[Any]], widths: Sequence[int],
          align: str | None = None) -> list[str]:
    """Fixed-width columns; `align` has one 'l' or 'r' per column (default: right)."""
    align = align or "r" * len(widths)
    out = []
    for row in rows:
        cells = []
        for value, width, a in zip(row, widths, align):
            text = "" if value is None else str(value)
            cells.append(text.ljust(width) if a == "l" else text.rjust(width))
        out.append(" ".join(cells).rstrip())
    return out


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


def echo_json(obj: Any, compact: bool = False) -> None:
    click.echo(json.dumps(obj, separators=(",", ":")) if compact
               else json.dumps(obj, indent=2, sort_keys=False))
