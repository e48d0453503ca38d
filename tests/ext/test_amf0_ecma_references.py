"""AMF0 ECMA arrays (0x08) referenced while they are read: one value, list or dict.

An ECMA array whose keys are exactly "0".."n-1" decodes to a list, else to a dict
(docs/codec.md); every reference to it, those made from inside its own items included,
is that one value.  Both decoders are held to it: amfast's and the py3amf endpoint's
(``PyAmfCodec``).  py3amf itself (through the fuzzing's differential target) is the other
side for the shapes it can read.
"""
from __future__ import annotations

import struct

import pytest

from amfast.class_def import ClassDef, ClassDefMapper, ExternClassDef
from amfast.class_def.as_types import TypedObject
from amfast.decoder import Decoder, LimitExceededError, MalformedDataError
from amfast.remoting.pyamf_converter import PyAmfCodec
from fuzz.targets import STRICT_TARGETS
from tests.ext.conftest import Node0, Point, dbl, h, make_mapper, utf0, utf3

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

END = h("00 00 09")
differential = STRICT_TARGETS["differential"]


def num(value: float) -> bytes:
    return h("00") + dbl(value)


def ref(index: int) -> bytes:
    return h("07") + struct.pack(">H", index)


def ecma(*pairs: tuple[str, bytes]) -> bytes:
    return h("08") + struct.pack(">I", len(pairs)) + b"".join(
        utf0(k) + v for k, v in pairs) + END


def obj(*pairs: tuple[str, bytes]) -> bytes:
    return h("03") + b"".join(utf0(k) + v for k, v in pairs) + END


def typed(alias: str, *pairs: tuple[str, bytes]) -> bytes:
    return h("10") + utf0(alias) + b"".join(utf0(k) + v for k, v in pairs) + END


def strict(*items: bytes) -> bytes:
    return h("0A") + struct.pack(">I", len(items)) + b"".join(items)


@pytest.fixture(params=[Decoder, PyAmfCodec], ids=["amfast", "py3amf-endpoint"])
def codec(request):
    """A decoder class: made with options, it has ``decode`` and ``decode_packet``."""
    return request.param


@pytest.fixture
def dec(codec):
    return lambda raw, **options: codec(**options).decode(raw)


# ------------------------------------------------------- the array inside its own items

#: How each container kind wraps a value, and how to reach that value again.
WRAPPERS = {
    "object": (lambda inner: obj(("k", inner)), lambda v: v["k"]),
    "strict-array": (lambda inner: strict(inner), lambda v: v[0]),
    "sparse-ecma": (lambda inner: ecma(("k", inner)), lambda v: v["k"]),
    "dense-ecma": (lambda inner: ecma(("0", inner)), lambda v: v[0]),
    "unmapped-typed": (lambda inner: typed("no.Such", ("k", inner)), lambda v: v["k"]),
    "mapped-typed": (lambda inner: typed("test.Node0", ("next", inner)), lambda v: v.next),
}


@pytest.mark.parametrize("kind", list(WRAPPERS))
@pytest.mark.parametrize("depth", [0, 1, 2, 5, 40])
def test_reference_from_any_depth_is_the_list(kind, depth, dec):
    wrap, unwrap = WRAPPERS[kind]
    inner = ref(0)
    for _ in range(depth):
        inner = wrap(inner)
    raw = ecma(("0", num(1.0)), ("1", inner), ("2", num(2.0)))
    value = dec(raw, class_def_mapper=make_mapper())
    assert type(value) is list and len(value) == 3
    assert value[0] == 1.0 and value[2] == 2.0
    reached = value[1]
    for _ in range(depth):
        reached = unwrap(reached)
    assert reached is value
    if kind == "unmapped-typed" and depth:
        assert type(value[1]) is TypedObject
    if kind == "mapped-typed" and depth:
        assert type(value[1]) is Node0
    if kind != "mapped-typed":
        differential(b"\x00" + raw)


def test_references_from_siblings_and_later_values(dec):
    # Slots: 0 the strict array, 1 the ECMA array, 2 the object in it, 3 its strict
    # array, 4 the object after it.
    raw = strict(
        ecma(("0", obj(("x", ref(1)))), ("1", ref(1)), ("2", strict(ref(1), ref(3))),
             ("3", ref(2))),
        ref(1),
        obj(("later", ref(1)), ("inner", ref(3))))
    outer = dec(raw)
    items = outer[0]
    assert type(items) is list and len(items) == 4
    assert items[0]["x"] is items and items[1] is items
    assert items[2][0] is items and items[2][1] is items[2]
    assert items[3] is items[0]
    assert outer[1] is items
    assert outer[2]["later"] is items and outer[2]["inner"] is items[2]
    differential(b"\x00" + raw)


