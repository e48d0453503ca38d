"""Push at scale: thousands of streaming or long-polling subscribers on one server process.

Run it with ``make bench-push`` (``BENCH_ARGS="--quick"`` for a short try), or::

    .venv/bin/python bench/bench_push.py [--quick] [--sizes 1000,5000,10000] [--seconds 30]
        [--modes streaming,longpoll] [--servers asgi,wsgi] [--wsgi-sizes 1000,2000]
    .venv/bin/python bench/bench_push.py --soak [--seconds 600] [--soak-clients 2000]
        [--churn 20]

For each N, on 127.0.0.1, with real TCP connections:

* the server runs in a subprocess: ``asgi`` is the ``AsgiChannelSet`` under uvicorn (uvloop,
  httptools, access log off); ``wsgi`` is the ``WsgiChannelSet`` on amfast's threaded
  development server (a thread per request), at the N it can hold (``--wsgi-sizes``).  Both
  have the in-memory managers and three channels: ``/amf`` (polling: set-up and publishing),
  ``/streaming`` (heart_interval 30 s) and ``/longpoll`` (wait_interval 30 s), their
  ``max_streams`` / ``max_waiting_polls`` above N.  With ``asgi`` streaming comes ``bare``,
  the ceiling: a tiny asyncio server (uvloop) that accepts the same connections and writes
  one frame of the same size to every stream on each broadcast, so that server CPU per
  delivery has a reference measured in the same run.  ``asgi-asyncio`` is the same ASGI
  server on asyncio's own event loop instead of uvloop (compare the set-up times).
* N subscribers are set up, one SUBSCRIBE request each (DSId "nil": the ack carries the new
  DSId; no ping, so messages come in the full form, not the small one), a bounded number in
  flight; then they open their streams, or send their first poll, from load-generator
  processes (uvloop, ``asyncio.Protocol``).  Long-pollers are primed with one broadcast, so
  that every poll is held when the window starts.  None of this is measured.
* one publisher (this process) broadcasts for ``--seconds``: 10 messages a second to
  streams, 1 a second to long-pollers, each body a marker, a sequence number and its send
  time (``time.monotonic()``, one clock for every process of the machine).  It keeps to
  its schedule and gives up when a publish is unanswered for 10 s or the broadcast runs
  over twice its time (then only what was published is expected); deliveries are awaited
  up to 15 s after the last publish.
* most subscribers count deliveries by counting the marker in what they read (``bytes.count``
  per read, with care for a marker split across reads) and parse nothing else; probe
  subscribers spread across the subscription order (the first and the last included), in a
  process of their own, read frames with ``FrameReader``, decode every message and record
  publish-to-delivery latency.

Per N the table gives deliveries/expected, median/p99/max latency (probes), server CPU time
per delivery and its CPU use (``/proc/<pid>/stat`` utime+stime from the first publish to the
last delivery), the server's CPU use while the N subscribers wait and nothing is published
(over 2 s before the window), server RSS per connected subscriber ((VmRSS with N connected -
VmRSS before) / N) and the busiest load-generator process's CPU use (near 100%: the client,
not the server, was the limit).  A size that could not be set up in time says so instead.
``--profile`` samples the server with py-spy during each window and prints where its time
goes, per delivery.

``--soak`` (``make soak-push``) runs streams and long-pollers together for a long time,
with churn (see "the soak" below).

Targets (asgi, N = 10,000): streaming at 10 broadcasts/s, every message delivered, p99 <=
100 ms, server CPU <= 10 us per delivery, <= 20 KB RSS per connection; long-polling at 1
broadcast/s, every message delivered, p99 <= 500 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (DECODER, ROOT, Dechunker, HttpConn, ServerProcess,  # noqa: E402
                     cpu_seconds, flex_packet, flex_reply, free_port, print_table,
                     raise_nofile, rss_kb)

from amfast.remoting import Message, Packet  # noqa: E402
from amfast.remoting.client import (ping_message, polled_messages,  # noqa: E402
                                    publish_message, subscribe_message)
from amfast.remoting.endpoint import AmfEndpoint  # noqa: E402
from amfast.remoting.flex_messages import (AbstractMessage, AcknowledgeMessage,  # noqa: E402
                                           AsyncMessage, CommandMessage, ErrorMessage)
from amfast.remoting.framing import KICKSTART, FrameReader, frame  # noqa: E402

TOPIC = "push"
#: Every published body starts with it; bulk subscribers count it in the bytes they read.
MARKER = "~push~"
MARK = MARKER.encode("ascii")
#: The body of the broadcast that primes long-pollers (not counted as a delivery).
PRIME = "~prime~"
PRIME_MARK = PRIME.encode("ascii")
RATES = {"streaming": 10.0, "longpoll": 1.0}
PATHS = {"streaming": "/streaming", "longpoll": "/longpoll"}
LABELS = {"asgi": "asgi (uvicorn)", "asgi-asyncio": "asgi (uvicorn, asyncio loop)",
          "bare": "bare asyncio (ceiling)",
          "wsgi": "wsgi (threaded dev server)"}
PROBES = 50
#: SUBSCRIBE requests in flight during set-up, and stream opens / first polls in flight
#: per load-generator process.
SETUP_IN_FLIGHT = {"asgi": 64, "asgi-asyncio": 64, "wsgi": 32}
OPEN_IN_FLIGHT = 256
#: Load-generator processes besides the probes': the cores left beside the server's.
BULK_PROCESSES = max(1, min(4, (os.cpu_count() or 2) - 1))
LISTEN_BACKLOG = 8192

# Every wait is bounded (seconds).
SERVER_START = 20.0
SETUP_BASE, SETUP_PER_SUB = 30.0, 0.01
OPEN_BASE, OPEN_PER_SUB = 20.0, 0.005
PRIME_TIMEOUT = 30.0
IDLE_SECONDS = 2.0
SETTLE_MAX = 15.0
#: A server using less than this share of a core is done with the set-up's requests.
QUIET_CPU = 0.25
DRAIN_TIMEOUT = 15.0
PUBLISH_TIMEOUT = 10.0
ASK_TIMEOUT = 10.0

TARGET_N = 10000
TARGETS = {
    "streaming": {"p99_ms": 100.0, "cpu_us": 10.0, "rss_kb": 20.0},
    "longpoll": {"p99_ms": 500.0},
}


# ============================================================================= the servers


def build_channel_set(kind: str, capacity: int, **channel_set_args):
    """The benchmark's channel set for ``asgi`` or ``wsgi``: in-memory managers, ``/amf``,
    ``/streaming`` and ``/longpoll``, holding up to ``capacity`` streams or polls."""
    if kind == "asgi":
        from amfast.remoting.asgi_channel import (AsgiChannel as Channel,
                                                  AsgiChannelSet as ChannelSet,
                                                  StreamingAsgiChannel as StreamingChannel)
    else:
        from amfast.remoting.wsgi_channel import (StreamingWsgiChannel as StreamingChannel,
                                                  WsgiChannel as Channel,
                                                  WsgiChannelSet as ChannelSet)
    # The threaded server has a thread per request: the WSGI channel set may hold them all.
    channel_set = ChannelSet(max_held=capacity, **channel_set_args)
    channel_set.mapChannel(Channel("amf"))
    channel_set.mapChannel(StreamingChannel("streaming", heart_interval=30000,
                                            max_streams=capacity))
    channel_set.mapChannel(Channel("longpoll", wait_interval=30000,
                                   max_waiting_polls=capacity))
    return channel_set


def serve(kind: str, port: int, capacity: int) -> None:
    raise_nofile()
    exit_with_parent()
    if kind in ("asgi", "asgi-asyncio"):
        import uvicorn
        uvicorn.Server(uvicorn.Config(
            build_channel_set("asgi", capacity), host="127.0.0.1", port=port,
            loop="asyncio" if kind == "asgi-asyncio" else "uvloop",
            http="httptools", lifespan="on", access_log=False, log_level="warning",
            timeout_graceful_shutdown=2, backlog=LISTEN_BACKLOG)).run()
    elif kind == "soak":
        import uvicorn
        uvicorn.Server(uvicorn.Config(
            SoakApp(capacity), host="127.0.0.1", port=port, loop="uvloop",
            http="httptools", lifespan="on", access_log=False, log_level="warning",
            timeout_graceful_shutdown=2, backlog=LISTEN_BACKLOG)).run()
    elif kind == "wsgi":
        from amfast.remoting.wsgi_server import make_server
        make_server(build_channel_set("wsgi", capacity), "127.0.0.1", port).serve_forever()
    else:
        import uvloop
        uvloop.run(serve_bare(port, capacity))


def exit_with_parent() -> None:
    """End this process when the benchmark that started it is gone (killed, crashed)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# -- the ceiling: a bare asyncio server that only writes frames -------------------------


