"""New-message notification: one mechanism for every kind of waiter.

A held poll or an open stream registers a waiter for its connection id; whoever
learns that the connection may have messages, or is gone, calls ``notify``: a
request that published in this process, the channel set when it disconnects a
connection, or a store's listener that heard of a publish in another process.
``notify`` may be called from any thread; it wakes thread waiters (WSGI) and
asyncio waiters (ASGI, on their own loop) alike.  A wake-up says only "look
again": the waiter re-reads the store, which is the truth.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Notifier", "ThreadWaiter", "LoopWaiter", "AsyncWaiter", "CallbackWaiter",
           "loop_clock"]


class ThreadWaiter:
    """Blocks a thread until woken or a timeout passes."""

    __slots__ = ("_event",)

    def __init__(self):
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a wake-up (one already received counts)."""
        self._event.wait(timeout)
        # Whatever woke us is in the store by now: the caller looks there next.
        self._event.clear()


class _LoopClock:
    """One timer per event loop for the timeouts of all its waiters.

    Deadlines are rounded up to ``GRAIN`` seconds and kept in buckets; a waiter
    woken before its deadline leaves its bucket, so nothing piles up, and the
    loop has one timer armed (for the earliest bucket) however many connections
    wait: an idle stream costs no wake-up until its heartbeat is due.
    """

    GRAIN = 0.01

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._buckets: dict[int, set] = {}
        self._keys: list[int] = []
        self._armed: int | None = None
        self._handle: asyncio.TimerHandle | None = None

    def keyOf(self, deadline: float) -> int:
        """The bucket of ``deadline``."""
        return math.ceil(deadline / self.GRAIN)

    def add(self, waiter: "LoopWaiter", deadline: float) -> int:
        """File ``waiter`` under ``deadline``; its bucket's key (to ``discard`` it)."""
        key = math.ceil(deadline / self.GRAIN)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
            heapq.heappush(self._keys, key)
            if self._armed is None or key < self._armed:
                self._arm(key)
        bucket.add(waiter)
        return key

    def discard(self, waiter: "LoopWaiter", key: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.discard(waiter)

    def _arm(self, key: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = key
        self._handle = self._loop.call_at(key * self.GRAIN, self._fire)

    def _fire(self) -> None:
        self._handle = self._armed = None
        now = self._loop.time()
        keys = self._keys
        while keys and keys[0] * self.GRAIN <= now:
            for waiter in self._buckets.pop(heapq.heappop(keys), ()):
                waiter._expire()
        while keys and not self._buckets.get(keys[0]):
            self._buckets.pop(heapq.heappop(keys), None)
        if keys:
            self._arm(keys[0])


_clocks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClock]" = \
    weakref.WeakKeyDictionary()


def loop_clock(loop: asyncio.AbstractEventLoop) -> _LoopClock:
    """The one clock of ``loop``."""
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = _LoopClock(loop)
    return clock


class LoopWaiter:
    """A waiter of an event loop: woken on its loop from any thread; timeouts kept by the
    loop's one clock.  Subclasses say what waking (``_set``) and a passed deadline
    (``_expire``) do."""

    __slots__ = ("_loop", "_thread", "_clock", "stopped", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self._loop = asyncio.get_running_loop() if loop is None else loop
        self._thread = threading.get_ident()
        self._clock = loop_clock(self._loop)
        #: Set by ``stop``: the steps waiting here are to end now (properly).
        self.stopped = False

    def stop(self) -> None:
        """Tell the steps that wait here to end now (on this waiter's loop)."""
        self.stopped = True
        self._set()

    def wake(self) -> None:
        if threading.get_ident() == self._thread:
            self._set()
        else:
            try:
                self._loop.call_soon_threadsafe(self._set)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _set(self) -> None:
        raise NotImplementedError

    def _expire(self) -> None:
        raise NotImplementedError


class AsyncWaiter(LoopWaiter):
    """Suspends a coroutine until woken or a timeout passes; made on the loop it waits on.

    Timeouts share one timer per loop (``_LoopClock``): a wait may last up to
    ``_LoopClock.GRAIN`` longer than asked.
    """

    __slots__ = ("_future", "_woken")

    def __init__(self):
        LoopWaiter.__init__(self)
        self._future: asyncio.Future | None = None
        self._woken = False

    def _set(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)
        else:
            self._woken = True

    def _expire(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a wake-up (one already received counts)."""
        if self._woken or self.stopped:
            self._woken = False
            return
        future = self._future = self._loop.create_future()
        key = self._clock.add(self, self._loop.time() + timeout)
        try:
            await future
        finally:
            self._future = None
            self._clock.discard(self, key)


class CallbackWaiter:
    """Calls a function when woken (AmFast's notify functions)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[], Any]):
        self.func = func

    def wake(self) -> None:
        self.func()


#: Waiters of one event loop woken per loop iteration (see ``_set_all``).
WAKE_SLICE = 64


def _wake(waiters: Iterable[Any]) -> None:
    """Wake waiters; asyncio waiters by loop, a slice per loop iteration (a publish may
    wake thousands of held polls and streams), in one call per loop from another thread."""
    loops: dict = {}
    here = threading.get_ident()
    for waiter in waiters:
        if isinstance(waiter, LoopWaiter):
            loops.setdefault(waiter._loop, []).append(waiter)
        else:
            waiter.wake()
    for loop, batch in loops.items():
        if batch[0]._thread == here:
            _set_all(batch)
            continue
        try:
            loop.call_soon_threadsafe(_set_all, batch)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _set_all(waiters: list, start: int = 0) -> None:
    """Wake ``waiters`` (of the loop running this) from ``start``, a slice now and the
    rest in the next loop iterations: what the woken do (collect their messages, encode,
    answer) is then spread over iterations too, with the loop's other work (accepting,
    reading, answering the publisher) in between, instead of all in one iteration."""
    end = start + WAKE_SLICE
    for waiter in waiters[start:end]:
        waiter._set()
    if end < len(waiters):
        waiters[0]._loop.call_soon(_set_all, waiters, end)


class Notifier:
    """The waiters of this process, by connection id."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiters: dict[str, list] = {}
        self._funcs: dict[str, CallbackWaiter] = {}

    def add(self, connection_id: str, waiter: Any) -> None:
        with self._lock:
            self._waiters.setdefault(connection_id, []).append(waiter)

    def discard(self, connection_id: str, waiter: Any) -> None:
        with self._lock:
            waiters = self._waiters.get(connection_id)
            if waiters is None:
                return
            try:
                waiters.remove(waiter)
            except ValueError:
                return
            if not waiters:
                del self._waiters[connection_id]

    @contextlib.contextmanager
    def listening(self, connection_ids: Iterable[str], waiter: Any) -> Iterator[Any]:
        """Register ``waiter`` for the connections while the block runs."""
        ids = list(connection_ids)
        for connection_id in ids:
            self.add(connection_id, waiter)
        try:
            yield waiter
        finally:
            for connection_id in ids:
                self.discard(connection_id, waiter)

    def notify(self, connection_id: str) -> None:
        """Wake every waiter of this connection."""
        with self._lock:
            waiters = tuple(self._waiters.get(connection_id, ()))
        _wake(waiters)

    def notifyMany(self, connection_ids: Iterable[str]) -> None:
        with self._lock:
            waiters = [w for i in connection_ids for w in self._waiters.get(i, ())]
        _wake(waiters)

    def notifyAll(self) -> None:
        """Wake every waiter (the server is shutting down, the store came back...)."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
        _wake(waiters)

    def waiting(self) -> int:
        """How many connections have a waiter."""
        with self._lock:
            return len(self._waiters)

    def listened(self, connection_id: str) -> bool:
        """Whether a request of this process waits for the connection's messages."""
        with self._lock:
            return connection_id in self._waiters

    # -- AmFast's notify functions: one per connection -----------------------------

    def setNotifyFunc(self, connection_id: str, func: Callable[[], Any]) -> None:
        self.unSetNotifyFunc(connection_id)
        waiter = CallbackWaiter(func)
        with self._lock:
            self._funcs[connection_id] = waiter
        self.add(connection_id, waiter)

    def unSetNotifyFunc(self, connection_id: str) -> None:
        with self._lock:
            waiter = self._funcs.pop(connection_id, None)
        if waiter is not None:
            self.discard(connection_id, waiter)

    def getNotifyFunc(self, connection_id: str) -> Callable[[], Any] | None:
        waiter = self._funcs.get(connection_id)
        return None if waiter is None else waiter.func

    def clear(self) -> None:
        """Forget every waiter without waking it."""
        with self._lock:
            self._waiters.clear()
            self._funcs.clear()
