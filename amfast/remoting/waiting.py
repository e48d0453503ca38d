"""Waiting for messages, written once, driven by each transport its own way.

The steps of a held poll or an open stream are a generator that never blocks:
it yields what it needs and the transport's driver provides it.

* a ``float``: wait that many seconds, or less if a notification comes;
* ``bytes``: write them to the client (streams);
* an awaitable (a coroutine target's result): its value, or its exception, is
  sent back into the generator.

``iterate`` and ``run`` drive the steps in a thread (WSGI: a ``ThreadWaiter``
blocks it); ``run_async`` on an event loop (ASGI: an ``AsyncWaiter`` awaits).
The value the generator returns is the driver's result.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Generator

__all__ = ["wait_for_messages", "iterate", "run", "run_async", "Steps"]

#: A generator of effects (float: wait; bytes: write; awaitable: await) returning a result.
Steps = Generator[Any, Any, Any]


def wait_for_messages(collect: Callable[[], list], deadline: float, recheck: float,
                      waiting: Callable[[], bool]) -> Steps:
    """Collect until messages come or ``deadline`` (``time.monotonic()``) passes, while
    ``waiting()`` holds (checked before each collection); returns the messages (maybe
    none).

    Between collections it waits for a notification, at most ``recheck``
    seconds: publishes made by other processes wake nobody here, so the store is
    looked at again that often.
    """
    while True:
        if not waiting():
            return []
        messages = collect()
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
            if isinstance(effect, float):
                waiter.wait(effect)
            elif isinstance(effect, bytes):
                yield effect
            else:
                try:
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


async def run_async(steps: Steps, waiter: Any, write: Callable[[bytes], Any] | None = None
                    ) -> Any:
    """Drive ``steps`` on the running event loop; ``await waiter.wait(seconds)``
    suspends it, ``await write(raw)`` sends."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                effect = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                return stop.value
            value = error = None
            if isinstance(effect, float):
                await waiter.wait(effect)
            elif isinstance(effect, bytes):
                await write(effect)
            else:
                try:
                    value = await effect
                except Exception as exc:
                    error = exc
    finally:
        # Cancelled (the client went away): the steps' own clean-up runs now.
        steps.close()
