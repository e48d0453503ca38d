"""Differential tests against py3amf, the independent Python AMF codec, both directions.

py3amf's quirks, all normalised in ``normalise`` (and nowhere else):
* AMF0 numbers with an integral value decode as ``int`` (and -0.0 as ``0``): ints become
  floats, and values are compared with ``loose_numbers`` (the sign of zero is lost);
* ByteArrays decode as ``pyamf.amf3.ByteArray`` (a stream): taken as ``AsByteArray``;
* objects decode as ``pyamf.ASObject`` / ``MixedArray`` (dict subclasses): plain dicts;
* ``pyamf.Undefined`` is ``None``;
* dates go through a float of *seconds* both ways, so the milliseconds on the wire carry
  float noise (e.g. 4323542400001.0005): dates are rounded to the millisecond, on both
  sides of the comparison.
And on the way in (``to_py3amf``): py3amf writes ``bytes`` as a *string*, so bytes are
wrapped in ``pyamf.amf3.ByteArray``; its date writer is wrong before 1970 when there are
milliseconds, so the generated dates start in 1970.
"""
from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings

from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsProxy, IdentityKey,
                                       TypedObject)
from tests.ext.conftest import (Dyn, Ext, Point, Point0, amf_values, assert_amf_equal,
                                datetimes_ms, decode, encode, expected_image, h, utf3)

pyamf = pytest.importorskip("pyamf")
import pyamf.amf3  # noqa: E402
import pyamf.flex  # noqa: E402

FORMATS = pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])
VALUES = amf_values(dates=datetimes_ms(min_year=1970))


def py3amf_encode(value, amf3: bool) -> bytes:
    return pyamf.encode(value, encoding=pyamf.AMF3 if amf3 else pyamf.AMF0).getvalue()


def py3amf_decode(raw: bytes, amf3: bool):
    values = list(pyamf.decode(raw, encoding=pyamf.AMF3 if amf3 else pyamf.AMF0))
    assert len(values) == 1, values
    return values[0]


def to_py3amf(value):
    """A generated value as py3amf must be given it (bytes as ByteArray)."""
    if isinstance(value, (bytes, bytearray)):
        array = pyamf.amf3.ByteArray(bytes(value))
        # py3amf takes bytes starting with zlib's header for compressed data and
        # compresses them again on the way out: it must send them as they are.
        array.compressed = False
        return array
    if isinstance(value, list):
        return [to_py3amf(v) for v in value]
    if isinstance(value, dict):
        return {k: to_py3amf(v) for k, v in value.items()}
    return value


def normalise(value, ints_to_floats: bool):
    """A value decoded from or by py3amf, in amfast's terms (see the module docstring)."""
    if value is pyamf.Undefined:
        return None
    if isinstance(value, pyamf.amf3.ByteArray):
        return AsByteArray(value.getvalue())
    if isinstance(value, int) and not isinstance(value, bool) and ints_to_floats:
        return float(value)
    if isinstance(value, datetime.datetime):
        ms = round(value.microsecond / 1000) * 1000
        return value.replace(microsecond=0) + datetime.timedelta(microseconds=ms)
    if isinstance(value, list):
        return [normalise(v, ints_to_floats) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v, ints_to_floats) for k, v in value.items()}
    return value


@FORMATS
@settings(max_examples=150, deadline=None)
@given(value=VALUES)
def test_py3amf_decodes_what_amfast_encodes(amf3, value):
    got = normalise(py3amf_decode(encode(value, amf3), amf3), ints_to_floats=not amf3)
    assert_amf_equal(got, expected_image(value, amf3), loose_numbers=True)


@FORMATS
@settings(max_examples=150, deadline=None)
@given(value=VALUES)
def test_amfast_decodes_what_py3amf_encodes(amf3, value):
    got = normalise(decode(py3amf_encode(to_py3amf(value), amf3), amf3), ints_to_floats=False)
    assert_amf_equal(got, expected_image(value, amf3))


# ----------------------------------------------------------------- typed objects


class PyPoint:
    class __amf__:
        static = ("x", "y")


class PyPoint0:
    class __amf__:
        static = ("x", "y")


class PyDyn:
    class __amf__:
        static = ("a",)


class PyExt:
    class __amf__:
        external = True

    def __writeamf__(self, output):
        output.writeUnsignedShort(self.n)
        output.writeObject(self.label)

    def __readamf__(self, input):
        self.n = input.readUnsignedShort()
        self.label = input.readObject()


