"""Unit tests from bytes that real clients sent in the e2e runs (tests/e2e/captures/).

They run in `make test` (no browser needed).  A test marked xfail(strict=True) reproduces
a server bug that the e2e suite found: it starts passing, and so fails as XPASS, when the
server is fixed; the fix then removes the mark.

| capture | client | content |
|---|---|---|
| ruffle_bytearray.bin | Haxe SWF in Ruffle 0.6.0 | e2e.echo("bytearray", <ByteArray>): Ruffle writes the AMF0 'unsupported' marker 0x0D for the ByteArray |
| ruffle_vector.bin | the same | e2e.echo("vector.int", <Vector.<int>>): 0x0D again |
| ruffle_battery.bin | the same | the client's battery: 49 e2e.echo calls batched in one packet, one per AMF0 value kind, the last two being the above |
| royale_xml.bin | Apache Royale 0.9.12 AMFNetConnection | e2e.echo("nc.xml", <XML with "é">): AMF3 XML 0x0B; version 3, body length field 1 |
| royale_vector_string.bin | the same | e2e.echo("nc.vector.string", <Vector.<String>>): object Vector 0x10 whose type name is "" |
"""
from __future__ import annotations

from pathlib import Path

import pytest
from webob import Request

from xml.dom import minidom

from amfast.class_def.as_types import AsVector
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Packet
from tests.e2e.server import Recorder, build_channel_set

CAPTURES = Path(__file__).resolve().parent / "captures"


def _raw(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def _post(channel_set, raw: bytes, path: str = "/amf"):
    request = Request.blank(path, method="POST", body=raw,
                            content_type="application/x-amf")
    return request.get_response(channel_set)




@pytest.mark.parametrize("capture, name", [("ruffle_bytearray.bin", "bytearray"),
                                           ("ruffle_vector.bin", "vector.int")])
def test_ruffle_unsupported_marker_decodes_as_undefined(capture, name):
    raw = _raw(capture)
    assert raw.endswith(b"\x0d")  # the value is the bare marker, last byte of the packet
    packet = Decoder().decode_packet(raw)
    (message,) = packet.messages
    assert (message.target, message.response) == ("e2e.echo", "/1")
    assert message.body == [name, None]


@pytest.mark.parametrize("capture", ["ruffle_bytearray.bin", "ruffle_vector.bin"])
def test_ruffle_unsupported_marker_call_is_answered(capture):
    recorder = Recorder()
    response = _post(build_channel_set(recorder), _raw(capture))
    assert response.status_int == 200, response.text
    reply = Decoder().decode_packet(response.body)
    (message,) = reply.messages
    assert (message.target, message.body) == ("/1/onResult", None)


def test_ruffle_battery_packet_is_answered_whole():
    """One unsupported value must not fail the 48 other calls of its packet."""
    raw = _raw("ruffle_battery.bin")
    recorder = Recorder()
    response = _post(build_channel_set(recorder), raw)
    assert response.status_int == 200, response.text
    reply = Decoder().decode_packet(response.body)
    assert len(reply.messages) == 49
    assert [m.target for m in reply.messages] == [f"/{n}/onResult" for n in range(1, 50)]
    received = recorder.received["unknown"]
    assert received["bytearray"] == [None] and received["vector.int"] == [None]
    assert received["string.long"] == ["abcdefghij" * 7000]


def test_ruffle_battery_decodes_up_to_the_unsupported_values():
    """Everything before the first 0x0D in the battery decodes (re-encoded and read again)."""
    raw = _raw("ruffle_battery.bin")
    cut = raw.index(b"\x00\x08e2e.echo\x00\x03/48")
    head = Packet(0, [], Decoder().decode_packet(_cut_packet(raw, cut)).messages)
    assert len(head.messages) == 47
    again = Decoder().decode_packet(Encoder().encode_packet(head))
    assert [m.body[0] for m in again.messages][:3] == ["number.zero", "number.int",
                                                       "number.negative"]


def _cut_packet(raw: bytes, end: int) -> bytes:
    """The packet's first bodies: the ones that end before ``end``, with the count fixed."""
    # version (2) + header count (2, zero here) + body count (2)
    assert raw[2:4] == b"\x00\x00"
    bodies = raw[6:end]
    count = 0
    offset = 0
    while offset < len(bodies):
        for _ in range(2):  # target, response
            length = int.from_bytes(bodies[offset:offset + 2], "big")
            offset += 2 + length
        body_length = int.from_bytes(bodies[offset:offset + 4], "big")
        offset += 4 + body_length
        count += 1
    return raw[:4] + count.to_bytes(2, "big") + bodies


# ----------------------------------------------------------------- AMF3 XML out of a freed buffer



def test_royale_xml_request_decodes():
    """The request itself is fine: Royale's AMF3 XML decodes to the document it sent."""
    packet = Decoder().decode_packet(_raw("royale_xml.bin"))
    (message,) = packet.messages
    name, doc = message.body
    assert name == "nc.xml" and isinstance(doc, minidom.Document)
    assert doc.documentElement.getElementsByTagName("child")[0].firstChild.data == "text \u00e9"


def test_royale_xml_echo_reply_carries_the_xml():
    recorder = Recorder()
    response = _post(build_channel_set(recorder), _raw("royale_xml.bin"))
    assert response.status_int == 200, response.text
    reply = Decoder().decode_packet(response.body)
    (message,) = reply.messages
    assert message.target == "/57/onResult"
    assert isinstance(message.body, minidom.Document), repr(message.body)
    assert message.body.toxml() == recorder.received["unknown"]["nc.xml"][0].toxml()


@pytest.mark.parametrize("text", ["text \u00e9", "\u4e16\u754c", "smile \U0001F600"])
def test_amf3_xml_with_non_ascii_text_round_trips(text):
    for _ in range(20):  # the garbage is stale memory: check more than once
        doc = minidom.parseString(f"<root><child>{text}</child></root>")
        raw = Encoder(amf3=True).encode(doc)
        back = Decoder(amf3=True).decode(raw)
        assert back.documentElement.firstChild.firstChild.data == text, raw


# ----------------------------------------------------------------- object Vector type name ""



def test_royale_object_vector_keeps_its_empty_type_name():
    packet = Decoder().decode_packet(_raw("royale_vector_string.bin"))
    (message,) = packet.messages
    name, vector = message.body
    assert name == "nc.vector.string" and isinstance(vector, AsVector)
    assert (vector.type, list(vector)) == ("object", ["a", "b"])
    assert vector.class_name == ""


def test_royale_object_vector_echo_writes_the_same_type_name():
    raw = _raw("royale_vector_string.bin")
    sent = raw[raw.index(b"\x10\x05\x00"):]  # the Vector as Royale wrote it: name ""
    response = _post(build_channel_set(Recorder()), raw)
    assert response.status_int == 200, response.text
    assert response.body.endswith(sent), response.body.hex()
