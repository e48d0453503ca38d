"""HTTP streaming (``StreamingWsgiChannel``, Flex's ``StreamingAMFChannel``) under wsgiref
(threaded) and waitress.

``POST /streaming?command=open`` with form body ``DSId=<id>`` opens a stream: the "open"
acknowledgement frame, 2048 NUL bytes of kick-start padding, then frames
``<hex length>CRLF<AMF3 message>CRLF`` and single NUL heartbeats; a DISCONNECT frame ends
it.  ``RawStream`` reads it byte by byte; ``RemotingService.stream`` is amfast's client.
"""
from __future__ import annotations

import threading
import time

import pytest

from amfast.remoting.client import RemotingService
from amfast.remoting.flex_messages import (
    AcknowledgeMessage,
    AsyncMessage,
    AsyncMessageExt,
    CommandMessage,
    ErrorMessage,
)
from amfast.remoting.framing import FrameReader
from amfast.remoting.framing import frame as framed_bytes
from amfast.remoting.streaming import StreamingHttpChannel
from tests.remoting.conftest import (
    HEART,
    TIMEOUT,
    RawStream,
    wait_until,
)

KICKSTART = StreamingHttpChannel.KICKSTART_BYTES


def open_stream(served, version=1, channel="streaming"):
    """A subscribed connection (ping and subscribe over the streaming channel's AMF POSTs,
    as Flex does) and its open stream, past the "open" acknowledgement."""
    client = served.flex(channel)
    client.ping(version)
    client_id = client.subscribe("chat").clientId
    stream = served.stream(client.dsid, "/" + channel)
    assert stream.status == 200, stream.body()
    opened = stream.next_frame()
    assert isinstance(opened, AcknowledgeMessage), opened
    return client, client_id, stream


def is_disconnect(message) -> bool:
    return isinstance(message, CommandMessage) and \
        message.operation == CommandMessage.DISCONNECT_OPERATION


def test_open_sends_the_open_ack_then_kickstart_padding(messaging):
    client = messaging.flex("streaming")
    client.ping()
    stream = messaging.stream(client.dsid)
    assert stream.status == 200
    assert stream.headers.get("cache-control") == "no-cache"
    opened = stream.next_frame()
    assert isinstance(opened, AcknowledgeMessage) and not isinstance(opened, ErrorMessage)
    assert opened.correlationId == "open"
    assert opened.body == client.dsid
    stream.read_for(0.1)
    kinds = [event[:2] if event[0] == "nul" else event[0] for event in stream.events]
    assert kinds[0] == "frame"
    assert kinds[1][0] == "nul" and kinds[1][1] >= KICKSTART, kinds[:3]
    # The padding directly follows the first frame's bytes.
    frame_end = len(framed_bytes(FrameReader().feed(stream.raw)[0]))
    assert stream.raw[frame_end:frame_end + KICKSTART] == b"\0" * KICKSTART


def test_stream_content_type_is_amf(messaging):
    client = messaging.flex("streaming")
    client.ping()
    stream = messaging.stream(client.dsid)
    assert stream.status == 200
    assert stream.headers.get("content-type") == "application/x-amf"


def test_messages_arrive_as_hex_length_crlf_frames_within_milliseconds(messaging):
    _, client_id, stream = open_stream(messaging)
    producer = messaging.flex()
    producer.ping()
    stream.read_for(0.05)
    published = time.monotonic()
    producer.publish("chat", {"n": 0})
    first = stream.next_frame(TIMEOUT)
    arrived = [e[2] for e in stream.events if e[0] == "frame"][-1]
    assert arrived - published < 0.2, f"{(arrived - published) * 1000:.0f} ms"
    for n in (1, 2):
        producer.publish("chat", {"n": n})
    frames = [first, stream.next_frame(), stream.next_frame()]
    assert [f.body for f in frames] == [{"n": 0}, {"n": 1}, {"n": 2}]
    for frame in frames:
        assert isinstance(frame, AsyncMessage)
        assert frame.clientId == client_id and frame.destination == "chat"
        assert "DSId" not in frame.headers
    # On the wire, after the padding: the frames (amfast.remoting.framing) and nothing else.
    rest = stream.raw.split(b"\0" * KICKSTART, 1)[1].lstrip(b"\0")
    framed = [item for item in FrameReader().feed(rest) if isinstance(item, bytes)]
    assert len(framed) == 3 and b"".join(framed_bytes(raw) for raw in framed) == rest