def _py(cls, **attrs):
    obj = cls()
    obj.__dict__.update(attrs)
    return obj


@pytest.fixture
def py3amf_classes():
    """The test aliases registered in py3amf's global registry, removed afterwards."""
    aliases = {PyPoint: "test.Point", PyPoint0: "test.Point0", PyDyn: "test.Dyn",
               PyExt: "test.Ext"}
    registered = []
    try:
        for cls, alias in aliases.items():
            pyamf.register_class(cls, alias)
            registered.append(cls)
        yield
    finally:
        for cls in registered:
            pyamf.unregister_class(cls)


TYPED = [
    pytest.param(Point(x=1, y=2), PyPoint, {"x": 1, "y": 2}, id="sealed"),
    pytest.param(Point0(x=1, y=2), PyPoint0, {"x": 1, "y": 2}, id="sealed-amf0"),
    pytest.param(Dyn(a="s", z=[1]), PyDyn, {"a": "s", "z": [1]}, id="dynamic"),
    pytest.param(Ext(n=7, label="hi"), PyExt, {"n": 7, "label": "hi"}, id="externalizable"),
]


@FORMATS
@pytest.mark.parametrize("obj, py_class, attrs", TYPED)
def test_typed_object_amfast_to_py3amf(amf3, obj, py_class, attrs, mapper, py3amf_classes):
    got = py3amf_decode(encode(obj, amf3, class_def_mapper=mapper), amf3)
    assert type(got) is py_class
    assert_amf_equal(normalise(dict(vars(got)), not amf3), attrs, loose_numbers=True)


@FORMATS
@pytest.mark.parametrize("obj, py_class, attrs", TYPED)
def test_typed_object_py3amf_to_amfast(amf3, obj, py_class, attrs, mapper, py3amf_classes):
    got = decode(py3amf_encode(_py(py_class, **attrs), amf3), amf3, class_def_mapper=mapper)
    assert type(got) is type(obj)
    assert_amf_equal(dict(vars(got)), attrs, loose_numbers=True)


def test_unknown_alias_from_py3amf_stays_typed(py3amf_classes):
    raw = py3amf_encode(_py(PyPoint, x=1, y=2), True)
    got = decode(raw, True)
    assert isinstance(got, TypedObject) and got.alias == "test.Point"
    assert dict(got) == {"x": 1, "y": 2}
    back = py3amf_decode(encode(got, True), True)
    assert type(back) is PyPoint and (back.x, back.y) == (1, 2)


# ----------------------------------------------------------------- Flex collections


def test_collections_amfast_to_py3amf():
    got = py3amf_decode(encode(AsProxy([1, 2]), True), True)
    assert isinstance(got, pyamf.flex.ArrayCollection) and list(got) == [1, 2]
    got = py3amf_decode(encode({"a": 1}, True, use_proxies=True), True)
    assert isinstance(got, pyamf.flex.ObjectProxy) and dict(got._amf_object) == {"a": 1}


def test_collections_py3amf_to_amfast():
    raw = py3amf_encode(pyamf.flex.ArrayCollection([1, "b"]), True)
    assert raw == h("0A 07") + utf3("flex.messaging.io.ArrayCollection") + h(
        "09 05 01 04 01 06 03 62")
    assert_amf_equal(decode(raw, True), [1, "b"])
    raw = py3amf_encode(pyamf.flex.ObjectProxy({"a": 1}), True)
    assert_amf_equal(decode(raw, True), {"a": 1})


# ----------------------------------------------------------------- Dictionaries keyed by objects


def test_object_keyed_dictionary_amfast_to_py3amf(mapper, py3amf_classes):
    """py3amf reads Dictionaries (it cannot write them) and gives a ``(dict, weak_keys)``
    pair; keys of a class it maps, hashed by identity, are keys it can hold.  (py3amf's
    object table misses the Dictionary itself, so references inside one are not compared.)"""
    value = AsDictionary({IdentityKey(Point(x=1, y=2)): "a", IdentityKey(Point(x=1, y=2)): "b",
                          "s": 1})
    got, weak_keys = py3amf_decode(encode(value, True, class_def_mapper=mapper), True)
    assert weak_keys is False and len(got) == 3
    keys = list(got)
    assert [type(k) for k in keys[:2]] == [PyPoint, PyPoint] and keys[0] is not keys[1]
    assert [vars(k) for k in keys[:2]] == [{"x": 1, "y": 2}] * 2
    assert [got[k] for k in keys] == ["a", "b", 1]
