"""PyAmfEndpoint and pyamf_converter: py3amf as the codec of a channel.

The reference is amfast's own codec: for the same packets and values, PyAmfEndpoint must
decode the same Python values and write the same bytes (docs/codec.md's type mapping,
including the small Flex messages and mapped classes), and must leave py3amf's global
registrations alone for everything the user did not map.
"""
from __future__ import annotations

import datetime
import decimal
import enum
import struct
import subprocess
import sys
import textwrap
import time
import uuid
import xml.dom.minidom
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

pyamf = pytest.importorskip("pyamf")
pytest.importorskip("pyamf.remoting")

from amfast.class_def import ClassDef, ClassDefMapper, DynamicClassDef, ExternClassDef  # noqa: E402
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsError, AsNoProxy,  # noqa: E402
                                       AsProxy, AsVector, TypedObject)
from amfast.decoder import DecodeError, Decoder  # noqa: E402
from amfast.encoder import EncodeError, Encoder  # noqa: E402
from amfast.remoting import Header, Message, Packet  # noqa: E402
from amfast.remoting import pyamf_converter  # noqa: E402
from amfast.remoting.endpoint import AmfEndpoint, Endpoint  # noqa: E402
from amfast.remoting.flex_messages import (AcknowledgeMessage, AsyncMessage,  # noqa: E402
                                           AsyncMessageExt, CommandMessage,
                                           CommandMessageExt, ErrorMessage, RemotingMessage,
                                           to_small)
from amfast.remoting.pyamf_converter import (ClassDefAlias, PyAmfCodec,  # noqa: E402
                                             PyAmfConversionError, packet_to_amfast,
                                             packet_to_pyamf)
from amfast.remoting.pyamf_endpoint import PyAmfEndpoint  # noqa: E402
from tests.ext.conftest import (Dyn, Dyn0, Ext, Node, Point, Point0, SubPoint,  # noqa: E402
                                amf_values, assert_amf_equal, make_mapper)

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO.parent / "shared" / "captures"
CAPTURE_FILES = sorted(p.name for p in CAPTURES.glob("*.bin")) if CAPTURES.is_dir() else []
needs_captures = pytest.mark.skipif(not CAPTURE_FILES, reason=f"no captures at {CAPTURES}")
FORMATS = pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])