def http_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of HTTP/1.1 chunked transfer encoding (as uvicorn sends)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class BareServer:
    """Streams in slots by DSId (set-up order: the write order matches amfast's); a POST to
    ``/amf`` with an AsyncMessage writes one frame, encoded once, to every stream."""

    STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amf\r\n"
                   b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")

    def __init__(self, capacity: int):
        self.endpoint = AmfEndpoint()
        self.slots: list = [None] * capacity

    def frame(self, msg) -> bytes:
        return frame(self.endpoint.encode(msg, amf3=True))

    def handle(self, transport, target: bytes, body: bytes) -> int | None:
        """Answer one request; the slot of a stream it opened."""
        if target.startswith(b"/streaming?") and b"command=open" in target:
            slot = int(body.partition(b"DSId=")[2])
            self.slots[slot] = transport
            opened = AcknowledgeMessage(body=str(slot), correlationId="open")
            transport.write(self.STREAM_HEAD + http_chunk(self.frame(opened) + KICKSTART))
            return slot
        if target != b"/amf":
            transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return None
        msg = self.endpoint.decodePacket(body).messages[0].body[0]
        if type(msg) is AsyncMessage:
            published = msg.forPublication().personalize("bare")
            published.timestamp = time.time() * 1000
            chunk = http_chunk(self.frame(published))
            for stream in self.slots:
                if stream is not None:
                    stream.write(chunk)
        ack = AcknowledgeMessage(correlationId=msg.messageId, headers={"DSId": "bare"})
        reply = self.endpoint.encodePacket(
            Packet(Packet.FLASH_9, [], [Message("/1/onResult", "", ack)]))
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amf\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))
        return None


class BareProtocol(asyncio.Protocol):
    def __init__(self, server: BareServer):
        self.server = server
        self.buffer = b""
        self.slot: int | None = None
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.transport.close()
                return
            head = self.buffer[:end]
            found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            length = int(found.group(1)) if found else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            target = head.split(b" ", 2)[1]
            slot = self.server.handle(self.transport, target, body)
            if slot is not None:
                self.slot = slot

    def connection_lost(self, exc) -> None:
        if self.slot is not None:
            self.server.slots[self.slot] = None


async def serve_bare(port: int, capacity: int) -> None:
    server = BareServer(capacity)
    listener = await asyncio.get_running_loop().create_server(
        lambda: BareProtocol(server), "127.0.0.1", port, backlog=LISTEN_BACKLOG)
    async with listener:
        await listener.serve_forever()


# ============================================================================= load generators


class Link(asyncio.Protocol):
    """One TCP connection of a subscriber (a long-poller may use several in turn)."""

    __slots__ = ("owner", "transport")

    def __init__(self, owner: "Subscriber"):
        self.owner = owner
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.owner.link_made(self)

    def data_received(self, data: bytes) -> None:
        self.owner.received(data)

    def connection_lost(self, exc) -> None:
        self.owner.link_lost(self)


class Subscriber:
    """A subscriber's client side: sends ``request`` on each new connection and counts the
    messages received (``count``).  ``ready`` is done once it is connected and set up."""

    #: Answers without a message, connections dropped, latencies (long-pollers, probes).
    empty = drops = 0
    latencies: tuple | list = ()

    def __init__(self, port: int, request: bytes):
        self.port = port
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.ready = self.loop.create_future()
        self.link: Link | None = None
        self.count = 0
        self.failure: str | None = None
        self.closing = False

    async def open(self) -> None:
        await self.loop.create_connection(lambda: Link(self), "127.0.0.1", self.port)
        await self.ready
        if self.failure:
            raise ConnectionError(self.failure)

    def link_made(self, link: Link) -> None:
        self.link = link
        link.transport.write(self.request)

    def link_lost(self, link: Link) -> None:
        if link is self.link:
            self.link = None
            if not self.closing:
                self.lost()

    @property
    def primed(self) -> bool:
        """Ready to receive what the window publishes."""
        return self.ready.done() and not self.failure

    def lost(self) -> None:
        self.fail("the server closed the connection")

    def fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        if not self.ready.done():
            self.ready.set_result(None)
        self.close()

    def close(self) -> None:
        self.closing = True
        if self.link is not None:
            self.link.transport.close()

    def received(self, data: bytes) -> None:
        raise NotImplementedError


def response_head(buffer: bytes) -> tuple | None:
    """``(status, content length or None, keep-alive, head length)`` of the HTTP response
    at the start of ``buffer``; None while its head is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].lower()
    found = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
    keep_alive = head.startswith(b"http/1.1") and b"\r\nconnection: close" not in head
    return (int(head[9:12]), int(found.group(1)) if found else None, keep_alive, end + 4)


class StreamSubscriber(Subscriber):
    """An open stream: ready once its first body bytes (the "open" frame) arrived."""

    def __init__(self, port: int, request: bytes):
        Subscriber.__init__(self, port, request)
        self.head = b""  # None once the response head was read

    def received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            parsed = response_head(self.head)
            if parsed is None:
                if len(self.head) > 65536:
                    self.fail("response head over 64 KB")
                return
            status, _, _, size = parsed
            if status != 200:
                self.fail(f"stream open: HTTP {status}")
                return
            self.chunked = b"transfer-encoding: chunked" in self.head[:size].lower()
            data, self.head = self.head[size:], None
            if not data:
                return
        if not self.ready.done():
            self.ready.set_result(None)
        self.body(data)

    def lost(self) -> None:
        self.fail("the stream ended")

    def body(self, data: bytes) -> None:
        raise NotImplementedError


class CountingStream(StreamSubscriber):
    """Counts the marker in the bytes it reads; parses nothing else.

    Each broadcast is written in one piece (one HTTP chunk), so chunk headers never
    split a marker; reads may, and the last bytes of the previous read are kept for that.
    """

    KEEP = len(MARK) - 1

    def __init__(self, port: int, request: bytes):
        StreamSubscriber.__init__(self, port, request)
        self.tail = b""

    def body(self, data: bytes) -> None:
        found = data.count(MARK)
        if self.tail:
            # Only a marker that starts in the tail and ends in data fits here.
            found += (self.tail + data[:self.KEEP]).count(MARK)
        self.count += found
        self.tail = data[-self.KEEP:] if len(data) >= self.KEEP else \
            (self.tail + data)[-self.KEEP:]


def delivered_at(body, arrived: float, latencies: list) -> bool:
    """Record a published body's latency; whether it was one (not the priming broadcast)."""
    if isinstance(body, str) and body.startswith(MARKER):
        sent = float(body[len(MARKER):].split(" ", 1)[1])
        latencies.append(arrived - sent)
        return True
    return False


