"""Waiting for messages, written once, driven by each transport its own way.

The steps of a held poll or an open stream are a generator that never blocks:
it yields what it needs and the transport's driver provides it.

* a ``float``: wait that many seconds, or less if a notification comes;
* ``bytes``: write them to the client (streams);
* a ``Call``: run a function that may block on a store (the ASGI driver runs it
  in a worker thread when the store does network I/O, or awaits the call's
  coroutine form when the store offers one); its value is sent back;
* an awaitable (a coroutine target's result): its value, or its exception, is
  sent back into the generator.

``iterate`` and ``run`` drive the steps in a thread (WSGI: a ``ThreadWaiter``
blocks it); ``run_async`` on an event loop (ASGI: an ``AsyncWaiter`` awaits); a
``StepsHub`` drives the steps of many streams on one loop without a task switch per
delivery (ASGI streams when the stores never block).
The value the generator returns is the driver's result.  When an event loop
driver is cancelled (the server is stopping, the client went away), ``Stopping``
is thrown into the steps at their wait, so that they can end properly (a held
poll answers, a stream writes its DISCONNECT frame).
"""
from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Awaitable, Callable, Generator

from amfast.remoting.notifier import LoopWaiter

__all__ = ["wait_for_messages", "iterate", "run", "run_async", "Call", "Stopping", "Steps",
           "StepsHub", "HubStream"]

#: A generator of effects (float: wait; bytes: write; Call; awaitable) returning a result.
Steps = Generator[Any, Any, Any]


class Stopping(Exception):
    """Thrown into steps whose driver is cancelled: end now, properly."""


class Call:
    """An effect: call ``func(*args)``, which may block on a store.

    ``coro``: the same call as a coroutine function, which an event loop driver awaits
    instead (a store with a client of its own on that loop); threads call ``func``.
    """

    __slots__ = ("func", "args", "coro")

    def __init__(self, func: Callable, *args: Any,
                 coro: Callable[..., Awaitable[Any]] | None = None):
        self.func = func
        self.args = args
        self.coro = coro


def wait_for_messages(collect: Callable[[], list], deadline: float, recheck: float,
                      waiting: Callable[[], bool], wait_first: bool = False,
                      collect_async: Callable[[], Awaitable[list]] | None = None,
                      blocks: bool = True) -> Steps:
    """Collect until messages come or ``deadline`` (``time.monotonic()``) passes, while
    ``waiting()`` holds (checked before each collection); returns the messages (maybe
    none).

    Between collections it waits for a notification, at most ``recheck``
    seconds (where publishes made by other processes wake nobody here, the store
    must be looked at again that often).  ``wait_first`` skips the first collection
    (the caller just collected, and its waiter was registered before that).
    ``collect_async``: ``collect`` as a coroutine function, for event loop drivers.
    ``blocks``: ``collect`` may wait on the network, so it is a ``Call`` for the driver;
    a collection that never blocks is made right here (no round trip through the driver
    for each delivery).
    """
    if wait_first:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            yield min(remaining, recheck)
    call = Call(collect, coro=collect_async) if blocks else None
    while True:
        if not waiting():
            return []
        messages = (yield call) if blocks else collect()
        remaining = deadline - time.monotonic()
        if messages or remaining <= 0:
            return messages
        yield min(remaining, recheck)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def iterate(steps: Steps, waiter: Any) -> Steps:
    """Drive ``steps`` in this thread, yielding the bytes they write (a WSGI body);
    ``waiter.wait(seconds)`` blocks the thread.  Returns what the steps return.

    Awaitables run to completion on a private event loop: a coroutine target
    served by a WSGI channel works, holding its thread meanwhile.
    """
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                effect = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                return stop.value
            value = error = None
            try:
                if isinstance(effect, float):
                    waiter.wait(effect)
                elif isinstance(effect, bytes):
                    yield effect
                elif isinstance(effect, Call):
                    value = effect.func(*effect.args)
                else:
                    value = asyncio.run(_awaited(effect))
            except Exception as exc:
                error = exc
    finally:
        # Closed early (the client went away): the steps' own clean-up runs now.
        steps.close()


