"""Dataclass records as plain tables (TOML tables on disk, JSON objects on the wire) and back.

A record's table holds its fields by name, None ("not set") fields left out; reading one back
checks each value against the type its annotation names (a bool is not an int here). The
stores of nbcli.catalog.tomldoc write these tables to disk, bpdbm sends them to the commands.
Pure: imports nothing from nbcli but status.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from nbcli.status import DATABASE_INCONSISTENT, NbuError

T = TypeVar("T")


def to_table(record: Any) -> dict[str, Any]:
    """A dataclass record's fields as a table; None ("not set") fields are left out."""
    assert is_dataclass(record)
    return {f.name: getattr(record, f.name) for f in fields(record)
            if getattr(record, f.name) is not None}


def from_table(cls: type[T], table: dict[str, Any], what: str, status: int = DATABASE_INCONSISTENT,
               **given: Any) -> T:
    """A `cls` record from a table, each value checked against the field's annotation;
    fields missing from the table keep their defaults, `given` ones are set as they are.
    `status` (naming `what`; 238 by default, a damaged file) when a value has the wrong type."""
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for f in fields(cls):  # type: ignore[arg-type]  # cls: any dataclass type
        if f.name in given or f.name not in table:
            continue
        value = table[f.name]
        if not fits(value, hints[f.name]):
            raise NbuError(status, f"{what}: {f.name} = {value!r} is not "
                                   f"{_type_name(hints[f.name])}")
        values[f.name] = value
    return cls(**values)


def field_names(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def fits(value: Any, hint: Any) -> bool:
    """Whether `value` (from tomllib or JSON) is of type `hint`: int, str, bool, list[x],
    x | None."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    # bool is a subclass of int, but `true` is no number of minutes and `1` is no flag
    return isinstance(value, hint) and isinstance(value, bool) == (hint is bool)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)
