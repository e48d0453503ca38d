"""Small messages (ISmallMessage: ``DSA``, ``DSC``, ``DSK``) over HTTP.

The Royale captures ``royale_poll_small.bin`` (a ``DSC`` poll) and
``royale_publish_small.bin`` (a ``DSA`` publish) are replayed after the Royale ping (which
advertises ``DSMessagingVersion: 1``), with the server's DSId put in them.  Replies to
small requests must come back small (``DSK`` acks, a ``DSC`` CLIENT_SYNC carrying ``DSA``
messages) and decode, with amfast's decoder and with py3amf's.
"""
from __future__ import annotations

import pytest

from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting.flex_messages import (
    AcknowledgeMessage,
    AcknowledgeMessageExt,
    AsyncMessage,
    AsyncMessageExt,
    CommandMessage,
    CommandMessageExt,
    ErrorMessage,
)
from tests.remoting.conftest import DSID, polled, replace_amf3_string

pyamf = pytest.importorskip("pyamf")
from pyamf import remoting as pyamf_remoting  # noqa: E402
from pyamf.flex import messaging as pyamf_messaging  # noqa: E402

SMALL_DSID = "922D472E-DA8F-42A1-8666-7BC59BFE6F55"  # in the small captures
POLL_ID = "C62DD22A-34AB-6D88-02C0-6B06D8D6F5F2"      # royale_poll_small.bin's messageId
PUBLISH_ID = "D85F31BE-1BC7-0711-A4A4-6B06D8D61556"   # royale_publish_small.bin's messageId


class Royale:
    """Replays captures on one connection, as the Royale client did."""

    def __init__(self, served, captures):
        self.client = served.flex()
        self.captures = captures
        self.dsid = None

    def raw(self, name: str) -> bytes:
        raw = (self.captures / name).read_bytes()
        if self.dsid is not None:
            for old in (SMALL_DSID, "00C3F101-1B86-4D27-BA6F-B0A9E8D3EA0B"):
                if old.encode() in raw:
                    raw = replace_amf3_string(raw, old, self.dsid)
        return raw

    def replay(self, name: str):
        """(reply bytes, the reply message decoded by amfast, decoded by py3amf)."""
        status, headers, body = self.client.post(self.raw(name))
        assert status == 200 and headers["content-type"] == "application/x-amf"
        [message] = Decoder().decode_packet(body).messages
        envelope = pyamf_remoting.decode(body)
        [(_, response)] = list(envelope.items())
        if self.dsid is None:
            self.dsid = message.body.headers[DSID]
        return body, message.body, response.body

    def ping(self):
        _, ack, _ = self.replay("royale_ping.bin")
        assert ack.headers[CommandMessage.MESSAGING_VERSION] == 1
        return ack


@pytest.fixture
def royale(messaging, captures):
    return Royale(messaging, captures)


def test_small_poll_without_messages_gets_a_small_ack(royale):
    royale.ping()
    raw, ack, py_ack = royale.replay("royale_poll_small.bin")
    assert b"\x07DSK" in raw and b"flex.messaging.messages" not in raw
    assert type(ack) is AcknowledgeMessageExt
    assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, CommandMessage)
    assert ack.correlationId == POLL_ID
    assert ack.headers[DSID] == royale.dsid
    assert type(py_ack) is pyamf_messaging.AcknowledgeMessageExt
    assert str(py_ack.correlationId).upper() == POLL_ID
    assert py_ack.headers[DSID] == royale.dsid


def test_small_publish_is_acknowledged_small_and_delivered_small(royale, messaging):
    royale.ping()
    _, subscribed, _ = royale.replay("royale_subscribe.bin")
    assert not isinstance(subscribed, ErrorMessage), subscribed
    client_id = subscribed.clientId
    assert client_id

    raw, ack, py_ack = royale.replay("royale_publish_small.bin")
    assert b"\x07DSK" in raw
    assert type(ack) is AcknowledgeMessageExt and ack.correlationId == PUBLISH_ID
    assert type(py_ack) is pyamf_messaging.AcknowledgeMessageExt

    raw, sync, py_sync = royale.replay("royale_poll_small.bin")
    assert b"\x07DSC" in raw and b"\x07DSA" in raw
    assert type(sync) is CommandMessageExt
    assert sync.operation == CommandMessage.CLIENT_SYNC_OPERATION
    assert sync.correlationId == POLL_ID
    [pushed] = sync.body
    assert type(pushed) is AsyncMessageExt
    assert pushed.clientId == client_id
    assert pushed.messageId == PUBLISH_ID
    assert (pushed.destination, pushed.body) == ("chat", {"text": "hello from royale", "n": 1})
    assert pushed.headers["DSSubtopic"] == "room1" and pushed.headers["X-Probe"] == \
        "royale-chat"
    assert DSID not in pushed.headers
    assert pushed.timestamp > 0 and pushed.timeToLive == 30000

    assert type(py_sync) is pyamf_messaging.CommandMessageExt
    assert py_sync.operation == 4
    [py_pushed] = py_sync.body
    assert type(py_pushed) is pyamf_messaging.AsyncMessageExt
    assert py_pushed.clientId == client_id
    assert str(py_pushed.messageId).upper() == PUBLISH_ID
    assert py_pushed.body == {"text": "hello from royale", "n": 1}
    assert py_pushed.destination == "chat"

    raw, empty, _ = royale.replay("royale_poll_small.bin")
    assert type(empty) is AcknowledgeMessageExt


