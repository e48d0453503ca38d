"""Messaging benchmark: publish-to-delivery latency and fan-out throughput.

Run it with ``make bench-messaging`` (``BENCH_ARGS="--quick"`` for fewer samples), or::

    .venv/bin/python bench/bench_messaging.py [--quick] [--profile]

What it measures, on 127.0.0.1 only:

1. Latency, publish to delivery, over HTTP: N subscribers (1 and 100) long-polling
   (``/longpoll``) or streaming (``/streaming``); one publisher POSTs an AsyncMessage carrying
   its send time every ``SPACING`` seconds, after ``WARMUP`` unmeasured ones; each subscriber
   records arrival - send time (``time.monotonic``, one clock: all clients live in this
   process).  Median and p99 over every (message, subscriber) pair.  The server runs in a
   subprocess (its own GIL).  The clients are asyncio, one thread: 100 subscribers cost 100
   sockets, not 100 threads.
2. Fan-out throughput in process: ``ChannelSet.publishMessage`` then every subscriber's
   ``pollConnection`` (messages personalised for each), for 1, 100 and 1,000 subscribers,
   polled after every message ("per message") and after all of them ("batched").
3. Fan-out throughput end to end over HTTP: K messages published over HTTP, then N polling
   subscribers (``/amf``) fetch them (16 requests in flight), for N = 1, 100, 1,000:
   deliveries per second from the first publish to the last delivery.

Each is measured with the in-memory managers, the memcache managers and the Redis managers
(``--stores``).  With memcache and Redis, latency runs across two server processes sharing
the store: subscribers on process A, the publisher on process B, so every delivery goes
through the store.  With memcache a held poll or stream finds it when it re-checks (every
``MC_POLL_INTERVAL`` ms); with Redis, A's listener hears B's publish on pub/sub and wakes
them.  HTTP fan-out with a shared store runs on four worker processes: the publisher posts
to the first, the subscribers poll all four.  A private memcached and a private redis-server
are started on free ports (``--mc`` and ``--redis`` name existing ones instead); without a
server binary its runs are skipped (``make memcached redis`` installs them).  With
postgresql (the SQL managers, asked for with ``--stores ...,postgresql``), likewise two
processes on one database, where a publish in B wakes A's held polls and streams through
PostgreSQL's LISTEN/NOTIFY; a private cluster is started on a free port (``--pg`` names an
existing database's URL instead; ``make postgresql`` installs the binaries).

Servers (``--servers``): amfast's threaded wsgiref server, waitress (WSGI, a thread per held
request) and uvicorn (ASGI: held requests are coroutines; the Redis listener is a task on
the event loop).

Targets (2 cores): in-memory managers, p99 < 20 ms with 100 streaming subscribers and
>= 50,000 in-process deliveries/s with 1,000 subscribers; Redis managers, p99 <= 10 ms from
a publish on process B to delivery to 100 streaming subscribers on process A, and HTTP
fan-out over four worker processes at least the single-process in-memory figure.  With
``--profile`` (or when a target is missed) the in-process work of one publish fanned out to
100 streams is profiled with cProfile and the amfast functions that take the time are
printed.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import os
import platform
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from amfast.remoting.framing import FrameReader  # noqa: E402
from harness import (DECODER, Dechunker, HttpConn, ServerProcess, flex_packet,  # noqa: E402
                     flex_reply, free_port, print_table, read_head)

from amfast.remoting.flex_messages import AsyncMessage, CommandMessage  # noqa: E402

TARGET_P99_MS = 20.0
TARGET_REDIS_P99_MS = 10.0
TARGET_INPROC = 50000
#: Worker processes of the HTTP fan-out runs with a shared store.
FANOUT_WORKERS = 4
SPACING = 0.02  # seconds between two publishes in the latency runs
#: Messages published before the measured ones (not measured): the first publish to a
#: server finds cold caches and lazy imports.
WARMUP = 1
#: A latency run gives up (and says TIMED OUT) after this many seconds.
LATENCY_TIMEOUT = 20.0
#: How often a held poll or stream re-checks memcached for other processes' messages (ms).
MC_POLL_INTERVAL = 100


# ============================================================================= the server


def make_managers(store: str = "memory", address: str | None = None,
                  prefix: str | None = None) -> dict:
    """The ChannelSet arguments of a store: "memory", or a shared one at ``address``:
    "memcache" (host:port), "redis" (its URL) or "postgresql" (the database's URL)."""
    if store == "memory":
        from amfast.remoting.subscription_manager import MemorySubscriptionManager
        return {"subscription_manager": MemorySubscriptionManager(ttl=600000,
                                                                  max_messages=200000)}
    if store == "redis":
        from amfast.remoting.redis_connection_manager import RedisConnectionManager
        from amfast.remoting.redis_subscription_manager import RedisSubscriptionManager
        prefix = prefix or f"bench{uuid.uuid4().hex[:10]}"
        return {"connection_manager": RedisConnectionManager(
                    url=address, key_prefix=prefix, secret="bench secret"),
                "subscription_manager": RedisSubscriptionManager(
                    ttl=600000, max_messages=200000, url=address, key_prefix=prefix)}
    if store == "postgresql":
        from amfast.remoting.sa_connection_manager import SaConnectionManager
        from amfast.remoting.sa_manager import make_engine
        from amfast.remoting.sa_subscription_manager import SaSubscriptionManager
        engine = make_engine(address)
        prefix = prefix or f"bench{uuid.uuid4().hex[:10]}"
        return {"connection_manager": SaConnectionManager(engine, table_prefix=prefix,
                                                          secret="bench secret"),
                "subscription_manager": SaSubscriptionManager(
                    engine, ttl=600000, table_prefix=prefix, max_messages=200000)}
    from amfast.remoting.memcache_connection_manager import MemcacheConnectionManager
    from amfast.remoting.memcache_subscription_manager import MemcacheSubscriptionManager
    prefix = prefix or f"bench{uuid.uuid4().hex[:10]}"
    return {"connection_manager": MemcacheConnectionManager(
                mc_servers=[address], key_prefix=prefix, secret="bench secret"),
            "subscription_manager": MemcacheSubscriptionManager(
                ttl=600000, max_messages=200000, mc_servers=[address], key_prefix=prefix)}


def build_channel_set(store: str = "memory", address: str | None = None,
                      prefix: str | None = None, kind: str = "wsgiref"):
    if kind == "uvicorn":
        from amfast.remoting.asgi_channel import (AsgiChannel as Channel,
                                                  AsgiChannelSet as ChannelSet,
                                                  StreamingAsgiChannel as StreamingChannel)
    else:
        from amfast.remoting.wsgi_channel import (StreamingWsgiChannel as StreamingChannel,
                                                  WsgiChannel as Channel,
                                                  WsgiChannelSet as ChannelSet)
    # A shared store's calls run in the ASGI channel set's worker threads: the streams a
    # publish wakes at once are collected together, as many as there are threads.
    options = {"workers": 32} if kind == "uvicorn" and store != "memory" else {}
    channel_set = ChannelSet(max_held=None, **options,
                             **make_managers(store, address, prefix))
    poll_interval = {"poll_interval": MC_POLL_INTERVAL} if store == "memcache" else {}
    channel_set.mapChannel(Channel("amf"))
    channel_set.mapChannel(Channel("longpoll", wait_interval=30000, max_waiting_polls=2000,
                                   **poll_interval))
    channel_set.mapChannel(StreamingChannel("streaming", heart_interval=5000,
                                            max_streams=2000, **poll_interval))
    return channel_set


def serve(kind: str, port: int, threads: int, store: str = "memory",
          address: str | None = None, prefix: str | None = None) -> None:
    channel_set = build_channel_set(store, address, prefix, kind)
    if kind == "uvicorn":
        import uvicorn
        uvicorn.run(channel_set, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                    lifespan="on", log_level="warning", access_log=False, backlog=4096)
    elif kind == "waitress":
        import waitress
        waitress.serve(channel_set, host="127.0.0.1", port=port, threads=threads,
                       connection_limit=4000, _quiet=True)
    else:
        from amfast.remoting.wsgi_server import make_server
        make_server(channel_set, "127.0.0.1", port).serve_forever()


def start_server(kind: str, threads: int, store: str = "memory", address: str | None = None,
                 prefix: str | None = None) -> ServerProcess:
    port = free_port()
    store_args = ["--store", store, "--address", address, "--prefix", prefix] \
        if store != "memory" else []
    return ServerProcess([__file__, "--serve", kind, port, threads] + store_args, port, kind)


class Servers:
    """The server processes of one run, sharing one store and one key prefix: the
    subscribers use ``a`` (and ``workers``), the publisher ``b``.  In memory, one process
    for both; with a shared store, ``count`` processes (the last publishes)."""

    def __init__(self, kind: str, threads: int, store: str = "memory",
                 address: str | None = None, count: int = 2):
        prefix = f"bench{uuid.uuid4().hex[:10]}"
        self.workers: list = []
        try:
            for _ in range(1 if store == "memory" else count):
                self.workers.append(start_server(kind, threads, store, address, prefix))
        except Exception:
            self.stop()
            raise
        self.a, self.b = self.workers[0], self.workers[-1]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


class StoreServer:
    """A private store server on a free port (``proc`` None: no binary)."""

    def __init__(self, binary_name: str, command: Callable[[str, int], list]):
        self.proc = None
        binary = shutil.which(binary_name)
        if binary is None:
            return
        self.port = free_port()
        self.proc = subprocess.Popen(command(binary, self.port), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{binary_name} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def memcached_command(binary: str, port: int) -> list:
    command = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "512"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command += ["-u", "root"]
    return command


def redis_command(binary: str, port: int) -> list:
    return [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--daemonize", "no"]


# ============================================================================= asyncio HTTP


async def subscribe(conn: HttpConn, path: str) -> str:
    command = CommandMessage(operation=CommandMessage.SUBSCRIBE_OPERATION, destination="chat",
                             headers={"DSId": "nil", CommandMessage.MESSAGING_VERSION: 1})
    ack = flex_reply(await conn.post(path, flex_packet(command)))
    return ack.headers["DSId"]


async def poll(conn: HttpConn, path: str, dsid: str) -> list:
    reply = flex_reply(await conn.post(path, flex_packet(
        CommandMessage(operation=CommandMessage.POLL_OPERATION, headers={"DSId": dsid}))))
    if isinstance(reply, CommandMessage) and reply.operation == 4:
        return list(reply.body)
    if type(reply).__name__ == "ErrorMessage":
        raise RuntimeError(f"poll failed: {reply.faultString}")
    return []


class Publisher:
    """A producer: its first message asks for a client id (DSId "nil") and the next ones
    carry the id it was given, as a Flex Producer's do (a new id each time would make
    every publish create a connection)."""

    def __init__(self, port: int, stats: dict):
        self.conn = HttpConn(port, stats)
        self.dsid = "nil"

    async def publish(self, body) -> None:
        message = AsyncMessage(body=body, destination="chat", headers={"DSId": self.dsid})
        reply = flex_reply(await self.conn.post("/amf", flex_packet(message)))
        if type(reply).__name__ == "ErrorMessage":
            raise RuntimeError(f"publish failed: {reply.faultString}")
        self.dsid = reply.headers.get("DSId", self.dsid)

    def close(self) -> None:
        self.conn.close()


class Stream:
    """A streaming subscriber on a raw asyncio connection: frames, timed on arrival."""

    def __init__(self, port: int, dsid: str):
        self.port, self.dsid = port, dsid
        self.latencies: list = []
        self.count = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port,
                                                                 limit=1 << 24)
        form = f"DSId={self.dsid}".encode()
        self.writer.write(
            f"POST /streaming?command=open&version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n".encode() + form)
        await self.writer.drain()
        status, headers, _ = await read_head(self.reader)
        if status != 200:
            raise RuntimeError(f"stream open: HTTP {status}")
        self.dechunker = Dechunker() if "chunked" in headers.get("transfer-encoding", "") \
            else None
        self.frames = FrameReader()
        self.pending: list = []
        await self._frame()  # the "open" acknowledgement

    async def _frame(self):
        """The next frame's message and when its bytes arrived."""
        while not self.pending:
            data = await self.reader.read(1 << 16)
            now = time.monotonic()
            if not data:
                raise ConnectionError("stream ended")
            if self.dechunker is not None:
                data = self.dechunker.feed(data)
            self.pending += [(now, item) for item in self.frames.feed(data)
                             if isinstance(item, bytes)]
        arrived, raw = self.pending.pop(0)
        return arrived, DECODER.decode(raw, amf3=True)

    async def run(self, expected: int) -> None:
        while self.count < expected:
            arrived, message = await self._frame()
            self.count += 1
            if message.body["i"] >= 0:
                self.latencies.append(arrived - message.body["t"])

    def close(self) -> None:
        self.writer.close()


async def latency_run(port: int, kind: str, subscribers: int, messages: int,
                      publish_port: int | None = None) -> dict:
    stats: dict = {}
    path = "/longpoll" if kind == "longpoll" else "/streaming"
    setup = HttpConn(port, stats)
    dsids = [await subscribe(setup, path) for _ in range(subscribers)]
    setup.close()
    latencies: list = []
    done = [0]

    async def long_poller(dsid: str) -> None:
        conn = HttpConn(port, stats)
        got = 0
        try:
            while got < WARMUP + messages:
                batch = await poll(conn, path, dsid)
                now = time.monotonic()
                for message in batch:
                    if message.body["i"] >= 0:
                        latencies.append(now - message.body["t"])
                got += len(batch)
        finally:
            conn.close()
            done[0] += 1

    streams = []
    if kind == "streaming":
        streams = [Stream(port, dsid) for dsid in dsids]
        for stream in streams:
            await stream.open()
        tasks = [asyncio.ensure_future(s.run(WARMUP + messages)) for s in streams]
    else:
        tasks = [asyncio.ensure_future(long_poller(dsid)) for dsid in dsids]
        await asyncio.sleep(0.5 + subscribers * 0.005)  # let every poll be held
    publisher = Publisher(publish_port or port, stats)
    for i in range(-WARMUP, 0):
        await publisher.publish({"t": time.monotonic(), "i": i})
    await asyncio.sleep(0.3)
    started = time.monotonic()
    for i in range(messages):
        await publisher.publish({"t": time.monotonic(), "i": i})
        await asyncio.sleep(SPACING)
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=LATENCY_TIMEOUT)
    except asyncio.TimeoutError:
        stats["timeout"] = True
        for task in tasks:
            task.cancel()
    elapsed = time.monotonic() - started
    publisher.close()
    for stream in streams:
        latencies.extend(stream.latencies)
        stream.close()
    latencies.sort()
    expected = subscribers * messages
    return {
        "samples": len(latencies), "expected": expected,
        "median_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        if latencies else float("nan"),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "errors": stats.get("errors", 0), "last_error": stats.get("last_error"),
        "elapsed": elapsed, "timeout": stats.get("timeout", False),
    }


async def http_fanout_run(ports: list, subscribers: int, messages: int,
                          in_flight: int = 16, publish_port: int | None = None) -> dict:
    """``ports``: the processes the subscribers poll (the publisher posts to
    ``publish_port``, by default the first); ``in_flight`` requests at once, spread over
    them."""
    stats: dict = {}
    setup = HttpConn(ports[0], stats)
    dsids = [await subscribe(setup, "/amf") for _ in range(subscribers)]
    setup.close()
    publisher = Publisher(publish_port or ports[0], stats)
    started = time.monotonic()
    for i in range(messages):
        await publisher.publish({"t": 0, "i": i})
    published = time.monotonic()
    publisher.close()
    delivered = [0]
    queue: asyncio.Queue = asyncio.Queue()
    for dsid in dsids:
        queue.put_nowait(dsid)

    async def worker(port: int) -> None:
        conn = HttpConn(port, stats)
        try:
            while not queue.empty():
                dsid = queue.get_nowait()
                got = 0
                for _ in range(messages + 5):  # bounded: one poll normally gets them all
                    got += len(await poll(conn, "/amf", dsid))
                    if got >= messages:
                        break
                delivered[0] += got
        finally:
            conn.close()

    await asyncio.wait_for(asyncio.gather(*[worker(ports[n % len(ports)])
                                            for n in range(in_flight)]), timeout=120)
    elapsed = time.monotonic() - started
    return {"delivered": delivered[0], "expected": subscribers * messages,
            "per_second": delivered[0] / elapsed, "elapsed": elapsed,
            "publish_s": published - started, "errors": stats.get("errors", 0),
            "last_error": stats.get("last_error")}


# ============================================================================= in process


def inprocess_fanout(subscribers: int, messages: int, per_message: bool,
                     store: str = "memory", address: str | None = None) -> float:
    from amfast.remoting.channel import ChannelSet
    from amfast.remoting.wsgi_channel import WsgiChannel
    channel_set = ChannelSet(**make_managers(store, address))
    channel = WsgiChannel("amf")
    channel_set.mapChannel(channel)
    manager = channel_set.subscription_manager
    connections = [channel.connect() for _ in range(subscribers)]
    for n, connection in enumerate(connections):
        manager.subscribe(connection.id, f"C{n}", "chat")
    delivered = 0
    started = time.perf_counter()
    for i in range(messages):
        channel_set.publishMessage(AsyncMessage(body={"i": i}, destination="chat"))
        if per_message:
            for connection in connections:
                delivered += len(manager.pollConnection(connection))
    if not per_message:
        for connection in connections:
            delivered += len(manager.pollConnection(connection))
    elapsed = time.perf_counter() - started
    assert delivered == subscribers * messages, (delivered, subscribers * messages)
    return delivered / elapsed


def profile_stream_fanout(subscribers: int = 100, messages: int = 200) -> str:
    """The server's work for a publish fanned out to streams, in one thread, profiled:
    decode + invoke the publish request, then per stream pollConnection + frame encoding."""
    channel_set = build_channel_set()
    amf = channel_set.getChannel("amf")
    streaming = channel_set.getChannel("streaming")
    manager = channel_set.subscription_manager
    connections = [streaming.connect() for _ in range(subscribers)]
    for n, connection in enumerate(connections):
        connection.useSmallMessages()
        manager.subscribe(connection.id, f"C{n}", "chat")
    requests = [flex_packet(AsyncMessage(body={"t": 0.0, "i": i}, destination="chat",
                                         headers={"DSId": "nil"})) for i in range(messages)]
    profiler = cProfile.Profile()
    profiler.enable()
    for raw in requests:
        packet = amf.decode(raw)
        amf.encode(amf.invoke(packet), packet)
        for connection in connections:
            for message in manager.pollConnection(connection):
                streaming.frame(message)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(r"amfast|remoting|webob|copy|uuid|threading", 18)
    return out.getvalue()


# ============================================================================= the report


def fmt_ms(value: float) -> str:
    return f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages per run")
    parser.add_argument("--profile", action="store_true", help="always print the profile")
    parser.add_argument("--servers", default="wsgiref,waitress,uvicorn")
    parser.add_argument("--stores", default="memory,memcache,redis",
                        help="managers to measure: memory, memcache, redis, postgresql "
                             "(default memory,memcache,redis)")
    parser.add_argument("--mc", metavar="HOST:PORT",
                        help="use this memcached (default: start a private one)")
    parser.add_argument("--redis", metavar="URL",
                        help="use this Redis, redis://host:port/db (default: start a private "
                             "one)")
    parser.add_argument("--pg", metavar="URL",
                        help="use this PostgreSQL database (default: start a private cluster)")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--store", default="memory", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]), args.store,
              args.address, args.prefix)
        return

    import amfast
    print(f"Python {platform.python_version()}, amfast {amfast.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}")
    messages = 30 if args.quick else 60
    servers = [s for s in args.servers.split(",") if s]
    stores = [s for s in args.stores.split(",") if s]
    missed: list = []
    started: list = []
    if "memcache" in stores and not args.mc:
        memcached = StoreServer("memcached", memcached_command)
        if memcached.proc is None:
            print("memcache: skipped (no memcached binary; `make memcached` installs it)")
            stores.remove("memcache")
        else:
            started.append(memcached)
            args.mc = f"127.0.0.1:{memcached.port}"
    if "redis" in stores and not args.redis:
        redis_server = StoreServer("redis-server", redis_command)
        if redis_server.proc is None:
            print("redis: skipped (no redis-server binary; `make redis` installs it)")
            stores.remove("redis")
        else:
            started.append(redis_server)
            args.redis = f"redis://127.0.0.1:{redis_server.port}/0"
    if "postgresql" in stores and not args.pg:
        postgresql = start_postgresql()
        if postgresql is None:
            print("postgresql: skipped (no PostgreSQL binaries or psycopg; `make postgresql` "
                  "installs them)")
            stores.remove("postgresql")
        else:
            started.append(postgresql)
            args.pg = postgresql.url
    if "memcache" in stores:
        print(f"memcache: memcached at {args.mc}; held polls and streams re-check every "
              f"{MC_POLL_INTERVAL} ms")
    if "redis" in stores:
        print(f"redis: {args.redis}; each process's listener wakes its held polls and streams")
    if "postgresql" in stores:
        print(f"postgresql: {args.pg.rpartition('@')[2]}; B's publishes wake A's held polls "
              f"and streams through LISTEN/NOTIFY")
    if set(stores) - {"memory"}:
        print(f"shared stores: latency across two server processes (subscribers on A, "
              f"publisher on B); HTTP fan-out over {FANOUT_WORKERS} worker processes")
    try:
        run_all(args, servers, stores, messages, missed)
    finally:
        for server in started:
            server.stop()


