"""The same requests through a channel with AmfEndpoint and one with PyAmfEndpoint, over HTTP.

Two identical channel sets (``tests.remoting.apps.build_channel_set``) are served side by side,
one whose channels use amfast's Cython codec and one whose channels use py3amf
(``PyAmfEndpoint``).  Every real-client capture and a generated set of NetConnection and
Flex packets (small messages, login, messaging, typed values, faults, bad packets) goes to
both, in the same order; the HTTP statuses must match and the replies must decode to equal
values, except for what the server makes up each time: message ids, timestamps and
connection ids (``DSId``).
"""
from __future__ import annotations

import base64
import datetime
import http.client
import re
import xml.dom.minidom
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyamf")

from amfast.class_def.as_types import AsDictionary, AsError, AsProxy, AsVector, TypedObject  # noqa: E402,E501
from amfast.decoder import Decoder  # noqa: E402
from amfast.encoder import Encoder  # noqa: E402
from amfast.remoting import Header, Message, Packet  # noqa: E402
from amfast.remoting.endpoint import AmfEndpoint  # noqa: E402
from amfast.remoting.flex_messages import (AbstractMessage, AsyncMessage, CommandMessage,  # noqa: E402,E501
                                           RemotingMessage, to_small)
from amfast.remoting.pyamf_endpoint import PyAmfEndpoint  # noqa: E402
from tests.ext.conftest import assert_amf_equal  # noqa: E402
from tests.remoting.apps import build_channel_set  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
CAPTURE_FILES = sorted(p.name for p in CAPTURES.glob("*.bin")) if CAPTURES.is_dir() else []
TIMEOUT = 10.0
DSID = AbstractMessage.FLEX_CLIENT_ID_HEADER
CLIENT_ID = "C1C1C1C1-0000-4000-8000-000000000001"
#: Ids the server makes up (connection and subscription ids): a random token and a signature.
GENERATED_ID = re.compile(r"^[A-Za-z0-9_-]{16,}\.[0-9a-f]{16,}$")


def message_id(n: int) -> str:
    return f"0000{n:04d}-AAAA-4BBB-8CCC-DDDDDDDDDDDD"


# ============================================================================ requests


def netconnection(client_type: int, calls: list, headers: tuple = (), **options: Any) -> bytes:
    packet = Packet(client_type, list(headers),
                    [Message(target, f"/{i}", list(args)) for i, (target, args)
                     in enumerate(calls, 1)])
    return Encoder(**options).encode_packet(packet, amf3=packet.is_amf3)


def flex(*messages: AbstractMessage, dsid: str | None = "nil", small: bool = False,
         **options: Any) -> bytes:
    bodies = []
    for i, msg in enumerate(messages, 1):
        if dsid is not None:
            msg.headers[DSID] = dsid
        if small:
            to_small(msg)
        bodies.append(Message("null", f"/{i}", [msg]))
    return Encoder(**options).encode_packet(Packet(Packet.FLASH_9, [], bodies), amf3=True)


def remoting(n: int, operation: str, *args: Any, destination: str = "svc") -> RemotingMessage:
    return RemotingMessage(destination=destination, operation=operation, body=list(args),
                           messageId=message_id(n), timestamp=1700000000000 + n)


def command(n: int, operation: int, **fields: Any) -> CommandMessage:
    return CommandMessage(operation=operation, messageId=message_id(n),
                          timestamp=1700000000000 + n, **fields)


def shared_list() -> list:
    shared = ["shared", {"k": 1}]
    return [shared, shared, {"again": shared}]


VALUES = ["hello", "héllo 世界", "", 0, 42, -7, 2 ** 31 - 1, 2 ** 40, 3.5, -0.0, True, False,
          None, [1, "two", 3.25], [], {"a": 1, "b": "x", "nested": [1, 2]},
          datetime.datetime(2020, 1, 2, 3, 4, 5, 678000), datetime.date(1999, 12, 31),
          b"\x00\xffraw",
          TypedObject("com.example.Unknown", ("a", "b"), False, a=1, b=[2]),
          TypedObject("com.example.Dynamic", (), True, x={"y": None}),
          AsVector([1, -2, 3], type="int"), AsVector([0.5], type="double", fixed=True),
          AsVector(["s", {"o": 1}], type="object", class_name="com.example.V"),
          AsDictionary({1: "one", "two": 2}), AsProxy([1, 2]), AsProxy({"p": 1}),
          xml.dom.minidom.parseString("<doc a='1'><c>text</c></doc>"), shared_list(),
          "x" * 70000]