class ProbeStream(StreamSubscriber):
    """Reads every frame (``FrameReader``), decodes every message, records latencies."""

    def __init__(self, port: int, request: bytes):
        StreamSubscriber.__init__(self, port, request)
        self.frames = FrameReader()
        self.dechunker: Dechunker | None = None
        self.latencies: list = []

    def body(self, data: bytes) -> None:
        arrived = time.monotonic()
        if self.chunked:
            if self.dechunker is None:
                self.dechunker = Dechunker()
            data = self.dechunker.feed(data)
        for item in self.frames.feed(data):
            if isinstance(item, bytes):
                msg = DECODER.decode(item, amf3=True)
                if delivered_at(msg.body, arrived, self.latencies):
                    self.count += 1


class LongPoller(Subscriber):
    """Polls, and polls again as soon as an answer came (on a new connection when the
    server closes each, as wsgiref does); ready once the first poll is sent."""

    #: Connections dropped while a poll was out before the subscriber counts as lost.
    MAX_DROPS = 20

    def __init__(self, port: int, request: bytes):
        Subscriber.__init__(self, port, request)
        self.buffer = b""
        self.answers = 0

    def link_made(self, link: Link) -> None:
        self.buffer = b""
        Subscriber.link_made(self, link)
        if not self.ready.done():
            self.ready.set_result(None)

    def received(self, data: bytes) -> None:
        self.buffer += data
        parsed = response_head(self.buffer)
        if parsed is None:
            return
        status, length, keep_alive, size = parsed
        if status != 200 or length is None:
            self.fail(f"poll: HTTP {status}{'' if length is not None else ' without length'}")
            return
        if len(self.buffer) < size + length:
            return
        body, self.buffer = self.buffer[size:size + length], b""
        self.answers += 1
        if not keep_alive:
            link, self.link = self.link, None
            link.transport.close()
        if self.answer(body, time.monotonic()):
            self.poll()
        else:
            # Answered without a message: poll again a little later, as Flex does.
            self.empty += 1
            self.loop.call_later(0.5, self.poll)

    def poll(self) -> None:
        if self.closing:
            return
        if self.link is not None:
            self.link.transport.write(self.request)
        else:
            self.loop.create_task(self.reconnect())

    @property
    def primed(self) -> bool:
        return self.answers > 0

    async def reconnect(self) -> None:
        try:
            await self.loop.create_connection(lambda: Link(self), "127.0.0.1", self.port)
        except OSError as exc:
            self.fail(f"reconnect: {exc!r}")

    def lost(self) -> None:
        self.drops += 1
        if self.drops > self.MAX_DROPS:
            self.fail("connections dropped while polling")
        else:
            self.loop.call_later(0.2, self.poll)

    def answer(self, body: bytes, arrived: float) -> bool:
        """Count the messages of a reply; whether it carried any (the priming one counts)."""
        found = body.count(MARK)
        self.count += found
        return bool(found) or PRIME_MARK in body


class ProbePoller(LongPoller):
    def __init__(self, port: int, request: bytes):
        LongPoller.__init__(self, port, request)
        self.latencies: list = []

    def answer(self, body: bytes, arrived: float) -> bool:
        messages = polled_messages(flex_reply(body))
        self.count += sum(delivered_at(m.body, arrived, self.latencies) for m in messages)
        return bool(messages)


def open_request(port: int, dsid: str) -> bytes:
    form = f"DSId={dsid}".encode()
    return (f"POST /streaming?command=open&version=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n").encode() + form


def poll_request(port: int, dsid: str) -> bytes:
    body = flex_packet(CommandMessage(operation=CommandMessage.POLL_OPERATION,
                                      headers={AbstractMessage.FLEX_CLIENT_ID_HEADER: dsid}))
    return (f"POST /longpoll HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-amf\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class LoadGenerator:
    """The subscribers of one process; answers the benchmark's commands on ``pipe``."""

    def __init__(self, pipe, spec: dict):
        self.pipe = pipe
        self.spec = spec
        self.probe = spec["role"] == "probe"
        self.subscribers: list = []

    def make(self, dsid: str) -> Subscriber:
        port = self.spec["port"]
        if self.spec["mode"] == "streaming":
            kind = ProbeStream if self.probe else CountingStream
            return kind(port, open_request(port, dsid))
        kind = ProbePoller if self.probe else LongPoller
        return kind(port, poll_request(port, dsid))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lifetime_end = time.monotonic() + self.spec["lifetime"]
        self.subscribers = [self.make(dsid) for dsid in self.spec["dsids"]]
        commands: asyncio.Queue = asyncio.Queue()
        loop.add_reader(self.pipe.fileno(), lambda: commands.put_nowait(self.pipe.recv()))
        in_flight = asyncio.Semaphore(OPEN_IN_FLIGHT)

        async def open_one(subscriber: Subscriber) -> None:
            async with in_flight:
                try:
                    await asyncio.wait_for(subscriber.open(), self.spec["open_timeout"])
                except (OSError, asyncio.TimeoutError) as exc:
                    subscriber.fail(f"open: {exc!r}")

        started = time.monotonic()
        opening = asyncio.ensure_future(asyncio.gather(*map(open_one, self.subscribers)))
        await asyncio.wait((opening,), timeout=self.spec["open_timeout"])
        self.pipe.send(dict(self.status(), seq=0, open_s=time.monotonic() - started))
        try:
            while True:
                remaining = lifetime_end - time.monotonic()
                if remaining <= 0 or os.getppid() != self.spec["parent"]:
                    break
                try:
                    seq, command = await asyncio.wait_for(commands.get(), min(remaining, 1.0))
                except asyncio.TimeoutError:
                    continue
                if command == "stop":
                    break
                self.pipe.send(dict(self.status(with_latencies=command == "results"), seq=seq))
        finally:
            opening.cancel()
            for subscriber in self.subscribers:
                subscriber.close()
            await asyncio.sleep(0.1)  # let the transports close
            loop.remove_reader(self.pipe.fileno())

    def status(self, with_latencies: bool = False) -> dict:
        subscribers = self.subscribers
        failures = [s.failure for s in subscribers if s.failure]
        status = {
            "ready": sum(1 for s in subscribers if s.ready.done() and not s.failure),
            "failed": len(failures), "failures": sorted(set(failures))[:3],
            "count": sum(s.count for s in subscribers),
            "primed": sum(1 for s in subscribers if s.primed),
            "empty": sum(s.empty for s in subscribers),
            "drops": sum(s.drops for s in subscribers),
            "cpu": cpu_seconds(os.getpid()),
        }
        if with_latencies:
            status["latencies"] = [x for s in subscribers for x in s.latencies]
        return status


def load_generator_main(pipe, spec: dict) -> None:
    raise_nofile()
    import uvloop
    uvloop.run((SoakGenerator if spec["role"] == "soak" else LoadGenerator)(pipe, spec).run())
    pipe.close()


class LoadProcess:
    """A load-generator process, driven over a pipe: each command is numbered and its
    answer carries the number (a late answer is never taken for the next one's)."""

    def __init__(self, context, spec: dict):
        self.seq = 0
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=load_generator_main, args=(child, spec),
                                        daemon=True)
        self.process.start()
        child.close()

    def receive(self, timeout: float) -> dict | None:
        """The answer to the last command (the first: the one sent once all are open)."""
        deadline = time.monotonic() + timeout
        try:
            while self.pipe.poll(max(0.0, deadline - time.monotonic())):
                answer = self.pipe.recv()
                if answer.get("seq") == self.seq:
                    return answer
        except (EOFError, OSError):
            pass
        return None

    def ask(self, command: str, timeout: float = ASK_TIMEOUT) -> dict:
        self.seq += 1
        try:
            self.pipe.send((self.seq, command))
        except (BrokenPipeError, OSError):
            return {}
        return self.receive(timeout) or {}

    def stop(self) -> None:
        try:
            self.pipe.send((self.seq + 1, "stop"))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.pipe.close()


