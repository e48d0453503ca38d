"""What only the ASGI channel set does: lifespan, slow and vanished clients, worker threads,
coroutine targets, mounting.  The HTTP suites run against it too (the ``uvicorn`` kind)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

pytest.importorskip("uvicorn")

from amfast import remoting  # noqa: E402
from amfast.remoting.asgi_channel import (AsgiChannel, AsgiChannelSet,  # noqa: E402
                                          StreamingAsgiChannel)
from amfast.remoting.flex_messages import CommandMessage, ErrorMessage  # noqa: E402
from tests.remoting.conftest import (TIMEOUT, MessagingServer, build_messaging_channel_set,  # noqa: E402,E501
                                     polled, wait_until)
from tests.support.flex import FlexClient  # noqa: E402
from tests.support.servers import ASGI, RunningServer  # noqa: E402
from tests.support.streams import RawStream  # noqa: E402


@pytest.fixture
def served():
    running: list = []

    def serve(channel_set):
        server = MessagingServer(RunningServer("uvicorn", channel_set), channel_set)
        running.append(server)
        return server

    yield serve
    for server in running:
        server.close_streams()
        server.server.stop()


def test_at_shutdown_streams_get_their_disconnect_and_held_polls_an_answer(served):
    channel_set = build_messaging_channel_set(transport=ASGI, long_wait=30000)
    server = served(channel_set)
    streamer = server.flex()
    streamer.subscribe("chat")
    stream = server.stream(streamer.dsid)
    assert stream.next_frame(TIMEOUT).correlationId == "open"
    poller = server.flex("longpoll")
    poller.subscribe("chat")
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("reply", poller.poll()),
                              daemon=True)
    thread.start()
    assert wait_until(lambda: channel_set.held == 2, TIMEOUT)
    assert wait_until(lambda: channel_set.holding() == {
        "held": 2, "held_polls": 1, "open_streams": 1, "waiting_connections": 2,
        "tasks": 2, "pending_writes": 0}, TIMEOUT), channel_set.holding()
    started = time.monotonic()
    server.server.stop()  # uvicorn: graceful shutdown, then lifespan shutdown
    thread.join(TIMEOUT)
    last = None
    while (frame := stream.next_frame(TIMEOUT)) is not None:
        last = frame
    assert isinstance(last, CommandMessage) and \
        last.operation == CommandMessage.DISCONNECT_OPERATION
    assert polled(result["reply"]) == [] and not isinstance(result["reply"], ErrorMessage)
    assert time.monotonic() - started < RunningServer.GRACE + 3
    assert channel_set.held == 0 and not channel_set.started
    assert channel_set.holding() == {"held": 0, "held_polls": 0, "open_streams": 0,
                                     "waiting_connections": 0, "tasks": 0, "pending_writes": 0}


def test_a_client_that_stops_reading_loses_its_stream_and_memory_stays_bounded(served):
    channel_set = build_messaging_channel_set(transport=ASGI)
    stalling = StreamingAsgiChannel("stalling", heart_interval=60000, write_timeout=500)
    channel_set.mapChannel(stalling)
    server = served(channel_set)
    reader = server.flex()
    reader.subscribe("big")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    form = f"DSId={reader.dsid}".encode()
    sock.sendall(b"POST /stalling?command=open&version=1 HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(form), form))
    assert wait_until(lambda: len(stalling._streams) == 1, TIMEOUT)
    payload = "x" * 50000
    started = time.monotonic()
    for n in range(400):  # 20 MB for a client that reads nothing
        channel_set.publishObject({"n": n, "payload": payload}, "big")
        if not stalling._streams:
            break
        time.sleep(0.002)
    assert wait_until(lambda: not stalling._streams, TIMEOUT), "the stalled stream is still open"
    assert time.monotonic() - started < 8
    assert channel_set.held == 0
    sock.close()
    # The server still serves.
    assert server.flex().call("svc", "echo", "after").body == "after"


def test_a_vanished_client_frees_its_stream_slot_at_once(served):
    channel_set = build_messaging_channel_set(transport=ASGI, heart=60000)
    server = served(channel_set)
    client = server.flex()
    client.ping()
    stream = RawStream("127.0.0.1", server.port, client.dsid)
    assert stream.next_frame(TIMEOUT).correlationId == "open"
    assert channel_set.held == 1
    stream.close()
    assert wait_until(lambda: channel_set.held == 0, 2)


def test_blocking_targets_run_in_worker_threads_and_never_stall_the_loop(served):
    channel_set = AsgiChannelSet(workers=2)
    channel_set.mapChannel(AsgiChannel("amf"))
    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(lambda: time.sleep(1.0) or "slept", "sleep"))
    service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))

    async def quick(value):
        await asyncio.sleep(0)
        return ["async", value]

    service.mapTarget(remoting.CallableTarget(quick, "quick"))
    channel_set.service_mapper.mapService(service)
    server = served(channel_set)
    sleeper = threading.Thread(target=lambda: server.flex().call("svc", "sleep"), daemon=True)
    sleeper.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert server.flex().call("svc", "quick", 1).body == ["async", 1]
    assert server.flex().call("svc", "echo", 2).body == 2
    assert time.monotonic() - started < 0.8, "a blocking target stalled the others"
    sleeper.join(TIMEOUT)


def test_the_worker_pool_is_bounded(served):
    channel_set = AsgiChannelSet(workers=2)
    channel_set.mapChannel(AsgiChannel("amf"))
    active, peak = [0], [0]
    lock = threading.Lock()

    def busy():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1
        return True

    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(busy, "busy"))
    channel_set.service_mapper.mapService(service)
    server = served(channel_set)
    callers = [threading.Thread(target=lambda: server.flex().call("svc", "busy"), daemon=True)
               for _ in range(5)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(TIMEOUT)
    assert peak[0] == 2


def test_coroutines_publish_without_blocking_the_loop(served):
    channel_set = build_messaging_channel_set(transport=ASGI)

    async def announce(text):
        await channel_set.publishObjectAsync({"text": text}, "chat")
        return True

    service = remoting.Service("chat")
    service.mapTarget(remoting.CallableTarget(announce, "announce"))
    channel_set.service_mapper.mapService(service)
    server = served(channel_set)
    listener = server.flex()
    listener.subscribe("chat")
    assert server.flex().call("chat", "announce", "hello").body is True
    assert [m.body for m in listener.poll_messages()] == [{"text": "hello"}]


def test_mounted_in_starlette_beside_json_routes():
    starlette = pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    assert starlette
    channel_set = build_messaging_channel_set(transport=ASGI)

    async def status(request):
        return JSONResponse({"connections": channel_set.connection_manager.getConnectionCount(
            "amf")})

    app = Starlette(routes=[Route("/status", status), Mount("/flex", app=channel_set)],
                    lifespan=None)
    server = RunningServer("uvicorn", app)
    try:
        client = FlexClient(server.base_url + "/flex")
        assert client.call("svc", "echo", "mounted").body == "mounted"
        import json
        import urllib.request

        with urllib.request.urlopen(server.url("/status"), timeout=TIMEOUT) as response:
            assert json.loads(response.read()) == {"connections": 1}
        client.close()
    finally:
        server.stop()


def test_websockets_are_refused():
    channel_set = AsgiChannelSet()
    sent: list = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    asyncio.run(channel_set({"type": "websocket", "path": "/amf"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1000}]