def capture(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def amf_endpoint(mapper=None) -> AmfEndpoint:
    mapper = ClassDefMapper() if mapper is None else mapper
    return AmfEndpoint(Encoder(class_def_mapper=mapper), Decoder(class_def_mapper=mapper))


def assert_same_packet(actual: Packet, expected: Packet) -> None:
    """Equal packets, comparing values strictly (types too) and objects by their attributes."""
    assert actual.client_type == expected.client_type
    assert [(h.name, h.required) for h in actual.headers] == \
        [(h.name, h.required) for h in expected.headers]
    for got, want in zip(actual.headers, expected.headers):
        assert_amf_equal(got.value, want.value)
    assert [(m.target, m.response) for m in actual.messages] == \
        [(m.target, m.response) for m in expected.messages]
    for got, want in zip(actual.messages, expected.messages):
        assert_amf_equal(got.body, want.body)


def same_bytes_and_values(value, amf3, mapper=None, **options):
    """PyAmfCodec writes ``value`` as amfast does, and reads amfast's bytes as amfast does."""
    mapper = make_mapper() if mapper is None else mapper
    ours = Encoder(amf3=amf3, class_def_mapper=mapper, **options).encode(value)
    codec = PyAmfCodec(mapper, **options)
    assert codec.encode(value, amf3) == ours, value
    expected = Decoder(amf3=amf3, class_def_mapper=mapper).decode(ours)
    assert_amf_equal(codec.decode(ours, amf3), expected)
    return expected


# =========================================================================== the endpoint


def test_endpoint_interface():
    endpoint = PyAmfEndpoint()
    assert isinstance(endpoint, Endpoint)
    assert isinstance(endpoint.class_def_mapper, ClassDefMapper)
    assert endpoint.decode(endpoint.encode({"a": [1]}, amf3=True), amf3=True) == {"a": [1]}
    assert endpoint.decode(endpoint.encode(1)) == 1.0


def test_endpoint_factory_gives_fresh_endpoints(endpoint_factory):
    first, second = endpoint_factory(), endpoint_factory()
    assert first is not second
    expected = {"amf": AmfEndpoint, "pyamf": PyAmfEndpoint}[endpoint_factory.kind]
    assert type(first) is expected
    mapper = make_mapper()
    mapped = endpoint_factory(class_def_mapper=mapper)
    assert mapped.decode(mapped.encode(Point(x=1, y=2), amf3=True), amf3=True) == Point(x=1, y=2)


@needs_captures
@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_captures_decode_and_encode_as_amfast_does(name):
    raw = capture(name)
    expected = AmfEndpoint().decodePacket(raw)
    packet = PyAmfEndpoint().decodePacket(raw)
    assert packet == expected
    for ours, theirs in zip(expected.messages, packet.messages):
        for a, b in zip(ours.body if isinstance(ours.body, list) else [ours.body],
                        theirs.body if isinstance(theirs.body, list) else [theirs.body]):
            assert type(b) is type(a)
    assert PyAmfEndpoint().encodePacket(expected) == AmfEndpoint().encodePacket(expected)


@needs_captures
@pytest.mark.parametrize("name,cls,operation", [
    ("royale_poll_small.bin", CommandMessageExt, CommandMessage.POLL_OPERATION),
    ("royale_publish_small.bin", AsyncMessageExt, None),
])
def test_small_message_captures(name, cls, operation):
    packet = PyAmfEndpoint().decodePacket(capture(name))
    message = packet.messages[0]
    assert message.is_flex_msg
    flex = message.body[0]
    assert type(flex) is cls
    assert getattr(flex, "operation", None) == operation
    # 16-byte UUIDs on the wire become canonical upper-case ids.
    assert str(uuid.UUID(flex.messageId)).upper() == flex.messageId
    assert isinstance(flex.headers, dict)


def flex_packet(*messages, client_type=Packet.FLASH_9, headers=()):
    return Packet(client_type, list(headers),
                  [Message("null", f"/{i + 1}", [m]) for i, m in enumerate(messages)])


def flex_messages():
    mid = "0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9"
    cid = "11111111-2222-4333-8444-555555555555"
    ack = AcknowledgeMessage(body={"r": [1, 2]}, clientId=cid, correlationId=mid,
                             headers={"DSId": cid}, timestamp=1700000000123, messageId=mid)
    return [
        RemotingMessage(body=[1, "two", {"x": 3.5}], destination="svc", operation="echo",
                        source="s", headers={"DSId": "nil", "DSEndpoint": "amf"},
                        timestamp=1700000000000, messageId=mid, clientId=cid, timeToLive=5),
        CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION,
                       headers={"DSMessagingVersion": 1, "DSId": "nil"}, timestamp=0,
                       messageId=mid),
        AsyncMessage(body="hello", destination="chat", headers={"DSSubtopic": "room"},
                     timestamp=1700000000000, messageId=mid, correlationId=None),
        ack,
        ErrorMessage(faultCode="Server.Error", faultString="boom", faultDetail="d",
                     extendedData={"why": 1}, rootCause=None, messageId=mid, timestamp=5,
                     correlationId=mid),
        to_small(AsyncMessage(body=[b"\x00\x01"], clientId=cid, destination="chat",
                              headers={"DSSubtopic": "room"}, timestamp=1700000000001,
                              messageId=mid, correlationId=mid, timeToLive=1000)),
        to_small(CommandMessage(operation=CommandMessage.POLL_OPERATION, clientId=cid,
                                headers={"DSId": cid}, timestamp=1, messageId=mid)),
        to_small(AcknowledgeMessage(body=None, clientId="not-a-uuid", correlationId=mid,
                                    timestamp=2, messageId="custom id")),
    ]


@pytest.mark.parametrize("index", range(len(flex_messages())))
def test_flex_messages_both_ways(index):
    message = flex_messages()[index]
    packet = flex_packet(message, headers=[Header("Credentials", True, {"userid": "u"})])
    raw = AmfEndpoint().encodePacket(packet)
    endpoint = PyAmfEndpoint()
    assert endpoint.encodePacket(packet) == raw
    decoded = endpoint.decodePacket(raw)
    assert decoded == AmfEndpoint().decodePacket(raw)
    assert type(decoded.messages[0].body[0]) is type(message)
    # Streaming frames: a standalone AMF3 value.
    frame = AmfEndpoint().encode(message, amf3=True)
    assert endpoint.encode(message, amf3=True) == frame
    assert endpoint.decode(frame, amf3=True) == AmfEndpoint().decode(frame, amf3=True)


def test_a_batch_of_flex_messages_shares_nothing_between_bodies():
    messages = flex_messages()
    packet = flex_packet(*messages)
    raw = AmfEndpoint().encodePacket(packet)
    assert PyAmfEndpoint().encodePacket(packet) == raw
    assert PyAmfEndpoint().decodePacket(raw) == AmfEndpoint().decodePacket(raw)


NETCONNECTION_VALUES = ["hello", "héllo 世界", "", 0, 42, -7, 2 ** 31 - 1, 3.5, True, False,
                        None, [1, "two", 3.25], [], {"a": 1, "b": "x", "nested": [1, 2]},
                        datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)]


