"""Inputs the fuzzers found (fuzz/targets.py), kept inline as regression tests.

Each case runs the target that found it with every invariant enforced
(``fuzz.targets.STRICT_TARGETS``: the ``KNOWN_BUGS`` allowance of the fuzzing runs is off),
plus a direct test of the behaviour expected from amfast.  Cases marked xfail are amfast bugs
reported to the server side; when one is fixed, its xfail turns into an XPASS failure:
drop the mark here and the matching entry of ``fuzz.targets.KNOWN_BUGS``.
"""
from __future__ import annotations

import struct

import pytest

from amfast.decoder import Decoder, MalformedDataError
from fuzz.targets import KNOWN_BUGS, STRICT_TARGETS, TARGETS, post

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def amf3_xml(marker: int, text: bytes) -> bytes:
    return bytes([marker, len(text) << 1 | 1]) + text


def amf0_xml(text: bytes) -> bytes:
    return b"\x0f" + struct.pack(">I", len(text)) + text


def amf0_packet(body: bytes, version: int = 3) -> bytes:
    """A packet of one message ``null`` /1 whose body is ``body`` (AMF0 bytes)."""
    return (struct.pack(">HHH", version, 0, 1) + b"\x00\x04null\x00\x02/1"
            + struct.pack(">I", len(body)) + body)


def amf3_alias(alias: str) -> bytes:
    raw = alias.encode()
    assert len(raw) < 64
    return bytes([len(raw) << 1 | 1]) + raw





# ECMA arrays {"0": {"x": <the array>}} and {"0": [<the array>]}.
ECMA_IN_OBJECT = h("08 00000001 0001 30 03 0001 78 07 0000 0000 09 0000 09")
ECMA_IN_ARRAY = h("08 00000001 0001 30 0A 00000001 07 0000 0000 09")


# Two XML documents, the first over 512 bytes of text: found by the amf3 target.
XML_TWICE = h("""
    0905010b81173c3f786d6c2076657273696f6e3d22312e3022203f3e3c726f6f7420613d2231223e3c636869
    6c643e7465787420da956d703b206d6f72653c2f6368696c643e3c652f3e3c2f726f6f743e0b81173c3f786d
    6c2076657273696f6e3d22322e3022203f3e3c726f6f7420613d2231223e3c6368696c643e74657874202661
    6d703b206d6f72653c2f6368696c643e3c652f3e3c2f726f6f743e""")

# A RemotingMessage (sealed, no members) as an AMF0 -> AMF3 body of a Flex call.
EMPTY_REMOTING_MESSAGE = amf0_packet(
    h("0A 00000001 11 0A 03") + amf3_alias("flex.messaging.messages.RemotingMessage"))

# (target, input, id, mark): what the fuzzers found, minimised by hand where possible.
CASES = [
    # AMF3 XMLDocument "<:/>": found by the amf3 target.
    ("amf3", h("07 09 3C 3A 2F 3E"), "amf3-xmldoc-colon-name", None),
    ("amf3", amf3_xml(0x0B, b"<a:b/>"), "amf3-xml-unbound-prefix", None),
    ("amf0", amf0_xml(b"<a x:y='1'/>"), "amf0-xml-unbound-attribute-prefix", None),
    ("packet", amf0_packet(h("0A 00000001") + amf0_xml(b"<a:b/>"), 0),
     "packet-xml-unbound-prefix", None),
    ("server", amf0_packet(h("0A 00000001") + amf0_xml(b"<a:b/>"), 0),
     "server-xml-unbound-prefix", None),
    ("amf3", XML_TWICE, "amf3-two-xml-documents", None),
    # An AcknowledgeMessage whose "clientId" member name was mutated: found by the server
    # target (a client sends an ack, which the server cannot invoke: the fault path fails).
    ("server", h("""
        00030000000100046e756c6c00022f38000000c10a00000001110a810355666c65782e6d6573736167
        696e672e6d657373616765732e41636b6e6f776c656467654d65737361676509626f647911633f6965
        6e7449641764657374696e6174696f6e0f68656164657273136d65737361676549641374696d657374
        616d701574696d65546f4c6976651b636f7272656c6174696f6e496406056f6b01010a0b0101064930
        454245443742322d433031412d343843352d423242312d37443430433143454639313405427a212fd6
        f870000400060358"""), "server-ack-without-client-id", None),
    ("server", EMPTY_REMOTING_MESSAGE, "server-remoting-message-without-fields",
     None),
    # AMF0 ECMA array {"0": <itself>}: found by the differential target.
    ("differential", h("00 08 00000001 0001 30 07 0000 0000 09"), "amf0-ecma-self-reference",
     None),
    ("differential", b"\x00" + ECMA_IN_OBJECT, "amf0-ecma-referenced-from-an-object", None),
    ("differential", b"\x00" + ECMA_IN_ARRAY, "amf0-ecma-referenced-from-an-array", None),
    # Passing cases that pinned down the harness itself.
    # A DSC whose messageId is an explicit null: encoding is stable from the second round.
    ("amf3", h("0a07074453431f000000000000002a00010405"), "amf3-dsc-null-message-id", None),
    ("amf0", h("""110a070744534bd600000000000000b7d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6
                 d6d6d6d6d6d6f181ffffff438101000000a843a193d70d11"""),
     "amf0-dsk-null-fields", None),
    # A Dictionary with a null and two undefined keys: py3amf keeps them apart.
    ("differential", h("00 1111070006036b04010100000000000000400c00000000000001"),
     "amf3-dictionary-null-and-undefined-keys", None),
]


