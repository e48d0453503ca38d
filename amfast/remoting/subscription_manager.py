"""Subscriptions and published messages: the interface, and the in-memory manager.

Each destination (topic) keeps a log of its unexpired messages, numbered in
publishing order; each subscription keeps a cursor into that log.  A poll
returns, once and in order, every message published after the subscription's
cursor that its subtopic and selector accept, addressed to the subscriber.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Awaitable, Callable, Iterator

from amfast.remoting.errors import NotConnectedError
from amfast.remoting.flex_messages import AsyncMessage
from amfast.remoting.selector import compile_selector
from amfast.remoting.subtopic import (ANY, SubtopicError, is_wildcard, subtopic_matches,
                                      validate_subtopic)

__all__ = ["Subscription", "SubscriptionManager", "MemorySubscriptionManager", "ANY"]


class Subscription:
    """One Consumer (``client_id``) of one connection on ``topic``/``sub_topic``."""

    __slots__ = ("connection_id", "client_id", "topic", "sub_topic", "selector", "_accepts",
                 "cursor")

    def __init__(self, connection_id: str, client_id: str, topic: str,
                 sub_topic: str | None = None, selector: str | None = None, cursor: int = 0):
        if sub_topic:
            validate_subtopic(sub_topic)
        self.connection_id = connection_id
        self.client_id = client_id
        self.topic = topic
        self.sub_topic = sub_topic or None
        self.selector = selector or None
        # Most subscriptions select nothing: no predicate to call for each message.
        self._accepts = None if self.selector is None else compile_selector(self.selector)
        self.cursor = cursor

    @property
    def key(self) -> tuple:
        return (self.client_id, self.topic, self.sub_topic, self.selector)

    def matchesRemoval(self, client_id: str, topic: str, sub_topic: Any = None,
                       selector: Any = None) -> bool:
        """Is this one of the subscriptions an unsubscribe names (``ANY`` matches all)?"""
        return (self.client_id, self.topic) == (client_id, topic) and \
            (sub_topic is ANY or self.sub_topic == (sub_topic or None)) and \
            (selector is ANY or self.selector == (selector or None))

    def accepts(self, msg: Any) -> bool:
        """Does this subscription receive ``msg`` (same topic assumed)?"""
        headers = msg.headers if isinstance(msg.headers, dict) else {}
        if self.sub_topic is None:
            # Only messages published to no subtopic (the usual case, checked first).
            if headers.get(AsyncMessage.SUBTOPIC_HEADER) not in _NO_SUBTOPIC:
                return False
        elif not any(s is not None and subtopic_matches(self.sub_topic, s)
                     for s in message_subtopics(msg)):
            return False
        return self._accepts is None or self._accepts(headers)

    def __repr__(self) -> str:
        return (f"Subscription({self.connection_id!r}, {self.client_id!r}, {self.topic!r}, "
                f"{self.sub_topic!r}, {self.selector!r})")


#: The DSSubtopic header values that mean "no subtopic".
_NO_SUBTOPIC = (None, "", [], ())


def message_subtopics(msg: Any) -> list:
    """The subtopics a message is published to (``[None]`` when none)."""
    headers = msg.headers if isinstance(msg.headers, dict) else {}
    value = headers.get(AsyncMessage.SUBTOPIC_HEADER)
    if value is None or value == "":
        return [None]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or [None]
    return [str(value)]


class SubscriptionManager:
    """Who listens to what, and the messages waiting for them.

    ``secure`` requires a logged-in connection for subscribe, publish and poll;
    ``ttl`` is the default lifetime of a message in milliseconds;
    ``max_messages`` bounds each topic's log: past it the oldest messages are
    dropped, so a subscriber that polls too rarely misses them.
    """

    SUBTOPIC_SEPARATOR = "_;_"
    #: Whether calls may wait on the network (an event loop then makes them in a thread).
    blocking = True
    #: Whether held polls and streams must look at the store again every
    #: ``poll_interval``: publishes made through other processes wake nobody here.
    recheck = True

    def __init__(self, secure: bool = False, ttl: int = 30000, max_messages: int = 10000):
        self.secure = secure
        self.ttl = ttl
        self.max_messages = max_messages
        #: Wakes this process's waiters (given by ``start``).
        self.notifier: Any = None

    @staticmethod
    def now() -> float:
        return time.time() * 1000

    # -- lifecycle: what a store runs in the background ------------------------------

    def start(self, notifier: Any) -> None:
        """The channel set starts using this manager: ``notifier`` wakes this process's
        waiters.  A store that hears of publishes made through other processes starts
        its listener here, and has it call ``notifier.notify(connection_id)``."""
        self.notifier = notifier

    async def startAsync(self, notifier: Any) -> None:
        """``start`` from an event loop (an ASGI application's lifespan startup): a store
        may run its listener on the loop instead of in a thread."""
        self.start(notifier)

    def stop(self) -> None:
        """The channel set is done with this manager: stop what ``start`` started."""

    async def stopAsync(self) -> None:
        self.stop()

    @classmethod
    def getTopicKey(cls, topic: str, sub_topic: str | None = None) -> str:
        return topic if not sub_topic else f"{topic}{cls.SUBTOPIC_SEPARATOR}{sub_topic}"

    @classmethod
    def splitTopicKey(cls, topic_key: str) -> tuple:
        topic, _, sub_topic = topic_key.partition(cls.SUBTOPIC_SEPARATOR)
        return topic, sub_topic or None

    def publishMessage(self, msg: Any) -> list:
        """Stamp and store a message; the ids of the connections that may receive it."""
        for subtopic in message_subtopics(msg):
            if subtopic is not None:
                validate_subtopic(subtopic)
                if is_wildcard(subtopic):
                    raise SubtopicError(f"Messages cannot be sent to the wildcard subtopic "
                                        f"'{subtopic}'.")
        msg.timestamp = self.now()
        if not msg.timeToLive:
            msg.timeToLive = self.ttl
        return self.persistMessage(msg)

    def pollConnection(self, connection: Any, soft_touch: bool = False) -> list:
        """The messages waiting for every subscription of ``connection``, personalised."""
        messages = self.collectMessages(connection.id)
        if not soft_touch:
            try:
                connection.touchPolled()
            except NotConnectedError:
                return []
        return [connection.personalizeMessage(client_id, msg) for client_id, msg in messages]

    # -- storage, implemented by subclasses ----------------------------------------

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        raise NotImplementedError

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        """Remove the client's subscriptions to ``topic`` with this subtopic and selector
        (None: the one without; ``ANY``: whatever it is)."""
        raise NotImplementedError

    def deleteConnection(self, connection: Any) -> None:
        """Remove every subscription of a connection."""
        raise NotImplementedError

    def persistMessage(self, msg: Any) -> list:
        raise NotImplementedError

    def collectMessages(self, connection_id: str) -> list:
        """``(client_id, message)`` pairs due to the connection; advances its cursors."""
        raise NotImplementedError

    def asyncCollector(self) -> Callable[[str], Awaitable[list]] | None:
        """``collectMessages`` as a coroutine function, when the store has a client of its
        own on the running event loop (``startAsync`` made it); None otherwise, and the
        loop runs ``collectMessages`` in a worker thread."""
        return None

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        """Ids of the connections subscribed to ``topic`` (and ``sub_topic``)."""
        raise NotImplementedError

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        raise NotImplementedError

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError


class _TopicLog:
    """A topic's unexpired messages; ``first_seq`` numbers the oldest one kept."""

    __slots__ = ("entries", "first_seq")

    def __init__(self):
        self.entries: collections.deque = collections.deque()
        self.first_seq = 0

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.entries)

    def drop_oldest(self) -> None:
        self.entries.popleft()
        self.first_seq += 1


