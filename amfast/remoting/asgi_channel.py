"""Channels served by any ASGI server: mount an ``AsgiChannelSet`` as the application.

An ``AsgiChannelSet`` is an ASGI 3 application (uvicorn: ``pip install
'amfast[asgi]'``; mountable in Starlette, FastAPI or Django's ASGI application)
with the whole ``ChannelSet`` API.  The request path (below the mount point)
selects the channel: an ``AsgiChannel`` answers RPC, polling and long-polling
requests, a ``StreamingAsgiChannel`` also Flex streaming connections.

A held poll or an open stream is a coroutine awaiting its connection's
notifications: it holds no thread.  Targets run in a bounded pool of worker
threads (``workers``), so blocking user code never stalls the event loop; a
target whose callable is a coroutine function is awaited on the loop.  Store
calls made while polls and streams wait run on the loop for the in-memory
managers and in the worker pool for stores that do network I/O.

Lifespan: at shutdown every held poll is answered and every stream ends with its
DISCONNECT frame.  uvicorn sends the lifespan shutdown only after open responses
finished: run it with ``--timeout-graceful-shutdown`` (a few seconds), after
which it cancels them, and amfast still answers them properly.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
from typing import Any, Awaitable, Callable

import amfast
from amfast.remoting.channel import ChannelError, ChannelSet, HttpAnswer, HttpChannel, plain
from amfast.remoting.connection import Connection
from amfast.remoting.dispatch import PendingReply
from amfast.remoting.notifier import AsyncWaiter
from amfast.remoting.streaming import StreamingHttpChannel
from amfast.remoting.waiting import Steps, StepsHub, run_async

__all__ = ["AsgiChannelSet", "AsgiChannel", "StreamingAsgiChannel"]

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

#: Bodies at least this long are decoded in a worker thread, not on the loop.
LARGE_BODY = 64 * 1024


async def send_answer(send: Send, answer: HttpAnswer) -> None:
    """Write an HttpAnswer as one ASGI response."""
    headers = [(b"content-type", answer.content_type.encode("latin-1")),
               (b"content-length", str(len(answer.body)).encode("ascii"))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def content_length(scope: Scope) -> int | None:
    """The request's Content-Length (-1 when it is not a number), None without one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def query_param(scope: Scope, name: str) -> str | None:
    import urllib.parse

    values = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"),
                                   max_num_fields=16).get(name)
    return values[0] if values else None


