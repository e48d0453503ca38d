"""The wait-for-messages steps, driven in a thread and on an event loop alike."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from amfast.remoting.notifier import AsyncWaiter, Notifier, ThreadWaiter
from amfast.remoting.waiting import Call, Stopping, iterate, run, run_async, wait_for_messages


class Box:
    """A store of messages that notifies on put."""

    def __init__(self, notifier):
        self.notifier = notifier
        self.items = []
        self.collects = 0
        self.open = True

    def put(self, item):
        self.items.append(item)
        self.notifier.notify("c")

    def collect(self):
        self.collects += 1
        items, self.items = self.items, []
        return items


def steps_for(box, seconds, recheck=5.0):
    return wait_for_messages(box.collect, time.monotonic() + seconds, recheck, lambda: box.open)


def test_messages_already_there_return_without_waiting():
    box = Box(Notifier())
    box.items.append("m")
    assert run(steps_for(box, 5), ThreadWaiter()) == ["m"]


def test_a_thread_waits_until_a_message_is_put():
    notifier = Notifier()
    box = Box(notifier)
    waiter = ThreadWaiter()
    with notifier.listening(["c"], waiter):
        threading.Timer(0.1, box.put, ("late",)).start()
        started = time.monotonic()
        assert run(steps_for(box, 5), waiter) == ["late"]
        assert 0.05 < time.monotonic() - started < 2


def test_the_wait_ends_empty_at_the_deadline():
    box = Box(Notifier())
    started = time.monotonic()
    assert run(steps_for(box, 0.2), ThreadWaiter()) == []
    assert 0.18 <= time.monotonic() - started < 2


def test_the_store_is_rechecked_without_notification():
    box = Box(Notifier())
    threading.Timer(0.1, lambda: box.items.append("silent")).start()
    started = time.monotonic()
    assert run(steps_for(box, 5, recheck=0.05), ThreadWaiter()) == ["silent"]
    assert time.monotonic() - started < 2


def test_when_waiting_is_over_nothing_more_is_collected():
    notifier = Notifier()
    box = Box(notifier)
    box.open = False
    box.items.append("not for a closed wait")
    assert run(steps_for(box, 5), ThreadWaiter()) == [] and box.collects == 0


def test_the_same_steps_on_an_event_loop():
    notifier = Notifier()
    box = Box(notifier)

    async def main():
        waiter = AsyncWaiter()
        with notifier.listening(["c"], waiter):
            asyncio.get_running_loop().call_later(0.05, box.put, "async")
            return await run_async(steps_for(box, 5), waiter)

    assert asyncio.run(main()) == ["async"]


def writer_steps():
    yield b"one"
    yield 0.01
    value = yield asyncio.sleep(0, "awaited")
    yield value.encode()
    return "done"


def test_iterate_yields_writes_and_runs_awaitables():
    driver = iterate(writer_steps(), ThreadWaiter())
    written = []
    with pytest.raises(StopIteration) as stop:
        while True:
            written.append(next(driver))
    assert written == [b"one", b"awaited"] and stop.value.value == "done"


def test_run_async_sends_writes_and_awaits():
    written = []

    async def write(raw):
        written.append(raw)

    async def main():
        return await run_async(writer_steps(), AsyncWaiter(), write)

    assert asyncio.run(main()) == "done" and written == [b"one", b"awaited"]


def test_a_call_with_a_coroutine_form_is_awaited_on_a_loop_and_called_in_a_thread():
    made = []

    def steps():
        return (yield Call(lambda n: made.append(("thread", n)) or n, 1,
                           coro=lambda n: _recorded(made, n)))

    async def refused(func, *args):
        raise AssertionError("a Call with a coroutine form needs no worker thread")

    async def main():
        return await run_async(steps(), AsyncWaiter(), call=refused)

    assert asyncio.run(main()) == 1 and run(steps(), ThreadWaiter()) == 1
    assert made == [("loop", 1), ("thread", 1)]


async def _recorded(made: list, n: int) -> int:
    made.append(("loop", n))
    return n


def test_an_awaitable_that_fails_is_thrown_into_the_steps():
    async def boom():
        raise KeyError("x")

    def steps():
        try:
            yield boom()
        except KeyError:
            return "caught"

    assert run(steps(), ThreadWaiter()) == "caught"


def test_closing_a_driver_early_runs_the_steps_clean_up():
    cleaned = []

    def steps():
        try:
            yield b"first"
            yield b"second"
        finally:
            cleaned.append(True)

    driver = iterate(steps(), ThreadWaiter())
    assert next(driver) == b"first"
    driver.close()
    assert cleaned == [True]


# -- the hub: many streams' steps on one loop --------------------------------------------------


def stream_steps(box, name, rounds):
    """Steps like a stream's: collect, write what came, wait, for ``rounds`` deliveries."""
    written = 0
    while written < rounds:
        messages = yield from wait_for_messages(box.collect, time.monotonic() + 5, 5,
                                                lambda: box.open, wait_first=written > 0)
        if messages:
            yield f"{name}:{','.join(messages)}".encode()
            written += 1
    return written


async def started_streams(notifier, boxes, rounds, write):
    """A hub's streams ``s<n>`` for the boxes, listening to ``c<n>``, started and waiting."""
    from amfast.remoting.waiting import StepsHub

    hub = StepsHub(asyncio.get_running_loop())
    streams = []
    for n, box in enumerate(boxes):
        stream = hub.open(stream_steps(box, f"s{n}", rounds), write)
        notifier.add(f"c{n}", stream)
        hub.start(stream)
        streams.append(stream)
    await asyncio.sleep(0.01)
    return streams


