"""Shared helpers for the codec tests in tests/ext.

Byte helpers build expected wire bytes from the AMF specs, ``expected_image`` says what
decoding ``encode(value)`` must give (per docs/codec.md), ``assert_amf_equal`` compares two
decoded trees strictly (types, NaN, the sign of zero, aliases, identity of cycles), and
the classes at the bottom are the mapped classes the tests share.

Test modules import them with ``from tests.ext.conftest import ...``.
"""
from __future__ import annotations

import datetime
import decimal
import math
import struct
import sys

import pytest
from hypothesis import strategies as st

from amfast.class_def import ClassDef, ClassDefMapper, DynamicClassDef, ExternClassDef
from amfast.class_def.as_types import AsByteArray, AsDictionary, AsVector, TypedObject
from amfast.decoder import DecodeError, Decoder
from amfast.encoder import EncodeError, Encoder

__all__ = [
    "DecodeError", "EncodeError", "h", "dbl", "u29", "utf0", "utf3", "read_u29",
    "encode", "decode", "expected_image", "assert_amf_equal", "INT29_MIN", "INT29_MAX",
    "datetimes_ms", "amf_values", "Point", "SubPoint", "Point0", "Dyn", "Dyn0", "Ext",
    "ExtClassDef", "Node", "Node0", "Guarded", "make_mapper",
]

INT29_MIN = -(2 ** 28)
INT29_MAX = 2 ** 28 - 1
EPOCH = datetime.datetime(1970, 1, 1)


# --------------------------------------------------------------------------- bytes


def h(text: str) -> bytes:
    """Bytes from hex digits; whitespace between bytes is ignored."""
    return bytes.fromhex(text)


def dbl(value: float) -> bytes:
    """An 8-byte big-endian IEEE-754 double."""
    return struct.pack(">d", value)


