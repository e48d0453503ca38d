"""What the Redis managers share: the client, the key layout, errors, wake-up messages.

Keys are ``<key_prefix>:{c:<connection id>}:...`` for a connection and
``<key_prefix>:{t:<topic>}:...`` for a topic: the braces are Redis Cluster hash
tags, so each connection's keys and each topic's keys live in one slot and a
Lua script can change them atomically.  A few keys that index everything
(``<key_prefix>:{index}:...``) share a slot of their own.

Every operation that cannot reach Redis raises ``StoreUnavailableError``
(within ``socket_timeout``), which reaches clients as a fault or an HTTP 503.

Wake-ups: a publish, and a disconnect, PUBLISH a message on the channel
``<key_prefix>:wake`` naming the connections to wake (see
``redis_listener``): ``<origin>\\n<id>\\n<id>...``, or ``<origin>\\n*`` to wake
every waiter.  ``origin`` names the process that published it, which has woken
its own waiters already.
"""
from __future__ import annotations

import contextlib
import hashlib
import pickle
from typing import Any, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from amfast.remoting.errors import ChannelError, StoreUnavailableError

__all__ = ["RedisManager", "StoreUnavailableError", "DEFAULT_URL"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Names longer than this (bytes) appear in keys as a digest.
MAX_NAME_BYTES = 200
#: A wake-up naming more connections than this wakes every waiter instead.
WAKE_IDS_MAX = 1000
#: The wake-up that wakes every waiter of every process.
WAKE_ALL = "*"

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

    def wake_message(self, origin: str, connection_ids: list) -> bytes:
        ids = connection_ids if len(connection_ids) <= WAKE_IDS_MAX else [WAKE_ALL]
        return "\n".join([origin, *ids]).encode("utf-8", "surrogatepass")

    def publish_wake(self, origin: str, connection_ids: list) -> None:
        """Wake the waiters of these connections in every process listening."""
        with self.unavailable():
            self.redis.publish(self.wake_channel, self.wake_message(origin, connection_ids))