def test_a_hub_drives_many_streams_without_a_task_each():
    notifier = Notifier()
    boxes = [Box(notifier) for _ in range(3)]
    out: list = []

    async def write(raw):
        out.append(raw)

    async def main():
        streams = await started_streams(notifier, boxes, 2, write)
        for n, box in enumerate(boxes):
            box.items.append("a")
            notifier.notify(f"c{n}")
        await asyncio.sleep(0.01)
        threading.Thread(target=lambda: [(b.items.append("b"), notifier.notify(f"c{n}"))
                                         for n, b in enumerate(boxes)]).start()
        return await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), 5)

    assert asyncio.run(main()) == [2, 2, 2]
    assert sorted(out) == [b"s0:a", b"s0:b", b"s1:a", b"s1:b", b"s2:a", b"s2:b"]


def test_a_hub_drives_a_broadcast_to_many_streams_in_slices():
    from amfast.remoting.waiting import StepsHub

    notifier = Notifier()
    count = 2 * StepsHub.SLICE + 10
    boxes = [Box(notifier) for _ in range(count)]
    written_per_iteration: list = []
    out: list = []

    async def write(raw):
        out.append(raw)

    async def main():
        streams = await started_streams(notifier, boxes, 1, write)
        for box in boxes:
            box.items.append("a")
        notifier.notifyMany(f"c{n}" for n in range(count))
        while len(out) < count and len(written_per_iteration) < 20:
            before = len(out)
            await asyncio.sleep(0)  # one loop iteration
            written_per_iteration.append(len(out) - before)
        return await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), 5)

    assert asyncio.run(main()) == [1] * count
    assert len(out) == count and max(written_per_iteration) <= StepsHub.SLICE
    assert len([n for n in written_per_iteration if n]) >= 3


def test_a_hub_stream_keeps_one_timer_and_still_waits_out_each_deadline():
    """A delivery leaves the stream's timer armed: an older, earlier timer wakes it early
    and it waits again; an earlier deadline re-arms it; nothing is left when it ends."""
    from amfast.remoting.notifier import loop_clock
    from amfast.remoting.waiting import StepsHub

    notifier = Notifier()
    late: list = []

    async def main():
        loop = asyncio.get_running_loop()

        def steps():
            for first, wait in ((0.05, 0.2), (5.0, 0.02)):
                yield first  # a notification ends this wait at once; its timer stays armed
                # Then a later deadline (the older timer wakes the stream early), and an
                # earlier one (the timer is moved).
                deadline = loop.time() + wait
                while (remaining := deadline - loop.time()) > 0:
                    yield remaining
                late.append(loop.time() - deadline)
            return "done"

        hub = StepsHub(loop)
        stream = hub.open(steps(), None)
        notifier.add("c", stream)
        hub.start(stream)
        await asyncio.sleep(0.005)
        notifier.notify("c")
        for _ in range(200):  # the first deadline is waited out
            await asyncio.sleep(0.01)
            if late:
                break
        notifier.notify("c")
        result = await asyncio.wait_for(stream.done, 5)
        timers = [key for key, bucket in loop_clock(loop)._buckets.items() if stream in bucket]
        return result, timers

    assert asyncio.run(main()) == ("done", [])
    assert len(late) == 2 and all(0 <= seconds < 0.05 for seconds in late)


def test_a_hub_stream_has_one_timer_however_many_deliveries():
    from amfast.remoting.notifier import loop_clock

    notifier = Notifier()
    box = Box(notifier)
    timers: list = []

    async def write(raw):
        pass

    async def main():
        (stream,) = await started_streams(notifier, [box], 30, write)
        clock = loop_clock(asyncio.get_running_loop())
        for n in range(30):
            box.items.append(str(n))
            notifier.notify("c0")
            await asyncio.sleep(0)
            timers.append(sum(stream in bucket for bucket in clock._buckets.values()))
        return await asyncio.wait_for(stream.done, 5)

    assert asyncio.run(main()) == 30
    assert max(timers) == 1


def test_a_hub_finishes_a_write_that_must_wait_and_gives_up_a_stalled_one():
    from amfast.remoting.waiting import StepsHub

    box = Box(Notifier())
    box.items.extend(["x"])
    gate = None
    pending: list = []

    async def slow_write(raw):
        await gate.wait()

    def steps():
        try:
            yield from stream_steps(box, "s", 1)
            return "done"
        except OSError:
            return "given up"

    async def main(give_up):
        nonlocal gate
        gate = asyncio.Event()
        hub = StepsHub(asyncio.get_running_loop(), pending.append)
        stream = hub.open(steps(), slow_write)
        hub.start(stream)
        await asyncio.sleep(0.01)
        assert stream.state == "writing" and pending
        if give_up:
            pending[-1].cancel()
        else:
            gate.set()
        return await asyncio.wait_for(stream.done, 5)

    assert asyncio.run(main(False)) == "done"
    box.items.append("x")
    assert asyncio.run(main(True)) == "given up"


def test_a_stopped_hub_stream_ends_properly():
    from amfast.remoting.waiting import StepsHub

    box = Box(Notifier())

    def steps():
        try:
            yield from wait_for_messages(box.collect, time.monotonic() + 60, 60, lambda: True)
        except Stopping:
            yield b"bye"
            return "stopped"

    out = []

    async def write(raw):
        out.append(raw)

    async def main():
        hub = StepsHub(asyncio.get_running_loop())
        stream = hub.open(steps(), write)
        hub.start(stream)
        await asyncio.sleep(0.01)
        stream.stop()
        return await asyncio.wait_for(stream.done, 5)

    assert asyncio.run(main()) == "stopped" and out == [b"bye"]