def u29(n: int) -> bytes:
    """The AMF3 U29 encoding of 0 <= n < 2**29 (1-3 bytes of 7 bits, a 4th of 8 bits)."""
    if not 0 <= n < 2 ** 29:
        raise ValueError(n)
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([(n >> 7) | 0x80, n & 0x7F])
    if n < 0x200000:
        return bytes([(n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F])
    return bytes([(n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80,
                  n & 0xFF])


def read_u29(raw: bytes, pos: int) -> tuple[int, int]:
    """Read a U29 at ``pos``; returns (value, position after it)."""
    value = 0
    for i in range(3):
        byte = raw[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    return (value << 8) | raw[pos + 3], pos + 4


def utf0(text: str) -> bytes:
    """AMF0 UTF-8: u16 byte length + bytes (no marker)."""
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def utf3(text: str) -> bytes:
    """AMF3 inline string: U29 (byte length << 1 | 1) + bytes (no marker)."""
    raw = text.encode("utf-8")
    return u29(len(raw) << 1 | 1) + raw


# --------------------------------------------------------------------------- codec calls


def encode(value, amf3: bool, **options) -> bytes:
    """``Encoder(amf3=amf3, **options).encode(value)`` as bytes."""
    raw = Encoder(amf3=amf3, **options).encode(value)
    assert isinstance(raw, (bytes, bytearray)), type(raw)
    return bytes(raw)


def decode(raw, amf3: bool, **options):
    """``Decoder(amf3=amf3, **options).decode(raw)``."""
    return Decoder(amf3=amf3, **options).decode(raw)


# --------------------------------------------------------------------------- expectations


def _epoch_ms(d: datetime.date) -> int:
    if not isinstance(d, datetime.datetime):
        d = datetime.datetime(d.year, d.month, d.day)
    if d.utcoffset() is not None:
        d = d.replace(tzinfo=None) - d.utcoffset()
    delta = d - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def expected_image(value, amf3: bool):
    """What decoding ``encode(value)`` must give, by docs/codec.md's two tables.

    AMF0 numbers come back as float; AMF3 ints outside the 29-bit range as float;
    sequences as lists; bytes as AsByteArray; dict keys ``str()``-ed; dates as naive UTC
    datetimes with whole milliseconds.  Acyclic values only.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not amf3 or not INT29_MIN <= value <= INT29_MAX:
            return float(value)
        return value
    if isinstance(value, (float, decimal.Decimal)):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return AsByteArray(bytes(value))
    if isinstance(value, datetime.date):
        return EPOCH + datetime.timedelta(milliseconds=_epoch_ms(value))
    if isinstance(value, AsVector):
        return AsVector([expected_image(v, True) if value.type == "object" else v
                         for v in value], type=value.type, fixed=value.fixed,
                        class_name=value.class_name)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [expected_image(v, amf3) for v in value]
    if isinstance(value, dict):
        return {str(k): expected_image(v, amf3) for k, v in value.items()}
    raise TypeError(f"no expectation for {type(value).__name__}")


def _num_equal(actual, expected, loose: bool) -> bool:
    if math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if actual != expected:
        return False
    if not loose and expected == 0 and isinstance(expected, float):
        return math.copysign(1.0, actual) == math.copysign(1.0, expected)
    return True


def assert_amf_equal(actual, expected, loose_numbers: bool = False, path: str = "$",
                     _seen: set | None = None) -> None:
    """Deep, strict comparison of a decoded value with an expected one.

    Strict: int and float are different types, NaN equals NaN, -0.0 differs from 0.0,
    a TypedObject must carry the same alias (and a decoded mapped class the same type).
    ``loose_numbers`` lets int and float compare by value and ignores the sign of zero
    (for py3amf, which decodes integral AMF0 numbers as int).
    """
    if _seen is None:
        _seen = set()
    key = (id(actual), id(expected))
    if key in _seen:
        return
    if isinstance(expected, (list, dict)) or hasattr(expected, "__dict__"):
        _seen.add(key)
    where = f"at {path}: got {actual!r:.200}, expected {expected!r:.200}"

    if expected is None:
        assert actual is None, where
    elif isinstance(expected, bool):
        assert isinstance(actual, bool) and actual == expected, where
    elif isinstance(expected, (int, float)):
        if loose_numbers:
            assert isinstance(actual, (int, float)) and not isinstance(actual, bool), where
            assert _num_equal(float(actual), float(expected), True), where
        else:
            assert type(actual) is type(expected), where
            assert _num_equal(actual, expected, False), where
    elif isinstance(expected, str):
        assert isinstance(actual, str) and actual == expected, where
    elif isinstance(expected, bytes):
        assert isinstance(actual, bytes), where
        if isinstance(expected, AsByteArray):
            assert isinstance(actual, AsByteArray), where
        assert bytes(actual) == bytes(expected), where
    elif isinstance(expected, datetime.datetime):
        assert isinstance(actual, datetime.datetime), where
        assert (actual.utcoffset() is None) == (expected.utcoffset() is None), where
        assert actual == expected, where
    elif isinstance(expected, list):
        if isinstance(expected, AsVector):
            assert isinstance(actual, AsVector), where
            assert (actual.type, actual.fixed, actual.class_name) == (
                expected.type, expected.fixed, expected.class_name), where
        else:
            assert type(actual) is list, where
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_amf_equal(a, e, loose_numbers, f"{path}[{i}]", _seen)
    elif isinstance(expected, dict):
        if isinstance(expected, TypedObject):
            assert isinstance(actual, TypedObject), where
            assert actual.alias == expected.alias, where
        elif isinstance(expected, AsDictionary):
            assert isinstance(actual, AsDictionary), where
        else:
            assert isinstance(actual, dict) and not isinstance(actual, TypedObject), where
        assert set(actual) == set(expected), where
        for k in expected:
            assert_amf_equal(actual[k], expected[k], loose_numbers, f"{path}[{k!r}]", _seen)
    elif hasattr(expected, "__dict__"):
        assert type(actual) is type(expected), where
        assert_amf_equal(dict(vars(actual)), dict(vars(expected)), loose_numbers,
                         f"{path}.__dict__", _seen)
    else:
        assert actual == expected, where


# --------------------------------------------------------------------------- strategies


def datetimes_ms(min_year: int = 1900, max_year: int = 2200):
    """Naive datetimes with whole milliseconds."""
    return st.datetimes(min_value=datetime.datetime(min_year, 1, 1),
                        max_value=datetime.datetime(max_year, 12, 31, 23, 59, 59)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, fold=0))


_BOUNDARY_INTS = [0, 1, -1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, INT29_MAX,
                  INT29_MAX + 1, INT29_MIN, INT29_MIN - 1, 2 ** 31, -(2 ** 31), 2 ** 53,
                  -(2 ** 53)]


def amf_values(dates=None, binary: bool = True, max_leaves: int = 20):
    """None, bools, ints within +-2**53, floats (NaN, inf, -0.0), text, lists, dicts
    with non-empty str keys, naive datetimes with whole milliseconds, bytes."""
    scalars = [st.none(), st.booleans(),
               st.integers(-(2 ** 53), 2 ** 53) | st.sampled_from(_BOUNDARY_INTS),
               st.floats(), st.text(max_size=20),
               dates if dates is not None else datetimes_ms()]
    if binary:
        scalars.append(st.binary(max_size=20))
    return st.recursive(
        st.one_of(scalars),
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=5),
        max_leaves=max_leaves)


# --------------------------------------------------------------------------- mapped classes


class _Attrs:
    """Equality on type and attributes; a keyword constructor that decoding must not call."""

    def __init__(self, **attrs):
        for name, value in attrs.items():
            setattr(self, name, value)

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}({vars(self)!r})"


class Point(_Attrs):
    """Sealed, alias test.Point, static attrs x, y, sent as AMF3 (also inside AMF0)."""


class SubPoint(Point):
    """Not mapped itself: found through its mapped base class Point."""


class Point0(_Attrs):
    """Sealed, alias test.Point0, static attrs x, y, sent as AMF0 typed object 0x10."""


class Dyn(_Attrs):
    """Dynamic, alias test.Dyn, static attr a."""


class Dyn0(_Attrs):
    """Dynamic, alias test.Dyn0, static attr a, AMF0 typed object."""


class Node(_Attrs):
    """Sealed, alias test.Node, static attr next (for self references)."""


class Node0(_Attrs):
    """Sealed, alias test.Node0, static attr next, AMF0 typed object."""


class Ext(_Attrs):
    """Externalizable, alias test.Ext: a u16 ``n`` then the AMF3 value ``label``."""


class Guarded:
    """Decoding must not run __init__ or this __setattr__."""

    def __init__(self):
        raise AssertionError("decoding called __init__")

    def __setattr__(self, name, value):
        raise AssertionError("decoding called __setattr__")


class ExtClassDef(ExternClassDef):
    def writeExternal(self, obj, context):
        import amfast.encode
        context.write(struct.pack(">H", obj.n))
        amfast.encode.encode(obj.label, context)

    def readExternal(self, obj, context):
        import amfast.decode
        (obj.n,) = struct.unpack(">H", bytes(context.read(2)))
        obj.label = amfast.decode.decode(context)


def make_mapper() -> ClassDefMapper:
    """A fresh ClassDefMapper with every test class mapped."""
    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Point, "test.Point", ("x", "y")))
    mapper.mapClass(ClassDef(Point0, "test.Point0", ("x", "y"), amf3=False))
    mapper.mapClass(DynamicClassDef(Dyn, "test.Dyn", ("a",)))
    mapper.mapClass(DynamicClassDef(Dyn0, "test.Dyn0", ("a",), amf3=False))
    mapper.mapClass(ClassDef(Node, "test.Node", ("next",)))
    mapper.mapClass(ClassDef(Node0, "test.Node0", ("next",), amf3=False))
    mapper.mapClass(ExtClassDef(Ext, "test.Ext"))
    mapper.mapClass(ClassDef(Guarded, "test.Guarded", ("x",)))
    return mapper


@pytest.fixture
def mapper() -> ClassDefMapper:
    return make_mapper()


@pytest.fixture
def probe_module(tmp_path, monkeypatch) -> str:
    """The name of an importable module that no test imports: decoding an alias naming it
    must leave it out of ``sys.modules``."""
    name = "amfast_probe_never_imported"
    (tmp_path / f"{name}.py").write_text("class Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name