@pytest.mark.parametrize("client_type", [Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9])
def test_netconnection_requests_and_replies(client_type):
    shared = {"k": [1, 2]}
    request = Packet(client_type,
                     [Header("Remember", False, "x"), Header("Credentials", True,
                                                             {"userid": "u", "password": "p"}),
                      Header("Shared", False, [shared, shared])],
                     [Message("svc.echo", f"/{i}", [value])
                      for i, value in enumerate(NETCONNECTION_VALUES, 1)]
                     + [Message("svc.args", "/99", [shared, shared, None])])
    reply = Packet(client_type, [], [
        Message("/1/onResult", "", NETCONNECTION_VALUES),
        Message("/2/onStatus", "", AsError("boom")),
        Message("/3/onDebugEvents", "null", [shared, shared]),
        Message("/4/onResult", "", None),
    ])
    for packet in (request, reply):
        raw = AmfEndpoint().encodePacket(packet)
        assert PyAmfEndpoint().encodePacket(packet) == raw
        decoded = PyAmfEndpoint().decodePacket(raw)
        assert_same_packet(decoded, AmfEndpoint().decodePacket(raw))
    # AMF0 numbers are floats; AMF3 packets carry ints.
    arg = PyAmfEndpoint().decodePacket(AmfEndpoint().encodePacket(request)).messages[4].body[0]
    assert type(arg) is (int if client_type == Packet.FLASH_9 else float) and arg == 42


def test_envelope_conversion():
    reply = Packet(Packet.FLASH_9, [Header("h", True, 1), Header("g", False, "v")], [
        Message("/1/onResult", "", "ok"), Message("/2/onStatus", "", "bad"),
        Message("svc.echo", "/3", [1]), Message("svc.echo", "/3", [2])])
    envelope = packet_to_pyamf(reply)
    assert isinstance(envelope, pyamf.remoting.Envelope)
    assert envelope.amfVersion == 3
    assert envelope.headers == {"h": 1, "g": "v"} and envelope.headers.is_required("h")
    assert not envelope.headers.is_required("g")
    kinds = [(name, type(msg).__name__, getattr(msg, "status", None))
             for name, msg in envelope.bodies]
    # Replies split their target into the response name and a status; duplicates are kept.
    assert kinds == [("/1", "Response", 0), ("/2", "Response", 1), ("/3", "Request", None),
                     ("/3", "Request", None)]
    assert packet_to_amfast(envelope) == reply
    # An envelope built by py3amf's own API converts too.
    theirs = pyamf.remoting.Envelope(pyamf.AMF0)
    theirs["/7"] = pyamf.remoting.Request("svc.echo", ["x"])
    theirs.headers["Remember"] = 5
    packet = packet_to_amfast(theirs)
    assert packet == Packet(0, [Header("Remember", False, 5)], [Message("svc.echo", "/7", ["x"])])


def test_bad_packets_are_decode_errors():
    endpoint = PyAmfEndpoint()
    good = AmfEndpoint().encodePacket(flex_packet(*flex_messages()))
    for raw in [b"", b"\x00", b"\x00\x09\x00\x00\x00\x00", good[:-1], good[: len(good) // 2],
                b"\x00\x03\x00\x00\x00\x01\x00\x04null\x00\x02/1\x00\x00\x00\x01\x11\x0a\x07"]:
        with pytest.raises(DecodeError) as info:
            endpoint.decodePacket(raw)
        assert isinstance(info.value.offset, int)


# ========================================================================== type mapping


@FORMATS
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=amf_values())
def test_any_value_same_bytes_and_values(amf3, value):
    same_bytes_and_values(value, amf3)


class Color(enum.Enum):
    RED = 1


def special_values():
    point = Point(x=1, y=2)
    node = Node(next=None)
    node.next = node
    cycle: list = [1]
    cycle.append(cycle)
    selfish: dict = {}
    selfish["self"] = selfish
    return [
        point, [point, point], Dyn(a=[point], z={"q": point}), Ext(n=3, label=[point, "x"]),
        Point0(x=5, y=None), Dyn0(a=1, b="c"), SubPoint(x=1, y=[1]), node, cycle, selfish,
        TypedObject("foo.Bar", ("a", "b"), False, a=1, b=None),
        TypedObject("foo.Dyn", (), True, q=[1]),
        AsVector([1, -2], type="int"), AsVector([1, 2 ** 32 - 1], type="uint"),
        AsVector([0.5, float("inf")], type="double", fixed=True),
        AsVector(["a", point], type="object", class_name="x.Y"),
        AsDictionary({1: "a", "b": [2], 2.5: None}, weak_keys=True),
        AsProxy([1, 2]), AsProxy({"a": 1}), AsNoProxy([1]), AsNoProxy({"b": 2}),
        {1: 2, "x": datetime.date(2020, 1, 1)}, {"a", "b"}, frozenset(), (1, (2, 3)),
        bytearray(b"ab"), memoryview(b"xyz"), AsByteArray(b"\x00\xff"), b"",
        datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 999999), datetime.date(1900, 1, 1),
        float("nan"), -0.0, float("-inf"), 2 ** 60, -(2 ** 28), 2 ** 28, True,
        decimal.Decimal("1.25"), Color.RED, "x" * 70000, "\u00e9" * 40000,
        xml.dom.minidom.parseString("<a b='1'>x</a>"), ElementTree.fromstring("<r><c/></r>"),
        AsError("boom"),
    ]