# ============================================================================= the publisher


def subscribe_request() -> bytes:
    """SUBSCRIBE with DSId "nil": the server creates the connection (no ping first, so the
    subscriber gets messages in the full form, not the small one)."""
    message = subscribe_message(TOPIC)
    message.headers[AbstractMessage.FLEX_CLIENT_ID_HEADER] = "nil"
    return flex_packet(message)


async def subscribe_all(port: int, path: str, count: int, in_flight: int,
                        timeout: float) -> tuple[list, dict]:
    """Set up ``count`` subscribers (one SUBSCRIBE each); their DSIds in the order the
    server answered, and the errors seen.  Stops at ``timeout`` with those set up."""
    stats: dict = {}
    dsids: list = []
    todo = iter(range(count))

    async def worker() -> None:
        conn = HttpConn(port, stats)
        try:
            for _ in todo:
                ack = flex_reply(await conn.post(path, subscribe_request()))
                dsid = getattr(ack, "headers", {}).get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
                if isinstance(ack, ErrorMessage) or not dsid:
                    stats["refused"] = stats.get("refused", 0) + 1
                    stats["last_error"] = getattr(ack, "faultString", repr(ack))[:200]
                    continue
                dsids.append(dsid)
        finally:
            conn.close()

    try:
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(in_flight))), timeout)
    except asyncio.TimeoutError:
        stats["timed_out"] = True
    except RuntimeError as exc:
        stats["last_error"] = str(exc)
    return dsids, stats


class Publisher:
    """Publishes over ``/amf`` on one connection, with its own DSId."""

    def __init__(self, port: int):
        self.stats: dict = {}
        self.conn = HttpConn(port, self.stats)
        self.dsid = "nil"
        self.durations: list = []
        self.published = 0

    async def connect(self) -> None:
        message = ping_message()
        message.headers[AbstractMessage.FLEX_CLIENT_ID_HEADER] = "nil"
        ack = flex_reply(await asyncio.wait_for(self.conn.post("/amf", flex_packet(message)),
                                                PUBLISH_TIMEOUT))
        self.dsid = ack.headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER) or "nil"

    async def publish(self, body: str) -> None:
        started = time.monotonic()
        message = publish_message(TOPIC, body,
                                  headers={AbstractMessage.FLEX_CLIENT_ID_HEADER: self.dsid})
        reply = flex_reply(await asyncio.wait_for(self.conn.post("/amf", flex_packet(message)),
                                                  PUBLISH_TIMEOUT))
        if isinstance(reply, ErrorMessage):
            raise RuntimeError(f"publish failed: {reply.faultString}")
        self.durations.append(time.monotonic() - started)

    async def broadcast(self, rate: float, seconds: float) -> int:
        """Publish ``rate`` messages a second for ``seconds`` (on schedule: a slow publish
        does not push the next ones back); how many were published."""
        started = time.monotonic()
        give_up = started + 2 * seconds + PUBLISH_TIMEOUT
        published = 0
        for i in range(int(rate * seconds)):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > give_up:
                self.stats["stopped"] = "the broadcast ran over twice its time"
                break
            try:
                await self.publish(f"{MARKER}{i} {time.monotonic()!r}")
            except (asyncio.TimeoutError, RuntimeError) as exc:
                # A publish unanswered for PUBLISH_TIMEOUT may still be delivered: count it.
                published += 1
                self.stats["stopped"] = f"publish {i}: {exc!r}"
                break
            published += 1
        return published

    def close(self) -> None:
        self.conn.close()


async def publish_once(port: int, body: str) -> None:
    publisher = Publisher(port)
    try:
        await publisher.connect()
        await publisher.publish(body)
    finally:
        publisher.close()


async def publish_window(port: int, rate: float, seconds: float) -> Publisher:
    """The publisher after its broadcast (``published``, ``durations``, ``stats``)."""
    publisher = Publisher(port)
    try:
        await publisher.connect()
        publisher.published = await publisher.broadcast(rate, seconds)
        return publisher
    finally:
        publisher.close()


# ============================================================================= profiling


class Profiler:
    """py-spy sampling the server during the broadcast window (``--profile``)."""

    def __init__(self, pid: int, seconds: float):
        binary = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                             f"{os.environ.get('PATH', '')}")
        if binary is None:
            raise RuntimeError("--profile needs py-spy (.venv/bin/pip install py-spy)")
        self.seconds = seconds
        self.output = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
        # Samples by function (not line), of the thread holding the GIL: where the CPU goes.
        self.proc = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
             "--rate", "200", "--function", "--gil", "--nonblocking", "--format", "raw",
             "--output", self.output],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def summary(self, top: int = 20) -> dict:
        """``{"samples", "self": [(share, frame)], "total": [(share, frame)]}``."""
        try:
            _, err = self.proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        own: dict = {}
        total: dict = {}
        samples = 0
        try:
            lines = Path(self.output).read_text().splitlines()
        finally:
            os.unlink(self.output)
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = [short_frame(f) for f in stack.split(";")]
            samples += int(count)
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
            for frame_name in set(frames):
                total[frame_name] = total.get(frame_name, 0) + int(count)
        if not samples:
            return {"samples": 0, "error": err.decode(errors="replace")[-300:]}

        def ranked(counts: dict) -> list:
            return [(n / samples, f) for f, n in sorted(counts.items(), key=lambda i: -i[1])
                    ][:top]
        return {"samples": samples, "self": ranked(own), "total": ranked(total)}


def short_frame(frame_name: str) -> str:
    """``function (path:line)`` without the line, the path from the package or site."""
    frame_name = re.sub(r":\d+\)$", ")", frame_name)
    return re.sub(r"\((?:[^()]*/site-packages/|[^()]*/lib/python3\.\d+/|"
                  + re.escape(str(ROOT)) + "/)", "(", frame_name)


def print_profile(result: dict) -> None:
    profile = result["profile"]
    print(f"\n{result['mode']}, {result['n']:,} subscribers, {LABELS[result['server']]}: "
          f"where the server's time goes (py-spy, {profile['samples']} samples over the "
          f"window; us/delivery = share x {result['cpu_us']:.1f} us)")
    if not profile["samples"]:
        print(f"  no samples: {profile.get('error', '')}")
        return
    for title, key in (("own time (the function itself)", "self"),
                       ("total time (with what it calls)", "total")):
        print(f"  {title}:")
        for share, frame_name in profile[key]:
            print(f"    {100 * share:5.1f}%  {share * result['cpu_us']:6.1f} us  {frame_name}")


