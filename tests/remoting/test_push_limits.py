"""Limits on the push paths against a hostile client (issue 7, item 5).

* ``StreamingWsgiChannel(max_streams=...)``: past it, 503; a racing burst of opens never
  gets more; a client that vanishes without ``?command=close`` frees its slot.
* ``StreamingWsgiChannel(idle_timeout=ms)``: a stream with nothing to send ends, messages
  keep it open, and its slot is freed.
* ``HttpChannel(max_waiting_polls=...)``: past it a long-poll is answered at once with
  ``DSPollWait``; slots come back when polls return, including those of vanished clients.
* ``SubscriptionManager(max_messages=...)``: each topic's log holds at most that many
  messages; past it the oldest are dropped, so a subscriber that polls too rarely gets the
  newest ``max_messages`` (in order) and never more.

test_streaming.py covers the single-client cases (503 then a freed slot after a close,
idle timeout, one stream per connection) and test_messaging_http.py the first DSPollWait;
this module adds bursts, vanishing clients and the memory the logs may hold.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from amfast.remoting.flex_messages import CommandMessage, ErrorMessage
from tests.remoting.conftest import (
    TIMEOUT,
    FlexClient,
    build_messaging_channel_set,
    polled,
    wait_until,
)

MAX_STREAMS = 3
MAX_WAITING = 2
#: How long the /busy channel holds a poll (ms).
BUSY_WAIT = 1000


def build_limited_channel_set(serve_messaging, **options):
    """The conftest channel set plus ``/three`` (max_streams=3), ``/idle`` (idle_timeout
    500 ms) and ``/busy`` (long-polls of 1 s, max_waiting_polls=2)."""
    channel_set = serve_messaging.build(**options)
    transport = serve_messaging.transport
    channel_set.mapChannel(transport.StreamingChannel("three", heart_interval=100,
                                                      max_streams=MAX_STREAMS, poll_interval=100))
    channel_set.mapChannel(transport.StreamingChannel("idle", heart_interval=100,
                                                      idle_timeout=500, poll_interval=100))
    channel_set.mapChannel(transport.Channel("busy", wait_interval=BUSY_WAIT, poll_interval=100,
                                             max_waiting_polls=MAX_WAITING))
    return channel_set


@pytest.fixture
def limited(serve_messaging):
    return serve_messaging(channel_set=build_limited_channel_set(serve_messaging))


def connected(served, channel: str = "amf") -> FlexClient:
    client = served.flex(channel)
    client.ping()
    return client


def open_streams(served, path: str, count: int) -> list:
    """``count`` clients opening a stream on ``path`` at once: their RawStreams."""
    clients = [connected(served) for _ in range(count)]
    streams: list = [None] * count
    barrier = threading.Barrier(count, timeout=TIMEOUT)

    def open_one(index: int) -> None:
        barrier.wait()
        streams[index] = served.stream(clients[index].dsid, path)

    threads = [threading.Thread(target=open_one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert all(s is not None for s in streams)
    return streams


def stream_slots(served, name: str) -> int:
    return len(served.channel_set.getChannel(name)._streams)


# ============================================================================= max_streams


def test_a_burst_of_opens_never_gets_more_than_max_streams(limited):
    streams = open_streams(limited, "/three", 8)
    statuses = sorted(s.status for s in streams)
    assert statuses == [200] * MAX_STREAMS + [503] * (8 - MAX_STREAMS)
    assert stream_slots(limited, "three") == MAX_STREAMS
    for stream in streams:
        if stream.status == 503:
            assert b"Traceback" not in stream.body()
    # The other clients are served meanwhile.
    started = time.monotonic()
    assert limited.flex().call("svc", "echo", 1).body == 1
    assert time.monotonic() - started < 1


def test_clients_that_vanish_free_their_stream_slots(limited):
    """Streams whose clients close the socket without ?command=close: the next heartbeat
    fails, the server ends the stream and frees the slot, so new clients get in."""
    streams = open_streams(limited, "/three", MAX_STREAMS)
    assert all(s.status == 200 for s in streams)
    for stream in streams:
        assert stream.next_frame(TIMEOUT).correlationId == "open"
        stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
        stream.close()  # a reset: the client is gone
    assert wait_until(lambda: stream_slots(limited, "three") == 0, 5.0), \
        limited.channel_set.getChannel("three")._streams
    again = open_streams(limited, "/three", MAX_STREAMS)
    assert [s.status for s in again] == [200] * MAX_STREAMS


def test_a_disconnect_command_frees_the_slot_of_an_open_stream(limited):
    client = connected(limited)
    stream = limited.stream(client.dsid, "/three")
    assert stream.status == 200 and stream.next_frame(TIMEOUT).correlationId == "open"
    assert stream_slots(limited, "three") == 1
    assert not isinstance(client.command(CommandMessage.DISCONNECT_OPERATION), ErrorMessage)
    assert stream.read_to_end(5)
    assert wait_until(lambda: stream_slots(limited, "three") == 0, 3.0)


# ============================================================================= idle_timeout


def test_messages_keep_an_idle_timeout_stream_open_and_its_end_frees_the_slot(limited):
    client = connected(limited)
    client.subscribe("chat")
    stream = limited.stream(client.dsid, "/idle")
    assert stream.status == 200 and stream.next_frame(TIMEOUT).correlationId == "open"
    started = time.monotonic()
    for n in range(5):  # a message every 0.25 s for 1.25 s: longer than idle_timeout
        limited.channel_set.publishObject(n, "chat")
        frame = stream.next_frame(TIMEOUT)
        assert frame is not None and frame.body == n, "the stream ended while busy"
        time.sleep(0.25)
    assert time.monotonic() - started > 1.0
    assert stream.read_to_end(3), "the stream did not end once idle"
    assert stream.frames()[-1].operation == CommandMessage.DISCONNECT_OPERATION
    assert wait_until(lambda: stream_slots(limited, "idle") == 0, 3.0)
    assert limited.stream(client.dsid, "/idle").status == 200, "the slot was not freed"


# ============================================================================= max_waiting_polls


def poll_in_thread(client: FlexClient, results: list) -> threading.Thread:
    def run():
        started = time.monotonic()
        reply = client.poll()
        results.append((reply, time.monotonic() - started))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def waiting(served, name: str = "busy") -> int:
    return len(served.channel_set.getChannel(name)._waiting)


def test_polls_past_max_waiting_polls_are_answered_at_once_with_a_poll_wait(limited):
    clients = [connected(limited, "busy") for _ in range(6)]
    for client in clients:
        client.subscribe("quiet")
    held: list = []
    threads = [poll_in_thread(c, held) for c in clients[:MAX_WAITING]]
    assert wait_until(lambda: waiting(limited) == MAX_WAITING, TIMEOUT)
    for client in clients[MAX_WAITING:]:
        started = time.monotonic()
        reply = client.poll()
        assert time.monotonic() - started < 1, "a poll past the limit was held"
        assert not isinstance(reply, ErrorMessage), (reply.faultCode, reply.faultString)
        assert polled(reply) == []
        wait = reply.headers.get(CommandMessage.POLL_WAIT_HEADER)
        assert isinstance(wait, (int, float)) and wait > 0
    assert waiting(limited) == MAX_WAITING
    for thread in threads:
        thread.join(TIMEOUT)
    assert [round(t) for _, t in held] == [round(BUSY_WAIT / 1000)] * MAX_WAITING
    # The slots are back: polls wait again.
    assert waiting(limited) == 0
    again: list = []
    thread = poll_in_thread(clients[-1], again)
    assert wait_until(lambda: waiting(limited) == 1, TIMEOUT)
    limited.channel_set.publishObject("wake", "quiet")
    thread.join(TIMEOUT)
    assert [m.body for m in polled(again[0][0])] == ["wake"]


def test_a_vanished_long_poll_gives_its_slot_back(limited):
    """A client that sends a long-poll and closes its socket: the slot is back once the
    wait ends, and the waiting set never grows past the limit meanwhile."""
    clients = [connected(limited, "busy") for _ in range(MAX_WAITING)]
    for client in clients:
        client.subscribe("quiet")
    socks = []
    for client in clients:
        raw = client.encode(CommandMessage(operation=CommandMessage.POLL_OPERATION,
                                           headers={"DSId": client.dsid}))
        sock = socket.create_connection(("127.0.0.1", limited.port), timeout=TIMEOUT)
        sock.sendall(b"POST /busy HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amf\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(raw), raw))
        socks.append(sock)
    assert wait_until(lambda: waiting(limited) == MAX_WAITING, TIMEOUT)
    for sock in socks:
        sock.close()
    assert waiting(limited) <= MAX_WAITING
    assert wait_until(lambda: waiting(limited) == 0, BUSY_WAIT / 1000 + 2)
    held: list = []
    thread = poll_in_thread(clients[0], held)
    assert wait_until(lambda: waiting(limited) == 1, TIMEOUT)
    limited.channel_set.publishObject("wake", "quiet")
    thread.join(TIMEOUT)
    assert [m.body for m in polled(held[0][0])] == ["wake"]


# ============================================================================= topic logs


def test_a_lagging_subscriber_gets_the_newest_max_messages_in_order(serve_messaging):
    served = serve_messaging(max_messages=5)
    consumer, bystander = connected(served), connected(served)
    consumer.subscribe("chat")
    bystander.subscribe("other")
    producer = connected(served)
    for n in range(12):
        assert not isinstance(producer.publish("chat", n), ErrorMessage)
    producer.publish("other", "kept")
    assert [m.body for m in consumer.poll_messages()] == [7, 8, 9, 10, 11]
    assert [m.body for m in bystander.poll_messages()] == ["kept"]
    log = served.channel_set.subscription_manager._logs["chat"]
    assert len(log.entries) <= 5


def test_a_long_ttl_does_not_keep_more_than_max_messages(serve_messaging):
    served = serve_messaging(max_messages=5)
    consumer, producer = connected(served), connected(served)
    consumer.subscribe("chat")
    for n in range(20):
        producer.publish("chat", "x" * 1000, timeToLive=10 ** 12)
    assert len(served.channel_set.subscription_manager._logs["chat"].entries) <= 5
    assert len(consumer.poll_messages()) == 5


def test_publishing_to_many_destinations_nobody_reads_keeps_memory_bounded(serve_messaging):
    """max_messages bounds each topic's log, not their number: messages for destinations
    nobody subscribes to must not be kept (they once were, a log per name, forever)."""
    served = serve_messaging()
    producer = connected(served)
    for n in range(300):
        assert not isinstance(producer.publish(f"dest-{n}", "x" * 100), ErrorMessage)
    manager = served.channel_set.subscription_manager
    stored = sum(len(log.entries) for log in manager._logs.values())
    assert stored <= 50 and len(manager._logs) <= 50, (len(manager._logs), stored)


# ============================================================================= max_held


@pytest.mark.parametrize("threads", [4, 16])
def test_under_waitress_held_requests_never_starve_rpc(threads):
    """Under waitress's default 4 worker threads and under 16, streams and long-polls are
    held at most ``max_held`` at once (WsgiChannelSet's default: 2): RPC keeps being
    answered, the next long-polls get DSPollWait and the next stream opens 503."""
    pytest.importorskip("waitress")
    from amfast.remoting.wsgi_channel import WsgiChannelSet
    from tests.support.servers import serving
    from tests.remoting.conftest import MessagingServer

    channel_set = build_messaging_channel_set(max_held=WsgiChannelSet.DEFAULT_MAX_HELD)
    with serving("waitress", threads) as serve:
        served = MessagingServer(serve(channel_set), channel_set)
        try:
            attempts = threads + 2
            pollers = [connected(served, "longpoll") for _ in range(attempts)]
            for poller in pollers:
                poller.subscribe("push")
            results: list = []
            poll_threads = [poll_in_thread(p, results) for p in pollers]
            streamer = connected(served)
            streamer.subscribe("push")
            assert wait_until(lambda: len(results) >= attempts - channel_set.max_held
                              and channel_set.held == channel_set.max_held, TIMEOUT)
            refused = [reply for reply, _ in results]
            assert all(r.headers.get(CommandMessage.POLL_WAIT_HEADER) for r in refused)
            stream = served.stream(streamer.dsid)
            assert stream.status == 503
            for n in range(5):
                started = time.monotonic()
                reply = connected(served).call("svc", "echo", n)
                assert reply.body == n and time.monotonic() - started < 1
            served.channel_set.publishObject("to the held", "push")
            for thread in poll_threads:
                thread.join(TIMEOUT)
            delivered = [polled(reply) for reply, _ in results if polled(reply)]
            assert len(delivered) == channel_set.max_held
            assert wait_until(lambda: channel_set.held == 0, TIMEOUT)
        finally:
            served.close_streams()
