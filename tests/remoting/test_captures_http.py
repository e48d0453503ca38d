"""Real-client request captures replayed over HTTP (wsgiref and waitress).

The captures (shared/captures, see its README.md) were sent by Ruffle and Apache Royale to a
gateway mapping service ``echo`` with target ``echo``; here they are POSTed byte for byte to
an amfast server mapping the same, and every reply is checked, also with py3amf's decoder.
"""
from __future__ import annotations

import datetime
import http.client
from pathlib import Path

import pytest

from amfast import remoting
from amfast.decoder import Decoder
from amfast.remoting.flex_messages import AbstractMessage, AcknowledgeMessage, ErrorMessage

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "captures"
pytestmark = pytest.mark.skipif(
    not CAPTURES.is_dir(),
    reason=f"no captures at {CAPTURES}: shared/ is expected beside the checkout")

TIMEOUT = 10.0
RPC_AND_PING = ["request_amf0.bin", "request_amf0_single.bin", "request_amf3.bin",
                "request_amf3_flex_ping.bin", "request_amf3_flex_remoting.bin", "royale_ping.bin"]
#: request_amf0.bin's 14 arguments as its README lists them, as AMF0 gives them back
#: (numbers are floats; ECMA arrays with keys "0".."n-1" are lists).
AMF0_SENT = ["hello", "héllo 世界", "", 42.0, -7.0, 2147483647.0, 3.5, True, False, None,
             [1.0, "two", 3.25], [], {"a": 1.0, "b": "x", "nested": [1.0, 2.0]},
             datetime.datetime(2020, 1, 2, 3, 4, 5)]


def all_requests() -> list[str]:
    if not CAPTURES.is_dir():
        return []
    return sorted(p.name for p in CAPTURES.glob("*.bin")
                  if p.name.startswith(("request_", "royale_")))


def echo(value):
    return value


def echo_channel_set(transport):
    channel_set = transport.ChannelSet()
    channel_set.mapChannel(transport.Channel("amf"))
    service = remoting.Service("echo")
    service.mapTarget(remoting.CallableTarget(echo, "echo"))
    channel_set.service_mapper.mapService(service)
    return channel_set


@pytest.fixture
def post(serve_app, transport):
    """``post(capture name) -> (request packet, reply packet, reply bytes)``."""
    server = serve_app(echo_channel_set(transport))
    conns = []

    def send(name):
        raw = (CAPTURES / name).read_bytes()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        conns.append(conn)
        conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (name, response.status, body[:300])
        assert response.getheader("Content-Type") == "application/x-amf"
        assert int(response.getheader("Content-Length")) == len(body)
        return Decoder().decode_packet(raw), Decoder().decode_packet(body), body

    yield send
    for conn in conns:
        conn.close()


def assert_strict_equal(got, want, where="$"):
    """Equal, with the same types all the way down (2.0 is not 2)."""
    assert type(got) is type(want), f"{where}: {got!r} vs {want!r}"
    if isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_strict_equal(g, w, f"{where}[{i}]")
    elif isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            assert_strict_equal(got[k], want[k], f"{where}[{k!r}]")
    else:
        assert got == want, where


def test_request_amf0_fourteen_echoes_come_back_equal(post):
    request, reply, body = post("request_amf0.bin")
    assert [m.body[0] for m in request.messages] == AMF0_SENT  # the capture is as documented
    assert reply.client_type == 0
    assert [m.target for m in reply.messages] == [f"/{i}/onResult" for i in range(1, 15)]
    assert all(m.response == "" for m in reply.messages)
    for index, (message, sent) in enumerate(zip(reply.messages, AMF0_SENT), 1):
        assert_strict_equal(message.body, sent, f"/{index}")
    # AMF0 numbers come back as floats.
    assert [type(m.body) for m in reply.messages[3:7]] == [float] * 4


def test_request_amf0_reply_read_by_py3amf(post):
    pyamf_remoting = pytest.importorskip("pyamf.remoting")
    _, _, body = post("request_amf0.bin")
    envelope = pyamf_remoting.decode(body, strict=True)  # exact body lengths
    assert len(envelope) == 14
    for index, sent in enumerate(AMF0_SENT, 1):
        response = envelope[f"/{index}"]
        assert response.status == pyamf_remoting.STATUS_OK
        got = response.body
        if isinstance(sent, datetime.datetime):
            assert got.replace(tzinfo=None) == sent
        else:
            assert got == sent, (index, got, sent)


def test_request_amf0_single(post):
    _, reply, _ = post("request_amf0_single.bin")
    assert len(reply.messages) == 1
    assert (reply.messages[0].target, reply.messages[0].body) == ("/1/onResult", "hello")


def test_request_amf3_netconnection(post):
    _, reply, _ = post("request_amf3.bin")
    assert reply.client_type == 3
    assert len(reply.messages) == 1 and reply.messages[0].target == "/13/onResult"
    assert_strict_equal(reply.messages[0].body, {"a": 1, "b": "x", "nested": [1, 2]})


@pytest.mark.parametrize("name", ["request_amf3_flex_ping.bin", "royale_ping.bin"])
def test_flex_ping_gets_an_ack_with_a_dsid(post, name):
    request, reply, _ = post(name)
    ping = request.messages[0].body[0]
    assert len(reply.messages) == 1
    assert reply.messages[0].target == f"{request.messages[0].response}/onResult"
    ack = reply.messages[0].body
    assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, ErrorMessage)
    assert ack.correlationId == ping.messageId
    client_id = ack.headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
    assert isinstance(client_id, str) and client_id and client_id != "nil"


def test_flex_remoting_message_echoes(post):
    request, reply, _ = post("request_amf3_flex_remoting.bin")
    call = request.messages[0].body[0]
    assert len(reply.messages) == 1 and reply.messages[0].target == "/14/onResult"
    ack = reply.messages[0].body
    assert type(ack) is AcknowledgeMessage
    assert ack.correlationId == call.messageId
    assert_strict_equal(ack.body, {"a": 1, "b": "x", "nested": [1, 2]})


@pytest.mark.parametrize("name", all_requests())
def test_every_request_capture_gets_a_routed_reply(post, name):
    """Whatever these clients send, the server answers every message of the packet."""
    request, reply, _ = post(name)
    assert reply.client_type == request.client_type
    assert len(reply.messages) == len(request.messages)
    for sent, got in zip(request.messages, reply.messages):
        assert got.target in (f"{sent.response}/onResult", f"{sent.response}/onStatus")
        assert got.response == ""
        if sent.target == "null" and isinstance(sent.body[0], AbstractMessage):
            assert isinstance(got.body, AcknowledgeMessage)  # ErrorMessage included
            assert got.body.correlationId == sent.body[0].messageId
            assert isinstance(got.body, ErrorMessage) == got.target.endswith("/onStatus")
        if name in RPC_AND_PING:
            assert got.target.endswith("/onResult"), got.body


def test_all_rpc_and_ping_captures_are_present():
    assert set(RPC_AND_PING) <= set(all_requests())