def test_nested_dense_arrays_referenced_from_inside_each_other(dec):
    # Slots: 0 the outer array, 1 the inner one, 2 the object in the inner one.
    raw = ecma(("0", ecma(("0", ref(0)), ("1", obj(("up", ref(1)), ("top", ref(0)))))),
               ("1", ref(1)))
    outer = dec(raw)
    inner = outer[0]
    assert type(outer) is list and type(inner) is list
    assert inner[0] is outer and inner[1]["up"] is inner and inner[1]["top"] is outer
    assert outer[1] is inner
    differential(b"\x00" + raw)


# ------------------------------------------------------------------ dense and sparse keys

def test_sparse_array_referenced_from_inside_is_the_dict(dec):
    raw = ecma(("0", obj(("x", ref(0)))), ("length", num(1.0)))
    value = dec(raw)
    assert type(value) is dict and value["0"]["x"] is value and value["length"] == 1.0
    differential(b"\x00" + raw)


def test_array_with_a_gap_referenced_from_inside_is_the_dict(dec):
    raw = ecma(("0", ref(0)), ("2", strict(ref(0))))
    value = dec(raw)
    assert type(value) is dict and value["0"] is value and value["2"][0] is value
    differential(b"\x00" + raw)


def test_dense_array_inside_a_sparse_one_referencing_both(dec):
    raw = ecma(("name", ecma(("0", ref(0)), ("1", ref(1)))), ("1", ref(1)))
    value = dec(raw)
    inner = value["name"]
    assert type(value) is dict and type(inner) is list
    assert inner[0] is value and inner[1] is inner and value["1"] is inner
    differential(b"\x00" + raw)


def test_sparse_array_inside_a_dense_one_referencing_both(dec):
    raw = ecma(("0", ecma(("x", ref(0)), ("y", ref(1)))), ("1", strict(ref(0), ref(1))))
    value = dec(raw)
    inner = value[0]
    assert type(value) is list and type(inner) is dict
    assert inner["x"] is value and inner["y"] is inner
    assert value[1][0] is value and value[1][1] is inner
    differential(b"\x00" + raw)


def test_dense_keys_out_of_order_referenced_from_inside(dec):
    raw = ecma(("1", obj(("x", ref(0)))), ("0", num(5.0)))
    value = dec(raw)
    assert type(value) is list and value[0] == 5.0 and value[1]["x"] is value
    differential(b"\x00" + raw)


# ------------------------------------------------------------------ AMF3 inside the array

def test_amf3_values_inside_keep_their_references(dec):
    # In the array: object 0 {a: "abc"} (trait 0; strings 0 "a", 1 "abc"), a reference to
    # it, one to "abc", and two Points (trait 1, strings 2..4).  After the array, in the
    # same tables: string 5 "zz" and object 3 {a: 7}, then references to both.
    anonymous = h("11 0A 0B") + utf3("") + utf3("a") + h("06") + utf3("abc") + h("01")
    point = h("11 0A 23") + utf3("test.Point") + utf3("x") + utf3("y") + h("04 01 04 02")
    array = ecma(("0", anonymous), ("1", obj(("self", ref(1)))), ("2", h("11 0A 00")),
                 ("3", h("11 06 02")), ("4", point), ("5", h("11 0A 05 04 03 04 04")))
    raw = strict(array, h("11 06") + utf3("zz"), h("11 06 0A"), h("11 0A 01 00 04 07 01"),
                 h("11 0A 06"))
    outer = dec(raw, class_def_mapper=make_mapper())
    value = outer[0]
    assert type(value) is list and len(value) == 6
    assert value[0] == {"a": "abc"} and value[1]["self"] is value
    assert value[2] is value[0] and value[3] == "abc"
    assert type(value[4]) is Point and (value[4].x, value[4].y) == (1, 2)
    assert type(value[5]) is Point and (value[5].x, value[5].y) == (3, 4)
    assert outer[1:3] == ["zz", "zz"]
    assert outer[3] == {"a": 7} and outer[4] is outer[3]


