"""AMF3: exact bytes in both directions, from the AMF3 specification and docs/codec.md."""
from __future__ import annotations

import datetime
import decimal
import io
import math
import struct
import sys
import xml.dom.minidom
import xml.etree.ElementTree as ET

import pytest

from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsNoProxy, AsProxy,
                                       AsVector, IdentityKey, TypedObject)
from amfast.decoder import BadReferenceError, ClassMappingError, RefusedValueError
from amfast.encoder import Encoder
from tests.ext.conftest import (INT29_MAX, INT29_MIN, Dyn, EncodeError, Ext,
                                Guarded, Node, Point, SubPoint, assert_amf_equal, dbl, decode,
                                encode, expected_image, h, read_u29, utf3)

UTC = datetime.timezone.utc
AC = utf3("flex.messaging.io.ArrayCollection")
OP = utf3("flex.messaging.io.ObjectProxy")
assert AC[0] == 0x43 and OP[0] == 0x3B


def enc(value, **options) -> bytes:
    return encode(value, True, **options)


def dec(raw, **options):
    return decode(raw, True, **options)


# ----------------------------------------------------------------- values both ways

BOTH_WAYS = [
    pytest.param(None, h("01"), id="null"),
    pytest.param(False, h("02"), id="false"),
    pytest.param(True, h("03"), id="true"),
    # U29 integers: 1-3 bytes of 7 bits, a 4th byte of 8 bits; 29-bit two's complement.
    pytest.param(0, h("04 00"), id="int-0"),
    pytest.param(1, h("04 01"), id="int-1"),
    pytest.param(0x7F, h("04 7F"), id="int-0x7F"),
    pytest.param(0x80, h("04 81 00"), id="int-0x80"),
    pytest.param(0x3FFF, h("04 FF 7F"), id="int-0x3FFF"),
    pytest.param(0x4000, h("04 81 80 00"), id="int-0x4000"),
    pytest.param(0x1FFFFF, h("04 FF FF 7F"), id="int-0x1FFFFF"),
    pytest.param(0x200000, h("04 80 C0 80 00"), id="int-0x200000"),
    pytest.param(INT29_MAX, h("04 BF FF FF FF"), id="int-2**28-1"),
    pytest.param(-1, h("04 FF FF FF FF"), id="int--1"),
    pytest.param(-2, h("04 FF FF FF FE"), id="int--2"),
    pytest.param(INT29_MIN, h("04 C0 80 80 00"), id="int--2**28"),
    pytest.param(INT29_MAX + 1, h("05") + dbl(2.0 ** 28), id="int-2**28-double"),
    pytest.param(INT29_MIN - 1, h("05") + dbl(-(2.0 ** 28) - 1), id="int--2**28-1-double"),
    pytest.param(2 ** 53, h("05") + dbl(2.0 ** 53), id="int-2**53-double"),
    pytest.param(1.5, h("05 3FF8000000000000"), id="double"),
    pytest.param(1.0, h("05 3FF0000000000000"), id="integral-float-stays-double"),
    pytest.param(float("inf"), h("05 7FF0000000000000"), id="+inf"),
    pytest.param(float("-inf"), h("05 FFF0000000000000"), id="-inf"),
    pytest.param(-0.0, h("05 8000000000000000"), id="-0.0"),
    pytest.param(decimal.Decimal("2.5"), h("05 4004000000000000"), id="Decimal"),
    pytest.param("", h("06 01"), id="str-empty"),
    pytest.param("a", h("06 03 61"), id="str-ascii"),
    pytest.param("h\u00e9llo", h("06 0D 68 C3A9 6C 6C 6F"), id="str-latin"),
    pytest.param("\u4e16\U0001F600", h("06 0F E4B896 F09F9880"), id="str-cjk-astral"),
    pytest.param("x" * 200, h("06 83 11") + b"x" * 200, id="str-2-byte-length"),
    pytest.param([], h("09 01 01"), id="list-empty"),
    pytest.param([1, "a"], h("09 05 01 04 01 06 03 61"), id="list"),
    pytest.param([[]], h("09 03 01 09 01 01"), id="list-nested"),
    pytest.param((1, 2), h("09 05 01 04 01 04 02"), id="tuple"),
    pytest.param({7}, h("09 03 01 04 07"), id="set"),
    pytest.param(frozenset(["s"]), h("09 03 01 06 03 73"), id="frozenset"),
    pytest.param({}, h("0A 0B 01 01"), id="dict-empty"),
    pytest.param({"a": 1}, h("0A 0B 01 03 61 04 01 01"), id="dict"),
    pytest.param({1: "x"}, h("0A 0B 01 03 31 06 03 78 01"), id="dict-int-key-str"),
    pytest.param(datetime.datetime(2020, 1, 2, 3, 4, 5, 123456),
                 h("08 01") + dbl(1577934245123.0), id="datetime-ms-truncated"),
    pytest.param(datetime.datetime(1969, 12, 31, 23, 59, 59, 999000),
                 h("08 01") + dbl(-1.0), id="datetime-before-epoch"),
    pytest.param(datetime.datetime(2020, 1, 2, 5, 4, 5,
                                   tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
                 h("08 01") + dbl(1577934245000.0), id="datetime-aware-to-utc"),
    pytest.param(datetime.date(2020, 1, 2), h("08 01") + dbl(1577923200000.0), id="date"),
    pytest.param(datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
                 h("08 01") + dbl(253402300799999.0), id="datetime-year-9999"),
    pytest.param(datetime.datetime(1, 1, 1), h("08 01") + dbl(-62135596800000.0),
                 id="datetime-year-1"),
    pytest.param(b"ab", h("0C 05 61 62"), id="bytes"),
    pytest.param(b"", h("0C 01"), id="bytes-empty"),
    pytest.param(bytearray(b"\x00\xff"), h("0C 05 00 FF"), id="bytearray"),
    pytest.param(memoryview(b"ab"), h("0C 05 61 62"), id="memoryview"),
    pytest.param(AsByteArray(b"ab"), h("0C 05 61 62"), id="AsByteArray"),
    pytest.param(AsVector([1, -2], type="int"), h("0D 05 00 00000001 FFFFFFFE"),
                 id="vector-int"),
    pytest.param(AsVector([7], type="int", fixed=True), h("0D 03 01 00000007"),
                 id="vector-int-fixed"),
    pytest.param(AsVector([1, 0xFFFFFFFF], type="uint"), h("0E 05 00 00000001 FFFFFFFF"),
                 id="vector-uint"),
    pytest.param(AsVector([1.5, -0.0], type="double"),
                 h("0F 05 00 3FF8000000000000 8000000000000000"), id="vector-double"),
    pytest.param(AsVector([], type="double"), h("0F 01 00"), id="vector-empty"),
    pytest.param(AsVector(["a", "b"], type="object", class_name="String"),
                 h("10 05 00") + utf3("String") + h("06 03 61 06 03 62"),
                 id="vector-object"),
    pytest.param(AsVector(["a", 1], type="object", class_name="*"),
                 h("10 05 00 03 2A 06 03 61 04 01"), id="vector-object-any"),
    pytest.param(AsDictionary({1: "a"}), h("11 03 00 04 01 06 03 61"), id="dictionary"),
    pytest.param(AsDictionary({"k": None}, weak_keys=True), h("11 03 01 06 03 6B 01"),
                 id="dictionary-weak"),
    pytest.param(AsDictionary(), h("11 01 00"), id="dictionary-empty"),
]


@pytest.mark.parametrize("value, raw", BOTH_WAYS)
def test_encode_gives_spec_bytes(value, raw):
    assert enc(value) == raw


@pytest.mark.parametrize("value, raw", BOTH_WAYS)
def test_decode_gives_value(value, raw):
    got = dec(raw)
    if isinstance(value, AsDictionary):
        assert isinstance(got, AsDictionary) and got.weak_keys == value.weak_keys
        assert dict(got) == dict(value)
    else:
        assert_amf_equal(got, expected_image(value, True))


def test_nan_both_ways():
    raw = enc(float("nan"))
    assert raw[:1] == h("05") and len(raw) == 9
    assert math.isnan(struct.unpack(">d", raw[1:])[0])
    got = dec(h("05 7FF8000000000000"))
    assert isinstance(got, float) and math.isnan(got)


DECODE_ONLY = [
    pytest.param(h("00"), None, id="undefined"),
    pytest.param(h("04 80 C0 80 00"), 0x200000, id="int-4-byte"),
    pytest.param(h("04 FF FF FF FF"), -1, id="int-sign-extended"),
    pytest.param(h("05 4045000000000000"), 42.0, id="integral-double-stays-float"),
    pytest.param(h("09 01 03 61 04 01 01"), {"a": 1}, id="array-associative-only"),
    pytest.param(h("09 05 03 61 04 01 01 04 02 04 03"), {"a": 1, 0: 2, 1: 3},
                 id="array-associative-and-dense"),
    pytest.param(h("09 05 01 06 05 61 62 06 00"), ["ab", "ab"], id="string-reference"),
    pytest.param(h("0A 0B 01 03 61 06 00 01"), {"a": "a"}, id="key-in-string-table"),
    # Repeated anonymous objects: inline traits again, or a trait reference (0x01 = trait 0).
    pytest.param(h("09 05 01 0A 0B 01 03 61 04 01 01 0A 0B 01 03 62 04 02 01"),
                 [{"a": 1}, {"b": 2}], id="anonymous-inline-traits-twice"),
    pytest.param(h("09 05 01 0A 0B 01 03 61 04 01 01 0A 01 03 62 04 02 01"),
                 [{"a": 1}, {"b": 2}], id="anonymous-trait-reference"),
    pytest.param(h("0A 0B 01 03 61 0A 0B 01 03 62 01 01 01"), {"a": {"b": None}},
                 id="nested-anonymous-inline-traits"),
    pytest.param(h("0A 0B 01 03 61 0A 01 03 62 01 01 01"), {"a": {"b": None}},
                 id="nested-anonymous-trait-reference"),
    pytest.param(h("10 05 00 03 2A 06 03 61 04 01"),
                 AsVector(["a", 1], type="object", class_name="*"), id="vector-object-any"),
    pytest.param(h("0E 03 00 FFFFFFFF"), AsVector([4294967295], type="uint"),
                 id="vector-uint-max"),
    pytest.param(h("0D 03 00 80000000"), AsVector([-(2 ** 31)], type="int"),
                 id="vector-int-min"),
]


@pytest.mark.parametrize("raw, expected", DECODE_ONLY)
def test_decode_only(raw, expected):
    assert_amf_equal(dec(raw), expected)


def test_decoder_accepts_bytes_like_and_files():
    raw = h("09 05 01 04 01 06 03 61")
    for source in (raw, bytearray(raw), memoryview(raw), io.BytesIO(raw)):
        assert dec(source) == [1, "a"]


def test_bool_is_not_an_int():
    assert enc([True, 1]) == h("09 05 01 03 04 01")


def test_each_encode_call_starts_with_empty_tables():
    encoder = Encoder(amf3=True)
    first = encoder.encode("ab")
    second = encoder.encode("ab")
    assert bytes(first) == bytes(second) == h("06 05 61 62")


def test_per_call_amf3_override():
    assert bytes(Encoder().encode("x", amf3=True)) == h("06 03 78")
    assert bytes(Encoder(amf3=True).encode("x", amf3=False)) == h("02 0001 78")


# ----------------------------------------------------------------- dates


def test_date_decodes_naive_utc_by_default():
    got = dec(h("08 01") + dbl(1577934245123.0))
    assert got == datetime.datetime(2020, 1, 2, 3, 4, 5, 123000)
    assert got.tzinfo is None


def test_date_decodes_aware_utc_on_request():
    got = dec(h("08 01") + dbl(1577934245123.0), aware_datetimes=True)
    assert got.utcoffset() == datetime.timedelta(0)
    assert got == datetime.datetime(2020, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


# ----------------------------------------------------------------- string references


def test_string_references():
    assert enc(["ab", "ab"]) == h("09 05 01 06 05 61 62 06 00")
    # A dynamic member name is in the string table too.
    assert enc({"a": "a"}) == h("0A 0B 01 03 61 06 00 01")


def test_empty_string_never_referenced():
    assert enc(["", ""]) == h("09 05 01 06 01 06 01")
    # "" takes no slot: "a" is string 0.
    assert enc(["", "a", "a"]) == h("09 07 01 06 01 06 03 61 06 00")
    assert dec(h("09 07 01 06 01 06 03 61 06 00")) == ["", "a", "a"]


def test_empty_string_reference_is_out_of_range():
    with pytest.raises(BadReferenceError):
        dec(h("09 05 01 06 01 06 00"))


# ----------------------------------------------------------------- object references


def test_list_reference():
    a = [1]
    raw = h("09 05 01 09 03 01 04 01 09 02")
    assert enc([a, a]) == raw
    got = dec(raw)
    assert got == [[1], [1]] and got[0] is got[1]


def test_dict_reference():
    d = {"a": 1}
    raw = h("09 05 01 0A 0B 01 03 61 04 01 01 0A 02")
    assert enc([d, d]) == raw
    got = dec(raw)
    assert got[0] == {"a": 1} and got[0] is got[1]


def test_list_containing_itself():
    cyc = []
    cyc.append(cyc)
    raw = h("09 03 01 09 00")
    assert enc(cyc) == raw
    got = dec(raw)
    assert type(got) is list and len(got) == 1 and got[0] is got


def test_dict_containing_itself():
    cyc = {}
    cyc["self"] = cyc
    raw = h("0A 0B 01 09 73 65 6C 66 0A 00 01")
    assert enc(cyc) == raw
    got = dec(raw)
    assert list(got) == ["self"] and got["self"] is got


def test_date_reference_and_slot():
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    date = h("08 01") + dbl(1577934245000.0)
    assert enc([when, when]) == h("09 05 01") + date + h("08 02")
    got = dec(h("09 05 01") + date + h("08 02"))
    assert got == [when, when]
    # The date takes object slot 1, so the list after it is slot 2.
    inner = [1]
    assert enc([when, inner, inner]) == h("09 07 01") + date + h("09 03 01 04 01 09 04")


def test_bytearray_reference():
    data = b"ab"
    raw = h("09 05 01 0C 05 61 62 0C 02")
    assert enc([data, data]) == raw
    got = dec(raw)
    assert got == [b"ab", b"ab"] and all(isinstance(v, AsByteArray) for v in got)


def test_vector_and_dictionary_references():
    got = dec(h("09 05 01 0D 03 00 00000001 0D 02"))
    assert got[0] == [1] and got[0] is got[1] and isinstance(got[0], AsVector)
    got = dec(h("09 05 01 11 03 00 04 01 04 02 11 02"))
    assert got[0] == {1: 2} and got[0] is got[1] and isinstance(got[0], AsDictionary)


def test_use_references_off_writes_inline():
    a = [1]
    assert enc([a, a], use_references=False) == h("09 05 01 09 03 01 04 01 09 03 01 04 01")
    assert enc(["ab", "ab"], use_references=False) == h("09 05 01 06 05 61 62 06 05 61 62")


def test_use_references_off_refuses_cycle():
    cyc = []
    cyc.append(cyc)
    with pytest.raises(EncodeError):
        enc(cyc, use_references=False)


# ----------------------------------------------------------------- anonymous objects


def test_repeated_anonymous_objects():
    # The second object may repeat the anonymous traits inline or refer to them (0x01).
    value = [{"a": 1}, {"b": 2}]
    raw = enc(value)
    first = h("0A 0B 01 03 61 04 01 01")
    assert raw.startswith(h("09 05 01") + first)
    assert raw[len(first) + 3:] in (h("0A 0B 01 03 62 04 02 01"), h("0A 01 03 62 04 02 01"))
    assert dec(raw) == value


def test_nested_anonymous_objects():
    value = {"a": {"b": None}}
    raw = enc(value)
    assert raw.startswith(h("0A 0B 01 03 61"))
    assert raw[5:] in (h("0A 0B 01 03 62 01 01 01"), h("0A 01 03 62 01 01 01"))
    assert dec(raw) == value


class Plain:
    def __init__(self):
        self.a = 1
        self._p = 2


class Slotted:
    __slots__ = ("a",)

    def __init__(self):
        self.a = 1


def test_unmapped_instance_is_anonymous_object():
    assert enc(Plain()) == h("0A 0B 01 03 61 04 01 01")
    assert enc(Plain(), include_private=True) == h("0A 0B 01 03 61 04 01 05 5F 70 04 02 01")
    assert enc(Slotted()) == h("0A 0B 01 03 61 04 01 01")


# ----------------------------------------------------------------- typed objects

POINT = h("0A 23") + utf3("test.Point") + h("03 78 03 79 04 01 04 02")


def test_sealed_class(mapper):
    assert enc(Point(x=1, y=2), class_def_mapper=mapper) == POINT
    got = dec(POINT, class_def_mapper=mapper)
    assert type(got) is Point and vars(got) == {"x": 1, "y": 2}


def test_trait_reference_for_repeat_class(mapper):
    raw = h("09 05 01") + POINT + h("0A 01 04 03 04 04")
    assert enc([Point(x=1, y=2), Point(x=3, y=4)], class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert got == [Point(x=1, y=2), Point(x=3, y=4)]


def test_dynamic_class(mapper):
    obj = Dyn(a=1, z=2, _hidden=3)
    raw = h("0A 1B") + utf3("test.Dyn") + h("03 61 04 01 03 7A 04 02 01")
    assert enc(obj, class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Dyn and vars(got) == {"a": 1, "z": 2}


def test_externalizable_class(mapper):
    raw = h("0A 07") + utf3("test.Ext") + h("00 05 06 05 68 69")
    assert enc(Ext(n=5, label="hi"), class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Ext and vars(got) == {"n": 5, "label": "hi"}


def test_externalizable_shares_tables(mapper):
    # The label "a" written by writeExternal is a reference to the list's "a".
    raw = h("09 05 01 06 03 61 0A 07") + utf3("test.Ext") + h("00 01 06 00")
    assert enc(["a", Ext(n=1, label="a")], class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert got[0] == "a" and vars(got[1]) == {"n": 1, "label": "a"}


def test_object_referencing_itself(mapper):
    node = Node()
    node.next = node
    raw = h("0A 13") + utf3("test.Node") + h("09 6E 65 78 74 0A 00")
    assert enc(node, class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Node and got.next is got


def test_decoding_calls_neither_init_nor_setattr(mapper):
    raw = h("0A 13") + utf3("test.Guarded") + h("03 78 04 05")
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Guarded and vars(got) == {"x": 5}


def test_mapped_base_class_found_for_subclass(mapper):
    assert mapper.getClassDefByClass(SubPoint) is mapper.getClassDefByClass(Point)
    assert enc(SubPoint(x=1, y=2), class_def_mapper=mapper) == POINT


def test_unmap_class(mapper):
    mapper.unmapClass(Point)
    assert mapper.getClassDefByClass(Point) is None
    assert enc(Point(x=1, y=2), class_def_mapper=mapper) == h(
        "0A 0B 01 03 78 04 01 03 79 04 02 01")
    got = dec(POINT, class_def_mapper=mapper)
    assert isinstance(got, TypedObject) and got.alias == "test.Point"


UNKNOWN = [
    pytest.param(h("0A 1B") + utf3("foo.Bar") + h("03 61 04 01 03 62 04 02 01"),
                 "foo.Bar", ("a",), True, {"a": 1, "b": 2}, id="dynamic"),
    pytest.param(h("0A 13") + utf3("foo.Bar") + h("03 61 04 01"),
                 "foo.Bar", ("a",), False, {"a": 1}, id="sealed"),
    pytest.param(h("0A 0B") + utf3("os.system") + h("01"), "os.system", (), True, {},
                 id="os.system"),
]


@pytest.mark.parametrize("raw, alias, static_attrs, dynamic, members", UNKNOWN)
def test_unknown_alias_is_typed_object_and_reencodes(raw, alias, static_attrs, dynamic,
                                                     members):
    got = dec(raw)
    assert isinstance(got, TypedObject)
    assert (got.alias, tuple(got.static_attrs), got.dynamic) == (alias, static_attrs, dynamic)
    assert dict(got) == members
    assert enc(got) == raw


def test_unknown_externalizable_alias_is_an_error():
    with pytest.raises(ClassMappingError):
        dec(h("0A 07") + utf3("foo.Ext") + h("00 00 00 00"))


def test_externalizable_traits_for_a_sealed_class_is_an_error(mapper):
    # test.Point is mapped, but not as externalizable: its bytes cannot be read either.
    with pytest.raises(ClassMappingError):
        dec(h("0A 07") + utf3("test.Point") + h("04 01 04 02"), class_def_mapper=mapper)


def test_alias_never_imports(probe_module):
    raw = h("0A 1B") + utf3(f"{probe_module}.Evil") + h("03 61 04 01 01")
    got = dec(raw)
    assert isinstance(got, TypedObject) and got.alias == f"{probe_module}.Evil"
    assert probe_module not in sys.modules


# ----------------------------------------------------------------- ArrayCollection, ObjectProxy

COLLECTION = h("0A 07") + AC + h("09 03 01 04 01")
PROXY = h("0A 07") + OP + h("0A 0B 01 03 61 04 01 01")


def test_use_collections_and_proxies():
    assert enc([1], use_collections=True) == COLLECTION
    assert enc({"a": 1}, use_proxies=True) == PROXY


def test_as_proxy_and_as_no_proxy():
    assert enc(AsProxy([1])) == COLLECTION
    assert enc(AsProxy({"a": 1})) == PROXY
    assert enc(AsNoProxy([1]), use_collections=True) == h("09 03 01 04 01")
    assert enc(AsNoProxy({"a": 1}), use_proxies=True) == h("0A 0B 01 03 61 04 01 01")


def test_repeat_collection_uses_trait_reference():
    raw = h("09 05 01") + COLLECTION + h("0A 01 09 03 01 04 02")
    assert enc([AsProxy([1]), AsProxy([2])]) == raw
    assert dec(raw) == [[1], [2]]


def test_repeat_proxied_dict_is_an_object_reference():
    d = {"a": 1}
    raw = h("09 05 01") + PROXY + h("0A 02")
    assert enc([d, d], use_proxies=True) == raw
    got = dec(raw)
    assert got == [{"a": 1}, {"a": 1}] and got[0] is got[1]


def test_collection_containing_itself():
    # Slot 0 is the ArrayCollection (and its inner array, slot 1): a reference to slot 0
    # from inside is the list itself, as with any other cycle.
    got = dec(h("0A 07") + AC + h("09 03 01 0A 00"))
    assert type(got) is list and len(got) == 1 and got[0] is got
    got = dec(h("0A 07") + OP + h("0A 0B 01 03 73 0A 00 01"))
    assert list(got) == ["s"] and got["s"] is got


def test_collections_decode_unwrapped():
    assert_amf_equal(dec(COLLECTION), [1])
    assert_amf_equal(dec(PROXY), {"a": 1})


def test_references_to_collection_and_inner_array():
    # Slot 1 is the ArrayCollection, slot 2 its inner array: both are the same list.
    got = dec(h("09 07 01") + COLLECTION + h("0A 02 09 04"))
    assert got == [[1], [1], [1]]
    assert got[0] is got[1] is got[2]


# ----------------------------------------------------------------- XML

XML_TEXT = '<a b="1"><c>t</c></a>'


def _xml_payload(raw: bytes, marker: int) -> str:
    assert raw[0] == marker
    header, pos = read_u29(raw, 1)
    assert header & 1 and header >> 1 == len(raw) - pos
    return raw[pos:].decode("utf-8")


def _assert_same_xml(text: str) -> None:
    root = ET.fromstring(text)
    assert root.tag == "a" and root.attrib == {"b": "1"}
    assert [(c.tag, c.text) for c in root] == [("c", "t")]


@pytest.mark.parametrize("make", [lambda: xml.dom.minidom.parseString(XML_TEXT),
                                  lambda: ET.fromstring(XML_TEXT)], ids=["minidom", "etree"])
def test_xml_encodes(make):
    _assert_same_xml(_xml_payload(enc(make()), 0x0B))
    _assert_same_xml(_xml_payload(enc(make(), use_legacy_xml=True), 0x07))


@pytest.mark.parametrize("marker", [0x07, 0x0B])
def test_xml_decodes(marker):
    raw = bytes([marker]) + utf3(XML_TEXT)
    doc = dec(raw)
    assert isinstance(doc, xml.dom.minidom.Document)
    _assert_same_xml(doc.documentElement.toxml())
    elem = dec(raw, xml_type="etree")
    assert ET.iselement(elem)
    _assert_same_xml(ET.tostring(elem, encoding="unicode"))
    with pytest.raises(RefusedValueError):
        dec(raw, xml_type="refuse")


# ----------------------------------------------------------------- Dictionary keys


# Flash Player writes Dictionaries whose keys are objects: [Dictionary, reference to its
# Point key].  Object slots: 0 the outer array, 1 the Dictionary, 2 Point, 3 the unmapped
# typed key, 4 and 6 two anonymous objects with equal contents, 5 the array key.
OBJECT_KEYED = (
    h("09 05 01")
    + h("11 0F 00")                                                   # 7 entries, strong keys
    + h("0A 23") + utf3("test.Point") + h("03 78 03 79 04 01 04 02")  # Point(x=1, y=2):
    + h("06 03 61")                                                   # "a"
    + h("0A 13") + utf3("com.example.Key") + h("05 69 64 04 07")      # unmapped, id=7:
    + h("06 03 62")                                                   # "b"
    + h("0A 0B 01 03 6E 04 01 01")                                    # {"n": 1}:
    + h("04 03")                                                      # 3
    + h("09 05 01 04 01 04 02")                                       # [1, 2]:
    + h("0A 08")                                                      # the first {"n": 1}
    + h("0A 09 0E 04 01 01")                                          # another {"n": 1}:
    + h("04 05")                                                      # 5
    + h("06 03 73")                                                   # "s":
    + h("09 0A")                                                      # the [1, 2] key
    + h("04 2A")                                                      # 42:
    + h("0A 04")                                                      # the Point key
    + h("0A 04"))                                                     # the Point key


def _object_keyed(mapper):
    got = dec(OBJECT_KEYED, class_def_mapper=mapper)
    dictionary, outside = got
    assert isinstance(dictionary, AsDictionary) and len(dictionary) == 7
    keys = list(dictionary)
    assert all(isinstance(k, IdentityKey) for k in keys[:5]) and keys[5:] == ["s", 42]
    return dictionary, outside, [k.value for k in keys[:5]]


def test_dictionary_keyed_by_objects_decodes(mapper):
    dictionary, outside, (point, typed, anon, array, anon2) = _object_keyed(mapper)
    assert type(point) is Point and vars(point) == {"x": 1, "y": 2}
    assert isinstance(typed, TypedObject) and typed.alias == "com.example.Key"
    assert dict(typed) == {"id": 7}
    # Equal contents, two keys: object keys are told apart by identity, as in ActionScript.
    assert anon == anon2 == {"n": 1} and anon is not anon2
    assert array == [1, 2]
    assert [dictionary[IdentityKey(k)] for k in (point, typed, anon2)] == ["a", "b", 5]
    # A reference to a key object, from a value or from outside, is that same object.
    assert dictionary[IdentityKey(array)] is anon
    assert dictionary["s"] is array and dictionary[42] is point and outside is point


def test_dictionary_keyed_by_objects_encodes_again_to_the_same_bytes(mapper):
    got = dec(OBJECT_KEYED, class_def_mapper=mapper)
    assert enc(got, class_def_mapper=mapper) == OBJECT_KEYED


def test_dictionary_keys_of_every_object_kind_round_trip(mapper):
    stamp = datetime.datetime(2020, 1, 2)
    keys = [datetime.datetime(2020, 1, 2), stamp, AsByteArray(b"k"), AsByteArray(b"k"),
            AsVector([1], "int"), AsDictionary({1: 2}), xml.dom.minidom.parseString("<a/>")]
    value = AsDictionary((IdentityKey(k), i) for i, k in enumerate(keys))
    value[IdentityKey(value)] = "itself"
    got = dec(enc([value, stamp], class_def_mapper=mapper), class_def_mapper=mapper)
    dictionary, outside = got
    pairs = list(dictionary.items())
    # Equal dates and equal ByteArrays are distinct objects, so distinct keys.
    assert len(pairs) == len(keys) + 1
    assert all(isinstance(k, IdentityKey) for k, _ in pairs)
    assert [type(k.value) for k, _ in pairs[:len(keys)]] == [
        datetime.datetime, datetime.datetime, AsByteArray, AsByteArray, AsVector, AsDictionary,
        xml.dom.minidom.Document]
    assert [v for _, v in pairs[:len(keys)]] == list(range(len(keys)))
    assert pairs[1][0].value is outside and pairs[-1] == (IdentityKey(dictionary), "itself")


def test_primitive_dictionary_keys_stay_as_they_are():
    got = dec(h("11 0B 00 06 03 6B 01 04 03 01 05") + dbl(2.5) + h("01 03 01 01 01"))
    assert list(got) == ["k", 3, 2.5, True, None]


def test_identity_key():
    a, b = {"n": 1}, {"n": 1}
    assert IdentityKey(a) == IdentityKey(a) and hash(IdentityKey(a)) == hash(IdentityKey(a))
    assert IdentityKey(a) != IdentityKey(b)
    assert IdentityKey(a) == a and IdentityKey(a) != b
    point = SubPoint(x=1)  # unhashable by its class: hashed by identity all the same
    found = AsDictionary({IdentityKey(point): "p"})
    assert found[IdentityKey(point)] == "p"
    plain = object()  # a class with object's hash: the object itself finds its key
    assert AsDictionary({IdentityKey(plain): 1})[plain] == 1
    assert repr(IdentityKey("x")) == "IdentityKey('x')"
    assert enc(IdentityKey([1])) == enc([1]) and encode(IdentityKey([1]), False) == encode(
        [1], False)


def test_vector_decoded_attributes():
    got = dec(h("0D 03 01 00000007"))
    assert isinstance(got, AsVector)
    assert (got.type, got.fixed, list(got)) == ("int", True, [7])
    got = dec(h("10 03 00") + utf3("String") + h("06 03 61"))
    assert (got.type, got.class_name, list(got)) == ("object", "String", ["a"])
