"""What a channel set counts of its traffic, for the console and the metrics.

The counts are kept where the events happen, once: the dispatch core counts each
request (and its time) and each fault, the channel set each publish, the poll
target and streams each delivered message, the channels their held polls and open
streams.  ``ChannelSet.stats`` holds them, and each channel its own ``stats``.

Counting takes no lock of its own: an increment is a few integer operations (under
the GIL nothing else runs in the middle of one; rarely, two threads starting the
same second at once may lose one count of the per-second history).  Memory is
bounded: a fixed history (``HISTORY`` seconds), at most ``max_destinations``
destinations (the others are counted together as ``OTHER``) and ``max_faults``
recent faults.
"""
from __future__ import annotations

import bisect
import collections
import time
import traceback
from typing import Any, Iterator, NamedTuple

__all__ = ["HISTORY", "LATENCY_BUCKETS", "OTHER", "Rate", "Level", "Latency", "ChannelStats",
           "DestinationStats", "Fault", "Stats"]

#: Seconds of per-second history kept for the charts.
HISTORY = 600
#: Upper bounds (seconds) of the request time histogram's buckets (the last one is infinite).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
#: The destination that counts the destinations past ``max_destinations``.
OTHER = "(other)"
#: Fault messages are cut to this many characters.
MAX_FAULT_TEXT = 2000

_clock = time.monotonic


class Rate:
    """A counter with the count of each of the last ``HISTORY`` seconds."""

    __slots__ = ("total", "_counts", "_seconds", "_slot", "_next")

    def __init__(self):
        self.total = 0
        self._counts = [0] * HISTORY
        self._seconds = [-1] * HISTORY
        self._slot = 0
        self._next = 0.0  # when the current second ends

    def add(self, n: int = 1, now: float | None = None) -> None:
        if now is None:
            now = _clock()
        if now >= self._next:
            self._begin(int(now))
        self._counts[self._slot] += n
        self.total += n

    def _begin(self, second: int) -> None:
        slot = second % HISTORY
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._counts[slot] = 0
        self._slot = slot
        self._next = second + 1.0

    def history(self, seconds: int, now: float | None = None) -> list[int]:
        """The counts of the ``seconds`` whole seconds before this one, oldest first."""
        current = int(_clock() if now is None else now)
        out = []
        for second in range(current - min(seconds, HISTORY - 1), current):
            slot = second % HISTORY
            out.append(self._counts[slot] if self._seconds[slot] == second else 0)
        return out


class Level:
    """A level that goes up and down (held polls, open streams), with the highest
    level of each of the last ``HISTORY`` seconds."""

    __slots__ = ("value", "_peaks", "_starts", "_seconds")

    def __init__(self):
        self.value = 0
        self._peaks = [0] * HISTORY
        self._starts = [0] * HISTORY
        self._seconds = [-1] * HISTORY

    def add(self, n: int, now: float | None = None) -> None:
        second = int(_clock() if now is None else now)
        slot = second % HISTORY
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._starts[slot] = self._peaks[slot] = self.value
        self.value += n
        if self.value > self._peaks[slot]:
            self._peaks[slot] = self.value

    def history(self, seconds: int, now: float | None = None) -> list[int]:
        """The highest level of each of the ``seconds`` whole seconds before this one,
        oldest first (a second without changes keeps the level it started with)."""
        current = int(_clock() if now is None else now)
        first = current - min(seconds, HISTORY - 1)
        # Walk back from now: before a second that changed, the level was its start.
        level = self.value
        slot = current % HISTORY
        if self._seconds[slot] == current:
            level = self._starts[slot]
        out = []
        for second in range(current - 1, first - 1, -1):
            slot = second % HISTORY
            if self._seconds[slot] == second:
                out.append(self._peaks[slot])
                level = self._starts[slot]
            else:
                out.append(level)
        out.reverse()
        return out


class Latency:
    """A histogram of request times (seconds): counts per bucket of ``LATENCY_BUCKETS``."""

    __slots__ = ("counts", "sum")

    def __init__(self):
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, requests at most that long)`` pairs, the last bound infinite."""
        out, running = [], 0
        for bound, count in zip(LATENCY_BUCKETS + (float("inf"),), self.counts):
            running += count
            out.append((bound, running))
        return out


class ChannelStats:
    """One channel's counts: requests, faults, request times, held polls, open streams."""

    __slots__ = ("requests", "faults", "latency", "held_polls", "open_streams")

    def __init__(self):
        self.requests = Rate()
        self.faults = Rate()
        self.latency = Latency()
        self.held_polls = Level()
        self.open_streams = Level()

    def answered(self, started: float) -> None:
        """A request was answered; it came in at ``started`` (``time.monotonic()``)."""
        now = _clock()
        self.requests.add(1, now)
        self.latency.observe(now - started)


class DestinationStats:
    """Messages published to one destination, and delivered from it to subscribers."""

    __slots__ = ("published", "delivered")

    def __init__(self):
        self.published = 0
        self.delivered = 0


class Fault(NamedTuple):
    """A fault sent to a client: when (ms since the epoch), on which channel, for which
    target, the error's class and message, and its traceback (debug mode only)."""

    time: float
    channel: str
    target: str
    error: str
    message: str
    detail: str


class Stats:
    """A channel set's counts: publishes and deliveries (in all and per destination),
    and the recent faults.  Each channel keeps its own ``ChannelStats``."""

    def __init__(self, max_destinations: int = 1000, max_faults: int = 100):
        self.max_destinations = max_destinations
        self.published = Rate()
        self.delivered = Rate()
        self._destinations: dict[str, DestinationStats] = {}
        self._faults: collections.deque[Fault] = collections.deque(maxlen=max_faults)

    def destination(self, name: Any) -> DestinationStats:
        """The counts of destination ``name`` (those past the bound share ``OTHER``)."""
        found = self._destinations.get(name)
        if found is None:
            if len(self._destinations) >= self.max_destinations:
                name = OTHER
            found = self._destinations.setdefault(name, DestinationStats())
        return found

    def destinations(self) -> Iterator[tuple[str, DestinationStats]]:
        return iter(list(self._destinations.items()))

    def publish(self, destination: Any) -> None:
        self.published.add()
        self.destination(destination).published += 1

    def deliver(self, messages: list) -> None:
        """Messages went to a subscriber (a poll's reply, a stream's write)."""
        if not messages:
            return
        destinations = self._destinations
        for msg in messages:
            # Each stream counts each delivery: the usual case takes no call.
            found = destinations.get(msg.destination) or self.destination(msg.destination)
            found.delivered += 1
        self.delivered.add(len(messages))

    def fault(self, channel: Any, target: Any, exc: BaseException, debug: bool) -> None:
        """A fault was sent to a client of ``channel``; its traceback is kept in debug
        mode only, as it goes to clients only then."""
        channel.stats.faults.add()
        detail = "".join(traceback.format_exception(exc)) if debug else ""
        self._faults.append(Fault(time.time() * 1000, str(channel.name), str(target),
                                  type(exc).__name__, str(exc)[:MAX_FAULT_TEXT],
                                  detail[-MAX_FAULT_TEXT * 4:]))

    def faults(self) -> list[Fault]:
        """The recent faults, newest first."""
        return list(reversed(self._faults))