@FORMATS
@pytest.mark.parametrize("index", range(len(special_values())))
@pytest.mark.parametrize("options", [{}, {"use_collections": True, "use_proxies": True},
                                     {"use_legacy_xml": True, "include_private": True}],
                         ids=["plain", "proxies", "legacy-xml"])
def test_special_values_same_bytes_and_values(amf3, index, options):
    same_bytes_and_values(special_values()[index], amf3, **options)


def test_collections_and_proxies_unwrap():
    raw = Encoder(amf3=True, use_collections=True, use_proxies=True).encode(
        {"l": [1, [2]], "d": {"k": "v"}})
    assert b"flex.messaging.io.ArrayCollection" in raw and b"flex.messaging.io.ObjectProxy" in raw
    value = PyAmfCodec().decode(raw, amf3=True)
    assert value == {"l": [1, [2]], "d": {"k": "v"}}
    assert type(value) is dict and type(value["l"]) is list


def test_decoded_types_are_amfasts():
    codec = PyAmfCodec()
    amf0 = codec.decode(Encoder().encode([1, {"a": None}, datetime.datetime(2001, 1, 1)]))
    assert type(amf0[0]) is float and type(amf0[1]) is dict
    assert amf0[2] == datetime.datetime(2001, 1, 1) and amf0[2].tzinfo is None
    raw = Encoder(amf3=True).encode([b"\x01", TypedObject("un.Known", ("a",), False, a=1),
                                     xml.dom.minidom.parseString("<x/>")])
    got = codec.decode(raw, amf3=True)
    assert type(got[0]) is AsByteArray
    assert type(got[1]) is TypedObject and got[1].alias == "un.Known"
    assert got[1].static_attrs == ("a",) and not got[1].dynamic
    assert isinstance(got[2], xml.dom.minidom.Document)
    # An AMF0 ECMA array with keys "0".."n-1" is a list; undefined is None.
    assert codec.decode(b"\x08\x00\x00\x00\x02\x00\x010\x06\x00\x011\x05\x00\x00\x09") == [
        None, None]


def test_unknown_externalizable_alias_is_a_decode_error():
    raw = b"\x0a\x07\x0bun.Ext\x01"
    with pytest.raises(DecodeError):
        Decoder(amf3=True).decode(raw)
    with pytest.raises(DecodeError):
        PyAmfCodec().decode(raw, amf3=True)


@FORMATS
@pytest.mark.parametrize("value", [len, Point, sys, (i for i in ()), datetime.time(1),
                                   {"": 1}, object()], ids=lambda v: type(v).__name__)
def test_encoder_refuses_what_amfast_refuses(amf3, value):
    try:
        Encoder(amf3=amf3).encode(value)
    except EncodeError:
        with pytest.raises(EncodeError):
            PyAmfCodec().encode(value, amf3)
    else:
        assert PyAmfCodec().encode(value, amf3) == Encoder(amf3=amf3).encode(value)


def test_errors_raised_by_user_code_pass_through():
    class Unreadable:
        @property
        def __dict__(self):
            raise RuntimeError("attribute store unavailable")

    with pytest.raises(RuntimeError):
        PyAmfCodec().encode(Unreadable(), amf3=True)


@FORMATS
def test_hostile_input_is_a_decode_error(amf3):
    import random

    rnd = random.Random(7)
    mapper = make_mapper()
    sample = Encoder(amf3=amf3, class_def_mapper=mapper).encode(
        [{"s": "x" * 40, "d": datetime.datetime(2001, 2, 3)}, Point(x=1, y=[2]),
         Ext(n=1, label="l"), TypedObject("a.B", ("q",), True, q=1, r=2), b"bytes", 2.5])
    codec = PyAmfCodec(mapper)
    for end in range(len(sample)):
        with pytest.raises(DecodeError):
            codec.decode(sample[:end], amf3)
    for _ in range(2000):
        raw = bytearray(sample)
        for _ in range(rnd.randint(1, 3)):
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        try:
            codec.decode(bytes(raw), amf3)
        except DecodeError as exc:
            assert isinstance(exc.offset, int)


def test_deep_nesting_is_a_decode_error():
    with pytest.raises(DecodeError):
        PyAmfCodec().decode(b"\x09\x03\x01" * 50000 + b"\x01", amf3=True)
    with pytest.raises(DecodeError):
        PyAmfCodec().decode(b"\x0a\x00\x00\x00\x01" * 50000 + b"\x05")


# ============================================================================== budgets


def nested(depth: int, leaf=1) -> list:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


