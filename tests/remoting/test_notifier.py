"""The notifier wakes thread, asyncio and callback waiters, from any thread."""
from __future__ import annotations

import asyncio
import threading
import time

from amfast.remoting.notifier import AsyncWaiter, Notifier, ThreadWaiter


def test_a_thread_waiter_wakes_at_once_on_notify():
    notifier = Notifier()
    waiter = ThreadWaiter()
    with notifier.listening(["c1"], waiter):
        assert notifier.listened("c1") and not notifier.listened("c2")
        threading.Timer(0.05, notifier.notify, ("c1",)).start()
        started = time.monotonic()
        waiter.wait(5)
        assert time.monotonic() - started < 2
    assert not notifier.listened("c1") and notifier.waiting() == 0


def test_a_wake_before_the_wait_is_not_lost_and_times_out_otherwise():
    notifier = Notifier()
    waiter = ThreadWaiter()
    with notifier.listening(["c1"], waiter):
        notifier.notify("c1")
        started = time.monotonic()
        waiter.wait(5)
        assert time.monotonic() - started < 1
        started = time.monotonic()
        waiter.wait(0.1)
        assert time.monotonic() - started >= 0.09


def test_notify_wakes_every_waiter_of_the_connection_and_no_other():
    notifier = Notifier()
    woken = []
    notifier.setNotifyFunc("a", lambda: woken.append("a"))
    notifier.add("a", type("W", (), {"wake": lambda self: woken.append("a2")})())
    notifier.setNotifyFunc("b", lambda: woken.append("b"))
    notifier.notifyMany(["a", "zzz"])
    assert sorted(woken) == ["a", "a2"]
    notifier.notifyAll()
    assert sorted(woken) == ["a", "a", "a2", "a2", "b"]


def test_amfast_notify_functions_replace_each_other():
    notifier = Notifier()
    calls = []
    first, second = (lambda: calls.append(1)), (lambda: calls.append(2))
    notifier.setNotifyFunc("c", first)
    notifier.setNotifyFunc("c", second)
    assert notifier.getNotifyFunc("c") is second
    notifier.notify("c")
    assert calls == [2]
    notifier.unSetNotifyFunc("c")
    assert notifier.getNotifyFunc("c") is None and notifier.waiting() == 0


def test_an_async_waiter_is_woken_from_another_thread():
    notifier = Notifier()

    async def main():
        waiter = AsyncWaiter()
        with notifier.listening(["c1"], waiter):
            threading.Timer(0.05, notifier.notify, ("c1",)).start()
            started = time.monotonic()
            await waiter.wait(5)
            woken_after = time.monotonic() - started
            started = time.monotonic()
            await waiter.wait(0.1)
            return woken_after, time.monotonic() - started

    woken_after, timed_out_after = asyncio.run(main())
    assert woken_after < 2 and timed_out_after >= 0.09


def test_an_async_waiter_is_woken_on_its_own_loop_without_a_thread_hop():
    notifier = Notifier()

    async def main():
        waiter = AsyncWaiter()
        with notifier.listening(["c1"], waiter):
            asyncio.get_running_loop().call_later(0.02, notifier.notify, "c1")
            started = time.monotonic()
            await waiter.wait(5)
            return time.monotonic() - started

    assert asyncio.run(main()) < 2


def test_a_waiter_whose_loop_is_closed_is_ignored():
    notifier = Notifier()

    async def make():
        return AsyncWaiter()

    loop = asyncio.new_event_loop()
    waiter = loop.run_until_complete(make())
    loop.close()
    notifier.add("c", waiter)
    threading.Thread(target=notifier.notify, args=("c",)).start()


def test_a_wake_up_of_many_waiters_is_spread_over_loop_iterations():
    from amfast.remoting.notifier import WAKE_SLICE

    notifier = Notifier()
    count = 2 * WAKE_SLICE + 10
    woken_per_iteration: list = []

    async def main():
        waiters = [AsyncWaiter() for _ in range(count)]
        for n, waiter in enumerate(waiters):
            notifier.add(f"c{n}", waiter)
        woken = [0]

        async def held(waiter):
            await waiter.wait(5)
            woken[0] += 1

        tasks = [asyncio.ensure_future(held(w)) for w in waiters]
        await asyncio.sleep(0.01)
        notifier.notifyMany(f"c{n}" for n in range(count))
        while woken[0] < count and len(woken_per_iteration) < 20:
            before = woken[0]
            await asyncio.sleep(0)  # one loop iteration
            woken_per_iteration.append(woken[0] - before)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert sum(woken_per_iteration) == count
    assert max(woken_per_iteration) <= WAKE_SLICE
    assert len([n for n in woken_per_iteration if n]) >= 3