class MemorySubscriptionManager(SubscriptionManager):
    """Subscriptions and messages held in this process (the default); thread-safe."""

    blocking = False
    recheck = False

    def __init__(self, secure: bool = False, ttl: int = 30000, max_messages: int = 10000):
        SubscriptionManager.__init__(self, secure, ttl, max_messages)
        self._lock = threading.Lock()
        self._logs: dict[str, _TopicLog] = {}
        self._by_connection: dict[str, dict[tuple, Subscription]] = {}
        self._by_topic: dict[str, dict[str, int]] = {}

    def _log(self, topic: str) -> _TopicLog:
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[topic] = _TopicLog()
        return log

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        with self._lock:
            subscription = Subscription(connection_id, client_id, topic, sub_topic, selector,
                                        self._log(topic).next_seq)
            subs = self._by_connection.setdefault(connection_id, {})
            if subscription.key not in subs:
                counts = self._by_topic.setdefault(topic, {})
                counts[connection_id] = counts.get(connection_id, 0) + 1
            subs[subscription.key] = subscription

    def _remove(self, connection_id: str, key: tuple) -> None:
        subs = self._by_connection.get(connection_id, {})
        subscription = subs.pop(key, None)
        if subscription is None:
            return
        counts = self._by_topic[subscription.topic]
        counts[connection_id] -= 1
        if not counts[connection_id]:
            del counts[connection_id]
        if not counts:
            # Nobody left to read the topic: its log goes (memory stays bounded).
            del self._by_topic[subscription.topic]
            self._logs.pop(subscription.topic, None)
        if not subs:
            del self._by_connection[connection_id]

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        with self._lock:
            for key, subscription in list(self._by_connection.get(connection_id, {}).items()):
                if subscription.matchesRemoval(client_id, topic, sub_topic, selector):
                    self._remove(connection_id, key)

    def deleteConnection(self, connection: Any) -> None:
        with self._lock:
            for key in list(self._by_connection.get(connection.id, {})):
                self._remove(connection.id, key)

    def persistMessage(self, msg: Any) -> list:
        expires = msg.timestamp + msg.timeToLive
        with self._lock:
            if not self._by_topic.get(msg.destination):
                return []  # no subscriber could ever receive it
            log = self._log(msg.destination)
            log.entries.append((expires, msg))
            while len(log.entries) > self.max_messages:
                log.drop_oldest()
            return list(self._by_topic.get(msg.destination, ()))

    def collectMessages(self, connection_id: str) -> list:
        found: list = []
        with self._lock:
            subscriptions = self._by_connection.get(connection_id)
            if not subscriptions:
                return found
            now = None
            # A Consumer gets a message once even when several of its subscriptions accept it.
            delivered = set() if len(subscriptions) > 1 else None
            for subscription in subscriptions.values():
                log = self._logs.get(subscription.topic)
                if log is None:
                    continue
                entries = log.entries
                first = log.first_seq
                end = first + len(entries)
                if subscription.cursor >= end:
                    continue
                if now is None:
                    now = self.now()
                if entries and entries[0][0] <= now:
                    self._prune(log, now)
                    first = log.first_seq
                for seq in range(max(subscription.cursor, first), end):
                    expires, msg = entries[seq - first]
                    if expires <= now or not subscription.accepts(msg):
                        continue
                    if delivered is not None:
                        once = (subscription.client_id, subscription.topic, seq)
                        if once in delivered:
                            continue
                        delivered.add(once)
                    found.append((subscription.client_id, msg))
                subscription.cursor = end
        return found

    @staticmethod
    def _prune(log: _TopicLog, now: float) -> None:
        while log.entries and log.entries[0][0] <= now:
            log.drop_oldest()

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        with self._lock:
            ids = []
            for connection_id in self._by_topic.get(topic, ()):
                if sub_topic is None or any(
                        s.topic == topic and s.sub_topic == sub_topic
                        for s in self._by_connection.get(connection_id, {}).values()):
                    ids.append(connection_id)
        return iter(ids)

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        with self._lock:
            return iter(list(self._by_connection.get(connection.id, {}).values()))

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        now = self.now() if now is None else now
        with self._lock:
            for log in self._logs.values():
                self._prune(log, now)

    def reset(self) -> None:
        with self._lock:
            self._logs.clear()
            self._by_connection.clear()
            self._by_topic.clear()
