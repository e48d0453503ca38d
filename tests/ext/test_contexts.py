"""Contexts used directly, as AmFast code does: ``EncoderContext(buffer, ...)``, several values
encoded one after another into one context and decoded back from one ``DecoderContext``."""
from __future__ import annotations

import io

import pytest

import amfast.decode
import amfast.encode
from amfast.class_def import ClassDefMapper
from amfast.context import DecoderContext, EncoderContext
from amfast.decoder import TruncatedDataError
from amfast.encoder import Encoder
from amfast.remoting import Message, Packet
from tests.ext.conftest import (EncodeError, Ext, ExtClassDef, Point, dbl, h, make_mapper, utf0,
                                utf3)

pyamf = pytest.importorskip("pyamf")

FORMATS = pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])


def shared_values():
    """Three values where the later ones refer to objects and strings of the earlier ones."""
    inner = {"a": [1, 2]}
    return [inner, [inner, "hello"], "hello"]


def encode_each(values, context) -> object:
    result = None
    for value in values:
        result = amfast.encode.encode(value, context)
    return result


def decode_each(raw: bytes, count: int, amf3: bool, **options) -> list:
    context = DecoderContext(raw, amf3=amf3, **options)
    values = [amfast.decode.decode(context) for _ in range(count)]
    assert context.tell() == len(raw)
    return values


# ----------------------------------------------------------------- the constructor


def test_buffer_comes_first_as_in_amfast():
    mapper = make_mapper()
    out = io.BytesIO()
    context = EncoderContext(out, mapper, True, False, False, True, False, False)
    assert context.class_def_mapper is mapper and context.amf3
    assert amfast.encode.encode(Point(x=1, y=2), context) is out
    assert out.getvalue() == h("0A 23") + utf3("test.Point") + h("03 78 03 79 04 01 04 02")


def test_keywords_and_defaults():
    context = EncoderContext(amf3=True, use_references=False)
    assert context.amf3 and not context.use_references and context.use_collections is False
    assert amfast.encode.encode("x", context) == h("06 03 78")


def test_a_buffer_without_write_is_refused():
    # Code written for the old order passed the ClassDefMapper first: it fails loudly.
    for wrong in (make_mapper(), b"", 1):
        with pytest.raises(TypeError, match="write"):
            EncoderContext(wrong)


# ----------------------------------------------------------------- several values, one context


@FORMATS
def test_several_values_share_the_tables(amf3):
    """Each call appends the next value; references reach into the earlier ones. Without a
    buffer each call returns everything written so far."""
    context = EncoderContext(amf3=amf3)
    first = amfast.encode.encode(shared_values()[0], context)
    everything = encode_each(shared_values(), EncoderContext(amf3=amf3))
    assert everything.startswith(first)
    if amf3:
        assert everything == (h("0A 0B 01") + utf3("a") + h("09 05 01 04 01 04 02 01")
                              + h("09 05 01 0A 00") + h("06") + utf3("hello") + h("06 02"))
    else:
        assert everything == (h("03") + utf0("a") + h("0A 00000002 00") + dbl(1.0) + h("00")
                              + dbl(2.0) + h("0000 09") + h("0A 00000002 07 0000 02")
                              + utf0("hello") + h("02") + utf0("hello"))


@FORMATS
def test_several_values_match_py3amf(amf3):
    """py3amf writes several values with one encoder (one context): the same bytes."""
    encoding = pyamf.AMF3 if amf3 else pyamf.AMF0
    theirs = pyamf.encode(*shared_values(), encoding=encoding).getvalue()
    assert encode_each(shared_values(), EncoderContext(amf3=amf3)) == theirs


@FORMATS
def test_several_values_read_back_with_their_references(amf3):
    raw = encode_each(shared_values(), EncoderContext(amf3=amf3))
    first, second, third = decode_each(raw, 3, amf3)
    assert first == {"a": [1, 2] if amf3 else [1.0, 2.0]}
    assert second[0] is first and second[1] == third == "hello"
    with pytest.raises(TruncatedDataError):
        amfast.decode.decode(DecoderContext(raw[:0], amf3=amf3))


@FORMATS
def test_py3amf_reads_the_values_one_after_another(amf3):
    raw = encode_each(shared_values(), EncoderContext(amf3=amf3))
    first, second, third = pyamf.decode(raw, encoding=pyamf.AMF3 if amf3 else pyamf.AMF0)
    assert second[0] is first and third == "hello"


@FORMATS
def test_values_py3amf_wrote_one_after_another_read_back(amf3):
    inner = {"k": "shared"}
    raw = pyamf.encode(inner, [inner, "shared"], encoding=pyamf.AMF3 if amf3 else pyamf.AMF0)
    first, second = decode_each(raw.getvalue(), 2, amf3)
    assert first == {"k": "shared"} and second[0] is first and second[1] == "shared"


def test_amf0_switches_share_the_amf3_tables_across_values():
    mapper = make_mapper()
    point = Point(x="s", y=None)
    raw = encode_each([point, [point, "s"]], EncoderContext(class_def_mapper=mapper))
    # The second value's switch refers to the first value's AMF3 object.
    assert raw.endswith(h("0A 00000002 11 0A 00 02") + utf0("s"))
    first, second = decode_each(raw, 2, False, class_def_mapper=mapper)
    assert second[0] is first and vars(first) == {"x": "s", "y": None}


# ----------------------------------------------------------------- writing into a buffer