@pytest.mark.parametrize("target, raw", [
    pytest.param(t, raw, id=i, marks=[m] if m else []) for t, raw, i, m in CASES])
def test_fuzz_finding(target, raw):
    STRICT_TARGETS[target](raw)


@pytest.mark.parametrize("target, raw", [pytest.param(t, raw, id=i) for t, raw, i, _ in CASES])
def test_fuzzing_runs_let_known_bugs_through(target, raw):
    """The tolerant targets (used by fuzzing runs) pass every case, known bugs included."""
    TARGETS[target](raw)


def test_known_bugs_name_their_targets():
    assert {name for _, name, _ in KNOWN_BUGS} == set()
    for target, _, predicate in KNOWN_BUGS:
        assert target in STRICT_TARGETS or target == "*"
        assert callable(predicate)


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("xml_type", ["minidom", "etree"])
@pytest.mark.parametrize("text", [b"<:/>", b"<a:b/>", b"<a x:y='1'/>", b"<a xmlns:x=''/>"])
def test_namespace_errors_in_xml_are_decode_errors(text, xml_type):
    decoder = Decoder(xml_type=xml_type)
    for amf3, raw in ((False, amf0_xml(text)), (True, amf3_xml(0x0B, text)),
                      (True, amf3_xml(0x07, text))):
        with pytest.raises(MalformedDataError):
            decoder.decode(raw, amf3)


def test_flex_message_without_its_fields_gets_a_fault_not_a_500():
    from fuzz.targets import _build_server
    status, _headers, body = post(_build_server(), EMPTY_REMOTING_MESSAGE)
    assert status.startswith(("200", "400")), (status, body)


def test_ecma_array_referencing_itself_is_one_list():
    value = Decoder().decode(h("08 00000001 0001 30 07 0000 0000 09"))
    assert isinstance(value, list) and len(value) == 1
    assert value[0] is value


def test_ecma_array_referenced_from_its_items_is_one_list():
    in_object = Decoder().decode(ECMA_IN_OBJECT)
    in_array = Decoder().decode(ECMA_IN_ARRAY)
    assert isinstance(in_object, list) and in_object[0]["x"] is in_object
    assert isinstance(in_array, list) and in_array[0][0] is in_array


@pytest.mark.parametrize("xml_type", ["minidom", "etree"])
@pytest.mark.parametrize("legacy", [False, True], ids=["xml", "xmldocument"])
def test_amf3_xml_goes_out_as_its_text(xml_type, legacy):
    """Every AMF3 encoding of a large XML value carries its text, byte for byte."""
    from amfast.encoder import Encoder
    from amfast.xml_values import parse_xml, xml_to_string
    encoder = Encoder(use_legacy_xml=legacy)
    corrupted = 0
    for size in (600, 1000, 4000, 70000) * 10:
        value = parse_xml(f"<a>{'x' * size}</a>", xml_type)
        text = xml_to_string(value).encode("utf-8")
        raw = encoder.encode(value, True)
        corrupted += raw[-len(text):] != text
    assert corrupted == 0, f"{corrupted} of 40 encodings carry other bytes than the XML text"