def run(steps: Steps, waiter: Any) -> Any:
    """Drive steps that write nothing (a held poll, an awaited result) in this thread."""
    driver = iterate(steps, waiter)
    while True:
        try:
            next(driver)
        except StopIteration as stop:
            return stop.value


async def _call_here(func: Callable, *args: Any) -> Any:
    return func(*args)


async def run_async(steps: Steps, waiter: Any,
                    write: Callable[[bytes], Awaitable[Any]] | None = None,
                    call: Callable[..., Awaitable[Any]] = _call_here) -> Any:
    """Drive ``steps`` on the running event loop: ``await waiter.wait(seconds)``
    suspends, ``await write(raw)`` sends, ``await call(func, *args)`` runs a Call
    (by default right here) unless it has a coroutine form, which is awaited.

    When ``waiter.stopped`` is set (``AsyncWaiter.stop``), or the task is cancelled
    (a server giving up on the request), ``Stopping`` is thrown into the steps at their
    wait, and their result is returned as usual: a held poll is answered, a stream
    writes its DISCONNECT.  A caller tells a cancellation by
    ``asyncio.current_task().cancelling()``; a second cancellation goes on at once.
    """
    value: Any = None
    error: BaseException | None = None
    cancelled = False
    try:
        while True:
            try:
                effect = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                return stop.value
            value = error = None
            try:
                if isinstance(effect, float):
                    if cancelled or waiter.stopped:
                        raise Stopping()
                    await waiter.wait(effect)
                    if waiter.stopped:
                        raise Stopping()
                elif isinstance(effect, bytes):
                    await write(effect)
                elif isinstance(effect, Call):
                    if effect.coro is not None:
                        value = await effect.coro(*effect.args)
                    else:
                        value = await call(effect.func, *effect.args)
                else:
                    value = await effect
            except asyncio.CancelledError:
                if cancelled:
                    raise
                cancelled = True
                error = Stopping()
            except Exception as exc:
                error = exc
    finally:
        steps.close()