def generated_requests() -> list:
    """(name, channel, raw request) in the order they are sent; later ones use earlier state."""
    good = base64.b64encode(b"correct:correct").decode()
    bad = base64.b64encode(b"correct:wrong").decode()
    reqs: list = []

    def add(name: str, raw: bytes, channel: str = "amf") -> None:
        reqs.append((name, channel, raw))

    for client_type in (Packet.FLASH_8, Packet.FLASH_9):
        tag = f"v{client_type}"
        add(f"{tag}-echo-values", netconnection(client_type, [("svc.echo", [v]) for v in VALUES]))
        add(f"{tag}-echo-collections", netconnection(
            client_type, [("svc.echo", [[1, [2]]]), ("svc.echo", [{"d": {"e": 1}}])],
            use_collections=True, use_proxies=True))
        add(f"{tag}-targets", netconnection(client_type, [
            ("svc.args", [1, "b", None]), ("svc.fail", []), ("svc.fault", []),
            ("svc.missing", []), ("plain", ["p"]), ("svc.unencodable", []),
            ("svc.secret", []), ("svc.ext", ["e", 1]), ("echo.echo", [VALUES[:5]])]))
        add(f"{tag}-headers", netconnection(
            client_type, [("svc.ext", ["h"]), ("svc.echo", ["after header"])],
            headers=(Header("Remember", False, {"remembered": [1, 2]}),
                     Header("NotKnown", False, "ignored"))))
        add(f"{tag}-required-unknown-header", netconnection(
            client_type, [("svc.echo", [1])], headers=(Header("NotKnown", True, "x"),)))
        add(f"{tag}-exploding-header", netconnection(
            client_type, [("svc.echo", [1]), ("svc.echo", [2])],
            headers=(Header("Explode", False, None),)))
        add(f"{tag}-credentials", netconnection(
            client_type, [("svc.secret", [])],
            headers=(Header("Credentials", False, {"userid": "correct", "password": "correct"}),)))
        add(f"{tag}-bad-credentials", netconnection(
            client_type, [("svc.secret", [])],
            headers=(Header("Credentials", False, {"userid": "correct", "password": "no"}),)))
        add(f"{tag}-over-the-small-channel-limit", netconnection(
            client_type, [("svc.echo", ["x" * 2000])]), channel="small")

    add("flex-ping", flex(command(1, CommandMessage.CLIENT_PING_OPERATION,
                                  headers={CommandMessage.MESSAGING_VERSION: 1})))
    add("flex-echo-values", flex(*[remoting(10 + i, "echo", v) for i, v in enumerate(VALUES)]))
    add("flex-echo-collections", flex(remoting(60, "echo", [1, 2], {"a": [3]}),
                                      use_collections=True, use_proxies=True))
    add("flex-targets", flex(remoting(61, "args", 1, "x"), remoting(62, "fail"),
                             remoting(63, "fault"), remoting(64, "missing"),
                             remoting(65, "unencodable"), remoting(66, "ext", "e"),
                             remoting(67, "echo", "echo", destination="echo"),
                             remoting(68, "nothing", destination="nowhere")))
    add("flex-secret-before-login", flex(remoting(70, "secret"), dsid="DIFF-LOGIN"))
    add("flex-bad-login", flex(command(71, CommandMessage.LOGIN_OPERATION, body=bad),
                               dsid="DIFF-LOGIN"))
    add("flex-login", flex(command(72, CommandMessage.LOGIN_OPERATION, body=good),
                           dsid="DIFF-LOGIN"))
    add("flex-secret-after-login", flex(remoting(73, "secret"), dsid="DIFF-LOGIN"))
    add("flex-command-target", flex(command(74, CommandMessage.TRIGGER_CONNECT_OPERATION,
                                            body={"payload": [1, "two"]})))
    add("flex-unknown-command", flex(command(75, 4242)))
    add("flex-subscribe", flex(command(80, CommandMessage.SUBSCRIBE_OPERATION,
                                       destination="chat", clientId=CLIENT_ID,
                                       headers={AsyncMessage.SUBTOPIC_HEADER: "room"}),
                               dsid="DIFF-CHAT"))
    add("flex-publish", flex(AsyncMessage(body={"text": "hi", "when": datetime.datetime(
        2021, 5, 6, 7, 8, 9)}, destination="chat", messageId=message_id(81),
        timestamp=1700000000081, headers={AsyncMessage.SUBTOPIC_HEADER: "room"}),
        dsid="DIFF-CHAT"))
    add("flex-poll", flex(command(82, CommandMessage.POLL_OPERATION, clientId=CLIENT_ID),
                          dsid="DIFF-CHAT"))
    add("flex-publish-small", flex(AsyncMessage(
        body=["small", b"\x01\x02"], destination="chat", messageId=message_id(83),
        clientId=CLIENT_ID, timestamp=1700000000083,
        headers={AsyncMessage.SUBTOPIC_HEADER: "room"}), dsid="DIFF-CHAT", small=True))
    add("flex-poll-small", flex(command(84, CommandMessage.POLL_OPERATION, clientId=CLIENT_ID),
                                dsid="DIFF-CHAT", small=True))
    add("flex-ping-small", flex(command(85, CommandMessage.CLIENT_PING_OPERATION),
                                dsid="DIFF-CHAT", small=True))
    add("flex-unsubscribe", flex(command(86, CommandMessage.UNSUBSCRIBE_OPERATION,
                                         destination="chat", clientId=CLIENT_ID),
                                 dsid="DIFF-CHAT"))
    add("flex-batch", flex(command(90, CommandMessage.CLIENT_PING_OPERATION),
                           remoting(91, "echo", shared_list()), remoting(92, "fail"),
                           command(93, CommandMessage.LOGOUT_OPERATION), dsid="DIFF-BATCH"))
    add("flex-disconnect", flex(command(94, CommandMessage.DISCONNECT_OPERATION),
                                dsid="DIFF-BATCH"))
    whole = flex(remoting(95, "echo", "cut"))
    add("truncated-packet", whole[:-3])
    add("not-amf", b"GET / HTTP/1.0\r\n\r\n")
    add("unknown-version", b"\x00\x09\x00\x00\x00\x00")
    add("unmapped-externalizable", whole[:-9] + b"\x11\x0a\x07\x07un.Ext\x01")
    return reqs


