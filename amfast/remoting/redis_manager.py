"""What the Redis managers share: the client, the key layout, errors, wake-up messages.

Keys are ``<key_prefix>:{c:<connection id>}:...`` for a connection and
``<key_prefix>:{t:<topic>}:...`` for a topic: the braces are Redis Cluster hash
tags, so each connection's keys and each topic's keys live in one slot and a
Lua script can change them atomically.  A few keys that index everything
(``<key_prefix>:{index}:...``) share a slot of their own.

Every operation that cannot reach Redis raises ``StoreUnavailableError``
(within ``socket_timeout``), which reaches clients as a fault or an HTTP 503.

Wake-ups: a publish, and a change of a connection's state, PUBLISH a message on
the channel ``<key_prefix>:wake`` naming the connections whose waiters must look
again (see ``redis_listener``)::

    <origin> <kind> <topic length>\\n<topic>\\n<id>\\n<id>...

``origin`` names the waiters (``origin_of(notifier)``) that the publisher has woken
already; ``kind`` is ``m`` (messages were published to ``topic``) or ``s`` (the
connections' state changed: login, logout, disconnect; no topic); the ids may be
``*``: every waiter.

``LocalView``: what a process may remember of the shared state while its
listener hears every change (the topics of its connections, a few fields of
their state), so that waking a hundred streams does not cost a hundred round
trips.  Everything in it is forgotten when the listener loses its connection.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import secrets
import threading
import time
import weakref
from typing import Any, Generator, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from amfast.remoting.errors import ChannelError, StoreUnavailableError

__all__ = ["RedisManager", "LocalView", "StoreUnavailableError", "DEFAULT_URL", "ScriptSteps"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Names longer than this (bytes) appear in keys as a digest.
MAX_NAME_BYTES = 200
#: A wake-up naming more connections than this wakes every waiter instead.
WAKE_IDS_MAX = 1000
#: The wake-up that wakes every waiter of every process.
WAKE_ALL = "*"
#: The kinds of wake-up: messages published, connection state changed.
MESSAGES, STATE = "m", "s"
#: How long (s) a process trusts a connection's fields it read, even when nothing said
#: they changed (a state Redis expired says nothing).
STATE_CACHE_SECONDS = 1.0
#: The state fields a process may remember (read at every wake-up of a stream).
CACHED_FIELDS = ("connected", "authenticated", "flex_user", "small_messages")
#: Remembered fields older than this (s) are read again with the wake-up's collection
#: (``refresh_states_async``), before a stream finds them expired.
REFRESH_AFTER = STATE_CACHE_SECONDS / 2
#: Past this many connections remembered, a process forgets them all and starts again.
MAX_REMEMBERED = 100000

#: The Redis work of an operation, written once and run by ``RedisManager.drive`` (redis-py)
#: or ``drive_async`` (``redis.asyncio``): it yields ``(script name, keys, args)`` and is
#: sent what the script returned; its return value is the operation's.
ScriptSteps = Generator[tuple, Any, Any]

#: What "Redis cannot answer now" looks like in redis-py: the connection failed or timed
#: out, a cluster has no master for the slot (failover), a replica refused a write, the
#: server is loading its data.
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
               redis.exceptions.ClusterError, redis.exceptions.ReadOnlyError,
               redis.exceptions.TryAgainError)


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def loads(raw: bytes | None) -> Any:
    return None if raw is None else pickle.loads(raw)


def key_name(name: str) -> str:
    """``name`` as it appears in a key: itself, or a digest when it is long."""
    if len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:
        return name
    return "#" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def make_client(url: str, socket_timeout: float) -> redis.Redis:
    """A client for ``url`` whose commands fail within ``socket_timeout`` (connect and read):
    one retry for a connection Redis closed (it restarted), none for a timeout."""
    return redis.Redis.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)))


class LocalView:
    """What this process remembers of one application's shared state (one Redis, one key
    prefix) while its listener is subscribed; thread-safe.

    ``generation`` changes whenever the listener subscribes or loses its connection,
    and everything is forgotten then: a change made meanwhile was not heard.  A reader
    remembers what it read only if nothing changed since it started reading (``mark``
    then ``remember...``), so a change heard during a read never leaves a stale copy.
    """

    def __init__(self):
        self.listening = False
        self._lock = threading.Lock()
        self._version = 0
        self._states: dict = {}
        self._topics: dict = {}

    def mark(self) -> int | None:
        """A token for ``remember...``: None when nothing may be remembered now."""
        return self._version if self.listening else None

    def reset(self, listening: bool) -> None:
        with self._lock:
            self.listening = listening
            self._version += 1
            self._states.clear()
            self._topics.clear()

    # -- connection state -----------------------------------------------------------

    def state(self, connection_id: str) -> dict | None:
        entry = self._states.get(connection_id)
        if entry is None or not self.listening or \
                time.monotonic() - entry[0] > STATE_CACHE_SECONDS:
            return None
        return entry[1]

    def remember_state(self, mark: int | None, connection_id: str, fields: dict) -> None:
        with self._lock:
            if mark is not None and mark == self._version:
                if len(self._states) >= MAX_REMEMBERED:
                    self._states.clear()
                self._states[connection_id] = (time.monotonic(), fields)

    def needs_refresh(self, connection_id: str) -> bool:
        """Whether the fields remembered for a connection are missing or getting old (while
        listening: otherwise nothing is remembered)."""
        entry = self._states.get(connection_id)
        return self.listening and (entry is None or
                                   time.monotonic() - entry[0] > REFRESH_AFTER)

    def state_changed(self, connection_ids: list) -> None:
        with self._lock:
            self._version += 1
            if connection_ids == [WAKE_ALL]:
                self._states.clear()
            for connection_id in connection_ids:
                self._states.pop(connection_id, None)

    # -- the topics of a connection --------------------------------------------------

    def topics(self, connection_id: str, max_age: float) -> set | None:
        """The connection's topics, if they were read from Redis at most ``max_age``
        seconds ago (reading them renews their expiry there)."""
        found = self._topics.get(connection_id)
        if found is None or not self.listening or time.monotonic() - found[0] > max_age:
            return None
        return set(found[1])

    def remember_topics(self, mark: int | None, connection_id: str, topics: set) -> None:
        with self._lock:
            if mark is not None and mark == self._version:
                if len(self._topics) >= MAX_REMEMBERED:
                    self._topics.clear()
                self._topics[connection_id] = (time.monotonic(), set(topics))

    def published(self, topic: str, connection_ids: list) -> None:
        """Messages were published to ``topic`` for these subscribers: they subscribe to it
        (a subscription made through another process is learned here)."""
        with self._lock:
            targets = self._topics.values() if connection_ids == [WAKE_ALL] else \
                filter(None, map(self._topics.get, connection_ids))
            for _, topics in targets:
                topics.add(topic)

    def forget_topic(self, connection_id: str, topic: str | None = None) -> None:
        """A connection left ``topic`` (None: every topic)."""
        with self._lock:
            self._version += 1
            if topic is None:
                self._topics.pop(connection_id, None)
            elif connection_id in self._topics:
                self._topics[connection_id][1].discard(topic)

    def joined_topic(self, connection_id: str, topic: str) -> None:
        with self._lock:
            if connection_id in self._topics:
                self._topics[connection_id][1].add(topic)


def _advance(steps: ScriptSteps, value: Any) -> tuple:
    """Send ``value`` into ``steps``: ``(False, the script call they ask for)``, or
    ``(True, what they returned)``."""
    try:
        return False, steps.send(value)
    except StopIteration as stop:
        return True, stop.value


_views: dict = {}
_views_lock = threading.Lock()
_origins: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def origin_of(notifier: Any) -> str:
    """The name of a notifier (the waiters of one process) in wake-ups: a process that
    published a wake-up has woken its own waiters already.  A forked process names
    itself anew."""
    found = _origins.get(notifier)
    if found is None or found[0] != os.getpid():
        found = _origins[notifier] = (os.getpid(), secrets.token_hex(8))
    return found[1]


def local_view(where: Any, key_prefix: str) -> LocalView:
    """The view shared by the managers of one process on one Redis (``where``: a url, or
    a client object) and one key prefix."""
    key = (where if isinstance(where, str) else id(where), key_prefix)
    with _views_lock:
        view = _views.get(key)
        if view is None:
            view = _views[key] = LocalView()
        return view


class RedisManager:
    """Mixin: a redis-py client, the keys, and the primitives built on them.

    ``url`` (``redis://host:port/db``, ``rediss://`` for TLS, ``unix://``) or ``client`` (a
    ``redis.Redis``, ``redis.RedisCluster``, or a Sentinel's ``master_for(...)``, made with
    ``decode_responses=False``) say where the state lives; ``key_prefix`` keeps
    applications sharing one Redis apart.
    """

    def _init_redis(self, url: str | None, client: Any, key_prefix: str,
                    socket_timeout: float) -> None:
        if "{" in key_prefix or "}" in key_prefix:
            raise ChannelError("key_prefix cannot hold braces (Redis Cluster hash tags).")
        if client is None:
            client = make_client(url or DEFAULT_URL, socket_timeout)
        elif url is not None:
            raise ChannelError("Give the Redis managers a url or a client, not both.")
        kwargs = getattr(client, "get_connection_kwargs", dict)()
        if kwargs.get("decode_responses"):
            raise ChannelError("The Redis client must be made with decode_responses=False.")
        self.redis = client
        self.url = url
        self.key_prefix = key_prefix
        self.socket_timeout = socket_timeout
        self.wake_channel = f"{key_prefix}:wake"
        #: What this process may remember while its listener hears every change.
        self.view = local_view(url if url is not None else client, key_prefix)

    # -- keys ---------------------------------------------------------------------

    def connection_key(self, connection_id: str, kind: str = "") -> str:
        key = f"{self.key_prefix}:{{c:{key_name(connection_id)}}}"
        return f"{key}:{kind}" if kind else key

    def topic_key(self, topic: str, kind: str) -> str:
        return f"{self.key_prefix}:{{t:{key_name(topic)}}}:{kind}"

    def index_key(self, kind: str) -> str:
        return f"{self.key_prefix}:{{index}}:{kind}"

    # -- calls ----------------------------------------------------------------------

    @contextlib.contextmanager
    def unavailable(self) -> Iterator[None]:
        """Turn redis-py's "cannot answer" errors into ``StoreUnavailableError``."""
        try:
            yield
        except UNAVAILABLE as exc:
            # The server's address goes to the log only (the caller logs), never to clients.
            raise StoreUnavailableError(
                f"the shared state store is unreachable ({type(exc).__name__})") from exc

    def script(self, source: str) -> Any:
        """A Lua script run with EVALSHA (loaded again by redis-py when Redis lost it)."""
        return self.redis.register_script(source)

    def run(self, script: Any, keys: list, args: list) -> Any:
        with self.unavailable():
            return script(keys=keys, args=args)

    def drive(self, steps: ScriptSteps, scripts: dict) -> Any:
        """Run ``steps`` with ``scripts`` (name: a redis-py script)."""
        with contextlib.closing(steps):
            done, step = _advance(steps, None)
            while not done:
                done, step = _advance(steps, self.run(scripts[step[0]], *step[1:]))
            return step

    async def drive_async(self, steps: ScriptSteps, scripts: dict) -> Any:
        """``drive`` on an event loop (name: a ``redis.asyncio`` script)."""
        with contextlib.closing(steps):
            done, step = _advance(steps, None)
            while not done:
                name, keys, args = step
                with self.unavailable():
                    value = await scripts[name](keys=keys, args=args)
                done, step = _advance(steps, value)
            return step

    def remember_fields(self, mark: int | None, connection_id: str, found: list
                        ) -> dict | None:
        """A connection's ``CACHED_FIELDS`` as HMGET read them, remembered (``mark``: see
        ``LocalView``); None when the connection is gone."""
        if all(value is None for value in found):
            return None  # gone: nothing to remember
        fields = dict(zip(CACHED_FIELDS, map(loads, found)))
        self.view.remember_state(mark, connection_id, fields)
        return fields

    async def refresh_states_async(self, client: Any, connection_ids: list) -> None:
        """Read again, in one round trip on ``client`` (``redis.asyncio``), the remembered
        fields of these connections that are missing or getting old: the streams a
        wake-up reaches then check their state without a round trip each on the loop."""
        stale = [i for i in connection_ids if self.view.needs_refresh(i)]
        if not stale:
            return
        mark = self.view.mark()
        pipe = client.pipeline(transaction=False)
        for connection_id in stale:
            pipe.hmget(self.connection_key(connection_id), CACHED_FIELDS)
        with self.unavailable():
            found = await pipe.execute()
        for connection_id, values in zip(stale, found):
            self.remember_fields(mark, connection_id, values)

    def publish_state_change(self, origin: str, connection_ids: list) -> None:
        """Tell every process listening that these connections' state changed: they forget
        what they remember of it and wake the connections' waiters to look again."""
        ids = connection_ids if len(connection_ids) <= WAKE_IDS_MAX else [WAKE_ALL]
        data = "\n".join([f"{origin} {STATE} 0", "", *ids]).encode("utf-8", "surrogatepass")
        with self.unavailable():
            self.redis.publish(self.wake_channel, data)