class AsgiChannelSet(ChannelSet):
    """An ASGI 3 application: the request path (``/<channel name>`` below the mount point)
    selects the channel.

    ``workers`` bounds the threads that run targets and store calls (default:
    ``min(32, cpus + 4)``, as Python's own thread pools).
    """

    def __init__(self, service_mapper=None, connection_manager=None, subscription_manager=None,
                 notify_connections: bool = True, clean_freq: int = 300000,
                 debug: bool = False, max_held: int | None = None, workers: int | None = None):
        ChannelSet.__init__(self, service_mapper, connection_manager, subscription_manager,
                            notify_connections, clean_freq, debug, max_held)
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        #: The requests being answered now, so that shutdown can wait for them.
        self._active: set[asyncio.Task] = set()
        self._stalls = _StallWatch()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if not self.started:  # served without lifespan events
            self.start()
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        name = path.strip("/")
        try:
            channel = self.getChannel(name)
        except ChannelError:
            await send_answer(send, plain(404, f"No AMF channel at '/{name}'.\n"))
            return
        await channel(scope, receive, send)

    def holding(self) -> dict[str, int]:
        """``ChannelSet.holding``, and the event loop's share: ``tasks`` (held polls and
        streams being answered) and ``pending_writes`` (stream writes waiting for a client
        that reads slowly)."""
        counts = ChannelSet.holding(self)
        counts["tasks"] = sum(1 for task in list(self._active) if not task.done())
        counts["pending_writes"] = self._stalls.pending()
        return counts

    # -- worker threads --------------------------------------------------------------

    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.workers, thread_name_prefix="amfast-worker")
        return self._pool

    async def runBlocking(self, func: Callable, *args: Any) -> Any:
        """``func(*args)`` in a worker thread (targets, stores that do network I/O), in a
        copy of the request's context (its context variables are the request's)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self.pool(), functools.partial(context.run, func, *args))

    async def callStore(self, func: Callable, *args: Any) -> Any:
        """A store call made while a poll or stream waits: here for the in-memory
        managers, in a worker thread for the others."""
        if self.storesBlock():
            return await self.runBlocking(func, *args)
        return func(*args)

    async def publishMessageAsync(self, msg: Any) -> None:
        """``publishMessage`` for coroutines: the store is written without blocking the loop."""
        await self.callStore(self.publishMessage, msg)

    async def publishObjectAsync(self, body: Any, topic: str, sub_topic: str | None = None,
                                 headers: dict | None = None, ttl: int = 10000) -> Any:
        """``publishObject`` for coroutines."""
        return await self.callStore(self.publishObject, body, topic, sub_topic, headers, ttl)

    # -- lifespan --------------------------------------------------------------------

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Start what the managers run in the background, on this loop.

        The lifespan startup calls it; an application that mounts the channel set (a
        Starlette ``Mount`` passes no lifespan events on) calls it from its own lifespan,
        with ``shutdown`` at the end.
        """
        self.closing = False
        if not self.started:
            self.started = True
            await self.subscription_manager.startAsync(self.notifier)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Answer held polls, end streams (DISCONNECT), wait for them, stop the managers'
        listeners and the workers."""
        self.closing = True
        self.notifier.notifyAll()
        active = [task for task in self._active if not task.done()]
        if active:
            await asyncio.wait(active, timeout=timeout)
        if self.started:
            self.started = False
            await self.subscription_manager.stopAsync()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def drive(self, steps: Steps, listen: tuple, receive: Receive,
                    write: Callable[[bytes], Awaitable[Any]] | None = None) -> Any:
        """Drive the steps of a held poll or stream, woken by notifications for ``listen``;
        what they return.

        A client that goes away, or a server that gives up on the request (uvicorn
        cancels it when its graceful shutdown times out), stops them: they end properly
        (``waiting.Stopping``: a poll is answered, a stream writes its DISCONNECT);
        ``ClientGone`` when nobody is left to answer.
        """
        task = asyncio.current_task()
        waiter = AsyncWaiter()
        # One task per held request watches for the client leaving.
        gone = asyncio.ensure_future(_disconnected(receive))
        gone.add_done_callback(lambda _: waiter.stop())
        self._active.add(task)
        try:
            with self.notifier.listening(listen, waiter):
                result = await run_async(steps, waiter, write, self.callStore)
        finally:
            gone.cancel()
            self._active.discard(task)
        if gone.done() and not gone.cancelled():
            raise ClientGone()
        return result


#: How long steps told to stop may take to end (write their last frame).
STOP_TIMEOUT = 5.0


class ClientGone(Exception):
    """The client of a held request went away, or stopped reading its stream."""


class _StallWatch:
    """Ends the streams whose client stopped reading: one timer for all of them.

    A write waits when the server's buffer for the connection is full (uvicorn: 64 KiB),
    which bounds what a stream may have pending; a write that waited longer than its
    stream's limit gets the stream's task cancelled, and the stream ends.
    """

    #: How often writes are looked at (s).
    TICK = 0.25

    def __init__(self):
        self._writing: dict[asyncio.Task, tuple] = {}
        self.stalled: set[asyncio.Task] = set()
        self._handle: asyncio.TimerHandle | None = None

    def begin(self, task: asyncio.Task, limit: float) -> None:
        loop = asyncio.get_running_loop()
        self._writing[task] = (loop.time(), limit)
        if self._handle is None:
            self._handle = loop.call_later(self.TICK, self._check, loop)

    def end(self, task: asyncio.Task) -> None:
        self._writing.pop(task, None)

    def pending(self) -> int:
        """How many writes wait for their client now."""
        return len(self._writing)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, (since, limit) in list(self._writing.items()):
            if now - since > limit:
                del self._writing[task]
                self.stalled.add(task)
                task.add_done_callback(self.stalled.discard)
                task.cancel()
        self._handle = loop.call_later(self.TICK, self._check, loop) if self._writing else None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class AsgiChannel(HttpChannel):
    """Answers AMF requests POSTed to it; see HttpChannel for polling and long-polling.

    Also an ASGI application by itself (mount one channel at a path).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await self.readBody(scope, receive)
        if isinstance(raw, HttpAnswer):
            await send_answer(send, raw)
            return
        answer = await self.answerAmfAsync(raw, scope, receive)
        if answer is not None:
            await send_answer(send, answer)

    async def readBody(self, scope: Scope, receive: Receive) -> bytes | HttpAnswer:
        """The request body, or the answer that refuses it (the size is checked before
        reading and counted while receiving)."""
        length = content_length(scope)
        refused = self.checkRequest(scope["method"], length)
        if refused is not None:
            return refused
        chunks = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > length:
                return plain(400, "Request body is longer than its Content-Length.\n")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return self.checkBody(b"".join(chunks), length) or b"".join(chunks)

    async def answerAmfAsync(self, raw: bytes, scope: Scope, receive: Receive
                             ) -> HttpAnswer | None:
        """Decode, dispatch (targets in the worker pool), wait if a poll is held, encode."""
        channel_set: AsgiChannelSet = self.channel_set
        if len(raw) >= LARGE_BODY:
            packet = await channel_set.runBlocking(self.decodeRequest, raw)
        else:
            packet = self.decodeRequest(raw)
        if isinstance(packet, HttpAnswer):
            return packet
        if channel_set.storesBlock() or channel_set.broker.blocks(packet):
            answer = await channel_set.runBlocking(self._dispatchAndAnswer, packet, scope)
        else:  # nothing that blocks: answered on the loop, no thread hop
            answer = self._dispatchAndAnswer(packet, scope)
        if isinstance(answer, PendingReply):
            try:
                reply = await channel_set.drive(answer.steps(), answer.listen, receive)
            except ClientGone:
                return None  # nobody to answer
            answer = self.answerReply(reply, packet)
        return answer

    def _dispatchAndAnswer(self, packet: Any, scope: Scope) -> HttpAnswer | PendingReply:
        """In a worker thread: the encoded answer, or the pending reply to complete."""
        def dispatched() -> HttpAnswer | PendingReply:
            reply = self.dispatch(packet, scope)
            if isinstance(reply, PendingReply):
                return reply
            return self._encoded(reply, packet)
        return self.guarded(dispatched)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class StreamingAsgiChannel(AsgiChannel, StreamingHttpChannel):
    """A Flex ``StreamingAMFChannel`` endpoint served by ASGI (see ``StreamingHttpChannel``).

    An open stream is a coroutine: it holds no thread.
    """

    def __init__(self, name: str, max_connections: int = -1, endpoint=None,
                 wait_interval: int = 0, heart_interval: int = 30000, poll_interval: int = 500,
                 max_body_size: int = HttpChannel.DEFAULT_MAX_BODY_SIZE,
                 max_streams: int = 10000, idle_timeout: int = 0, write_timeout: int = 10000):
        StreamingHttpChannel.__init__(self, name, max_connections, endpoint, wait_interval,
                                      heart_interval, poll_interval, max_body_size, max_streams,
                                      idle_timeout)
        #: How long (ms) a write may wait for a client that stopped reading before its
        #: stream ends (what is pending is bounded by the server's write buffer).
        self.write_timeout = write_timeout
        self._hub: StepsHub | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        command = query_param(scope, "command")
        if scope["method"] != "POST" or command is None:
            await AsgiChannel.__call__(self, scope, receive, send)
            return
        raw = await self.readBody(scope, receive)
        if isinstance(raw, HttpAnswer):
            await send_answer(send, raw)
            return
        opened = await self.channel_set.callStore(self.streamCommand, command, raw)
        if isinstance(opened, HttpAnswer):
            await send_answer(send, opened)
            return
        await self.openStream(opened, receive, send)

    async def openStream(self, connection: Connection, receive: Receive, send: Send) -> None:
        """Send the stream: on this loop's hub (one callback drives every ready stream)
        when the stores never block, else as a held request with a task of its own."""
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", self.CONTENT_TYPE.encode("ascii")),
                (b"cache-control", b"no-cache")]})
            if self.channel_set.storesBlock():
                await self.channel_set.drive(self.stream(connection), (connection.id,),
                                             receive, self._writer(send))
            else:
                await self._streamOnHub(connection, receive, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientGone:
            amfast.logger.info("stream of %r ends: its client went away or stopped reading",
                               connection)
        finally:
            self.releaseStream(connection)

    def _writer(self, send: Send) -> Callable[[bytes], Awaitable[None]]:
        """A stream's writes for ``drive``: one that waits longer than ``write_timeout``
        for its client ends the stream."""
        stalls = self.channel_set._stalls
        limit = self.write_timeout / 1000

        async def write(raw: bytes) -> None:
            task = asyncio.current_task()
            if task in stalls.stalled:
                raise ClientGone()  # it does not read: write no more
            stalls.begin(task, limit)
            try:
                await send({"type": "http.response.body", "body": raw, "more_body": True})
            finally:
                stalls.end(task)

        return write

    async def _streamOnHub(self, connection: Connection, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        if self._hub is None or self._hub.loop is not loop:
            stalls, limit = self.channel_set._stalls, self.write_timeout / 1000

            def pending(task: asyncio.Task) -> None:  # a write waits for its client
                stalls.begin(task, limit)
                task.add_done_callback(stalls.end)

            self._hub = StepsHub(loop, pending)
        hub = self._hub
        stream = hub.open(self.stream(connection), lambda raw: send(
            {"type": "http.response.body", "body": raw, "more_body": True}))
        task = asyncio.current_task()
        self.channel_set._active.add(task)
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            with self.channel_set.notifier.listening((connection.id,), stream):
                hub.start(stream)
                try:
                    await asyncio.wait((stream.done, gone),
                                       return_when=asyncio.FIRST_COMPLETED)
                except asyncio.CancelledError:
                    # The server gives up (shutdown): the stream writes its DISCONNECT.
                    stream.stop()
                    await asyncio.wait((stream.done,), timeout=STOP_TIMEOUT)
                if not stream.done.done():  # the client went away
                    stream.stop()
                    await asyncio.wait((stream.done,), timeout=STOP_TIMEOUT)
        finally:
            gone.cancel()
            self.channel_set._active.discard(task)
        error = stream.done.exception() if stream.done.done() else OSError("stuck")
        if gone.done() and not gone.cancelled() or isinstance(error, OSError):
            raise ClientGone()
        if error is not None:
            raise error