def test_frames_use_small_messages_only_when_the_client_asked(messaging):
    for version, small in ((1, True), (None, False)):
        _, _, stream = open_stream(messaging, version)
        messaging.channel_set.publishObject("x", "chat")
        frame = stream.next_frame(TIMEOUT)
        assert isinstance(frame, AsyncMessage) and frame.body == "x"
        assert isinstance(frame, AsyncMessageExt) is small
        assert (b"\x07DSA" in stream.raw) is small
        stream.close_command()
        assert stream.read_to_end()


def test_heartbeats_are_single_nul_bytes_every_heart_interval(messaging):
    _, _, stream = open_stream(messaging)
    stream.read_for(0.05)
    start = len(stream.events)
    stream.read_for(HEART / 1000 * 3.6)
    beats = [e for e in stream.events[start:]]
    assert all(e[0] == "nul" for e in beats), beats
    assert 2 <= len(beats) <= 5, beats
    assert all(e[1] == 1 for e in beats), beats
    gaps = [b[2] - a[2] for a, b in zip(beats, beats[1:])]
    assert all(gap > HEART / 1000 * 0.6 for gap in gaps), gaps


def test_close_command_ends_the_stream_with_a_disconnect_frame(messaging):
    client, _, stream = open_stream(messaging)
    status, headers, body = stream.close_command()
    assert status == 200 and body == b""
    assert headers["content-type"].startswith("text/plain")
    assert stream.read_to_end(5), "the stream must end after ?command=close"
    frames = stream.frames()
    assert is_disconnect(frames[-1]), frames[-1]
    # Closing the stream does not disconnect the connection: it may poll or reopen.
    messaging.channel_set.getConnection(client.dsid)
    again = messaging.stream(client.dsid)
    assert again.status == 200 and isinstance(again.next_frame(), AcknowledgeMessage)


def test_disconnect_command_ends_the_stream(messaging):
    client, _, stream = open_stream(messaging)
    twin = messaging.flex("amf")
    twin.dsid = client.dsid
    assert not isinstance(twin.command(CommandMessage.DISCONNECT_OPERATION), ErrorMessage)
    assert stream.read_to_end(5)
    assert is_disconnect(stream.frames()[-1])


def test_close_command_without_a_stream_is_harmless(messaging):
    client = messaging.flex("streaming")
    client.ping()
    stream = RawStream("127.0.0.1", messaging.port, client.dsid)  # opened ...
    stream.next_frame()
    status, _, body = RawStream.close_command(stream, "not-a-connection")
    assert status == 400
    stream.close_command()
    assert stream.read_to_end()
    status, _, body = stream.close_command()  # ... closed already
    assert status == 200 and body == b""
    stream.close()


@pytest.mark.parametrize("dsid", ["", "nil", "never-issued"])
def test_open_needs_a_connected_dsid(messaging, dsid):
    stream = messaging.stream(dsid)
    assert stream.status == 400
    assert stream.headers["content-type"].startswith("text/plain")
    assert b"Traceback" not in stream.body()


def test_unknown_stream_command_and_get_are_refused(messaging):
    client = messaging.flex("streaming")
    client.ping()
    status, _, _ = client.post(f"DSId={client.dsid}".encode(), "/streaming?command=bogus",
                               "application/x-www-form-urlencoded")
    assert status == 400
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", messaging.port, timeout=TIMEOUT)
    try:
        conn.request("GET", f"/streaming?command=open&DSId={client.dsid}")
        response = conn.getresponse()
        response.read()
        assert response.status == 405
    finally:
        conn.close()