LIMIT = 8
XML_TEXT = "<a>" + "x" * 20 + "</a>"
BUDGET_CASES = [
    # (name, Decoder options, value, Encoder options): once within the budget, once past it
    ("depth-lists", {"max_depth": LIMIT}, [nested(LIMIT), nested(LIMIT + 1)], {}),
    ("depth-dicts", {"max_depth": LIMIT}, [nested_dicts(LIMIT - 1), nested_dicts(LIMIT)], {}),
    ("depth-collections", {"max_depth": 2 * LIMIT}, [nested(LIMIT), nested(LIMIT + 1)],
     {"use_collections": True}),
    ("depth-typed", {"max_depth": LIMIT},
     [TypedObject("a.B", ("x",), False, x=nested(LIMIT - 1)),
      TypedObject("a.B", ("x",), False, x=nested(LIMIT))], {}),
    ("elements-list", {"max_elements": LIMIT}, [[0] * LIMIT, [0] * (LIMIT + 1)], {}),
    ("elements-dict", {"max_elements": LIMIT},
     [{str(i): i for i in range(LIMIT)}, {str(i): i for i in range(LIMIT + 1)}], {}),
    ("elements-vector", {"max_elements": LIMIT},
     [AsVector(range(LIMIT), "int"), AsVector(range(LIMIT + 1), "uint")], {}),
    ("elements-object-vector", {"max_elements": LIMIT},
     [AsVector(["s"] * LIMIT), AsVector(["s"] * (LIMIT + 1))], {}),
    ("elements-dictionary", {"max_elements": LIMIT},
     [AsDictionary({i: i for i in range(LIMIT)}), AsDictionary({i: i for i in range(LIMIT + 1)})],
     {}),
    ("nodes", {"max_nodes": LIMIT}, [[1] * (LIMIT - 2), [1] * LIMIT], {}),
    ("string", {"max_string_bytes": LIMIT}, ["x" * LIMIT, "x" * (LIMIT + 1)], {}),
    ("key", {"max_string_bytes": LIMIT}, [{"k" * LIMIT: 1}, {"k" * (LIMIT + 1): 1}], {}),
    ("bytearray", {"max_bytearray_bytes": LIMIT}, [b"x" * LIMIT, b"x" * (LIMIT + 1)], {}),
    ("xml", {"max_xml_bytes": len(xml.dom.minidom.parseString(XML_TEXT).toxml())},
     [xml.dom.minidom.parseString(XML_TEXT), xml.dom.minidom.parseString(XML_TEXT + "<!---->")],
     {}),
    ("xml-refused", {"xml_type": "refuse"}, [1, xml.dom.minidom.parseString(XML_TEXT)], {}),
]


@FORMATS
@pytest.mark.parametrize("name,options,values,encoder_options", BUDGET_CASES,
                         ids=[case[0] for case in BUDGET_CASES])
def test_budgets_refuse_what_amfast_refuses(amf3, name, options, values, encoder_options):
    if encoder_options and not amf3:
        pytest.skip("AMF0 has no ArrayCollection")
    within, past = (Encoder(amf3=amf3, **encoder_options).encode(value) for value in values)
    codec = PyAmfCodec(**options)
    expected = Decoder(amf3=amf3, **options).decode(within)
    assert_amf_equal(codec.decode(within, amf3), expected)
    with pytest.raises(DecodeError):
        Decoder(amf3=amf3, **options).decode(past)
    with pytest.raises(DecodeError) as info:
        codec.decode(past, amf3)
    assert isinstance(info.value.offset, int)
    limit = next(iter(options))
    if limit.startswith("max_"):
        assert info.value.limit == limit


@pytest.mark.parametrize("raw,amf3", [
    (b"\x09\xff\xff\xff\xff\x01", True),  # an array of 2**28 - 1 items
    (b"\x0d\xff\xff\xff\xff\x00\x00", True),  # a Vector.<int> of as many
    (b"\x10\xff\xff\xff\xff\x00\x01\x01", True),  # a Vector.<Object>
    (b"\x11\xff\xff\xff\xff\x00\x01", True),  # a Dictionary
    (b"\x0a\xff\xff\xff\xff\x01", True),  # a trait of 2**25 sealed names
    (b"\x0a\x00\x00\xff\xff\xff\xff\x05", False),  # a strict array of 2**32 - 1
    (b"\x0c\xff\xff\xff\xff\x00", True),  # a ByteArray of 256 MB
    (b"\x06\xff\xff\xff\xff\x00", True),  # a string of 256 MB
    (b"\x0c\x00\x00\xff\xff\x00", False),  # an AMF0 long string of 4 GB
    (b"\x0f\xff\xff\xff\xff\x00", False),  # an AMF0 XML text of 4 GB
])
def test_declared_sizes_are_checked_before_reading(raw, amf3):
    started = time.monotonic()
    with pytest.raises(DecodeError):
        Decoder(amf3=amf3).decode(raw)
    with pytest.raises(DecodeError):
        PyAmfCodec().decode(raw, amf3)
    assert time.monotonic() - started < 1.0