def start_postgresql():
    """A private PostgreSQL cluster (tests/support/stores.py), or None without the binaries."""
    try:
        import psycopg  # noqa: F401
        from tests.support.stores import (PostgresProcess, PostgresTemplate, postgres_bindir,
                                          postgres_user)
    except ImportError:
        return None
    bindir, user = postgres_bindir(), postgres_user()
    if bindir is None or user is None:
        return None
    return _PostgresServer(PostgresProcess(PostgresTemplate(bindir, user)).start())


class _PostgresServer:
    """A private cluster, stopped (its data and template deleted) like the other servers."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.url = cluster.url

    def stop(self) -> None:
        self.cluster.remove()
        self.cluster.template.remove()


def store_address(args, store: str) -> str | None:
    """Where a shared store's server is (what ``make_managers`` takes as ``address``)."""
    return {"memcache": args.mc, "redis": args.redis, "postgresql": args.pg}.get(store)


def latency_cell(result: dict) -> str:
    cell = (f"p50 {fmt_ms(result['median_ms'])} / p99 {fmt_ms(result['p99_ms'])} / "
            f"max {fmt_ms(result['max_ms'])} ms")
    if result["samples"] != result["expected"]:
        cell += f" ({result['samples']}/{result['expected']} delivered)"
    if result["errors"]:
        cell += f" ({result['errors']} HTTP errors)"
    if result["timeout"]:
        cell += " TIMED OUT"
    return cell


