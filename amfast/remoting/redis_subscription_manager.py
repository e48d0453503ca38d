"""Subscriptions and messages in Redis, shared by every process and host that uses it.

Each topic keeps its messages once, in a Redis stream (``<prefix>:{t:<topic>}:log``),
capped at ``max_messages`` and expiring after its longest-lived message; the set of
its subscribers' connection ids (``...:subs``); and for each subscribed connection a
hash of its subscriptions there, each with its cursor, the id of the last message it
received (``...:cur:<connection id>``).  A connection keeps the set of its topics
(``<prefix>:{c:<id>}:topics``).  Everything of a topic is changed by one Lua script
at a time, so a poll moves its cursors past the messages it returns atomically: two
processes polling the same connection never both deliver a message, and a
subscriber that comes back within the TTL gets what it missed, once and in order.

A publish stores the message and PUBLISHes a wake-up naming the topic and the
subscribers, in one script; each process's listener (``redis_listener``, started by
``start`` or ``startAsync``) wakes the waiters of those connections there.  While
the listener is not subscribed, ``recheck`` is true: held polls and streams look at
Redis every ``poll_interval`` as with memcache.

Polls made at once in one process (a publish woke a hundred streams) are collected
together: one script per topic moves the cursors of all their connections and
returns the messages once (``Batches`` in threads; ``LoopBatches`` on the event
loop of ``startAsync``, over its ``redis.asyncio`` client).  While the listener is
subscribed, a connection's topics are remembered (``redis_manager.LocalView``): a
subscription made through another process is learned from the first wake-up of
its topic that names the connection, which comes before any message the
subscription may receive.
"""
from __future__ import annotations

import asyncio
import functools
import json
import threading
from typing import Any, Awaitable, Callable, Iterator

from amfast.remoting.errors import StoreUnavailableError
from amfast.remoting.redis_listener import AsyncListener, ThreadListener
from amfast.remoting.redis_manager import (MESSAGES, WAKE_ALL, WAKE_IDS_MAX, RedisManager,
                                           ScriptSteps, dumps, loads, origin_of)
from amfast.remoting.subscription_manager import ANY, Subscription, SubscriptionManager

__all__ = ["RedisSubscriptionManager"]

#: Milliseconds a topic's log outlives its longest-lived message.
LOG_MARGIN_MS = 1000
#: A subscription's lifetime after its connection last polled (ms): the default
#: connection timeout and a margin, as the connections' state.
SUBSCRIPTION_TTL = 1800000 + 60000
#: Past this many parsed subscriptions kept, the cache starts again.
MAX_PARSED = 10000

# Stream ids are "<ms>-<seq>"; is a after b?
_NEWER = """
local function newer(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am > bm end
  return tonumber(as) > tonumber(bs)
end
"""

# KEYS: log, subs; ARGV: message, expiry (ms since the epoch), max_messages, log lifetime,
# wake channel, origin, most ids a wake-up names, topic -> the subscribers' connection ids.
PERSIST = """
local ids = redis.call('SMEMBERS', KEYS[2])
if #ids == 0 then return ids end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'm', ARGV[1], 'x', ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
local named = ids
if #ids > tonumber(ARGV[7]) then named = {'""" + WAKE_ALL + """'} end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' """ + MESSAGES + """ ' .. string.len(ARGV[8]) .. '\\n' ..
           ARGV[8] .. '\\n' .. table.concat(named, '\\n'))
return ids
"""