# ============================================================================ plumbing


class Pair:
    """The same channel set twice: "amf" (AmfEndpoint) and "pyamf" (PyAmfEndpoint) channels."""

    def __init__(self, serve_app, transport):
        self.servers = {}
        for kind, make in (("amf", AmfEndpoint), ("pyamf", PyAmfEndpoint)):
            channel_set, _ = build_channel_set(transport=transport)
            for channel in channel_set:
                channel.endpoint = make()
            self.servers[kind] = serve_app(channel_set)

    def post(self, kind: str, channel: str, raw: bytes) -> tuple:
        server = self.servers[kind]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        try:
            conn.request("POST", f"/{channel}", raw, {"Content-Type": "application/x-amf"})
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            conn.close()

    def exchange(self, name: str, channel: str, raw: bytes) -> dict:
        """Send to both; the same status and content type; the replies (decoded) by kind."""
        replies = {kind: self.post(kind, channel, raw) for kind in self.servers}
        (status, ctype, _), (status2, ctype2, _) = replies["amf"], replies["pyamf"]
        assert (status, ctype) == (status2, ctype2), (name, replies)
        if status != 200:
            return {}
        return {kind: reply[2] for kind, reply in replies.items()}


@pytest.fixture
def pair(serve_app, transport):
    return Pair(serve_app, transport)


def blank_generated(value: Any) -> Any:
    return "*" if isinstance(value, str) and GENERATED_ID.match(value) else value


