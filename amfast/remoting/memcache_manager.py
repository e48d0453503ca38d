"""What the memcache managers share: the client, keys, atomic updates, failure detection.

Every read-modify-write goes through memcached's ``gets``/``cas`` (or ``add``/
``incr``), never a blind ``set`` of a value another process may have changed.
When no memcached server answers, operations raise ``StoreUnavailableError``
(within ``socket_timeout``), which reaches clients as a fault or an HTTP 503;
the client library retries a dead server after ``dead_retry`` seconds, so
service resumes by itself.
"""
from __future__ import annotations

import hashlib
import math
import pickle
import time
from typing import Any, Callable, Iterable

import memcache

import amfast
from amfast.remoting.errors import StoreUnavailableError

__all__ = ["MemcacheManager", "StoreUnavailableError"]

DEFAULT_SERVERS = ("127.0.0.1:11211",)
#: How often a contended compare-and-swap is retried before giving up.
CAS_ATTEMPTS = 50
#: memcached reads a lifetime above 30 days as a Unix time.
MAX_RELATIVE_LIFETIME = 30 * 24 * 3600


def lifetime(ms: float) -> int:
    """memcached's expiry for an item that must live ``ms`` milliseconds (whole seconds)."""
    seconds = int(math.ceil(ms / 1000))
    if seconds > MAX_RELATIVE_LIFETIME:
        return int(time.time()) + seconds
    return seconds


class MemcacheManager:
    """Mixin: a python-memcached client and the primitives built on it.

    ``key_prefix`` keeps applications sharing one memcached apart.
    """

    def _init_memcache(self, mc_servers: Iterable[str] | None, mc_debug: int, key_prefix: str,
                       socket_timeout: float, dead_retry: float) -> None:
        self.mc_servers = list(mc_servers or DEFAULT_SERVERS)
        self.key_prefix = key_prefix
        # The client is thread-local (one socket and cas table per thread).
        self.mc = memcache.Client(self.mc_servers, debug=mc_debug, cache_cas=True,
                                  socket_timeout=socket_timeout, dead_retry=dead_retry,
                                  pickleProtocol=pickle.HIGHEST_PROTOCOL)

    def mc_key(self, kind: str, *parts: Any) -> str:
        """A key safe for memcached (no spaces, bounded length) whatever the parts hold."""
        digest = hashlib.sha1("\0".join(str(p) for p in parts).encode("utf-8")).hexdigest()
        return f"{self.key_prefix}:{kind}:{digest}"

    def mc_check(self) -> None:
        """StoreUnavailableError when no memcached server can be reached."""
        if not any(host.connect() for host in self.mc.servers):
            # The fault reaches clients: the servers' addresses go to the log only.
            amfast.logger.error("memcached at %s is unreachable", ", ".join(self.mc_servers))
            raise StoreUnavailableError("the shared state store is unreachable")

    def mc_get(self, key: str) -> Any:
        value = self.mc.get(key)
        if value is None:
            self.mc_check()
        return value

    def mc_get_multi(self, keys: list) -> dict:
        found = self.mc.get_multi(keys)
        if not found and keys:
            self.mc_check()
        return found

    def mc_set(self, key: str, value: Any, ttl: int = 0) -> None:
        if not self.mc.set(key, value, time=ttl):
            self.mc_check()
            self.mc_check_size(key, value)
            raise StoreUnavailableError(f"memcached refused to store {key}")

    def mc_add(self, key: str, value: Any, ttl: int = 0) -> bool:
        """Store only if absent; False when the key exists."""
        if self.mc.add(key, value, time=ttl):
            return True
        self.mc_check()
        return False

    def mc_delete(self, key: str) -> None:
        self.mc.delete(key)

    def mc_incr(self, key: str) -> int:
        """Atomically add one to a counter (created at 0 when missing); the new value."""
        for _ in range(CAS_ATTEMPTS):
            try:
                value = self.mc.incr(key)
            except ValueError:
                # python-memcached reads an empty reply from a socket memcached closed.
                value = None
            if value is not None:
                return int(value)
            self.mc_check()
            self.mc.add(key, "0")
        raise StoreUnavailableError(f"cannot increment {key}")

    def mc_decr(self, key: str) -> None:
        self.mc.decr(key)

    def mc_update(self, key: str, change: Callable[[Any], Any],
                  ttl: int | Callable[[Any], int] = 0, default: Any = None) -> Any:
        """Atomically replace the value with ``change(value)``; the new value.

        ``ttl`` may be a function of the new value.  A missing key starts from
        ``default`` (created with ``add``); with ``default`` None a missing key
        returns None without calling ``change``.
        """
        expiry = ttl if callable(ttl) else (lambda value: ttl)
        for _ in range(CAS_ATTEMPTS):
            current = self.mc.gets(key)
            if current is None:
                self.mc_check()
                if default is None:
                    return None
                new = change(default)
                if self.mc.add(key, new, time=expiry(new)):
                    return new
                self.mc_check_size(key, new)
                continue
            new = change(current)
            if self.mc.cas(key, new, time=expiry(new)):
                return new
            self.mc_check_size(key, new)
        raise StoreUnavailableError(f"{key} is updated too often to change it")

    def mc_check_size(self, key: str, value: Any) -> None:
        """StoreUnavailableError naming the limit when ``value`` is over memcached's item size."""
        size = len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        if size > memcache.SERVER_MAX_VALUE_LENGTH:
            raise StoreUnavailableError(f"{key}: {size} bytes are over memcached's item limit "
                                        f"of {memcache.SERVER_MAX_VALUE_LENGTH}")

    def mc_set_add(self, key: str, member: Any, ttl: int = 0) -> None:
        self.mc_update(key, lambda members: members | {member}, ttl, frozenset())

    def mc_set_discard(self, key: str, member: Any, ttl: int = 0) -> None:
        self.mc_update(key, lambda members: members - {member}, ttl)

    def mc_shard(self, kind: str, name: Any, member: str, shards: int) -> str:
        """The key of the shard of a large set (``kind``/``name``) holding ``member``."""
        return self.mc_key(kind, name, stable_hash(member) % shards)

    def mc_shards(self, kind: str, name: Any, shards: int) -> list:
        return [self.mc_key(kind, name, n) for n in range(shards)]


def stable_hash(text: str) -> int:
    """The same number in every process (Python's hash() of str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "big")
