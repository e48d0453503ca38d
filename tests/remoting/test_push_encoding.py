"""A published message is encoded once; each subscriber's bytes decode as its own copy."""
from __future__ import annotations

import uuid

import pytest

from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting.endpoint import AmfEndpoint
from amfast.remoting.flex_messages import AsyncMessage, AsyncMessageExt
from amfast.remoting.framing import FrameReader
from amfast.remoting.push_encoding import PushEncoder, amf3_string

UUID_ID = str(uuid.uuid4()).upper()
CLIENT_IDS = ["sub-1", "é" * 70, "x" * 9000, UUID_ID, "token.0123456789abcdef"]


def published(body=None, **headers):
    return AsyncMessage(body=body if body is not None else {"text": "hi", "n": [1, 2.5]},
                        destination="chat", headers=headers, messageId=str(uuid.uuid4()).upper(),
                        timestamp=1700000000000, timeToLive=30000)


def encode(msg):
    return Encoder(amf3=True).encode(msg)


def decode(raw):
    return Decoder(amf3=True).decode(raw)


def encoded_for(pusher, msg, client_id, small=False):
    """The AMF3 bytes in the frame the pusher makes."""
    items = FrameReader().feed(pusher.frameFor(msg, client_id, small))
    assert len(items) == 1 and isinstance(items[0], bytes)
    return items[0]


@pytest.mark.parametrize("small", [False, True])
@pytest.mark.parametrize("client_id", CLIENT_IDS)
def test_each_subscriber_decodes_its_own_copy(client_id, small):
    msg = published()
    pusher = PushEncoder(encode)
    for _ in range(3):  # the first delivery encodes directly, later ones splice
        raw = encoded_for(pusher, msg, client_id, small)
        assert raw == encode(msg.personalize(client_id, small))
        copy = decode(raw)
        assert copy.clientId == client_id and copy.body == msg.body
        assert isinstance(copy, AsyncMessageExt) == small


def test_a_client_id_that_also_appears_in_the_body_still_decodes_right():
    msg = published(body=["sub-1", {"sub-1": "sub-1"}, "sub-1"])
    pusher = PushEncoder(encode)
    encoded_for(pusher, msg, "other", False)
    for client_id in ("sub-1", "other", "chat"):
        copy = decode(encoded_for(pusher, msg, client_id, False))
        assert copy.clientId == client_id and copy.body == msg.body
        assert copy.destination == "chat"


def test_templates_are_made_once_per_message_and_form():
    calls = []

    def counting(msg):
        calls.append(msg.clientId)
        return encode(msg)

    msg = published()
    pusher = PushEncoder(counting)
    for n in range(100):
        encoded_for(pusher, msg, f"sub-{n}", False)
    assert len(calls) == 2  # one direct encode, one template


def test_ids_that_are_not_strings_are_encoded_directly():
    msg = published()
    pusher = PushEncoder(encode)
    for client_id in (None, "", 7):
        assert decode(encoded_for(pusher, msg, client_id, False)).clientId == client_id


def test_a_new_message_object_with_a_reused_id_gets_its_own_bytes():
    pusher = PushEncoder(encode)
    first = published(body="first")
    for _ in range(3):
        encoded_for(pusher, first, "c", False)
    del first
    for _ in range(3):
        assert decode(encoded_for(pusher, published(body="second"), "c", False)).body == "second"


def test_amf3_string_lengths_cross_every_u29_width():
    for length in (0, 63, 64, 8191, 8192, 1 << 20):
        text = "a" * length
        assert Decoder(amf3=True).decode(b"\x06" + amf3_string(text)) == text


def test_endpoints_push_through_their_own_encoder():
    endpoint = AmfEndpoint()
    msg = published()
    for _ in range(2):
        (raw,) = FrameReader().feed(endpoint.pushEncoder().frameFor(msg, "c1", True))
        assert decode(raw).clientId == "c1"
