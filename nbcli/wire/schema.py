"""The fields of a request, declared beside its op, and the one validator that checks them.

Free of I/O, like the rest of nbcli.wire. A service's op table (nbcli.net.service.Op) names each
op's fields; the service layer runs `validate` before the handler, so a handler sees only the
fields it declared, each of its declared type and within its declared bounds, with defaults
filled in. Two statuses, the same in every daemon:

- 143 (invalid command protocol): the request's shape is wrong - a required field missing, a
  field of another type, a field the op does not declare. A peer that sends this is broken.
- 20 (invalid command parameter): well-formed values that are out of range - a number outside
  its bounds, a string too long or not one of its choices, a list too long.

`bool` is never an `int` here (JSON true is not 1), and null counts as absent. An object inside
a request (a fragment of image_complete) is declared the same way, with its own fields; a few
ops carry an open set of fields checked elsewhere (bpjobd's job fields): their `rest` checker
gets every field the op does not declare and must refuse the ones it does not know (143).
Imports nothing from nbcli but status.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nbcli.status import INVALID_PARAMETER, INVALID_PROTOCOL, NbuError

Message = dict[str, Any]

INT64_MAX = 2**63 - 1  # SQLite's and the frames' largest integer
DEFAULT_MAX_STR = 4096  # no field of any op is longer; a path is at most PATH_MAX
DEFAULT_MAX_ITEMS = 1_000_000  # a list is bounded anyway by the frame (16 MiB)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a request: its JSON type, whether it must be there, and its bounds."""

    kind: type | tuple[type, ...]
    required: bool = True
    default: Any = None
    lo: int | None = None  # numbers: smallest value
    hi: int | None = None  # numbers: largest value
    max_len: int | None = None  # strings and lists: most characters or items
    choices: frozenset[Any] | None = None
    items: Field | None = None  # lists: every element's own field
    fields: Mapping[str, Field] | None = None  # objects: their own declared fields

    def check(self, op: str, name: str, value: Any) -> Any:
        """`value`, checked (NbuError 143 for its shape, 20 for its range)."""
        if not _is(value, self.kind):
            raise NbuError(INVALID_PROTOCOL, f"{op}: field {name!r} must be "
                                             f"{_kind_name(self.kind)}, not {_json_name(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise NbuError(INVALID_PARAMETER, f"{op}: {name} must be a finite number")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo = self.lo if self.lo is not None else -INT64_MAX - 1
            hi = self.hi if self.hi is not None else INT64_MAX
            if not lo <= value <= hi:
                raise NbuError(INVALID_PARAMETER, f"{op}: {name} must be {lo} to {hi}, "
                                                  f"not {value}")
        if isinstance(value, (str, list)):
            limit = self.max_len
            if limit is None:
                limit = DEFAULT_MAX_STR if isinstance(value, str) else DEFAULT_MAX_ITEMS
            if len(value) > limit:
                raise NbuError(INVALID_PARAMETER, f"{op}: {name} is longer than {limit}")
        if self.choices is not None and value not in self.choices:
            raise NbuError(INVALID_PARAMETER, f"{op}: {name} must be one of "
                                              f"{', '.join(sorted(map(str, self.choices)))}, "
                                              f"not {value!r}")
        if self.items is not None and isinstance(value, list):
            return [self.items.check(op, f"{name}[{i}]", item) for i, item in enumerate(value)]
        if self.fields is not None and isinstance(value, dict):
            return _object(op, f"{name}.", value, self.fields, None)
        return value


Fields = Mapping[str, Field]
# The checker of an op's open set of fields: the undeclared ones in, checked ones out.
Rest = Callable[[Message], Message]


def req(kind: type | tuple[type, ...], **bounds: Any) -> Field:
    """A field every request of the op carries."""
    return Field(kind, True, None, **bounds)


def opt(kind: type | tuple[type, ...], default: Any = None, **bounds: Any) -> Field:
    """A field a request may leave out (or send as null); the handler then sees `default`."""
    return Field(kind, False, default, **bounds)


def obj(fields: Mapping[str, Field] | None = None, required: bool = True,
        **bounds: Any) -> Field:
    """An object field with its own declared fields: `obj({"num": req(int)})` (an optional
    one is None when left out)."""
    return Field(dict, required, None, fields=fields, **bounds)


def validate(op: str, msg: Message, fields: Fields, rest: Rest | None = None) -> Message:
    """The request as its handler may trust it: declared fields only, checked, defaults in.

    With `rest`, the fields the op does not declare (maybe none) go to it instead of being
    refused."""
    out: Message = {"op": op}
    out.update(_object(op, "", {k: v for k, v in msg.items() if k != "op"}, fields, rest))
    return out


def _object(op: str, prefix: str, msg: Mapping[str, Any], fields: Fields,
            rest: Rest | None) -> Message:
    unknown = {k: v for k, v in msg.items() if k not in fields}
    if unknown and rest is None:
        raise NbuError(INVALID_PROTOCOL, f"{op}: unknown field {prefix + sorted(unknown)[0]!r}")
    out: Message = {}
    for name, spec in fields.items():
        value = msg.get(name)
        if value is None:
            if spec.required:
                raise NbuError(INVALID_PROTOCOL, f"{op}: field {prefix + name!r} is required")
            # A list or object default is the handler's own to change.
            out[name] = copy.copy(spec.default)
            continue
        out[name] = spec.check(op, prefix + name, value)
    if rest is not None:
        out.update(rest(unknown))
    return out


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True  # JSON does not tell 1 from 1.0
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_NAMES.get(k, k.__name__) for k in kinds)


def _json_name(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)


_NAMES: dict[type, str] = {str: "a string", int: "an integer", bool: "true or false",
                           float: "a number", list: "a list", dict: "an object"}