def test_a_full_poll_from_a_small_capable_client_carries_small_messages(royale, messaging):
    """The poll reply follows the request's form; the pushed messages the connection's."""
    royale.ping()
    royale.replay("royale_subscribe.bin")
    royale.replay("royale_publish.bin")
    raw, sync, py_sync = royale.replay("royale_poll.bin")
    assert type(sync) is CommandMessage and sync.operation == 4
    assert [type(m) for m in sync.body] == [AsyncMessageExt]
    assert type(py_sync.body[0]) is pyamf_messaging.AsyncMessageExt


def test_a_client_that_did_not_ask_gets_no_small_messages(messaging):
    client, producer = messaging.flex(), messaging.flex()
    client.ping()  # no DSMessagingVersion
    client.subscribe("chat")
    producer.ping(1)
    producer.publish("chat", "x")
    raw = client.encode(CommandMessage(operation=CommandMessage.POLL_OPERATION,
                                       headers={DSID: client.dsid}))
    status, _, body = client.post(raw)
    assert status == 200
    assert b"DSA" not in body and b"DSC" not in body and b"DSK" not in body
    [message] = Decoder().decode_packet(body).messages
    assert type(message.body) is CommandMessage
    assert [type(m) for m in message.body.body] == [AsyncMessage]


def test_a_failing_small_request_gets_a_full_error_message(serve_messaging, captures):
    served = serve_messaging(secure=True)
    royale = Royale(served, captures)
    royale.ping()
    raw, error, py_error = royale.replay("royale_publish_small.bin")
    assert type(error) is ErrorMessage and error.faultCode == "Client.Authentication"
    assert error.correlationId == PUBLISH_ID
    assert b"flex.messaging.messages.ErrorMessage" in raw
    assert isinstance(py_error, pyamf_messaging.ErrorMessage)


@pytest.mark.parametrize("cls,py_cls,fields", [
    (AcknowledgeMessageExt, pyamf_messaging.AcknowledgeMessageExt,
     dict(body={"a": [1, 2]}, clientId="6DCDD335-3EE8-4166-9224-0C40D6C00C0C",
          correlationId="not-a-uuid", destination="chat", headers={"DSId": "x"},
          messageId="A4015749-7345-4C96-94AA-5E48B7AAF963", timestamp=1795610794159,
          timeToLive=30000)),
    (AsyncMessageExt, pyamf_messaging.AsyncMessageExt,
     dict(body="text", clientId="a-lowercase-or-free-form-id", correlationId=None,
          destination="chat", headers={"DSSubtopic": "room1"},
          messageId="1006CA3C-98A4-4410-B308-C0461B02012D", timestamp=1.5, timeToLive=0)),
    (CommandMessageExt, pyamf_messaging.CommandMessageExt,
     dict(body=[], clientId=None, correlationId="54A9DF40-746F-17C3-F190-6B06D8AA1914",
          destination="", headers={}, messageId="5BD781AB-C296-4BB6-8E40-6A0F8E278247",
          timestamp=0, timeToLive=0, operation=4)),
])
def test_small_forms_round_trip_and_py3amf_reads_them(cls, py_cls, fields):
    message = cls(**fields)
    raw = Encoder().encode(message, amf3=True)
    alias = {AcknowledgeMessageExt: b"DSK", AsyncMessageExt: b"DSA",
             CommandMessageExt: b"DSC"}[cls]
    assert raw.startswith(b"\n\x07\x07" + alias)  # object, externalizable traits, alias
    back = Decoder().decode(raw, amf3=True)
    assert type(back) is cls
    for name, value in fields.items():
        got = getattr(back, name)
        if name == "headers" and not value:
            assert not got
        elif name == "correlationId" and value is None:
            assert got in (None, "")
        else:
            assert got == value, name
    py = pyamf.decode(raw, encoding=pyamf.AMF3).readElement()
    assert type(py) is py_cls
    assert py.body == fields["body"]
    for name in ("messageId", "clientId", "correlationId"):
        if fields.get(name):
            assert str(getattr(py, name)).upper() == fields[name].upper(), name
    if isinstance(message, CommandMessage):
        assert py.operation == fields["operation"]


def test_polled_helper_accepts_small_forms():
    sync = CommandMessageExt(operation=4, body=[AsyncMessageExt(body=1)])
    assert [m.body for m in polled(sync)] == [1]
    assert polled(AcknowledgeMessageExt()) == []