@FORMATS
def test_buffer_receives_the_values_in_order(amf3):
    out = io.BytesIO()
    context = EncoderContext(out, amf3=amf3)
    for value in shared_values():
        assert amfast.encode.encode(value, context) is out
        assert context.getvalue() == b""  # nothing is held back between calls
        assert context.tell() == len(out.getvalue())
    assert out.getvalue() == encode_each(shared_values(), EncoderContext(amf3=amf3))


def test_write_external_goes_into_the_buffer_in_order():
    """writeExternal's raw ``context.write`` and nested ``encode`` calls end up in the
    buffer where they were made, after what came before and before what follows."""
    mapper = make_mapper()
    values = ["a", Ext(n=7, label="a"), [Ext(n=8, label="b"), "b"]]
    expected = encode_each(values, EncoderContext(class_def_mapper=mapper, amf3=True))
    out = io.BytesIO()
    assert encode_each(values, EncoderContext(out, mapper, True)) is out
    assert out.getvalue() == expected
    assert expected == (h("06 03 61") + h("0A 07") + utf3("test.Ext") + h("00 07 06 00")
                        + h("09 05 01 0A 01 00 08 06 03 62 06 04"))
    got = decode_each(expected, 3, True, class_def_mapper=mapper)
    assert vars(got[1]) == {"n": 7, "label": "a"} and vars(got[2][0]) == {"n": 8, "label": "b"}


def test_encode_packet_into_a_buffer():
    packet = Packet(messages=[Message("svc.echo", "/1", ["x", {"k": 1}])])
    out = io.BytesIO()
    assert amfast.encode.encode_packet(packet, EncoderContext(out)) is out
    assert out.getvalue() == amfast.encode.encode_packet(packet, EncoderContext())


def test_encoder_with_a_buffer():
    """AmFast's ``Encoder(buffer=...)``: each call writes into it (fresh tables each time)
    and returns it."""
    out = io.BytesIO()
    encoder = Encoder(amf3=True, buffer=out)
    inner = {"a": 1}
    assert encoder.encode(inner) is out
    assert encoder.encode([inner]) is out
    assert out.getvalue() == (Encoder(amf3=True).encode(inner)
                              + Encoder(amf3=True).encode([inner]))
    packet = Packet(messages=[Message("svc.echo", "/1", [inner])])
    start = len(out.getvalue())
    assert encoder.encode_packet(packet) is out
    assert out.getvalue()[start:] == Encoder(amf3=True).encode_packet(packet)


def test_a_failing_write_keeps_the_bytes_for_the_next_call():
    class Flaky(io.BytesIO):
        fail = True

        def write(self, raw):
            if self.fail:
                self.fail = False
                raise OSError("disk full")
            return io.BytesIO.write(self, raw)

    out = Flaky()
    context = EncoderContext(out, amf3=True)
    with pytest.raises(OSError):
        amfast.encode.encode("a", context)
    assert amfast.encode.encode("a", context) is out
    assert out.getvalue() == h("06 03 61 06 00")


# ----------------------------------------------------------------- a failed value


@FORMATS
@pytest.mark.parametrize("with_buffer", [False, True], ids=["held", "buffer"])
def test_a_value_that_fails_leaves_no_trace(amf3, with_buffer):
    """An EncodeError part-way through a value writes none of it and enters none of its
    objects, strings or traits in the tables: the next value is written as if it had not
    been tried."""
    mapper = make_mapper()
    shared, point = {"k": "text"}, Point(x="p", y=None)
    before = {"first": 1}
    bad = [before, shared, point, "text", lambda: None]
    good = [shared, point, "text", before]
    out = io.BytesIO() if with_buffer else None
    context = EncoderContext(out, mapper, amf3)
    amfast.encode.encode(before, context)
    with pytest.raises(EncodeError):
        amfast.encode.encode(bad, context)
    result = amfast.encode.encode(good, context)
    raw = out.getvalue() if with_buffer else result
    assert raw == encode_each([before, good], EncoderContext(class_def_mapper=mapper, amf3=amf3))
    first, second = decode_each(raw, 2, amf3, class_def_mapper=mapper)
    assert second[3] is first and second[0] == {"k": "text"} and vars(second[1])["x"] == "p"


def test_a_failed_packet_leaves_the_context_usable():
    out = io.BytesIO()
    context = EncoderContext(out)
    with pytest.raises(EncodeError):
        amfast.encode.encode_packet(Packet(messages=[Message("a", "/1", [lambda: None])]),
                                    context)
    assert out.getvalue() == b"" and context.tell() == 0
    packet = Packet(messages=[Message("a", "/1", [{"k": 1}])])
    amfast.encode.encode_packet(packet, context)
    assert out.getvalue() == amfast.encode.encode_packet(packet, EncoderContext())


def test_encode_inside_write_external_returns_none():
    """The enclosing call returns the bytes; a nested call copying them all for every value
    would make encoding many externalizable objects quadratic."""
    returned = []

    class Recording(ExtClassDef):
        def writeExternal(self, obj, context):
            returned.append(amfast.encode.encode(obj.label, context))

        def readExternal(self, obj, context):
            obj.label = amfast.decode.decode(context)

    mapper = ClassDefMapper()
    mapper.mapClass(Recording(Ext, "test.Ext"))
    values = [Ext(label="a"), Ext(label="b")]
    raw = amfast.encode.encode(values, EncoderContext(class_def_mapper=mapper, amf3=True))
    out = io.BytesIO()
    assert amfast.encode.encode(values, EncoderContext(out, mapper, True)) is out
    assert returned == [None] * 4
    assert raw == out.getvalue() == (h("09 05 01 0A 07") + utf3("test.Ext") + h("06 03 61")
                                     + h("0A 01 06 03 62"))