# ============================================================================= one run


def spread(count: int, picks: int) -> list:
    """``picks`` positions spread over ``range(count)``, the first and the last included."""
    if count <= picks:
        return list(range(count))
    return sorted({round(i * (count - 1) / (picks - 1)) for i in range(picks)})


def percentile(ordered: list, fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def settle(pid: int) -> None:
    """Wait until the server has answered what set-up left it (re-polls, stream opens):
    until its CPU use over a short slice drops under QUIET_CPU, at most SETTLE_MAX s."""
    deadline = time.monotonic() + SETTLE_MAX
    while time.monotonic() < deadline:
        used = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - used < 0.5 * QUIET_CPU:
            return


def run_case(server: str, mode: str, count: int, seconds: float, profile: bool = False
             ) -> dict:
    """Set up ``count`` subscribers of ``mode`` on a new ``server``, broadcast, measure."""
    result: dict = {"server": server, "mode": mode, "n": count, "notes": []}
    notes = result["notes"]
    port = free_port()
    proc = ServerProcess([__file__, "--serve", server, port, count + PROBES + 100], port,
                         LABELS[server], timeout=SERVER_START)
    loads: list = []
    context = multiprocessing.get_context("spawn")
    try:
        if server != "bare":
            asyncio.run(publish_once(port, "warm-up"))
        time.sleep(0.5)
        rss_before = rss_kb(proc.pid)

        started = time.monotonic()
        if server == "bare":
            dsids, stats = [str(i) for i in range(count)], {}
        else:
            dsids, stats = asyncio.run(subscribe_all(
                port, PATHS[mode], count, SETUP_IN_FLIGHT[server],
                SETUP_BASE + SETUP_PER_SUB * count))
        result["setup_s"] = time.monotonic() - started
        if len(dsids) < count:
            result["note"] = (f"set up {len(dsids)}/{count} subscribers in "
                              f"{result['setup_s']:.0f} s ({stats.get('last_error', 'timed out')})")
            return result

        probes = set(spread(count, PROBES))
        groups = [[dsids[i] for i in sorted(probes)]]
        bulk = [dsid for i, dsid in enumerate(dsids) if i not in probes]
        groups += [bulk[k::BULK_PROCESSES] for k in range(BULK_PROCESSES) if bulk[k::BULK_PROCESSES]]
        open_timeout = OPEN_BASE + OPEN_PER_SUB * count
        lifetime = open_timeout + PRIME_TIMEOUT + 3 * seconds + DRAIN_TIMEOUT + 120
        started = time.monotonic()
        for role, group in zip(["probe"] + ["bulk"] * len(groups), groups):
            loads.append(LoadProcess(context, {
                "role": role, "port": port, "mode": mode, "dsids": group,
                "open_timeout": open_timeout, "lifetime": lifetime, "parent": os.getpid()}))
        opened = [load.receive(open_timeout + 30) or {} for load in loads]
        result["open_s"] = time.monotonic() - started
        connected = sum(o.get("ready", 0) for o in opened)
        result["connected"] = connected
        if connected < count:
            failures = sorted({f for o in opened for f in o.get("failures", ())})[:2]
            result["note"] = (f"{connected}/{count} connected in {result['open_s']:.0f} s: did "
                              f"not connect in time{' (' + '; '.join(failures) + ')' if failures else ''}")
            return result

        if mode == "longpoll":
            try:
                asyncio.run(publish_once(port, PRIME))
            except (asyncio.TimeoutError, RuntimeError) as exc:
                notes.append(f"priming broadcast: {exc!r}")
            deadline = time.monotonic() + PRIME_TIMEOUT
            while True:
                primed = sum(load.ask("status").get("primed", 0) for load in loads)
                if primed >= count or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if primed < count:
                notes.append(f"{primed}/{count} polls answered the priming broadcast in "
                             f"{PRIME_TIMEOUT:.0f} s")
        settle(proc.pid)
        # What N waiting subscribers cost the server while nothing is published.
        idle_cpu, idle_start = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        result["idle_cpu_pct"] = 100 * (cpu_seconds(proc.pid) - idle_cpu) / (
            time.monotonic() - idle_start)
        result["rss_kb_per_conn"] = (rss_kb(proc.pid) - rss_before) / count

        before = [load.ask("status") for load in loads]
        cpu_start, window_start = cpu_seconds(proc.pid), time.monotonic()
        profiler = Profiler(proc.pid, seconds) if profile else None
        publisher = asyncio.run(publish_window(port, RATES[mode], seconds))
        published, durations = publisher.published, publisher.durations
        expected = published * count
        publish_end = time.monotonic()
        while True:
            statuses = [load.ask("status") for load in loads]
            delivered = sum(s.get("count", 0) for s in statuses) - \
                sum(s.get("count", 0) for s in before)
            if delivered >= expected or time.monotonic() > publish_end + DRAIN_TIMEOUT:
                break
            time.sleep(0.05)
        window = time.monotonic() - window_start
        server_cpu = cpu_seconds(proc.pid) - cpu_start
        final = [load.ask("results") for load in loads]
        latencies = sorted(final[0].get("latencies", ()))
        result.update({
            "published": published, "planned": int(RATES[mode] * seconds),
            "delivered": delivered, "expected": expected,
            "window_s": window, "server_cpu_pct": 100 * server_cpu / window,
            "cpu_us": 1e6 * server_cpu / delivered if delivered else float("nan"),
            "client_cpu_pct": max(100 * (f.get("cpu", 0) - b.get("cpu", 0)) / window
                                  for f, b in zip(final, before)),
            "failed": sum(f.get("failed", 0) for f in final),
            "publish_ms_max": 1000 * max(durations) if durations else float("nan"),
        })
        for key, what in (("empty", "polls answered without a message"),
                          ("drops", "connections dropped while polling (polled again)")):
            if sum(f.get(key, 0) for f in final):
                notes.append(f"{sum(f.get(key, 0) for f in final)} {what}")
        if "stopped" in publisher.stats:
            notes.append(f"broadcast stopped early ({published} published): "
                         f"{publisher.stats['stopped']}")
        if profiler is not None:
            result["profile"] = profiler.summary()
        if latencies:
            result.update(median_ms=1000 * statistics.median(latencies),
                          p99_ms=1000 * percentile(latencies, 0.99),
                          max_ms=1000 * latencies[-1], samples=len(latencies))
        if proc.proc.poll() is not None:
            notes.append(f"the server exited: {proc.log_tail(300)}")
        return result
    finally:
        for load in loads:
            load.stop()
        proc.stop()


# ============================================================================= the soak
#
# ``--soak``: a long, bounded run of streaming and long-polling subscribers together, with
# churn, against the ASGI channel set; it checks what a short window cannot: that memory
# stays flat, that no delivery is lost or repeated while clients come and go, that the
# slots of departed clients are freed, and how long the event loop is held.

SOAK_SECONDS = 600.0
SOAK_STREAMS = SOAK_POLLERS = 2000
#: Subscribers of each kind that leave, and as many that join, every second.
SOAK_CHURN = 20
SOAK_RATE = 1.0
#: The server's connections expire this long (ms) after their client vanished.
SOAK_CONNECTION_TIMEOUT = 60000
SOAK_CLEAN_FREQ = 5000
SOAK_SAMPLE = 30.0
#: How often (s) the server's loop is looked at for lag.
LAG_TICK = 0.05
#: A published body: marker, sequence number, send time; followed by a byte that is not
#: part of the time (a match at the end of a read waits for the next read).
SEQUENCE = re.compile(rb"~push~(\d+) (\d+\.\d+)(?=[^\d.])")
SEQUENCE_CARRY = 48


class LagWatch:
    """How late the server's event loop runs a timer (its lag), between two looks."""

    def __init__(self):
        self.samples: list = []
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_TICK)
            self.samples.append(loop.time() - before - LAG_TICK)

    def take(self) -> dict:
        samples, self.samples = sorted(self.samples), []
        if not samples:
            return {}
        return {"median_ms": 1000 * statistics.median(samples),
                "p99_ms": 1000 * percentile(samples, 0.99), "max_ms": 1000 * samples[-1]}