def test_amf3_arrays_referenced_from_inside_through_the_switch(dec):
    """An AMF3 array's kind is known before its items (its first key), so it needs no
    second read: a dense one holds itself, a mixed one too, in both of its parts."""
    dense = dec(h("11 09 03 01 0A 0B 01 03 61 09 00 01"))
    assert type(dense) is list and dense[0]["a"] is dense
    mixed = dec(h("11 09 03 03 61 09 00 01 0A 0B 01 03 62 09 00 01"))
    assert type(mixed) is dict and mixed["a"] is mixed and mixed[0]["b"] is mixed
    for raw in (h("11 09 03 01 0A 0B 01 03 61 09 00 01"),
                h("11 09 03 03 61 09 00 01 0A 0B 01 03 62 09 00 01")):
        differential(b"\x00" + raw)


def test_packet_bodies_each_get_their_own_tables(codec):
    body = ecma(("0", obj(("x", ref(0)))), ("1", h("11 06") + utf3("s")))
    raw = struct.pack(">HHH", 3, 0, 2) + b"".join(
        utf0("null") + utf0(f"/{i}") + struct.pack(">I", len(body)) + body for i in (1, 2))
    packet = codec().decode_packet(raw)
    first, second = (message.body for message in packet.messages)
    for value in (first, second):
        assert type(value) is list and value[0]["x"] is value and value[1] == "s"
    assert first is not second


# ------------------------------------------------------------------ bounds

def test_values_read_again_are_counted_once(dec):
    # The ECMA array, the object and the reference: three values.
    raw = ecma(("0", obj(("x", ref(0)))))
    assert dec(raw, max_nodes=3)[0]["x"] is not None
    with pytest.raises(LimitExceededError) as err:
        dec(raw, max_nodes=2)
    assert err.value.limit == "max_nodes"


def test_depth_limit_is_unchanged_by_a_second_read(dec):
    inner = ref(0)
    for _ in range(9):
        inner = obj(("k", inner))
    raw = ecma(("0", inner))
    assert type(dec(raw, max_depth=10)) is list
    with pytest.raises(LimitExceededError) as err:
        dec(raw, max_depth=9)
    assert err.value.limit == "max_depth"


class CountingClassDef(ClassDef):
    made = 0

    def getInstance(self):
        CountingClassDef.made += 1
        return ClassDef.getInstance(self)


@pytest.mark.parametrize("levels", [1, 5, 100, 500])
def test_no_value_is_read_more_than_twice(levels, codec, dec):
    """Dense arrays nested ``levels`` deep, each referenced from inside: one second read."""
    if codec is PyAmfCodec and levels > 100:
        pytest.skip("py3amf recurses in Python: some 300 levels at most (docs/security.md)")
    mapper = ClassDefMapper()
    mapper.mapClass(CountingClassDef(Node0, "test.Node0", ("next",), amf3=False))
    raw = typed("test.Node0", ("next", h("05")))
    for level in reversed(range(levels)):
        raw = ecma(("0", obj(("up", ref(2 * level)))), ("1", raw))  # slots: array, object
    CountingClassDef.made = 0
    value = dec(raw, class_def_mapper=mapper, max_depth=2 * levels + 1)
    assert CountingClassDef.made == 2
    for _ in range(levels):
        assert type(value) is list and value[0]["up"] is value
        value = value[1]
    assert type(value) is Node0


class ShiftingClassDef(ExternClassDef):
    """Reads nothing the first time and six raw bytes after that."""
    reads = 0

    def readExternal(self, obj, context):
        ShiftingClassDef.reads += 1
        if ShiftingClassDef.reads > 1:
            context.read(6)


def test_array_read_differently_the_second_time_is_refused(dec):
    class Shifty:
        pass

    mapper = ClassDefMapper()
    mapper.mapClass(ShiftingClassDef(Shifty, "test.Shifty"))
    ShiftingClassDef.reads = 0
    # First read: {"0": itself, "1": Shifty, "2": "\0\1x\5"}, a list.  Second read: the
    # six bytes after Shifty are its own, and {"0", "1", "x": null} is no list.
    raw = ecma(("0", ref(0)), ("1", h("11 0A 07") + utf3("test.Shifty")),
               ("2", h("02 0004 0001 78 05")))
    with pytest.raises(MalformedDataError):
        dec(raw, class_def_mapper=mapper)
    assert ShiftingClassDef.reads == 2