def test_packet_budgets_apply():
    packet = flex_packet(RemotingMessage(body=[nested(LIMIT + 1)], destination="svc",
                                         operation="echo", messageId="m", timestamp=0))
    raw = AmfEndpoint().encodePacket(packet)
    assert PyAmfEndpoint(max_depth=LIMIT + 4).decodePacket(raw) == \
        AmfEndpoint(decoder=Decoder(max_depth=LIMIT + 4)).decodePacket(raw)
    for endpoint in (PyAmfEndpoint(max_depth=LIMIT), AmfEndpoint(decoder=Decoder(max_depth=LIMIT))):
        with pytest.raises(DecodeError):
            endpoint.decodePacket(raw)
    many_args = b"\x00\x00\x00\x00\x00\x01\x00\x08svc.echo\x00\x02/1\x00\x00\x00\x00" \
        b"\x0a\xff\xff\xff\xff\x05"
    for endpoint in (PyAmfEndpoint(), AmfEndpoint()):
        with pytest.raises(DecodeError):
            endpoint.decodePacket(many_args)


@pytest.mark.parametrize("options", [{"xml_type": "etree"}, {"aware_datetimes": True}],
                         ids=["etree", "aware"])
def test_decoder_options_as_amfast(options):
    value = [ElementTree.fromstring("<r a='1'><c/></r>"), datetime.datetime(2001, 2, 3, 4, 5)]
    raw = Encoder(amf3=True).encode(value)
    got = PyAmfCodec(**options).decode(raw, amf3=True)
    expected = Decoder(amf3=True, **options).decode(raw)
    assert type(got[0]) is type(expected[0])
    assert got[1] == expected[1] and got[1].tzinfo == expected[1].tzinfo


def test_unknown_options_are_refused_as_by_the_decoder():
    for options in ({"max_dept": 1}, {"max_depth": 0}, {"xml_type": "lxml"}):
        with pytest.raises(ValueError):
            Decoder(**options)
        with pytest.raises(ValueError):
            PyAmfEndpoint(**options)


def test_no_module_is_imported_for_an_alias(tmp_path, monkeypatch):
    name = "amfast_pyamf_probe_never_imported"
    (tmp_path / f"{name}.py").write_text("class Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    for amf3, raw in [(True, Encoder(amf3=True).encode(TypedObject(f"{name}.Evil", (), True))),
                      (False, Encoder().encode(TypedObject(f"{name}.Evil")))]:
        value = PyAmfCodec().decode(raw, amf3)
        assert type(value) is TypedObject and value.alias == f"{name}.Evil"
    assert name not in sys.modules
    # Stock py3amf would have imported it (pyamf.load_class).
    assert pyamf.get_class_alias(f"{name}.Evil").klass.__module__ == name
    pyamf.unregister_class(f"{name}.Evil")


# ======================================================================== class mappings


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)


class Profile:
    pass


class Token:
    """Externalizable: a u32 ``serial`` then the AMF3 values ``scopes`` and ``owner``."""

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)


class TokenDef(ExternClassDef):
    def writeExternal(self, obj, context):
        import amfast.encode
        context.write(struct.pack(">I", obj.serial))
        amfast.encode.encode(obj.scopes, context)
        amfast.encode.encode(obj.owner, context)

    def readExternal(self, obj, context):
        import amfast.decode
        (obj.serial,) = struct.unpack(">I", context.read(4))
        obj.scopes = amfast.decode.decode(context)
        obj.owner = amfast.decode.decode(context)


def user_mapper() -> ClassDefMapper:
    mapper = ClassDefMapper()
    # Sealed names in this order, not sorted (py3amf sorts its own).
    mapper.mapClass(ClassDef(Account, "com.example.test.Account", ("owner", "balance"),
                             decode_types={"balance": float}))
    mapper.mapClass(DynamicClassDef(Profile, "com.example.test.Profile", ("name",)))
    mapper.mapClass(TokenDef(Token, "com.example.test.Token"))
    return mapper


def user_values():
    account = Account("ann", 10.5)
    profile = Profile()
    profile.name = "ann"
    profile.age = 31
    profile.accounts = [account, account]
    token = Token()
    token.serial = 7
    token.scopes = ["read", "ann", account]
    token.owner = profile
    return [account, profile, token, ["ann", token, token.scopes]]


def registry_snapshot() -> dict:
    return {
        "CLASS_CACHE": dict(pyamf.CLASS_CACHE),
        "CLASS_LOADERS": set(pyamf.CLASS_LOADERS),
        "ALIAS_TYPES": dict(pyamf.ALIAS_TYPES),
        "TYPE_MAP": dict(pyamf.TYPE_MAP),
        "ERROR_CLASS_MAP": dict(pyamf.ERROR_CLASS_MAP),
        "POST_DECODE_PROCESSORS": list(pyamf.POST_DECODE_PROCESSORS),
    }


@pytest.fixture
def registered():
    """``user_mapper()`` registered in py3amf with pyamf_converter, unregistered after."""
    mapper = user_mapper()
    before = registry_snapshot()
    pyamf_converter.register_class_mapper(mapper)
    try:
        yield mapper
    finally:
        pyamf_converter.unregister_class_mapper(mapper)
    assert registry_snapshot() == before