class SoakApp:
    """The soak's server: the ASGI channel set (connections expire a minute after their
    client vanished), and ``GET /holding``: its public counters, its connections and the
    loop's lag since the last look."""

    def __init__(self, capacity: int):
        self.channel_set = build_channel_set(
            "asgi", capacity, clean_freq=SOAK_CLEAN_FREQ)
        self.channel_set.connection_manager.connection_params["timeout"] = \
            SOAK_CONNECTION_TIMEOUT
        self.lag = LagWatch()

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/holding":
            import json
            if self.lag.task is None:
                self.lag.task = asyncio.ensure_future(self.lag.run())
            manager = self.channel_set.connection_manager
            counts = dict(self.channel_set.holding(), lag=self.lag.take(), connections=sum(
                manager.getConnectionCount(c.name) for c in self.channel_set))
            body = json.dumps(counts).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.channel_set(scope, receive, send)


def server_holding(port: int) -> dict:
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/holding", timeout=ASK_TIMEOUT) as r:
        return json.loads(r.read())


class Sequence:
    """The sequence numbers one subscriber received: counts, gaps and repeats, and whether
    the first message it got was published well after it subscribed (one missed)."""

    __slots__ = ("subscribed", "first", "last", "count", "gaps", "repeats", "late", "carry")

    def __init__(self, subscribed: float):
        self.subscribed = subscribed
        self.first = self.last = None
        self.count = self.gaps = self.repeats = self.late = 0
        self.carry = b""

    def feed(self, data: bytes) -> int:
        data = self.carry + data if self.carry else data
        end = found = 0
        for match in SEQUENCE.finditer(data):
            self.see(int(match.group(1)), float(match.group(2)))
            end = match.end()
            found += 1
        self.carry = data[max(end, len(data) - SEQUENCE_CARRY):]
        return found

    def see(self, seq: int, sent: float) -> None:
        self.count += 1
        if self.last is None:
            self.first = self.last = seq
            # Published more than two intervals after subscribing: one before it was missed.
            self.late = int(sent - self.subscribed > 2.0 / SOAK_RATE)
        elif seq <= self.last:
            self.repeats += 1
        else:
            self.gaps += seq - self.last - 1
            self.last = seq


class SoakStream(StreamSubscriber):
    def __init__(self, port: int, request: bytes, subscribed: float):
        StreamSubscriber.__init__(self, port, request)
        self.sequence = Sequence(subscribed)

    def body(self, data: bytes) -> None:
        self.count += self.sequence.feed(data)


class SoakPoller(LongPoller):
    def __init__(self, port: int, request: bytes, subscribed: float):
        LongPoller.__init__(self, port, request)
        self.sequence = Sequence(subscribed)

    def answer(self, body: bytes, arrived: float) -> bool:
        found = self.sequence.feed(body)
        self.count += found
        return bool(found)


