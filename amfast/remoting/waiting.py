"""Waiting for messages, written once, driven by each transport its own way.

The steps of a held poll or an open stream are a generator that never blocks:
it yields what it needs and the transport's driver provides it.

* a ``float``: wait that many seconds, or less if a notification comes;
* ``bytes``: write them to the client (streams);
* a ``Call``: run a function that may block on a store (the ASGI driver runs it
  in a worker thread when the store does network I/O); its value is sent back;
* an awaitable (a coroutine target's result): its value, or its exception, is
  sent back into the generator.

``iterate`` and ``run`` drive the steps in a thread (WSGI: a ``ThreadWaiter``
blocks it); ``run_async`` on an event loop (ASGI: an ``AsyncWaiter`` awaits).
The value the generator returns is the driver's result.  When an event loop
driver is cancelled (the server is stopping, the client went away), ``Stopping``
is thrown into the steps at their wait, so that they can end properly (a held
poll answers, a stream writes its DISCONNECT frame).
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Generator

__all__ = ["wait_for_messages", "iterate", "run", "run_async", "Call", "Stopping", "Steps"]

#: A generator of effects (float: wait; bytes: write; Call; awaitable) returning a result.
Steps = Generator[Any, Any, Any]


class Stopping(Exception):
    """Thrown into steps whose driver is cancelled: end now, properly."""


class Call:
    """An effect: call ``func(*args)``, which may block on a store."""

    __slots__ = ("func", "args")

    def __init__(self, func: Callable, *args: Any):
        self.func = func
        self.args = args


def wait_for_messages(collect: Callable[[], list], deadline: float, recheck: float,
                      waiting: Callable[[], bool], wait_first: bool = False) -> Steps:
    """Collect until messages come or ``deadline`` (``time.monotonic()``) passes, while
    ``waiting()`` holds (checked before each collection); returns the messages (maybe
    none).

    Between collections it waits for a notification, at most ``recheck``
    seconds (where publishes made by other processes wake nobody here, the store
    must be looked at again that often).  ``wait_first`` skips the first collection
    (the caller just collected, and its waiter was registered before that).
    """
    if wait_first:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            yield min(remaining, recheck)
    while True:
        if not waiting():
            return []
        messages = yield Call(collect)
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
    (by default right here).

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