@FORMATS
def test_register_class_mapper_maps_static_dynamic_and_externalizable(registered, amf3):
    ours = Encoder(amf3=amf3, class_def_mapper=registered)
    decoder = Decoder(amf3=amf3, class_def_mapper=registered)
    codec = PyAmfCodec()  # no mapper of its own: the registrations in py3amf
    for value in user_values():
        raw = ours.encode(value)
        expected = decoder.decode(raw)
        got = codec.decode(raw, amf3)
        assert_amf_equal(got, expected)
        assert_amf_equal(decoder.decode(codec.encode(value, amf3)), expected)
    for value in user_values()[:2]:
        assert codec.encode(value, amf3) == ours.encode(value)
    # The registrations are ClassDefAliases under the alias and the class.
    alias = pyamf.CLASS_CACHE["com.example.test.Account"]
    assert isinstance(alias, ClassDefAlias) and pyamf.CLASS_CACHE[Account] is alias
    assert alias.static_attrs == ["owner", "balance"]


def test_an_externalizable_form_shares_the_streams_reference_tables(registered):
    account = Account("ann", 1.0)
    token = Token()
    token.serial = 1
    token.scopes = ["ann", account]
    token.owner = None
    # "ann" and the account are references inside the Token's form; the list made inside
    # it is referenced after it.
    value = ["ann", account, token, token.scopes]
    raw = Encoder(amf3=True, class_def_mapper=registered).encode(value)
    got = PyAmfCodec().decode(raw, amf3=True)
    expected = Decoder(amf3=True, class_def_mapper=registered).decode(raw)
    assert_amf_equal(got, expected)
    assert got[2].scopes == ["ann", got[1]] and got[3] == got[2].scopes


def test_stock_py3amf_maps_registered_classes(registered):
    account, profile = user_values()[:2]
    for value in (account, profile):
        raw = pyamf.encode(value, encoding=pyamf.AMF3).getvalue()
        assert raw == Encoder(amf3=True, class_def_mapper=registered).encode(value)
        back = next(pyamf.decode(raw, encoding=pyamf.AMF3))
        assert type(back) is type(value)
    assert back.accounts[0] is back.accounts[1]


def test_registering_an_alias_py3amf_maps_to_another_class_fails():
    class Other:
        pass

    pyamf.register_class(Other, "com.example.test.Taken")
    try:
        with pytest.raises(PyAmfConversionError):
            pyamf_converter.register_class_def(ClassDef(Account, "com.example.test.Taken"))
        assert pyamf.CLASS_CACHE["com.example.test.Taken"].klass is Other
        assert Account not in pyamf.CLASS_CACHE
    finally:
        pyamf.unregister_class("com.example.test.Taken")


def test_registering_again_replaces_the_earlier_class_def():
    first = ClassDef(Account, "com.example.test.First", ("owner",))
    second = ClassDef(Account, "com.example.test.Second", ("owner", "balance"))
    pyamf_converter.register_class_def(first)
    pyamf_converter.register_class_def(second)
    try:
        assert "com.example.test.First" not in pyamf.CLASS_CACHE
        assert pyamf.CLASS_CACHE[Account].class_def is second
    finally:
        pyamf_converter.unregister_class_def(second)
    assert Account not in pyamf.CLASS_CACHE


@FORMATS
def test_endpoint_mapper_maps_without_registering_anything(amf3):
    mapper = user_mapper()
    before = registry_snapshot()
    codec = PyAmfCodec(mapper)
    for value in user_values():
        raw = Encoder(amf3=amf3, class_def_mapper=mapper).encode(value)
        assert_amf_equal(codec.decode(raw, amf3),
                         Decoder(amf3=amf3, class_def_mapper=mapper).decode(raw))
        assert_amf_equal(Decoder(amf3=amf3, class_def_mapper=mapper).decode(
            codec.encode(value, amf3)), Decoder(amf3=amf3, class_def_mapper=mapper).decode(raw))
    assert registry_snapshot() == before
    # Without the mapper, the aliases are unknown.
    raw = Encoder(amf3=True, class_def_mapper=mapper).encode(user_values()[0])
    assert type(PyAmfCodec().decode(raw, amf3=True)) is TypedObject


class Gadget:
    def __init__(self, name="g"):
        self.name = name


class SubGadget(Gadget):
    pass


@FORMATS
def test_classes_registered_with_pyamf_directly_keep_working(amf3):
    pyamf.register_class(Gadget, "com.example.test.Gadget")
    try:
        codec = PyAmfCodec()
        raw = codec.encode(Gadget("x"), amf3)
        assert b"com.example.test.Gadget" in raw
        assert pyamf.decode(raw, encoding=pyamf.AMF3 if amf3 else pyamf.AMF0).readElement().name \
            == "x"
        back = codec.decode(raw, amf3)
        assert type(back) is Gadget and back.name == "x"
        # As in py3amf, only the exact class: a subclass travels as an anonymous object.
        assert b"Gadget" not in codec.encode(SubGadget("y"), amf3)
    finally:
        pyamf.unregister_class("com.example.test.Gadget")