class SoakGenerator:
    """One soak load process: its streams and long-pollers, and their churn (every second
    ``churn`` of each kind leave, half of them saying so with a DISCONNECT, half vanishing,
    and as many new ones subscribe and join)."""

    KINDS = {"streaming": (SoakStream, open_request), "longpoll": (SoakPoller, poll_request)}

    def __init__(self, pipe, spec: dict):
        self.pipe = pipe
        self.spec = spec
        self.port = spec["port"]
        self.live: dict = {"streaming": [], "longpoll": []}
        self.gone: list = []
        self.joined = self.left = self.join_errors = 0
        self.churning = False
        self.idle: list = []

    async def post(self, path: str, body: bytes) -> bytes:
        """POST on an idle connection of this process (one request at a time on each)."""
        conn = self.idle.pop() if self.idle else HttpConn(self.port, {})
        try:
            reply = await asyncio.wait_for(conn.post(path, body), ASK_TIMEOUT)
        except BaseException:
            conn.close()
            raise
        self.idle.append(conn)
        return reply

    async def join(self, mode: str) -> None:
        try:
            ack = flex_reply(await self.post(PATHS[mode], subscribe_request()))
        except (asyncio.TimeoutError, RuntimeError):
            self.join_errors += 1
            return
        dsid = getattr(ack, "headers", {}).get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
        if not dsid:
            self.join_errors += 1
            return
        kind, request = self.KINDS[mode]
        subscriber = kind(self.port, request(self.port, dsid), time.time())
        subscriber.dsid = dsid
        self.live[mode].append(subscriber)
        try:
            await asyncio.wait_for(subscriber.open(), OPEN_BASE)
        except (OSError, asyncio.TimeoutError) as exc:
            subscriber.fail(f"open: {exc!r}")
        self.joined += 1

    async def leave(self, mode: str, polite: bool) -> None:
        live = self.live[mode]
        if not live:
            return
        subscriber = live.pop(random.randrange(len(live)))
        subscriber.close()
        self.gone.append(subscriber)
        self.left += 1
        if polite:
            message = CommandMessage(operation=CommandMessage.DISCONNECT_OPERATION, headers={
                AbstractMessage.FLEX_CLIENT_ID_HEADER: subscriber.dsid})
            try:
                await self.post("/amf", flex_packet(message))
            except (asyncio.TimeoutError, RuntimeError):
                pass

    async def churn(self) -> None:
        per_second = self.spec["churn"]
        while True:
            started = time.monotonic()
            if self.churning:
                await asyncio.gather(*(self.leave(mode, polite=i % 2 == 0)
                                       for mode in self.live for i in range(per_second)))
                await asyncio.gather(*(self.join(mode) for mode in self.live
                                       for _ in range(per_second)))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue = asyncio.Queue()
        loop.add_reader(self.pipe.fileno(), lambda: commands.put_nowait(self.pipe.recv()))
        in_flight = asyncio.Semaphore(SETUP_IN_FLIGHT["asgi"] // 2)

        async def join_one(mode: str) -> None:
            async with in_flight:
                await self.join(mode)

        started = time.monotonic()
        await asyncio.gather(*(join_one(mode) for mode, count in (
            ("streaming", self.spec["streams"]), ("longpoll", self.spec["pollers"]))
            for _ in range(count)))
        self.pipe.send(dict(self.status(), seq=0, open_s=time.monotonic() - started))
        churning = asyncio.ensure_future(self.churn())
        try:
            while True:
                if os.getppid() != self.spec["parent"]:
                    break
                try:
                    seq, command = await asyncio.wait_for(commands.get(), 1.0)
                except asyncio.TimeoutError:
                    continue
                if command == "stop":
                    break
                self.churning = {"churn": True, "quiet": False}.get(command, self.churning)
                self.pipe.send(dict(self.status(), seq=seq))
        finally:
            churning.cancel()
            for subscriber in self.everyone():
                subscriber.close()
            for conn in self.idle:
                conn.close()
            await asyncio.sleep(0.2)  # let the transports close
            loop.remove_reader(self.pipe.fileno())

    def everyone(self) -> list:
        return self.gone + self.live["streaming"] + self.live["longpoll"]

    def status(self) -> dict:
        everyone = self.everyone()
        live = self.live["streaming"] + self.live["longpoll"]
        lasts = [s.sequence.last for s in live if s.sequence.last is not None]
        return {
            "streams": sum(1 for s in self.live["streaming"] if not s.failure),
            "pollers": sum(1 for s in self.live["longpoll"] if not s.failure),
            "joined": self.joined, "left": self.left, "join_errors": self.join_errors,
            "count": sum(s.count for s in everyone),
            "gaps": sum(s.sequence.gaps for s in everyone),
            "repeats": sum(s.sequence.repeats for s in everyone),
            "late": sum(s.sequence.late for s in everyone),
            "failed": sum(1 for s in live if s.failure),
            "failures": sorted({s.failure for s in live if s.failure})[:3],
            "min_last": min(lasts) if lasts else None, "max_last": max(lasts) if lasts else None,
            "without": sum(1 for s in live if s.sequence.last is None),
            "cpu": cpu_seconds(os.getpid()),
        }


def soak(seconds: float, streams: int, pollers: int, churn: int) -> None:
    """The soak (see above), printed as it goes and summed up at the end."""
    processes = BULK_PROCESSES
    port = free_port()
    capacity = 2 * (streams + pollers) + 1000
    print(f"soak: {streams:,} streaming + {pollers:,} long-polling subscribers on the ASGI "
          f"channel set under uvicorn, {churn} of each kind leaving and {churn} joining every "
          f"second, {SOAK_RATE:g} broadcast/s for {seconds:.0f} s; {processes} load "
          f"process(es); {machine()}", flush=True)
    proc = ServerProcess([__file__, "--serve", "soak", port, capacity], port, "soak server",
                         timeout=SERVER_START)
    context = multiprocessing.get_context("spawn")
    loads: list = []
    try:
        rss_start = rss_kb(proc.pid)
        server_holding(port)  # starts the lag watch
        for k in range(processes):
            loads.append(LoadProcess(context, {
                "role": "soak", "port": port, "parent": os.getpid(),
                "streams": streams // processes + (k < streams % processes),
                "pollers": pollers // processes + (k < pollers % processes),
                "churn": max(1, churn // processes)}))
        opened = [load.receive(OPEN_BASE + SETUP_PER_SUB * (streams + pollers)) or {}
                  for load in loads]
        print(f"  set up: {sum(o.get('streams', 0) for o in opened):,} streams, "
              f"{sum(o.get('pollers', 0) for o in opened):,} pollers in "
              f"{max(o.get('open_s', 0) for o in opened):.1f} s", flush=True)
        for load in loads:
            load.ask("churn")
        publisher: dict = {}
        thread = threading.Thread(target=lambda: publisher.setdefault(
            "done", asyncio.run(publish_window(port, SOAK_RATE, seconds))), daemon=True)
        started = time.monotonic()
        thread.start()
        warm_up = min(60.0, seconds / 5)
        rss_warm = None
        samples = []
        header = ("t s", "RSS MB", "streams", "pollers", "joined", "left", "held", "tasks",
                  "waiting", "connections", "deliveries", "gaps", "repeats", "loop lag p99/max ms",
                  "server CPU")
        print("  " + " | ".join(header), flush=True)
        cpu_before, at_before = cpu_seconds(proc.pid), time.monotonic()
        while thread.is_alive():
            thread.join(min(SOAK_SAMPLE, max(0.1, warm_up - (time.monotonic() - started)))
                        if rss_warm is None else SOAK_SAMPLE)
            now = time.monotonic()
            if rss_warm is None and now - started >= warm_up:
                rss_warm = rss_kb(proc.pid)
            statuses = [load.ask("status") for load in loads]
            held = server_holding(port)
            cpu = cpu_seconds(proc.pid)
            row = {"t": now - started, "rss": rss_kb(proc.pid), "held": held,
                   "cpu": 100 * (cpu - cpu_before) / (now - at_before),
                   **{key: sum(s.get(key, 0) for s in statuses) for key in (
                       "streams", "pollers", "joined", "left", "count", "gaps", "repeats",
                       "failed")}}
            cpu_before, at_before = cpu, now
            samples.append(row)
            lag = held.get("lag", {})
            print("  " + " | ".join(str(x) for x in (
                f"{row['t']:.0f}", f"{row['rss'] / 1024:.1f}", row["streams"], row["pollers"],
                row["joined"], row["left"], held["held"], held.get("tasks"),
                held["waiting_connections"], held["connections"], f"{row['count']:,}",
                row["gaps"], row["repeats"],
                f"{lag.get('p99_ms', 0):.0f}/{lag.get('max_ms', 0):.0f}",
                f"{row['cpu']:.0f}%")), flush=True)
        published = publisher.get("done").published if publisher.get("done") else 0
        # The end: churn stops, the last deliveries come in, every live subscriber has the
        # last message; then everyone leaves and the server must hold nothing.
        for load in loads:
            load.ask("quiet")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            statuses = [load.ask("status") for load in loads]
            lasts = [s["min_last"] for s in statuses if s.get("min_last") is not None]
            if lasts and min(lasts) >= published - 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rss_end = rss_kb(proc.pid)
        final = {key: sum(s.get(key, 0) for s in statuses) for key in (
            "streams", "pollers", "joined", "left", "join_errors", "count", "gaps", "repeats",
            "late", "failed", "without")}
        behind = sum(1 for s in statuses if s.get("min_last") is not None
                     and s["min_last"] < published - 1)
        failures = sorted({f for s in statuses for f in s.get("failures", ())})[:3]
        for load in loads:
            load.stop()
        loads = []
        time.sleep(3.0)
        held_end = server_holding(port)
        lags = [row["held"].get("lag", {}) for row in samples[1:]]
        growth = (rss_end - rss_warm) / 1024 if rss_warm else float("nan")
        print()
        print(f"soak summary ({time.monotonic() - started:.0f} s; {machine()}):")
        print(f"  published {published} of {int(SOAK_RATE * seconds)} planned; deliveries "
              f"counted {final['count']:,}; gaps {final['gaps']}, repeats {final['repeats']}, "
              f"first message late (one missed after subscribing) {final['late']}")
        print(f"  at the end: {final['streams']:,} streams and {final['pollers']:,} pollers "
              f"live, {final['without']} without any message, {behind} load process(es) with "
              f"a live subscriber short of the last message, {final['failed']} dropped by the "
              f"server{' (' + '; '.join(failures) + ')' if failures else ''}")
        print(f"  churn: {final['joined']:,} joined (set-up included), {final['left']:,} left "
              f"(half with a DISCONNECT, half vanishing), {final['join_errors']} joins failed")
        print(f"  server RSS: {rss_start / 1024:.1f} MB before, {rss_warm / 1024:.1f} MB after "
              f"warm-up ({warm_up:.0f} s), {rss_end / 1024:.1f} MB at the end "
              f"({growth:+.1f} MB after warm-up)")
        if lags:
            print(f"  event-loop lag per {SOAK_SAMPLE:.0f} s sample: p99 "
                  f"{statistics.median(l.get('p99_ms', 0) for l in lags):.0f} ms (median sample),"
                  f" {max(l.get('p99_ms', 0) for l in lags):.0f} ms (worst); max "
                  f"{max(l.get('max_ms', 0) for l in lags):.0f} ms")
        print(f"  3 s after every client left, the server holds: "
              f"{ {k: v for k, v in held_end.items() if k != 'lag'} }")
    finally:
        for load in loads:
            load.stop()
        proc.stop()


# ============================================================================= the report


def cells(result: dict) -> tuple:
    head = (result["mode"], f"{result['n']:,}", LABELS[result["server"]])
    if "delivered" not in result:
        return head + (result.get("note", "not measured"),) + ("",) * (len(HEADER) - 4)

    def ms(key: str) -> str:
        return f"{result[key]:.1f}" if key in result else "-"

    delivered = f"{result['delivered']:,}/{result['expected']:,}"
    if result.get("failed"):
        delivered += f" ({result['failed']} lost)"
    if result["notes"]:
        delivered += " *"
    return head + (delivered, ms("median_ms"), ms("p99_ms"), ms("max_ms"),
                   f"{result['cpu_us']:.1f} ({result['server_cpu_pct']:.0f}%)",
                   f"{result['idle_cpu_pct']:.0f}%", f"{result['rss_kb_per_conn']:.1f}",
                   f"{result['client_cpu_pct']:.0f}%",
                   f"{result['setup_s']:.1f} + {result['open_s']:.1f}")


HEADER = ("mode", "N", "server", "delivered/expected", "median ms", "p99 ms", "max ms",
          "server CPU us/delivery (% of a core)", "idle server CPU", "RSS KB/conn",
          "client CPU (busiest)", "set-up + open s")


def targets(results: list) -> list:
    """``(what, measured, met)`` for each target."""
    lines = []
    for mode, target in TARGETS.items():
        found = [r for r in results if r["server"] == "asgi" and r["mode"] == mode
                 and r["n"] == TARGET_N]
        name = f"asgi {mode}, {TARGET_N:,} subscribers"
        if not found:
            lines.append((name, "not run (needs N=10000 in --sizes)", None))
            continue
        r = found[0]
        if "delivered" not in r:
            lines.append((name, r.get("note", "not measured"), False))
            continue
        lines.append((f"{name}: every message delivered",
                      f"{r['delivered']:,}/{r['expected']:,} "
                      f"({r['published']}/{r['planned']} broadcasts published)",
                      r["delivered"] == r["expected"] and r["published"] == r["planned"]
                      and not r["failed"]))
        lines.append((f"{name}: p99 <= {target['p99_ms']:.0f} ms",
                      f"{r.get('p99_ms', float('nan')):.1f} ms",
                      r.get("p99_ms", float("inf")) <= target["p99_ms"]))
        if "cpu_us" in target:
            lines.append((f"{name}: server CPU <= {target['cpu_us']:.0f} us/delivery",
                          f"{r['cpu_us']:.1f} us", r["cpu_us"] <= target["cpu_us"]))
        if "rss_kb" in target:
            lines.append((f"{name}: RSS <= {target['rss_kb']:.0f} KB/connection",
                          f"{r['rss_kb_per_conn']:.1f} KB",
                          r["rss_kb_per_conn"] <= target["rss_kb"]))
    return lines


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs, load average {load}, Python {platform.python_version()},"
            f" {platform.platform()}")


def sizes(text: str) -> list:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N=1000 for 5 s (unless --sizes / --seconds say otherwise)")
    parser.add_argument("--sizes", type=sizes, help="subscriber counts (default 1000,5000,10000)")
    parser.add_argument("--wsgi-sizes", type=sizes,
                        help="subscriber counts for the WSGI server (default 1000,2000)")
    parser.add_argument("--seconds", type=float, help="broadcast time per run (default 30)")
    parser.add_argument("--modes", default="streaming,longpoll")
    parser.add_argument("--servers", default="asgi,wsgi",
                        help="asgi (with the bare ceiling for streaming), asgi-asyncio "
                             "(uvicorn on asyncio's own loop, not uvloop), wsgi, bare")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy during each broadcast window "
                             "and print where its time goes")
    parser.add_argument("--soak", action="store_true",
                        help="instead: the soak, streams and long-pollers with churn for "
                             "--seconds (default 600)")
    parser.add_argument("--soak-clients", type=int, default=SOAK_STREAMS,
                        help="streaming subscribers, and as many long-polling ones, in the "
                             f"soak (default {SOAK_STREAMS})")
    parser.add_argument("--churn", type=int, default=SOAK_CHURN,
                        help="subscribers of each kind leaving and joining every second in "
                             f"the soak (default {SOAK_CHURN})")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "CAPACITY"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return

    raise_nofile()
    if args.soak:
        soak(args.seconds or SOAK_SECONDS, args.soak_clients, args.soak_clients, args.churn)
        return
    quick = args.quick
    asgi_sizes = args.sizes or ([1000] if quick else [1000, 5000, 10000])
    wsgi_sizes = args.wsgi_sizes or ([1000] if quick else [1000, 2000])
    seconds = args.seconds or (5.0 if quick else 30.0)
    modes = [m for m in args.modes.split(",") if m]
    servers = [s for s in args.servers.split(",") if s]
    for name in modes:
        if name not in RATES:
            parser.error(f"unknown mode {name!r}")
    for name in servers:
        if name not in LABELS:
            parser.error(f"unknown server {name!r}")

    import amfast
    print(f"amfast {amfast.__version__}; {machine()}")
    print(f"{seconds:.0f} s of broadcasts per run; {PROBES} probe subscribers in one process,"
          f" the others in {BULK_PROCESSES} process(es); open files: {raise_nofile()}")
    plan = []
    for mode in modes:
        for count in asgi_sizes:
            if "asgi" in servers:
                plan.append(("asgi", mode, count))
            if "asgi-asyncio" in servers:
                plan.append(("asgi-asyncio", mode, count))
            if mode == "streaming" and ("asgi" in servers or "bare" in servers):
                plan.append(("bare", mode, count))
        if "wsgi" in servers:
            plan += [("wsgi", mode, count) for count in wsgi_sizes]
    results = []
    for server, mode, count in plan:
        try:
            result = run_case(server, mode, count, seconds, args.profile)
        except (RuntimeError, TimeoutError, OSError) as exc:
            result = {"server": server, "mode": mode, "n": count, "note": f"failed: {exc!r}"}
        results.append(result)
        print("  " + " | ".join(c for c in cells(result) if c), flush=True)

    order = {"asgi": 0, "asgi-asyncio": 1, "bare": 2, "wsgi": 3}
    results.sort(key=lambda r: (modes.index(r["mode"]), r["n"], order[r["server"]]))
    print()
    print_table(HEADER, [cells(r) for r in results])
    for r in results:
        if r.get("notes") and "delivered" in r:
            print(f"* {r['mode']}, {r['n']:,}, {LABELS[r['server']]}: {'; '.join(r['notes'])}")
    print()
    print("targets:")
    for what, measured, met in targets(results):
        verdict = "not measured" if met is None else ("met" if met else "MISSED")
        print(f"  {what}: {measured} -> {verdict}")
    for result in results:
        if "profile" in result:
            print_profile(result)
    print(f"\nafter the runs: {machine()}")


if __name__ == "__main__":
    main()