# KEYS: log, subs, cur; ARGV: connection id, subscription, lifetime.  The cursor starts
# at the last message stored: only later ones are delivered.
SUBSCRIBE = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local cursor = '0-0'
if #last > 0 then cursor = last[1][1] end
redis.call('HSETNX', KEYS[3], ARGV[2], cursor)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
"""

# KEYS: log, subs, cur; ARGV: connection id, subscriptions to remove (none: all) -> how
# many subscriptions the connection has left on the topic.  Nobody left: the log goes.
UNSUBSCRIBE = """
if #ARGV > 1 then redis.call('HDEL', KEYS[3], unpack(ARGV, 2)) else redis.call('DEL', KEYS[3]) end
local left = redis.call('HLEN', KEYS[3])
if left == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  if redis.call('SCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
end
return left
"""

# KEYS: log, cur...; ARGV: lifetime -> {messages after the oldest cursor, {for each cur
# key: its subscription/cursor pairs as they were}}; every cursor moves past them.
CLAIM = _NEWER + """
local subs, oldest = {}, nil
for i = 2, #KEYS do
  local cursors = redis.call('HGETALL', KEYS[i])
  subs[i - 1] = cursors
  for j = 2, #cursors, 2 do
    if oldest == nil or newer(oldest, cursors[j]) then oldest = cursors[j] end
  end
end
if oldest == nil then return {{}, subs} end
local entries = redis.call('XRANGE', KEYS[1], '(' .. oldest, '+')
if #entries > 0 then
  local last = entries[#entries][1]
  for i = 2, #KEYS do
    local cursors = subs[i - 1]
    for j = 2, #cursors, 2 do
      if newer(last, cursors[j]) then redis.call('HSET', KEYS[i], cursors[j - 1], last) end
    end
  end
end
for i = 2, #KEYS do
  if #subs[i - 1] > 0 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return {entries, subs}
"""

# KEYS: topics; ARGV: lifetime -> the connection's topics (their expiry restarts).
TOPICS = """
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('SMEMBERS', KEYS[1])
"""

# KEYS: log, subs; ARGV: now (ms), cur key prefix.  Drops the expired messages at the head
# of the log, and the subscribers whose subscriptions expired.
CLEAN = """
while true do
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
  local expired = {}
  for _, entry in ipairs(head) do
    local fields = entry[2]
    local expiry
    for j = 1, #fields, 2 do if fields[j] == 'x' then expiry = tonumber(fields[j + 1]) end end
    if expiry and expiry <= tonumber(ARGV[1]) then expired[#expired + 1] = entry[1] else break end
  end
  if #expired == 0 then break end
  redis.call('XDEL', KEYS[1], unpack(expired))
  if #expired < #head then break end
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[2] .. id) == 0 then redis.call('SREM', KEYS[2], id) end
end
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
return redis.call('SCARD', KEYS[2])
"""


def stream_id(raw: bytes) -> tuple:
    """A stream id as numbers, in the order Redis gives them."""
    ms, _, seq = raw.partition(b"-")
    return int(ms), int(seq or 0)


class Batches:
    """Calls made at once by the threads of a process, answered in one go.

    The first caller runs ``run_batch`` on everything asked meanwhile and hands the
    next batch to one of the callers waiting for it; ``run_batch(keys)`` returns a
    result for each distinct key (a key asked twice in one batch is answered once, the
    other askers get ``empty``).
    """

    def __init__(self, run_batch: Callable[[list], dict], empty: Callable[[], Any]):
        self._run_batch = run_batch
        self._empty = empty
        self._lock = threading.Lock()
        self._queue: list = []
        self._running = False

    def call(self, key: Any) -> Any:
        request = _Request(key)
        with self._lock:
            self._queue.append(request)
            lead = not self._running
            self._running = True
        if not lead:
            request.done.wait()
            if not request.lead:
                return request.answer()
        self._run_next()
        return request.answer()

    def _run_next(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        keys = list(dict.fromkeys(r.key for r in batch))
        try:
            results = self._run_batch(keys)
        except Exception as exc:
            results, error = {}, exc
        else:
            error = None
        for request in batch:
            request.error = error
            request.value = results.pop(request.key, None) if error is None else None
            if request.value is None:
                request.value = self._empty()
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._running = False
        for request in batch:
            request.done.set()
        if following is not None:
            following.lead = True  # it runs the next batch
            following.done.set()


class LoopBatches:
    """``Batches`` on an event loop: the calls made in one turn of the loop (a wake-up
    reached many streams) are answered by one ``run_batch`` coroutine."""

    def __init__(self, run_batch: Callable[[list], Awaitable[dict]], empty: Callable[[], Any]):
        self._run_batch = run_batch
        self._empty = empty
        self.loop = asyncio.get_running_loop()
        self._queue: list = []
        self._running: set = set()

    async def call(self, key: Any) -> Any:
        future = self.loop.create_future()
        self._queue.append((key, future))
        if len(self._queue) == 1:
            # After the callbacks already due: the other streams woken now ask first.
            self.loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        batch, self._queue = self._queue, []
        task = self.loop.create_task(self._run(batch))
        self._running.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: list) -> None:
        keys = list(dict.fromkeys(key for key, _ in batch))
        try:
            results = await self._run_batch(keys)
        except asyncio.CancelledError:  # the loop stops: nobody is left hanging on a batch
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            results, error = {}, exc
        else:
            error = None
        for key, future in batch:
            if future.done():  # its stream was cancelled meanwhile
                continue
            if error is not None:
                future.set_exception(error)
                continue
            value = results.pop(key, None)
            future.set_result(self._empty() if value is None else value)


class _Request:
    __slots__ = ("key", "value", "error", "lead", "done")

    def __init__(self, key: Any):
        self.key = key
        self.value = self.error = None
        self.lead = False
        self.done = threading.Event()

    def answer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread without an event loop (WSGI)
        return None


def unexpired(entries: list, now: float) -> list:
    """``(stream id, message)`` of the log entries that have not expired."""
    messages = []
    for entry_id, fields in entries:
        entry = dict(zip(fields[::2], fields[1::2]))
        if int(entry[b"x"]) > now:
            messages.append((stream_id(entry_id), loads(entry[b"m"])))
    return messages


class RedisSubscriptionManager(RedisManager, SubscriptionManager):
    """Subscriptions and messages in Redis (default ``redis://127.0.0.1:6379/0``); every
    argument but AmFast's first two by name.

    ``async_client``: a ``redis.asyncio`` client for the listener and the streams'
    collections under an ASGI lifespan, when ``client`` is given (with ``url``, one is
    made from it; without either, the listener runs in a thread).  ``subscription_ttl``
    (ms): how long a subscription lives after its connection last polled.
    """

    def __init__(self, secure: bool = False, ttl: int = 30000, *, url: str | None = None,
                 client: Any = None, async_client: Any = None, key_prefix: str = "amfast",
                 max_messages: int = 10000, socket_timeout: float = 1.0,
                 subscription_ttl: int = SUBSCRIPTION_TTL):
        SubscriptionManager.__init__(self, secure, ttl, max_messages)
        self._init_redis(url, client, key_prefix, socket_timeout)
        self.async_client = async_client
        self.subscription_ttl = subscription_ttl
        self.listener: ThreadListener | AsyncListener | None = None
        #: Names this process's waiters in its wake-ups (``start``).
        self.origin = ""
        self._persist = self.script(PERSIST)
        self._subscribe = self.script(SUBSCRIBE)
        self._unsubscribe = self.script(UNSUBSCRIBE)
        self._clean = self.script(CLEAN)
        #: The scripts that collecting runs, by the names its steps give (``drive``).
        self._scripts = {"claim": self.script(CLAIM), "topics": self.script(TOPICS)}
        self._collects = Batches(self._collect_batch, list)
        #: Collections on the event loop the listener runs on (``startAsync``).
        self._async_collects: LoopBatches | None = None
        self._parsed: dict = {}

    @property
    def recheck(self) -> bool:
        """Held polls and streams must look at Redis again every ``poll_interval`` while
        no listener hears the publishes made elsewhere."""
        return self.listener is None or not self.listener.listening

    # -- lifecycle ------------------------------------------------------------------

    def start(self, notifier: Any) -> None:
        SubscriptionManager.start(self, notifier)
        if self.listener is None:
            self.origin = origin_of(notifier)
            self.listener = ThreadListener(self.redis, self.wake_channel, self.view,
                                           notifier, self.socket_timeout)
            self.listener.start()

    async def startAsync(self, notifier: Any) -> None:
        """The listener as a task on this event loop, on ``async_client`` (or a client made
        from ``url``); in a thread when there is neither."""
        if self.listener is not None:
            return
        client, close = self.async_client, None
        if client is None and self.url is not None:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout)
            close = client.aclose
        if client is None:
            self.start(notifier)
            return
        SubscriptionManager.start(self, notifier)
        self.origin = origin_of(notifier)
        collects = before_wake = None
        if hasattr(client, "register_script"):
            scripts = {name: client.register_script(script.script)
                       for name, script in self._scripts.items()}
            # Batches still running when the manager stops finish on what they began with.
            collects = LoopBatches(
                functools.partial(self._collect_batch_async, client, scripts), list)
            before_wake = functools.partial(self._refresh_waiting, client)
        self._async_collects = collects
        self.listener = AsyncListener(client, self.wake_channel, self.view, notifier,
                                      self.socket_timeout, close, before_wake)
        self.listener.start()

    async def _refresh_waiting(self, client: Any, connection_ids: list) -> None:
        """Before a wake-up reaches the streams of this process: the states they check
        first that are missing or getting old, read in one round trip (else each stream
        would read its own, one after the other on the loop, when messages are rare)."""
        try:
            await self.refresh_states_async(
                client, [i for i in connection_ids if self.notifier.listened(i)])
        except StoreUnavailableError:
            pass  # the streams read their states themselves, and fail properly

    def stop(self) -> None:
        listener, self.listener = self.listener, None
        self._async_collects = None
        if listener is not None:
            listener.stop_soon()

    async def stopAsync(self) -> None:
        listener, self.listener = self.listener, None
        self._async_collects = None
        if isinstance(listener, AsyncListener):
            await listener.stop()
        elif listener is not None:
            listener.stop_soon()

    # -- keys -------------------------------------------------------------------------

    def _topic_keys(self, topic: str) -> list:
        return [self.topic_key(topic, "log"), self.topic_key(topic, "subs")]

    def _cursor_key(self, topic: str, connection_id: str) -> str:
        return self.topic_key(topic, f"cur:{connection_id}")

    @staticmethod
    def _field(subscription: Subscription) -> str:
        return json.dumps([subscription.client_id, subscription.sub_topic,
                           subscription.selector])

    @staticmethod
    def _subscription(connection_id: str, topic: str, field: bytes, cursor: Any = None
                      ) -> Subscription:
        client_id, sub_topic, selector = json.loads(field)
        return Subscription(connection_id, client_id, topic, sub_topic, selector, cursor)

    def _parse(self, topic: str, field: bytes) -> Subscription:
        """The subscription a stored field describes (parsed once: selectors compile)."""
        found = self._parsed.get((topic, field))
        if found is None:
            if len(self._parsed) >= MAX_PARSED:
                self._parsed.clear()
            found = self._parsed[(topic, field)] = self._subscription("", topic, field)
        return found

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        # Validates the subtopic and selector before anything is stored.
        subscription = Subscription(connection_id, client_id, topic, sub_topic, selector)
        self.run(self._subscribe, self._topic_keys(topic) + [
            self._cursor_key(topic, connection_id)],
            [connection_id, self._field(subscription), self.subscription_ttl])
        # After the topic's side: an unsubscribe running meanwhile cannot hide it.
        with self.unavailable():
            pipe = self.redis.pipeline(transaction=False)
            pipe.sadd(self.connection_key(connection_id, "topics"), topic)
            pipe.pexpire(self.connection_key(connection_id, "topics"), self.subscription_ttl)
            pipe.execute()
            self.redis.sadd(self.index_key("topics"), topic)
        self.view.joined_topic(connection_id, topic)

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        cursor_key = self._cursor_key(topic, connection_id)
        with self.unavailable():
            fields = self.redis.hkeys(cursor_key)
        removed = [f for f in fields if self._subscription(connection_id, topic, f)
                   .matchesRemoval(client_id, topic, sub_topic, selector)]
        if removed:
            self._leave(connection_id, topic, removed)

    def _leave(self, connection_id: str, topic: str, fields: list) -> None:
        """Remove subscriptions (``fields``; none: all) of a connection to ``topic``."""
        cursor_key = self._cursor_key(topic, connection_id)
        left = self.run(self._unsubscribe, self._topic_keys(topic) + [cursor_key],
                        [connection_id, *fields])
        if left:
            return
        self.view.forget_topic(connection_id, topic)
        topics_key = self.connection_key(connection_id, "topics")
        with self.unavailable():
            self.redis.srem(topics_key, topic)
            if self.redis.exists(cursor_key):  # subscribed again meanwhile
                self.redis.sadd(topics_key, topic)

    def _connection_topics(self, connection_id: str) -> list:
        return self.drive(self._topics_steps(connection_id), self._scripts)

    def _topics_steps(self, connection_id: str) -> ScriptSteps:
        found = yield "topics", [self.connection_key(connection_id, "topics")], [
            self.subscription_ttl]
        return [t.decode("utf-8", "surrogatepass") for t in found]

    def _remembered_topics(self, connection_id: str) -> ScriptSteps:
        """The connection's topics, as this process remembers them or from Redis (read
        again, which renews their expiry, every quarter of ``subscription_ttl``: the
        processes that do not remember them find them there)."""
        topics = self.view.topics(connection_id, self.subscription_ttl / 4000)
        if topics is None:
            mark = self.view.mark()
            topics = set((yield from self._topics_steps(connection_id)))
            self.view.remember_topics(mark, connection_id, topics)
        return topics

    def deleteConnection(self, connection: Any) -> None:
        self.view.forget_topic(connection.id)
        for topic in self._connection_topics(connection.id):
            self._leave(connection.id, topic, [])
        with self.unavailable():
            self.redis.delete(self.connection_key(connection.id, "topics"))

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        with self.unavailable():
            ids = [i.decode("utf-8", "surrogatepass")
                   for i in self.redis.smembers(self.topic_key(topic, "subs"))]
            if sub_topic is not None:
                ids = [i for i in ids if any(
                    self._subscription(i, topic, f).sub_topic == sub_topic
                    for f in self.redis.hkeys(self._cursor_key(topic, i)))]
        return iter(ids)

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        found = []
        for topic in self._connection_topics(connection.id):
            with self.unavailable():
                cursors = self.redis.hgetall(self._cursor_key(topic, connection.id))
            found += [self._subscription(connection.id, topic, f, c.decode())
                      for f, c in cursors.items()]
        return iter(found)

    # -- messages -------------------------------------------------------------------------

    def persistMessage(self, msg: Any) -> list:
        expires = int(msg.timestamp + msg.timeToLive)
        ids = self.run(self._persist, self._topic_keys(msg.destination), [
            dumps(msg), expires, self.max_messages, int(msg.timeToLive) + LOG_MARGIN_MS,
            self.wake_channel, self.origin, WAKE_IDS_MAX, msg.destination])
        return [i.decode("utf-8", "surrogatepass") for i in ids]

    def collectMessages(self, connection_id: str) -> list:
        """Collected with the polls of this process made at the same time (``Batches``)."""
        return self._collects.call(connection_id)

    def asyncCollector(self) -> Callable[[str], Awaitable[list]] | None:
        """On the loop ``startAsync`` ran on, with its ``redis.asyncio`` client: the streams
        a wake-up reaches in one turn of the loop are collected together (``LoopBatches``),
        without a worker thread."""
        collects = self._async_collects
        if collects is None or collects.loop is not _running_loop():
            return None
        return collects.call

    def _collect_batch(self, connection_ids: list) -> dict:
        return self.drive(self._collect_steps(connection_ids), self._scripts)

    async def _collect_batch_async(self, client: Any, scripts: dict, connection_ids: list
                                   ) -> dict:
        """On ``client`` (``redis.asyncio``) with its ``scripts``; the states of the
        connections, which their streams check at each wake-up, are read meanwhile."""
        # A failed refresh loses nothing (the streams read the states themselves); the
        # messages claimed are returned whatever it did.
        found, _ = await asyncio.gather(
            self.drive_async(self._collect_steps(connection_ids), scripts),
            self.refresh_states_async(client, connection_ids), return_exceptions=True)
        if isinstance(found, BaseException):
            raise found
        return found

    def _collect_steps(self, connection_ids: list) -> ScriptSteps:
        """``{connection id: [(client_id, message)...]}``: one claim per topic for all."""
        found: dict = {connection_id: [] for connection_id in connection_ids}
        by_topic: dict = {}
        for connection_id in connection_ids:
            topics = yield from self._remembered_topics(connection_id)
            for topic in sorted(topics):
                by_topic.setdefault(topic, []).append(connection_id)
        now = self.now()
        for topic, ids in by_topic.items():
            entries, cursors = yield "claim", [self.topic_key(topic, "log")] + [
                self._cursor_key(topic, i) for i in ids], [self.subscription_ttl]
            messages = unexpired(entries, now) if entries else []
            for connection_id, pairs in zip(ids, cursors):
                if not pairs:
                    self.view.forget_topic(connection_id, topic)  # its subscriptions expired
                elif messages:
                    found[connection_id] += self._deliver(topic, messages, pairs)
        return found

    def _deliver(self, topic: str, messages: list, pairs: list) -> list:
        """What the subscriptions (``pairs``: field, cursor before the claim) of one
        connection receive of ``messages``: each message once per Consumer, in order."""
        found = []
        delivered: set = set()
        for n in range(0, len(pairs), 2):
            subscription = self._parse(topic, pairs[n])
            after = stream_id(pairs[n + 1])
            for number, msg in messages:
                once = (subscription.client_id, number)
                if number > after and once not in delivered and subscription.accepts(msg):
                    delivered.add(once)
                    found.append((subscription.client_id, msg))
        return found

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        """Drop expired messages at the head of each log, and subscribers whose
        subscriptions expired; forget topics nobody subscribes to."""
        now = self.now() if now is None else now
        with self.unavailable():
            topics = [t.decode("utf-8", "surrogatepass")
                      for t in self.redis.smembers(self.index_key("topics"))]
        for topic in topics:
            left = self.run(self._clean, self._topic_keys(topic),
                            [int(now), self.topic_key(topic, "cur:")])
            if not left:
                with self.unavailable():
                    self.redis.srem(self.index_key("topics"), topic)

    def reset(self) -> None:
        with self.unavailable():
            topics = [t.decode("utf-8", "surrogatepass")
                      for t in self.redis.smembers(self.index_key("topics"))]
            for topic in topics:
                for connection_id in self.iterSubscribers(topic):
                    self.redis.delete(self.connection_key(connection_id, "topics"),
                                      self._cursor_key(topic, connection_id))
                self.redis.delete(*self._topic_keys(topic))
            self.redis.delete(self.index_key("topics"))
