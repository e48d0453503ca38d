"""One listener per process: hears the wake-ups published through Redis, wakes this
process's waiters.

Pub/sub is at-most-once: a listener that Redis dropped (its output buffer went
over the limit), or whose connection died, missed what was published meanwhile.
The stored message log is the truth, so when the listener loses its connection,
and again when it is subscribed anew, every waiter of the process is woken to
look at the store: it then fails if Redis is down, or catches up from its
cursors.  A listener that heard nothing for ``HEALTH_INTERVAL`` seconds PINGs;
no answer within the socket timeout counts as a lost connection (a frozen Redis
or a dead network path never closes the socket).

``ThreadListener`` runs in a daemon thread (WSGI, or an ASGI application
without lifespan events); ``AsyncListener`` is a task on the event loop, with
``redis.asyncio`` (ASGI lifespan).
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable

import amfast
from amfast.remoting.redis_manager import MESSAGES, STATE, UNAVAILABLE, WAKE_ALL, origin_of

__all__ = ["WakeListener", "ThreadListener", "AsyncListener", "HEALTH_INTERVAL"]

#: Seconds of silence after which the listener checks its connection with a PING.
HEALTH_INTERVAL = 0.5
#: The longest one read waits (s): how late a missing answer may be noticed.
READ_TIMEOUT = 0.25
#: Seconds between two attempts to subscribe again, at most.
MAX_BACKOFF = 1.0
#: What ``WakeListener.next_step`` may ask for.
PING, RESTART = "ping", "restart"
PING_DATA = "amfast"


class WakeListener:
    """What a listener does with what it hears, however it runs."""

    def __init__(self, channel: str, view: Any, notifier: Any, socket_timeout: float):
        self.channel = channel
        self.view = view
        self.origin = origin_of(notifier).encode("utf-8")
        self.notifier = notifier
        self.socket_timeout = socket_timeout
        #: True while subscribed: publishes made anywhere wake this process's waiters.
        self.listening = False
        #: How many times the listener was subscribed (1 + the reconnections).
        self.subscriptions = 0
        self._stopping = False
        self._last_heard = 0.0
        self._pinged: float | None = None

    def begin(self) -> None:
        """A new subscription is being made."""
        self._last_heard = time.monotonic()
        self._pinged = None

    def next_step(self, message: dict | None) -> str | None:
        """Act on what one read returned (a pub/sub message, or None after
        ``READ_TIMEOUT``); what to do next: None (read again), ``PING``, ``RESTART``."""
        now = time.monotonic()
        if message is not None:
            self._last_heard, self._pinged = now, None
            kind = message["type"]
            if kind in ("subscribe", b"subscribe"):
                self.subscribed()
            elif kind in ("message", b"message"):
                self.wake(message["data"])
            return None
        if self._pinged is not None:
            # A frozen server or a dead path never closes the socket: no answer in time.
            return RESTART if now - self._pinged > self.socket_timeout else None
        if not self.listening:
            # No subscribe confirmation in time.
            waited = now - self._last_heard
            return RESTART if waited > self.socket_timeout + HEALTH_INTERVAL else None
        if now - self._last_heard >= HEALTH_INTERVAL:
            self._pinged = now
            return PING
        return None

    @staticmethod
    def parse(data: bytes) -> tuple:
        """A wake-up (the format is in ``redis_manager``): origin (bytes), kind, topic, ids."""
        head, _, rest = data.partition(b"\n")
        origin, kind, length = head.split(b" ")
        size = int(length)
        return (origin, kind.decode(), rest[:size].decode("utf-8", "surrogatepass"),
                rest[size + 1:].decode("utf-8", "surrogatepass").split("\n"))

    def wake(self, data: bytes) -> None:
        """One wake-up."""
        origin, kind, topic, ids = self.parse(data)
        if kind == STATE:
            self.view.state_changed(ids)
        else:
            self.view.published(topic, ids)
        if origin == self.origin:
            return  # this process woke its own waiters already
        if ids == [WAKE_ALL]:
            self.notifier.notifyAll()
        else:
            self.notifier.notifyMany(ids)

    def subscribed(self) -> None:
        self.listening = True
        self.subscriptions += 1
        self.view.reset(listening=True)
        # Whatever was published while nobody listened is in the logs: everyone looks.
        self.notifier.notifyAll()

    def lost(self, error: BaseException | None) -> None:
        was_listening, self.listening = self.listening, False
        self.view.reset(listening=False)
        if self._stopping:
            return
        if was_listening:
            amfast.logger.error("Redis wake-up listener lost its connection: %s",
                                type(error).__name__ if error else "no answer")
        # Waiters look at the store now: they fail if Redis is down, or catch up.
        self.notifier.notifyAll()


class ThreadListener(WakeListener):
    """The listener in a daemon thread, on a redis-py client's pub/sub."""

    def __init__(self, client: Any, channel: str, view: Any, notifier: Any,
                 socket_timeout: float):
        WakeListener.__init__(self, channel, view, notifier, socket_timeout)
        self.client = client
        self._pubsub: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amfast-redis-listener",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop_soon(self, timeout: float = 5.0) -> None:
        """Stop listening (from any thread); returns once the thread has ended."""
        self._stopping = True
        self._stop.set()
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                # Wakes the thread blocked reading the socket.
                pubsub.connection.disconnect()
            except Exception:  # already closed, or never connected
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.listening = False
        self.view.reset(listening=False)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            error = None
            try:
                self._listen()
                backoff = 0.05
            except UNAVAILABLE as exc:
                error = exc
            except Exception as exc:  # never let the listener die: log, start over
                if not self._stop.is_set():
                    amfast.logger.exception("Redis wake-up listener failed")
                error = exc
            finally:
                self._close()
            self.lost(error)
            self._stop.wait(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    def _listen(self) -> None:
        self._pubsub = pubsub = self.client.pubsub()
        pubsub.subscribe(self.channel)
        self.begin()
        while not self._stop.is_set():
            step = self.next_step(pubsub.get_message(timeout=READ_TIMEOUT))
            if step == PING:
                pubsub.ping(PING_DATA)
            elif step == RESTART:
                return

    def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # a connection that is already gone
                pass


class AsyncListener(WakeListener):
    """The listener as a task on the running event loop, on a ``redis.asyncio`` client."""

    def __init__(self, client: Any, channel: str, view: Any, notifier: Any,
                 socket_timeout: float, close_client: Callable[[], Any] | None = None,
                 before_wake: Callable[[list], Awaitable[None]] | None = None):
        WakeListener.__init__(self, channel, view, notifier, socket_timeout)
        self.client = client
        self._close_client = close_client
        #: Awaited with the ids of a wake-up for messages published by another process,
        #: before their waiters here are woken.
        self.before_wake = before_wake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def stop_soon(self) -> None:
        """Stop listening, from any thread (the task ends on its loop)."""
        self._stopping = True
        task = self._task
        if task is not None:
            try:
                self._loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop is closed: the task is gone with it
                pass
        self.listening = False
        self.view.reset(listening=False)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.listening = False
        self.view.reset(listening=False)
        if self._close_client is not None:
            await self._close_client()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            error = None
            pubsub = self.client.pubsub()
            try:
                await self._listen(pubsub)
                backoff = 0.05
            except UNAVAILABLE as exc:
                error = exc
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the listener die: log, start over
                amfast.logger.exception("Redis wake-up listener failed")
                error = exc
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # a connection that is already gone
                    pass
            self.lost(error)
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _listen(self, pubsub: Any) -> None:
        await pubsub.subscribe(self.channel)
        self.begin()
        while True:
            message = await pubsub.get_message(timeout=READ_TIMEOUT)
            if message is not None and message["type"] in ("message", b"message") and \
                    self.before_wake is not None:
                origin, kind, _, ids = self.parse(message["data"])
                if kind == MESSAGES and origin != self.origin and ids != [WAKE_ALL]:
                    await self.before_wake(ids)
            step = self.next_step(message)
            if step == PING:
                await pubsub.ping(PING_DATA)
            elif step == RESTART:
                return