def normalize(value: Any, seen: set | None = None) -> Any:
    """Blank what the server makes up: message ids, timestamps, connection and client ids."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, AbstractMessage):
        value.messageId = "*"
        value.timestamp = 0
        value.clientId = blank_generated(value.clientId)
        if isinstance(value.headers, dict):
            if DSID in value.headers:
                value.headers[DSID] = "*"
            for key, item in value.headers.items():
                value.headers[key] = blank_generated(item)
        for attr in vars(value).values():
            normalize(attr, seen)
    elif isinstance(value, dict):
        for item in value.values():
            normalize(item, seen)
    elif isinstance(value, list):
        for item in value:
            normalize(item, seen)
    elif isinstance(value, AsError) or hasattr(value, "__dict__"):
        for attr in vars(value).values():
            normalize(attr, seen)
    return value


def decoded_reply(raw: bytes) -> Packet:
    packet = Decoder().decode_packet(raw)
    for message in packet.messages:
        normalize(message.body)
    return packet


def assert_same_reply(name: str, amf: bytes, pyamf_reply: bytes) -> None:
    ours, theirs = decoded_reply(amf), decoded_reply(pyamf_reply)
    assert ours.client_type == theirs.client_type, name
    assert [(h.name, h.required) for h in ours.headers] == \
        [(h.name, h.required) for h in theirs.headers], name
    assert [(m.target, m.response) for m in ours.messages] == \
        [(m.target, m.response) for m in theirs.messages], name
    for got, want in zip(theirs.messages, ours.messages):
        try:
            assert_amf_equal(got.body, want.body)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # py3amf reads both replies as amfast does too.
    assert_same_values(PyAmfEndpoint().decodePacket(pyamf_reply), theirs)


def assert_same_values(packet: Packet, expected: Packet) -> None:
    for message in packet.messages:
        normalize(message.body)
    for got, want in zip(packet.messages, expected.messages):
        assert_amf_equal(got.body, want.body)


# ============================================================================== tests


@pytest.mark.skipif(not CAPTURE_FILES, reason=f"no captures at {CAPTURES}")
def test_captures_give_equal_replies(pair):
    """Every capture, in order (the Royale session runs through login and messaging)."""
    order = sorted(CAPTURE_FILES, key=lambda name: (not name.startswith("royale_ping"), name))
    compared = 0
    for name in order:
        replies = pair.exchange(name, "amf", (CAPTURES / name).read_bytes())
        assert replies, f"{name} was refused"
        assert_same_reply(name, replies["amf"], replies["pyamf"])
        compared += 1
    assert compared == len(CAPTURE_FILES)


def test_generated_requests_give_equal_replies(pair):
    statuses = {}
    for name, channel, raw in generated_requests():
        replies = pair.exchange(name, channel, raw)
        statuses[name] = bool(replies)
        if replies:
            assert_same_reply(name, replies["amf"], replies["pyamf"])
    # The bad packets were refused by both (400), the channel limit too (413).
    refused = {name for name, ok in statuses.items() if not ok}
    assert refused == {"truncated-packet", "not-amf", "unknown-version",
                       "unmapped-externalizable", "v0-over-the-small-channel-limit",
                       "v3-over-the-small-channel-limit"}


def test_the_replies_carry_what_was_sent(pair):
    """A sanity check of the comparison itself: the echoed values come back."""
    replies = pair.exchange("echo", "amf", flex(remoting(1, "echo", {"k": [1, 2.5, "s"]})))
    for raw in replies.values():
        ack = Decoder().decode_packet(raw).messages[0].body
        assert ack.body == {"k": [1, 2.5, "s"]}
        assert ack.correlationId == message_id(1)


# ========================================================================= in process

#: Bodies both endpoints must refuse with the same kind of error (AMF3 values).
BAD_AMF3 = {
    "truncated string": (b"\x06\x0bab", "TruncatedDataError"),
    "unknown marker": (b"\x15", "UnknownMarkerError"),
    "string reference past the table": (b"\x06\x04", "BadReferenceError"),
    "invalid utf-8": (b"\x06\x05\xff\xfe", "InvalidUTF8Error"),
    "declared count past the bytes": (b"\x09\xff\xff\xff\x01\x01", "LimitExceededError"),
    "unmapped externalizable": (b"\x0a\x07\x07x.X", "ClassMappingError"),
}


@pytest.mark.parametrize("name", sorted(BAD_AMF3))
def test_both_endpoints_refuse_bad_values_with_the_same_error_class(name):
    raw, kind = BAD_AMF3[name]
    for endpoint in (AmfEndpoint(), PyAmfEndpoint()):
        with pytest.raises(Exception) as info:
            endpoint.decode(raw, amf3=True)
        assert type(info.value).__name__ == kind, (endpoint, info.value)
        assert info.value.offset is not None


def test_both_endpoints_decode_a_dictionary_keyed_by_objects_alike():
    from amfast.class_def.as_types import IdentityKey

    shared = {"shared": True}
    value = AsDictionary({IdentityKey(shared): 1, IdentityKey([1, 2]): shared, "k": 2})
    raw = Encoder(amf3=True).encode(value)
    decoded = [endpoint.decode(raw, amf3=True) for endpoint in (AmfEndpoint(), PyAmfEndpoint())]
    for result in decoded:
        keys = {type(k).__name__: k for k in result}
        objects = [k.value for k in result if isinstance(k, IdentityKey)]
        assert sorted(map(repr, objects)) == sorted(map(repr, [shared, [1, 2]]))
        inner = next(k.value for k in result if isinstance(k, IdentityKey)
                     and isinstance(k.value, dict))
        assert result[IdentityKey(inner)] == 1 and result["k"] == 2
        assert any(v is inner for v in result.values()), "a reference to the key object"
        assert keys
    assert PyAmfEndpoint().encode(decoded[1], amf3=True) == raw