class Table:
    """Measures in rows, stores side by side in columns, and what each target says."""

    def __init__(self, stores: list):
        self.stores = stores
        self.rows: dict = {}
        self.targets: dict = {}

    def add(self, measure: str, store: str, cell: str) -> None:
        self.rows.setdefault(measure, {})[store] = cell
        print(f"  {measure}, {store}: {cell}", flush=True)

    def target(self, measure: str, text: str, ok: bool, missed: list) -> None:
        said = f"{text}: {'met' if ok else 'MISSED'}"
        self.targets[measure] = "; ".join(filter(None, [self.targets.get(measure), said]))
        if not ok:
            missed.append(f"{measure} ({text})")

    def print(self) -> None:
        lines = [[m] + [cells.get(s, "") for s in self.stores] + [self.targets.get(m, "")]
                 for m, cells in self.rows.items()]
        print()
        print_table(tuple(["measure"] + self.stores + ["target"]), lines)
        print()


def run_all(args, servers: list, stores: list, messages: int, missed: list) -> None:
    table = Table(stores)
    # -- 1. latency over HTTP ---------------------------------------------------------
    errors = []
    for server_kind, sub_kind, subscribers, store in itertools.product(
            servers, ("longpoll", "streaming"), (1, 100), stores):
        group = Servers(server_kind, subscribers + 24, store, store_address(args, store))
        try:
            result = asyncio.run(latency_run(group.a.port, sub_kind, subscribers, messages,
                                             publish_port=group.b.port))
        finally:
            group.stop()
        measure = f"latency {sub_kind}, {subscribers} sub, {server_kind}"
        table.add(measure, store, latency_cell(result))
        if result["last_error"]:
            errors.append(f"{measure}, {store}: {result['last_error']}")
        complete = result["samples"] == result["expected"]
        if store == "memory" and sub_kind == "streaming" and subscribers == 100:
            table.target(measure, f"memory p99 < {TARGET_P99_MS:.0f} ms",
                         result["p99_ms"] < TARGET_P99_MS and complete, missed)
        if store == "redis" and sub_kind == "streaming" and subscribers == 100:
            table.target(measure, f"redis p99 <= {TARGET_REDIS_P99_MS:.0f} ms",
                         result["p99_ms"] <= TARGET_REDIS_P99_MS and complete, missed)

    # -- 2. in-process fan-out ------------------------------------------------------------
    # Shared stores: every poll is a few round trips, so fewer messages.
    counts = {"memory": ((1, 20000), (100, 300), (1000, 40)),
              "memcache": ((1, 2000), (100, 40), (1000, 6)),
              "redis": ((1, 2000), (100, 40), (1000, 6)),
              "postgresql": ((1, 1000), (100, 20), (1000, 4))}
    for (n, per_message), store in itertools.product(
            itertools.product(range(3), (True, False)), stores):
        subscribers, count = counts[store][n]
        if args.quick:
            count = max(3, count // 4)
        rate = inprocess_fanout(subscribers, count, per_message, store,
                                store_address(args, store))
        measure = (f"in-process fan-out, {subscribers} sub "
                   f"({'per message' if per_message else 'batched'})")
        table.add(measure, store, f"{rate:,.0f} deliveries/s")
        if store == "memory" and subscribers == 1000:
            table.target(measure, f"memory >= {TARGET_INPROC:,}/s", rate >= TARGET_INPROC,
                         missed)

    # -- 3. HTTP fan-out ---------------------------------------------------------------------
    single: dict = {}
    for server_kind, (subscribers, count), store in itertools.product(
            servers, ((1, 2000), (100, 100), (1000, 20)), stores):
        if args.quick:
            count = max(5, count // 4)
        group = Servers(server_kind, 24, store, store_address(args, store),
                        count=FANOUT_WORKERS)
        try:
            result = asyncio.run(http_fanout_run([w.port for w in group.workers], subscribers,
                                                 count, publish_port=group.a.port))
        finally:
            group.stop()
        measure = f"HTTP fan-out, {subscribers} sub polling, {server_kind}"
        cell = f"{result['per_second']:,.0f}/s"
        if result["delivered"] != result["expected"]:
            cell += f" ({result['delivered']}/{result['expected']} delivered)"
        if result["errors"]:
            cell += f" ({result['errors']} HTTP errors)"
        table.add(measure, store, cell)
        if store == "memory":
            single[measure] = result["per_second"]
        elif store == "redis" and measure in single:
            table.target(measure, f"redis on {FANOUT_WORKERS} workers >= memory on 1",
                         result["per_second"] >= single[measure], missed)

    table.print()
    if errors:
        print("last HTTP errors seen (the client retried):")
        for line in errors:
            print("  " + line)
    if missed:
        print("targets missed: " + "; ".join(missed))
    if missed or args.profile:
        print("\nWhere the server's time goes for one publish fanned out to 100 streams "
              "(cProfile, one thread, 200 publishes; tottime order):")
        print(profile_stream_fanout())


if __name__ == "__main__":
    main()