def test_one_stream_per_connection(messaging):
    client, _, stream = open_stream(messaging)
    second = messaging.stream(client.dsid)
    assert second.status == 400
    second.body()
    stream.close_command()
    assert stream.read_to_end()
    third = messaging.stream(client.dsid)
    assert third.status == 200


def test_max_streams_refuses_with_503_and_frees_the_slot_when_a_stream_ends(serve_messaging):
    channel_set = serve_messaging.build()
    channel_set.mapChannel(serve_messaging.transport.StreamingChannel(
        "one", heart_interval=HEART, max_streams=1))
    served = serve_messaging(channel_set=channel_set)
    _, _, first = open_stream(served, channel="one")
    other = served.flex("one")
    other.ping()
    refused = served.stream(other.dsid, "/one")
    assert refused.status == 503
    refused.body()
    first.close_command()
    assert first.read_to_end()
    assert wait_until(lambda: served.stream(other.dsid, "/one").status == 200, 3, 0.1)


def test_idle_timeout_ends_a_stream_without_messages(serve_messaging):
    channel_set = serve_messaging.build()
    channel_set.mapChannel(serve_messaging.transport.StreamingChannel(
        "idle", heart_interval=100, idle_timeout=400))
    served = serve_messaging(channel_set=channel_set)
    started = time.monotonic()
    _, _, stream = open_stream(served, channel="idle")
    assert stream.read_to_end(5)
    assert 0.3 < time.monotonic() - started < 3
    assert is_disconnect(stream.frames()[-1])


def test_secure_streaming_needs_a_login(serve_messaging):
    served = serve_messaging(secure=True)
    client = served.flex("streaming")
    client.ping()
    refused = served.stream(client.dsid)
    assert refused.status == 403
    refused.body()
    client.login("correct", "correct")
    client.subscribe("chat")
    stream = served.stream(client.dsid)
    assert stream.status == 200
    assert isinstance(stream.next_frame(), AcknowledgeMessage)
    served.channel_set.publishObject("for members", "chat")
    assert stream.next_frame().body == "for members"


def test_open_streams_never_block_other_requests(messaging):
    streams = [open_stream(messaging)[2] for _ in range(3)]
    other = messaging.flex()
    for n in range(5):
        started = time.monotonic()
        assert other.call("svc", "echo", n).body == n
        assert time.monotonic() - started < 1
    messaging.channel_set.publishObject("to all", "chat")
    assert [s.next_frame().body for s in streams] == ["to all"] * 3


def test_amfast_client_message_stream(messaging):
    receiver = RemotingService(messaging.url("/streaming"), timeout=TIMEOUT)
    client_id = receiver.subscribe("chat")
    stream = receiver.stream()
    assert stream.stream_id == receiver.client_id
    got = []

    def read():
        for message in stream:
            got.append(message)
            if len(got) >= 5:  # bounded
                break

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    producer = RemotingService(messaging.url("/amf"), timeout=TIMEOUT)
    for n in range(3):
        producer.publish("chat", n)
    assert wait_until(lambda: len(got) >= 3, 5)
    stream.close()
    reader.join(5)
    assert not reader.is_alive(), "iteration ends after the server's DISCONNECT"
    assert [m.body for m in got] == [0, 1, 2]
    assert {m.clientId for m in got} == {client_id}
    producer.close()
    receiver.close()


def test_a_busy_stream_keeps_its_connection_alive(serve_messaging):
    served = serve_messaging(connection_params={"timeout": 400}, clean_freq=50, heart=10000)
    _, _, stream = open_stream(served)
    producer = served.flex()
    producer.ping()
    for n in range(24):  # 1.2 s of messages every 50 ms: three connection timeouts
        producer.publish("chat", n)  # each request also gives the lazy cleaner a chance
        producer.ping()
        stream.read_for(0.05)
    stream.read_for(0.2)
    frames = stream.frames()
    assert not any(is_disconnect(f) for f in frames), "the stream was ended"
    assert [f.body for f in frames[1:]] == list(range(24))
