"""nbcli.wire.schema.validate: shapes are 143, ranges 20, defaults filled, nothing undeclared."""

from __future__ import annotations

from typing import Any

import pytest

from nbcli.status import INVALID_PARAMETER, INVALID_PROTOCOL, NbuError
from nbcli.wire import schema
from nbcli.wire.schema import INT64_MAX, Fields, obj, opt, req

FIELDS: Fields = {
    "jobid": req(int, lo=1, hi=1000),
    "label": opt(str, "none", max_len=8),
    "kind": opt(str, choices=frozenset({"backup", "restore"})),
    "paths": opt(list, [], items=req(str), max_len=3),
    "flag": opt(bool, False),
    "seconds": opt(float, lo=0),
    "either": opt((bool, int), False),
    "frag": obj({"num": req(int, lo=1), "path": opt(str, "/")}, required=False),
    "frags": opt(list, [], items=obj({"num": req(int)})),
}


def status_of(msg: dict[str, Any], fields: Fields = FIELDS) -> int:
    with pytest.raises(NbuError) as e:
        schema.validate("op", {"op": "op", **msg}, fields)
    return e.value.status


def test_defaults_fill_what_is_left_out_or_null() -> None:
    got = schema.validate("op", {"op": "op", "jobid": 5, "label": None}, FIELDS)
    assert got == {"op": "op", "jobid": 5, "label": "none", "kind": None, "paths": [],
                   "flag": False, "seconds": None, "either": False, "frag": None, "frags": []}


def test_list_defaults_are_each_requests_own() -> None:
    first = schema.validate("op", {"jobid": 1}, FIELDS)
    first["paths"].append("/changed")
    assert schema.validate("op", {"jobid": 1}, FIELDS)["paths"] == []


@pytest.mark.parametrize("msg", [
    {},                                   # required field missing
    {"jobid": None},                      # null is absent
    {"jobid": "5"},                       # a string is no int
    {"jobid": True},                      # bool is not int
    {"jobid": 1.0},                       # a float is no int either
    {"jobid": 1, "flag": 1},              # int is not bool
    {"jobid": 1, "label": 7},
    {"jobid": 1, "paths": "/etc"},
    {"jobid": 1, "paths": ["/etc", 3]},   # an item of the wrong kind
    {"jobid": 1, "seconds": "soon"},
    {"jobid": 1, "seconds": False},
    {"jobid": 1, "unknown": 1},           # undeclared
    {"jobid": 1, "frag": []},
    {"jobid": 1, "frag": {"path": "/x"}},             # nested required field missing
    {"jobid": 1, "frag": {"num": 1, "extra": 0}},     # nested undeclared field
    {"jobid": 1, "frags": [{"num": 1}, {"num": "2"}]},
])
def test_shape_mistakes_are_143(msg: dict[str, Any]) -> None:
    assert status_of(msg) == INVALID_PROTOCOL


@pytest.mark.parametrize("msg", [
    {"jobid": 0},                         # below lo
    {"jobid": 1001},                      # above hi
    {"jobid": 1, "label": "123456789"},   # longer than max_len
    {"jobid": 1, "kind": "copy"},         # not a choice
    {"jobid": 1, "paths": ["a", "b", "c", "d"]},
    {"jobid": 1, "seconds": -0.5},
    {"jobid": 1, "seconds": float("nan")},
    {"jobid": 1, "seconds": float("inf")},
    {"jobid": 1, "frag": {"num": 0}},     # nested range
])
def test_range_mistakes_are_20(msg: dict[str, Any]) -> None:
    assert status_of(msg) == INVALID_PARAMETER


def test_bounds_are_inclusive_and_ints_are_int64_by_default() -> None:
    for jobid in (1, 1000):
        assert schema.validate("op", {"jobid": jobid}, FIELDS)["jobid"] == jobid
    plain: Fields = {"n": req(int)}
    assert schema.validate("op", {"n": INT64_MAX}, plain)["n"] == INT64_MAX
    assert status_of({"n": INT64_MAX + 1}, plain) == INVALID_PARAMETER
    assert status_of({"n": -INT64_MAX - 2}, plain) == INVALID_PARAMETER


def test_strings_are_bounded_by_default() -> None:
    plain: Fields = {"s": req(str)}
    schema.validate("op", {"s": "x" * schema.DEFAULT_MAX_STR}, plain)
    assert status_of({"s": "x" * (schema.DEFAULT_MAX_STR + 1)}, plain) == INVALID_PARAMETER


def test_an_int_is_a_float_and_a_bool_or_int_takes_both() -> None:
    got = schema.validate("op", {"jobid": 1, "seconds": 3, "either": 1}, FIELDS)
    assert (got["seconds"], got["either"]) == (3, 1)
    assert schema.validate("op", {"jobid": 1, "either": True}, FIELDS)["either"] is True


def test_nested_objects_are_checked_and_filled() -> None:
    got = schema.validate("op", {"jobid": 1, "frag": {"num": 2},
                                 "frags": [{"num": 1}, {"num": 2}]}, FIELDS)
    assert got["frag"] == {"num": 2, "path": "/"}
    assert got["frags"] == [{"num": 1}, {"num": 2}]


def test_rest_gets_the_undeclared_fields_and_may_refuse_them() -> None:
    seen: list[dict[str, Any]] = []

    def rest(extra: dict[str, Any]) -> dict[str, Any]:
        seen.append(extra)
        if "bad" in extra:
            raise NbuError(INVALID_PROTOCOL, "bad")
        return {k: str(v) for k, v in extra.items()}

    fields: Fields = {"jobid": req(int)}
    got = schema.validate("op", {"op": "op", "jobid": 1, "a": 1}, fields, rest)
    assert got == {"op": "op", "jobid": 1, "a": "1"}
    schema.validate("op", {"jobid": 1}, fields, rest)
    assert seen[-1] == {}  # called even with nothing undeclared: it may require fields
    with pytest.raises(NbuError) as e:
        schema.validate("op", {"jobid": 1, "bad": 1}, fields, rest)
    assert e.value.status == INVALID_PROTOCOL


def test_messages_name_the_op_and_the_field() -> None:
    with pytest.raises(NbuError) as e:
        schema.validate("stu_add", {"label": 3}, {"label": req(str)})
    assert "stu_add" in e.value.detail and "label" in e.value.detail
    with pytest.raises(NbuError) as e:
        schema.validate("image_complete", {"frags": [{"num": 1, "x": 0}]},
                        {"frags": req(list, items=obj({"num": req(int)}))})
    assert "frags[0].x" in e.value.detail
