"""Round trips: nested values and a property test, in AMF0 and AMF3."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings

from amfast.class_def.as_types import AsDictionary, AsVector
from tests.ext.conftest import (Dyn, Ext, Point, Point0, amf_values, assert_amf_equal,
                                decode, encode, expected_image)

FORMATS = pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])

NESTED = [
    pytest.param({
        "users": [
            {"name": "ann", "age": 31, "tags": ["a", "b"],
             "born": datetime.datetime(1990, 5, 17, 8, 30, 0, 250000), "avatar": b"\x89PNG"},
            {"name": "bob", "age": -2 ** 40, "tags": [], "born": None, "avatar": b""},
        ],
        "count": 2, "ratio": 0.5, "ok": True, "none": None,
    }, id="records"),
    pytest.param([[[[["deep"]]]], [[[]]]], id="deep-lists"),
    pytest.param([1, 2.5, "three", [4, {"five": [6, 2 ** 29]}], None, False, -0.0,
                  float("inf")], id="mixed"),
    pytest.param({"unicode \u4e16": "\U0001F600" * 10, "empty": "", "list": [], "dict": {}},
                 id="unicode"),
    pytest.param(list(range(-150, 150)), id="many-items"),
    pytest.param({f"k{i}": [i, str(i)] for i in range(100)}, id="many-keys"),
    pytest.param(["x" * 70000, "\u00e9" * 40000], id="long-strings"),
    pytest.param([datetime.datetime(1900, 1, 1), datetime.datetime(2200, 12, 31, 23, 59, 59,
                                                                   999000)], id="date-range"),
]


@FORMATS
@pytest.mark.parametrize("value", NESTED)
def test_nested_value_round_trips(amf3, value):
    assert_amf_equal(decode(encode(value, amf3), amf3), expected_image(value, amf3))


@FORMATS
def test_shared_references_survive(amf3):
    shared = [1, {"k": "v"}]
    value = {"a": shared, "b": [shared, shared], "c": {"d": shared}}
    got = decode(encode(value, amf3), amf3)
    assert got["a"] is got["b"][0] is got["b"][1] is got["c"]["d"]
    assert_amf_equal(got["a"], expected_image(shared, amf3))


@FORMATS
def test_as_types_round_trip(amf3):
    value = [AsVector([1, 2], type="int"), AsVector([0.25], type="double", fixed=True),
             AsVector(["s", None], type="object"), AsDictionary({1: "a", "b": [2]})]
    got = decode(encode(value, amf3), amf3)
    for g, v in zip(got[:3], value[:3]):
        assert_amf_equal(g, v if v.type != "object" else expected_image(v, True))
    assert isinstance(got[3], AsDictionary) and dict(got[3]) == {1: "a", "b": [2]}


@FORMATS
def test_typed_object_graph_round_trips(amf3, mapper):
    inner = Point(x=1, y=2)
    value = [inner, Dyn(a=[inner], z={"q": inner}), Ext(n=3, label=[inner]),
             Point0(x=5, y=None)]
    got = decode(encode(value, amf3, class_def_mapper=mapper), amf3, class_def_mapper=mapper)
    # AMF3 classes keep int members even inside AMF0 (they travel through 0x11);
    # an AMF0 typed object (Point0) carries AMF0 numbers, i.e. floats.
    five = 5 if amf3 else 5.0
    expected = [Point(x=1, y=2), Dyn(a=[got[0]], z={"q": got[0]}), Ext(n=3, label=[got[0]]),
                Point0(x=five, y=None)]
    assert_amf_equal(got, expected)
    assert got[1].a[0] is got[0] and got[1].z["q"] is got[0] and got[2].label[0] is got[0]


@FORMATS
@settings(max_examples=300, deadline=None)
@given(value=amf_values())
def test_any_value_round_trips(amf3, value):
    assert_amf_equal(decode(encode(value, amf3), amf3), expected_image(value, amf3))