class _Continued:
    """Awaiting it finishes a coroutine that was started by hand and suspended on
    ``yielded`` (a future): the task awaiting it stands in for the one it never had."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Any, yielded: Any):
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        yielded = self.yielded
        while True:
            error: BaseException | None = None
            value = None
            try:
                value = yield yielded
            except BaseException as exc:  # the task was cancelled: so is the coroutine
                error = exc
            try:
                yielded = self.coro.throw(error) if error is not None else \
                    self.coro.send(value)
            except StopIteration as stop:
                return stop.value


async def _continued(coro: Any, yielded: Any) -> Any:
    return await _Continued(coro, yielded)


class HubStream(LoopWaiter):
    """The steps of one stream in a ``StepsHub``; the waiter to register for its
    notifications.  ``done`` resolves to what the steps return (or their error)."""

    __slots__ = ("hub", "steps", "write", "done", "state", "woken", "key")

    def __init__(self, hub: "StepsHub", steps: Steps, write: Callable[[bytes], Any]):
        LoopWaiter.__init__(self, hub.loop)
        self.hub = hub
        self.steps = steps
        self.write = write
        self.done = hub.loop.create_future()
        #: "ready", "running", "waiting", "writing" or "done".
        self.state = "ready"
        self.woken = False
        self.key: int | None = None

    def _set(self) -> None:
        # Its timer stays armed: a stream woken early looks at its deadline again.
        if self.state == "waiting":
            self.hub.ready(self)
        elif self.state != "done":
            self.woken = True

    def _expire(self) -> None:
        self.key = None
        if self.state == "waiting":
            self.hub.ready(self)


class StepsHub:
    """Drives the steps of many streams on one event loop, in one place.

    ``run_async`` gives each held request a task of its own, woken through a future: with
    thousands of streams a delivery then costs a task switch each.  A hub keeps the
    streams itself: a notification marks a stream ready (no future), one callback drives
    every ready stream to its next wait, and the loop's clock keeps their deadlines.  A
    write is the coroutine ``write(raw)`` run at once; one that must wait (the client reads
    slowly: flow control) is finished by a task of its own (``pending(task)`` is told
    about it), and its stream goes on when it is done.  ``Call`` effects are made right
    there: a hub is for stores that never block.  Steps that await something get a
    ``TypeError`` thrown in.
    """

    #: Streams driven per loop iteration: a broadcast to thousands of streams is written
    #: in slices, with the loop's other work (accepts, reads, the publisher's answer) in
    #: between, instead of holding the loop for the whole fan-out.
    SLICE = 256

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 pending: Callable[[asyncio.Task], None] | None = None):
        self.loop = loop
        self.pending = pending
        self._ready: collections.deque[HubStream] = collections.deque()
        self._scheduled = False

    def open(self, steps: Steps, write: Callable[[bytes], Any]) -> HubStream:
        """A stream for ``steps`` (register it with the notifier, then ``start`` it)."""
        return HubStream(self, steps, write)

    def start(self, stream: HubStream) -> None:
        self.ready(stream)

    def ready(self, stream: HubStream) -> None:
        stream.state = "ready"
        self._ready.append(stream)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._run)

    def _run(self) -> None:
        ready = self._ready
        for _ in range(min(len(ready), self.SLICE)):
            stream = ready.popleft()
            if stream.state == "ready":
                self._advance(stream)
        if ready:  # the rest in the next iteration (streams readied meanwhile queue behind)
            self.loop.call_soon(self._run)
        else:
            self._scheduled = False

    def _advance(self, stream: HubStream, value: Any = None,
                 error: BaseException | None = None) -> None:
        stream.state = "running"
        steps = stream.steps
        while True:
            try:
                effect = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                return self._finish(stream, stop.value, None)
            except BaseException as exc:
                return self._finish(stream, None, exc)
            value = error = None
            if isinstance(effect, float):
                if stream.stopped:
                    error = Stopping()
                elif stream.woken:
                    stream.woken = False
                else:
                    stream.state = "waiting"
                    self._arm(stream, self.loop.time() + effect)
                    return None
            elif isinstance(effect, bytes):
                coro = stream.write(effect)
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    continue
                except Exception as exc:
                    error = exc
                    continue
                stream.state = "writing"
                task = asyncio.ensure_future(_continued(coro, yielded))
                if self.pending is not None:
                    self.pending(task)
                task.add_done_callback(lambda done, s=stream: self._written(s, done))
                return None
            elif isinstance(effect, Call):
                try:
                    value = effect.func(*effect.args)
                except Exception as exc:
                    error = exc
            else:
                error = TypeError("steps driven by a hub await nothing")

    @staticmethod
    def _arm(stream: HubStream, deadline: float) -> None:
        """Make sure the stream is woken by ``deadline``: a timer armed earlier (before its
        last delivery) is kept, as most deliveries only push the deadline later; it wakes
        the stream once, early, and the steps wait again (one timer per stream, not one
        timer change per delivery)."""
        clock = stream._clock
        if stream.key is not None:
            if stream.key <= clock.keyOf(deadline):
                return
            clock.discard(stream, stream.key)
        stream.key = clock.add(stream, deadline)

    def _written(self, stream: HubStream, task: asyncio.Task) -> None:
        if stream.state != "writing":
            return
        if task.cancelled():  # given up (its client stopped reading): the stream ends
            self._advance(stream, None, OSError("the write was given up"))
        else:
            self._advance(stream, None, task.exception())

    def _finish(self, stream: HubStream, result: Any, error: BaseException | None) -> None:
        stream.state = "done"
        if stream.key is not None:
            stream._clock.discard(stream, stream.key)
            stream.key = None
        stream.steps.close()
        if not stream.done.done():
            if error is None:
                stream.done.set_result(result)
            else:
                stream.done.set_exception(error)
