"""AMF0: exact bytes in both directions, from the AMF0 specification and docs/codec.md."""
from __future__ import annotations

import datetime
import decimal
import math
import struct
import sys
import xml.dom.minidom
import xml.etree.ElementTree as ET

import pytest

from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsProxy, AsVector,
                                       TypedObject)
from amfast.decoder import RefusedValueError
from tests.ext.conftest import (Dyn0, EncodeError, Ext, Guarded, Node0, Point,
                                Point0, assert_amf_equal, dbl, decode, encode,
                                expected_image, h, utf0, utf3)

UTC = datetime.timezone.utc
END = h("00 00 09")


def enc(value, **options) -> bytes:
    return encode(value, False, **options)


def dec(raw, **options):
    return decode(raw, False, **options)


def num(value: float) -> bytes:
    return h("00") + dbl(value)


def strict(*items: bytes) -> bytes:
    return h("0A") + struct.pack(">I", len(items)) + b"".join(items)


def ecma(count: int, *pairs: tuple[str, bytes]) -> bytes:
    return h("08") + struct.pack(">I", count) + b"".join(
        utf0(k) + v for k, v in pairs) + END


# ----------------------------------------------------------------- values both ways

BOTH_WAYS = [
    pytest.param(None, h("05"), id="null"),
    pytest.param(True, h("01 01"), id="true"),
    pytest.param(False, h("01 00"), id="false"),
    pytest.param(0, num(0.0), id="int-0"),
    pytest.param(42, num(42.0), id="int"),
    pytest.param(-7, num(-7.0), id="int-negative"),
    pytest.param(2 ** 28, num(2.0 ** 28), id="int-2**28"),
    pytest.param(2 ** 53, num(2.0 ** 53), id="int-2**53"),
    pytest.param(3.5, h("00 400C000000000000"), id="float"),
    pytest.param(float("inf"), h("00 7FF0000000000000"), id="+inf"),
    pytest.param(float("-inf"), h("00 FFF0000000000000"), id="-inf"),
    pytest.param(-0.0, h("00 8000000000000000"), id="-0.0"),
    pytest.param(decimal.Decimal("2.5"), h("00 4004000000000000"), id="Decimal"),
    pytest.param("", h("02 0000"), id="str-empty"),
    pytest.param("a", h("02 0001 61"), id="str-ascii"),
    pytest.param("h\u00e9llo \u4e16", h("02 000A 68 C3A9 6C 6C 6F 20 E4B896"), id="str-unicode"),
    pytest.param("x" * 65535, h("02 FFFF") + b"x" * 65535, id="str-65535-bytes"),
    pytest.param("\u00e9" * 32767 + "x", h("02 FFFF") + "\u00e9".encode() * 32767 + b"x",
                 id="str-65535-utf8-bytes"),
    pytest.param("x" * 65536, h("0C 00010000") + b"x" * 65536, id="long-str-65536-bytes"),
    pytest.param("\u00e9" * 32768, h("0C 00010000") + "\u00e9".encode() * 32768,
                 id="long-str-by-utf8-bytes"),
    pytest.param([], h("0A 00000000"), id="list-empty"),
    pytest.param([1, "a"], strict(num(1.0), h("02 0001 61")), id="list"),
    pytest.param((1, None), strict(num(1.0), h("05")), id="tuple"),
    pytest.param({True}, strict(h("01 01")), id="set"),
    pytest.param({}, h("03") + END, id="dict-empty"),
    pytest.param({"a": 1}, h("03") + utf0("a") + num(1.0) + END, id="dict"),
    pytest.param({1: "x"}, h("03") + utf0("1") + h("02 0001 78") + END, id="dict-int-key"),
    pytest.param({"a": {"b": []}},
                 h("03") + utf0("a") + h("03") + utf0("b") + h("0A 00000000") + END + END,
                 id="dict-nested"),
    pytest.param(datetime.datetime(2020, 1, 2, 3, 4, 5, 123456),
                 h("0B") + dbl(1577934245123.0) + h("0000"), id="datetime-ms-truncated"),
    pytest.param(datetime.datetime(1969, 12, 31, 23, 59, 59, 999000),
                 h("0B") + dbl(-1.0) + h("0000"), id="datetime-before-epoch"),
    pytest.param(datetime.datetime(2020, 1, 1, 22, 4, 5,
                                   tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
                 h("0B") + dbl(1577934245000.0) + h("0000"), id="datetime-aware-to-utc"),
    pytest.param(datetime.date(2020, 1, 2), h("0B") + dbl(1577923200000.0) + h("0000"),
                 id="date"),
    pytest.param(datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
                 h("0B") + dbl(253402300799999.0) + h("0000"), id="datetime-year-9999"),
    pytest.param(b"ab", h("11 0C 05 61 62"), id="bytes"),
    pytest.param(bytearray(b"\x00"), h("11 0C 03 00"), id="bytearray"),
    pytest.param(memoryview(b"ab"), h("11 0C 05 61 62"), id="memoryview"),
    pytest.param(AsByteArray(b"ab"), h("11 0C 05 61 62"), id="AsByteArray"),
    pytest.param(AsVector([1, -2], type="int"), h("11 0D 05 00 00000001 FFFFFFFE"),
                 id="vector-int"),
    pytest.param(AsVector([3], type="uint", fixed=True), h("11 0E 03 01 00000003"),
                 id="vector-uint"),
    pytest.param(AsVector([0.5], type="double"), h("11 0F 03 00 3FE0000000000000"),
                 id="vector-double"),
    pytest.param(AsVector(["a"], type="object", class_name="String"),
                 h("11 10 03 00") + utf3("String") + h("06 03 61"), id="vector-object"),
]


@pytest.mark.parametrize("value, raw", BOTH_WAYS)
def test_encode_gives_spec_bytes(value, raw):
    assert enc(value) == raw


@pytest.mark.parametrize("value, raw", BOTH_WAYS)
def test_decode_gives_value(value, raw):
    assert_amf_equal(dec(raw), expected_image(value, False))


def test_dictionary_both_ways():
    raw = h("11 11 03 00 04 01 06 03 61")
    assert enc(AsDictionary({1: "a"})) == raw
    got = dec(raw)
    assert isinstance(got, AsDictionary) and dict(got) == {1: "a"} and not got.weak_keys


def test_nan_both_ways():
    raw = enc(float("nan"))
    assert raw[:1] == h("00") and len(raw) == 9
    assert math.isnan(struct.unpack(">d", raw[1:])[0])
    got = dec(h("00 7FF8000000000000"))
    assert isinstance(got, float) and math.isnan(got)


def test_numbers_decode_as_float():
    got = dec(num(42.0))
    assert type(got) is float and got == 42.0


DECODE_ONLY = [
    pytest.param(h("06"), None, id="undefined"),
    pytest.param(h("01 02"), True, id="boolean-nonzero-true"),
    pytest.param(h("0C 00000001 61"), "a", id="long-string-short"),
    pytest.param(h("0B") + dbl(1577934245000.0) + h("FF88"),
                 datetime.datetime(2020, 1, 2, 3, 4, 5), id="date-timezone-ignored"),
    pytest.param(ecma(3, ("0", num(1.0)), ("1", h("02 0003 74776F")), ("2", num(3.25))),
                 [1.0, "two", 3.25], id="ecma-dense-to-list"),
    pytest.param(ecma(0), [], id="ecma-empty-to-list"),
    pytest.param(ecma(9, ("0", num(1.0))), [1.0], id="ecma-count-is-a-hint"),
    pytest.param(ecma(1, ("a", num(1.0))), {"a": 1.0}, id="ecma-named-to-dict"),
    pytest.param(ecma(2, ("0", num(1.0)), ("2", num(2.0))), {"0": 1.0, "2": 2.0},
                 id="ecma-gap-to-dict"),
    pytest.param(ecma(2, ("0", num(1.0)), ("length", num(1.0))),
                 {"0": 1.0, "length": 1.0}, id="ecma-mixed-to-dict"),
    pytest.param(h("11 04 05"), 5, id="switch-amf3-int"),
    pytest.param(h("11 0E 03 00 FFFFFFFF"), AsVector([4294967295], type="uint"),
                 id="switch-vector-uint"),
]


@pytest.mark.parametrize("raw, expected", DECODE_ONLY)
def test_decode_only(raw, expected):
    assert_amf_equal(dec(raw), expected)


# ----------------------------------------------------------------- dates


def test_dates_decode_naive_or_aware():
    raw = h("0B") + dbl(1577934245123.0) + h("0000")
    naive = dec(raw)
    assert naive.tzinfo is None
    assert naive == datetime.datetime(2020, 1, 2, 3, 4, 5, 123000)
    aware = dec(raw, aware_datetimes=True)
    assert aware.utcoffset() == datetime.timedelta(0)
    assert aware == datetime.datetime(2020, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


def test_dates_take_no_reference_slot():
    # Slot 0: the strict array, slot 1: the object. The date takes none.
    raw = strict(h("0B") + dbl(0.0) + h("0000"), h("03") + utf0("k") + h("05") + END,
                 h("07 0001"))
    got = dec(raw)
    assert got[0] == datetime.datetime(1970, 1, 1)
    assert got[1] == {"k": None} and got[2] is got[1]


# ----------------------------------------------------------------- references (0x07)


def test_object_reference():
    d = {"a": 1}
    raw = strict(h("03") + utf0("a") + num(1.0) + END, h("07 0001"))
    assert enc([d, d]) == raw
    got = dec(raw)
    assert got[0] == {"a": 1.0} and got[1] is got[0]


def test_list_containing_itself():
    cyc = []
    cyc.append(cyc)
    raw = strict(h("07 0000"))
    assert enc(cyc) == raw
    got = dec(raw)
    assert len(got) == 1 and got[0] is got


def test_dict_containing_itself():
    cyc = {}
    cyc["self"] = cyc
    raw = h("03") + utf0("self") + h("07 0000") + END
    assert enc(cyc) == raw
    got = dec(raw)
    assert got["self"] is got


def test_typed_object_referencing_itself(mapper):
    node = Node0()
    node.next = node
    raw = h("10") + utf0("test.Node0") + utf0("next") + h("07 0000") + END
    assert enc(node, class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Node0 and got.next is got


def test_reference_to_ecma_array_list():
    raw = strict(ecma(1, ("0", num(1.0))), h("07 0001"))
    got = dec(raw)
    assert got == [[1.0], [1.0]] and got[0] is got[1]


def test_use_references_off():
    d = {"a": 1}
    one = h("03") + utf0("a") + num(1.0) + END
    assert enc([d, d], use_references=False) == strict(one, one)
    cyc = []
    cyc.append(cyc)
    with pytest.raises(EncodeError):
        enc(cyc, use_references=False)


# ----------------------------------------------------------------- typed objects

POINT3 = h("0A 23") + utf3("test.Point") + h("03 78 03 79 04 01 04 02")


def test_typed_object_0x10(mapper):
    raw = h("10") + utf0("test.Point0") + utf0("x") + num(1.0) + utf0("y") + num(2.0) + END
    assert enc(Point0(x=1, y=2), class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Point0 and vars(got) == {"x": 1.0, "y": 2.0}


def test_dynamic_typed_object_0x10(mapper):
    raw = h("10") + utf0("test.Dyn0") + utf0("a") + num(1.0) + utf0("z") + num(2.0) + END
    assert enc(Dyn0(a=1, z=2), class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Dyn0 and vars(got) == {"a": 1.0, "z": 2.0}


def test_amf3_class_goes_through_switch(mapper):
    raw = h("11") + POINT3
    assert enc(Point(x=1, y=2), class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Point and vars(got) == {"x": 1, "y": 2}


def test_externalizable_goes_through_switch(mapper):
    raw = h("11 0A 07") + utf3("test.Ext") + h("00 05 06 05 68 69")
    assert enc(Ext(n=5, label="hi"), class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Ext and vars(got) == {"n": 5, "label": "hi"}


def test_switches_share_amf3_tables_when_encoding(mapper):
    raw = strict(h("11") + POINT3, h("11 0A 01 04 03 04 04"))
    assert enc([Point(x=1, y=2), Point(x=3, y=4)], class_def_mapper=mapper) == raw
    got = dec(raw, class_def_mapper=mapper)
    assert got == [Point(x=1, y=2), Point(x=3, y=4)]


def test_switches_share_amf3_tables_when_decoding():
    assert dec(strict(h("11 06 05 61 62"), h("11 06 00"), h("11 06 00"))) == ["ab"] * 3
    got = dec(strict(h("11 09 03 01 04 01"), h("02 0001 78"), h("11 09 00")))
    assert got == [[1], "x", [1]] and got[0] is got[2]
    got = dec(strict(h("11 0A 0B 01 03 61 04 01 01"), h("11 0A 01 03 62 04 02 01")))
    assert got == [{"a": 1}, {"b": 2}]


def test_repeat_bytes_in_amf0_round_trip():
    data = b"ab"
    assert dec(enc([data, data])) == [b"ab", b"ab"]
    assert dec(strict(h("11 0C 05 61 62"), h("11 0C 00"))) == [b"ab", b"ab"]
    assert dec(strict(h("11 0C 05 61 62"), h("11 0C 05 61 62"))) == [b"ab", b"ab"]


def test_decoding_calls_neither_init_nor_setattr(mapper):
    raw = h("11 0A 13") + utf3("test.Guarded") + h("03 78 04 05")
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Guarded and vars(got) == {"x": 5}
    raw = h("10") + utf0("test.Guarded") + utf0("x") + num(5.0) + END
    got = dec(raw, class_def_mapper=mapper)
    assert type(got) is Guarded and vars(got) == {"x": 5.0}


def test_unknown_alias_is_typed_object_and_reencodes():
    raw = h("10") + utf0("foo.Bar") + utf0("a") + num(1.0) + utf0("b") + h("02 0001 78") + END
    got = dec(raw)
    assert isinstance(got, TypedObject) and got.alias == "foo.Bar"
    assert dict(got) == {"a": 1.0, "b": "x"}
    assert enc(got) == raw


def test_alias_os_system_is_inert():
    got = dec(h("10") + utf0("os.system") + utf0("a") + h("05") + END)
    assert isinstance(got, TypedObject) and got.alias == "os.system" and dict(got) == {"a": None}


def test_alias_never_imports(probe_module):
    got = dec(h("10") + utf0(f"{probe_module}.Evil") + END)
    assert isinstance(got, TypedObject) and got.alias == f"{probe_module}.Evil"
    assert probe_module not in sys.modules


def test_proxies_are_plain_in_amf0():
    assert enc(AsProxy([1])) == strict(num(1.0))
    assert enc([1], use_collections=True) == strict(num(1.0))
    assert enc({"a": 1}, use_proxies=True) == h("03") + utf0("a") + num(1.0) + END


# ----------------------------------------------------------------- XML

XML_TEXT = '<a b="1"><c>t</c></a>'


def _assert_same_xml(text: str) -> None:
    root = ET.fromstring(text)
    assert root.tag == "a" and root.attrib == {"b": "1"}
    assert [(c.tag, c.text) for c in root] == [("c", "t")]


@pytest.mark.parametrize("make", [lambda: xml.dom.minidom.parseString(XML_TEXT),
                                  lambda: ET.fromstring(XML_TEXT)], ids=["minidom", "etree"])
def test_xml_encodes(make):
    raw = enc(make())
    assert raw[0] == 0x0F
    (length,) = struct.unpack(">I", raw[1:5])
    assert length == len(raw) - 5
    _assert_same_xml(raw[5:].decode("utf-8"))


def test_xml_takes_no_reference_slot():
    # The AMF0 object table holds objects and arrays only: XML is written inline every time,
    # and the object after it is slot 1.
    doc = xml.dom.minidom.parseString("<a/>")
    d = {}
    one = enc(doc)
    raw = strict(one, one, h("03") + END, h("07 0001"))
    assert enc([doc, doc, d, d]) == raw
    got = dec(raw)
    assert got[2] == {} and got[3] is got[2]


def test_xml_decodes():
    body = XML_TEXT.encode()
    raw = h("0F") + struct.pack(">I", len(body)) + body
    doc = dec(raw)
    assert isinstance(doc, xml.dom.minidom.Document)
    _assert_same_xml(doc.documentElement.toxml())
    elem = dec(raw, xml_type="etree")
    assert ET.iselement(elem)
    _assert_same_xml(ET.tostring(elem, encoding="unicode"))
    with pytest.raises(RefusedValueError):
        dec(raw, xml_type="refuse")