def test_user_class_loaders_are_asked_but_not_pyamfs():
    loaded = []

    def loader(alias):
        loaded.append(alias)
        return Gadget if alias == "com.example.test.Loaded" else None

    pyamf.register_class_loader(loader)
    try:
        raw = Encoder(amf3=True).encode(TypedObject("com.example.test.Loaded", ("name",), False,
                                                    name="z"))
        value = PyAmfCodec().decode(raw, amf3=True)
        assert type(value) is Gadget and value.name == "z"
        assert loaded == ["com.example.test.Loaded"]
    finally:
        pyamf.unregister_class_loader(loader)
        pyamf.unregister_class("com.example.test.Loaded")


# ============================================================== py3amf's global registrations


def everything_through_the_endpoint() -> None:
    endpoint = PyAmfEndpoint()
    for name in CAPTURE_FILES:
        packet = endpoint.decodePacket(capture(name))
        endpoint.encodePacket(packet)
    packet = flex_packet(*flex_messages())
    endpoint.decodePacket(endpoint.encodePacket(packet))

    class Unmapped:
        def __init__(self):
            self.a = 1

    class SubUnmapped(Unmapped):
        pass

    mapper = make_mapper()
    codec = PyAmfCodec(mapper)
    for amf3 in (False, True):
        values = [Unmapped(), SubUnmapped(), SubPoint(x=1, y=2), Ext(n=1, label=[Unmapped()]),
                  TypedObject("flex.data.messages.DataMessage", (), True, a=1),
                  AsProxy([1]), AsError("x"), ValueError("plain exception")]
        raw = Encoder(amf3=amf3, class_def_mapper=mapper, use_collections=True).encode(values)
        codec.decode(raw, amf3)
        codec.encode(values, amf3)
        with pytest.raises(DecodeError):  # test.Ext is not mapped there
            PyAmfCodec().decode(raw, amf3)


def test_py3amf_global_registrations_are_unchanged():
    before = registry_snapshot()
    everything_through_the_endpoint()
    assert registry_snapshot() == before


def test_py3amf_registrations_change_only_for_what_the_user_maps():
    before = registry_snapshot()
    mapper = user_mapper()
    pyamf_converter.register_class_mapper(mapper)
    try:
        everything_through_the_endpoint()
        after = registry_snapshot()
        added = set(after["CLASS_CACHE"]) - set(before["CLASS_CACHE"])
        assert added == {Account, Profile, Token, "com.example.test.Account",
                         "com.example.test.Profile", "com.example.test.Token"}
        for key, value in before["CLASS_CACHE"].items():
            assert after["CLASS_CACHE"][key] is value
        assert {k: v for k, v in after.items() if k != "CLASS_CACHE"} == \
            {k: v for k, v in before.items() if k != "CLASS_CACHE"}
    finally:
        pyamf_converter.unregister_class_mapper(mapper)
    assert registry_snapshot() == before


@needs_captures
def test_py3amf_keeps_its_own_flex_aliases():
    """In a fresh process: the endpoint never imports pyamf.flex, and py3amf still decodes Flex
    messages into its own classes."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from amfast.remoting.pyamf_endpoint import PyAmfEndpoint
        import amfast.remoting.pyamf_converter as pyamf_converter
        captures = Path({str(CAPTURES)!r})
        endpoint = PyAmfEndpoint()
        for path in sorted(captures.glob("*.bin")):
            endpoint.encodePacket(endpoint.decodePacket(path.read_bytes()))
        assert "pyamf.flex" not in sys.modules, "the endpoint imported pyamf.flex"
        import pyamf, pyamf.remoting
        envelope = pyamf.remoting.decode((captures / "request_amf3_flex_ping.bin").read_bytes())
        message = envelope.bodies[0][1].body[0]
        import pyamf.flex.messaging
        assert type(message) is pyamf.flex.messaging.CommandMessage, type(message)
        alias = pyamf.get_class_alias("flex.messaging.messages.RemotingMessage")
        assert alias.klass is pyamf.flex.messaging.RemotingMessage
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# ====================================================================== optional dependency


BLOCK_PYAMF = textwrap.dedent("""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "pyamf" or name.startswith("pyamf."):
                raise ImportError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Block())
""")


@pytest.mark.parametrize("module,message", [
    ("amfast.remoting.pyamf_endpoint",
     "PyAmfEndpoint needs py3amf: pip install 'amfast[pyamf]'"),
    ("amfast.remoting.pyamf_converter",
     "pyamf_converter needs py3amf: pip install 'amfast[pyamf]'"),
])
def test_import_without_py3amf_names_the_extra(module, message):
    script = BLOCK_PYAMF + textwrap.dedent(f"""
        import amfast.remoting.endpoint  # the rest of amfast works without py3amf
        try:
            import {module}
        except ImportError as exc:
            print(str(exc))
        else:
            print("imported")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == message
