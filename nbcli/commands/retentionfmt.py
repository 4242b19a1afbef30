"""bpretlevel's displays of the retention levels: -L (the default), -l and -U.

-L is the form scripts parse (reference/netbackup-cli.md §1.17): header lines that start with
`R`, `L` and `-`, then one row per level, `<level> <days> (<seconds>) <period text>`, numbers
right-aligned. Infinity shows as NetBackup's 2147483647 seconds (24855 days); a period that is
not a whole number of days shows its days rounded down, the seconds are exact.
"""

from __future__ import annotations

from nbcli.model.retention import DAY, period_text, shown_seconds

Levels = list[tuple[int, int | None]]


def long_form(levels: Levels) -> list[str]:
    out = ["Retention", "Level   Days (    Seconds) Period", "-" * 40]
    for level, seconds in levels:
        shown = shown_seconds(seconds)
        out.append(f"{level:4d} {shown // DAY:6d} ({shown:11d}) {period_text(seconds)}")
    return out


def raw_form(levels: Levels) -> list[str]:
    return [f"{level} {shown_seconds(s) // DAY} {shown_seconds(s)} {period_text(s)}"
            for level, s in levels]


def user_form(levels: Levels) -> list[str]:
    out = ["Retention Level  Retention Period", "---------------  ----------------"]
    return out + [f"{level:15d}  {period_text(s)}" for level, s in levels]


def show(levels: Levels, form: str) -> list[str]:
    return {"L": long_form, "l": raw_form, "U": user_form}[form](levels)
