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
import threading
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Notifier", "ThreadWaiter", "AsyncWaiter", "CallbackWaiter"]


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


class AsyncWaiter:
    """Suspends a coroutine until woken or a timeout passes; made on the loop it waits on."""

    __slots__ = ("_event", "_loop", "_thread")

    def __init__(self):
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def wake(self) -> None:
        if threading.get_ident() == self._thread:
            self._event.set()
        else:
            try:
                self._loop.call_soon_threadsafe(self._event.set)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self._event.clear()


class CallbackWaiter:
    """Calls a function when woken (AmFast's notify functions)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[], Any]):
        self.func = func

    def wake(self) -> None:
        self.func()


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
        for waiter in waiters:
            waiter.wake()

    def notifyMany(self, connection_ids: Iterable[str]) -> None:
        with self._lock:
            waiters = [w for i in connection_ids for w in self._waiters.get(i, ())]
        for waiter in waiters:
            waiter.wake()

    def notifyAll(self) -> None:
        """Wake every waiter (the server is shutting down, the store came back...)."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
        for waiter in waiters:
            waiter.wake()

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
