"""Real client captures (shared/captures, see its README.md): decode, check, re-encode."""
from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from amfast.class_def import ClassDefMapper
from amfast.class_def.as_types import TypedObject
from amfast.decoder import ClassMappingError, Decoder
from amfast.encoder import Encoder
from tests.ext.conftest import assert_amf_equal

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
SKIP_REASON = (f"no captures folder at {CAPTURES}: shared/ is expected beside the checkout "
               "(CI copies it there)")
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason=SKIP_REASON)

FILES = sorted(p.name for p in CAPTURES.glob("*.bin")) if CAPTURES.is_dir() else []
MESSAGES = "flex.messaging.messages."
#: Small messages are externalizable: they decode only once their aliases are mapped.
SMALL = {"royale_poll_small.bin": "DSC", "royale_publish_small.bin": "DSA"}


def _raw(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def _decodable(name: str) -> bool:
    alias = SMALL.get(name)
    return alias is None or ClassDefMapper().getClassDefByAlias(alias) is not None


def alias_of(obj) -> str | None:
    if isinstance(obj, TypedObject):
        return obj.alias
    class_def = ClassDefMapper().getClassDefByClass(type(obj))
    return class_def.alias if class_def is not None else None


def field(obj, name: str):
    """A member of a Flex message, whether it decoded to a TypedObject or a mapped class."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def flex_message(name: str):
    """The one Flex message a Royale request carries (target "null", body [message])."""
    packet = Decoder().decode_packet(_raw(name))
    assert packet.client_type == 3 and len(packet.messages) == 1
    message = packet.messages[0]
    assert message.target == "null"
    assert isinstance(message.body, list) and len(message.body) == 1
    return message.body[0]


def assert_packets_equal(actual, expected) -> None:
    assert actual.client_type == expected.client_type
    assert len(actual.headers) == len(expected.headers)
    for a, e in zip(actual.headers, expected.headers):
        assert (a.name, bool(a.required)) == (e.name, bool(e.required))
        assert_amf_equal(a.value, e.value, loose_numbers=True)
    assert len(actual.messages) == len(expected.messages)
    for a, e in zip(actual.messages, expected.messages):
        assert (a.target, a.response) == (e.target, e.response)
        assert_amf_equal(a.body, e.body, loose_numbers=True)


# ----------------------------------------------------------------- every capture


@pytest.mark.parametrize("name", FILES)
def test_capture_decodes(name):
    raw = _raw(name)
    if not _decodable(name):
        # An unmapped externalizable alias cannot be read past: ClassMappingError, with the
        # offset inside the body.
        with pytest.raises(ClassMappingError) as info:
            Decoder().decode_packet(raw)
        assert raw.index(SMALL[name].encode()) <= info.value.offset <= len(raw)
        return
    packet = Decoder().decode_packet(raw)
    assert packet.client_type in (0, 3)
    assert packet.messages


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("amf3", [False, True], ids=["encoder-amf0", "encoder-amf3"])
def test_capture_reencodes_to_an_equal_packet(name, amf3):
    if not _decodable(name):
        pytest.skip(f"{SMALL[name]} is not mapped yet")
    packet = Decoder().decode_packet(_raw(name))
    again = Decoder().decode_packet(bytes(Encoder(amf3=amf3).encode_packet(packet)))
    assert_packets_equal(again, packet)


# ----------------------------------------------------------------- Ruffle, AMF0

RUFFLE_ARGS = ["hello", "h\u00e9llo \u4e16\u754c", "", 42.0, -7.0, 2147483647.0, 3.5, True,
               False, None, [1.0, "two", 3.25], [],
               {"a": 1.0, "b": "x", "nested": [1.0, 2.0]},
               datetime.datetime(2020, 1, 2, 3, 4, 5)]


def test_ruffle_batch_of_fourteen_calls():
    packet = Decoder().decode_packet(_raw("request_amf0.bin"))
    assert packet.client_type == 0 and list(packet.headers) == []
    assert len(packet.messages) == 14
    for n, (message, arg) in enumerate(zip(packet.messages, RUFFLE_ARGS), 1):
        assert (message.target, message.response) == ("echo.echo", f"/{n}")
        # Strict: AMF0 numbers are floats, ECMA arrays with keys "0".."n-1" are lists.
        assert_amf_equal(message.body, [arg], path=f"/{n}")


def test_ruffle_single_call():
    packet = Decoder().decode_packet(_raw("request_amf0_single.bin"))
    assert [(m.target, m.response, m.body) for m in packet.messages] == [
        ("echo.echo", "/1", ["hello"])]


# ----------------------------------------------------------------- Royale, AMF3


def test_royale_netconnection_call_ignores_body_length():
    raw = _raw("request_amf3.bin")
    assert raw[raw.index(b"/13") + 3:][:4] == b"\x00\x00\x00\x01"  # the length field says 1
    packet = Decoder().decode_packet(raw)
    assert packet.client_type == 3
    (message,) = packet.messages
    assert (message.target, message.response) == ("echo.echo", "/13")
    assert_amf_equal(message.body, [{"a": 1, "b": "x", "nested": [1, 2]}])


COMMANDS = [
    pytest.param("request_amf3_flex_ping.bin", 5, "", None, id="flex-ping"),
    pytest.param("royale_ping.bin", 5, "", None, id="ping"),
    pytest.param("royale_login.bin", 8, "auth", "Y29ycmVjdDpjb3JyZWN0", id="login"),
    pytest.param("royale_login_wrongpass.bin", 8, "auth", "Y29ycmVjdDp3cm9uZw==",
                 id="login-wrong"),
    pytest.param("royale_subscribe.bin", 0, "chat", None, id="subscribe"),
    pytest.param("royale_poll.bin", 2, "", None, id="poll"),
    pytest.param("royale_unsubscribe.bin", 1, "chat", None, id="unsubscribe"),
    pytest.param("royale_logout.bin", 9, "auth", None, id="logout"),
    pytest.param("royale_disconnect.bin", 12, "", None, id="disconnect"),
]


@pytest.mark.parametrize("name, operation, destination, body", COMMANDS)
def test_royale_command_messages(name, operation, destination, body):
    msg = flex_message(name)
    assert alias_of(msg) == MESSAGES + "CommandMessage"
    assert field(msg, "operation") == operation
    assert field(msg, "destination") == destination
    if body is not None:
        assert field(msg, "body") == body
    assert isinstance(field(msg, "messageId"), str) and len(field(msg, "messageId")) == 36
    headers = field(msg, "headers")
    if operation == 5:
        assert headers["DSId"] == "nil" and headers["DSMessagingVersion"] == 1
    else:
        assert len(headers["DSId"]) == 36
    if name == "royale_subscribe.bin":
        assert headers["DSSubtopic"] == "room1" and field(msg, "clientId") is None
    if name == "royale_unsubscribe.bin":
        assert field(msg, "clientId") == "6DCDD335-3EE8-4166-9224-0C40D6C00C0C"


def test_royale_remoting_message():
    msg = flex_message("request_amf3_flex_remoting.bin")
    assert alias_of(msg) == MESSAGES + "RemotingMessage"
    assert (field(msg, "destination"), field(msg, "operation")) == ("echo", "echo")
    assert_amf_equal(field(msg, "body"), [{"a": 1, "b": "x", "nested": [1, 2]}])
    assert field(msg, "headers")["DSId"] == "7c0505be-a0e2-4d4f-b63c-c39d093929e0"


def test_royale_publish():
    msg = flex_message("royale_publish.bin")
    assert alias_of(msg) == MESSAGES + "AsyncMessage"
    assert field(msg, "destination") == "chat"
    assert_amf_equal(field(msg, "body"), {"text": "hello from royale", "n": 1})
    assert field(msg, "headers")["DSSubtopic"] == "room1"


SMALL_MESSAGES = [
    pytest.param("royale_poll_small.bin", "CommandMessage", {"operation": 2, "destination": ""},
                 id="DSC-poll"),
    pytest.param("royale_publish_small.bin", "AsyncMessage",
                 {"destination": "chat", "body": {"text": "hello from royale", "n": 1}},
                 id="DSA-publish"),
]


@pytest.mark.parametrize("name, kind, fields", SMALL_MESSAGES)
def test_royale_small_messages(name, kind, fields):
    if not _decodable(name):
        pytest.skip(f"{SMALL[name]} is not mapped yet")
    msg = flex_message(name)
    assert alias_of(msg) in (MESSAGES + kind, SMALL[name])
    for key, value in fields.items():
        assert_amf_equal(field(msg, key), value, loose_numbers=True)
    assert field(msg, "headers")["DSId"] == "922D472E-DA8F-42A1-8666-7BC59BFE6F55"
    assert len(str(field(msg, "messageId"))) == 36


def test_client_sync_reply():
    packet = Decoder().decode_packet(_raw("response_poll_clientsync_chatstub.bin"))
    (message,) = packet.messages
    assert (message.target, message.response) == ("/7/onResult", "null")
    msg = message.body
    assert alias_of(msg) == MESSAGES + "CommandMessage"
    assert field(msg, "operation") == 4
    pushed = field(msg, "body")
    assert isinstance(pushed, list) and len(pushed) == 2
    for n, item in enumerate(pushed, 1):
        assert alias_of(item) == MESSAGES + "AsyncMessage"
        assert field(item, "clientId") == "6DCDD335-3EE8-4166-9224-0C40D6C00C0C"
        assert_amf_equal(field(item, "body"), {"text": "hello from royale", "n": n},
                         loose_numbers=True)
