"""What the memcache managers share: the client, keys, atomic updates, failure detection.

Every read-modify-write goes through memcached's ``gets``/``cas`` (or ``add``/
``incr``), never a blind ``set`` of a value another process may have changed.
When no memcached server answers, operations raise ``StoreUnavailableError``
(within ``socket_timeout``), which reaches clients as a fault or an HTTP 503.

python-memcached keeps a client per thread, each with its own sockets and its
own record of which servers are dead.  Worker threads that live as long as the
process (waitress, gunicorn's gthread, uwsgi) would each hold a socket that a
restarted memcached has closed, and fail once on it, and each would find an
outage on its own.  So before every operation the thread's client drops the
sockets memcached closed, and a server found dead by one thread is dead for
all the threads of the process, for ``dead_retry`` seconds; then the next
operation tries it again.
"""
from __future__ import annotations

import hashlib
import math
import pickle
import select
import threading
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
        # Thread-local: each thread builds its own (sockets, dead marks, cas table).
        self._client = memcache.Client(self.mc_servers, debug=mc_debug, cache_cas=True,
                                       socket_timeout=socket_timeout, dead_retry=dead_retry,
                                       pickleProtocol=pickle.HIGHEST_PROTOCOL)
        # Until when (time.time(), python-memcached's clock) each server is dead, for every
        # thread of the process.
        self._dead_until = [0.0] * len(self.mc_servers)
        self._dead_lock = threading.Lock()

    @property
    def mc(self) -> memcache.Client:
        """This thread's python-memcached client, ready for one operation: the servers the
        process knows are dead are refused at once, and sockets memcached closed (it was
        restarted) are dropped, so the operation connects anew instead of failing."""
        client = self._client
        self._share_dead_marks(client)
        now = time.time()
        for host, dead_until in zip(client.servers, self._dead_until):
            host.deaduntil = dead_until if dead_until > now else 0
            if host.socket is not None and closed_by_server(host.socket):
                host.close_socket()
        return client

    def _share_dead_marks(self, client: memcache.Client) -> None:
        """Make the servers this thread found dead dead for the whole process."""
        for n, host in enumerate(client.servers):
            if host.deaduntil > self._dead_until[n]:
                with self._dead_lock:
                    if host.deaduntil > self._dead_until[n]:
                        # The servers' addresses go to the log only, never to clients.
                        amfast.logger.error("memcached at %s is unreachable", self.mc_servers[n])
                        self._dead_until[n] = host.deaduntil

    def mc_key(self, kind: str, *parts: Any) -> str:
        """A key safe for memcached (no spaces, bounded length) whatever the parts hold."""
        digest = hashlib.sha1("\0".join(str(p) for p in parts).encode("utf-8")).hexdigest()
        return f"{self.key_prefix}:{kind}:{digest}"

    def mc_check(self) -> None:
        """StoreUnavailableError when this thread's last operation reached no memcached server.

        Call it when a result is ambiguous (None is also a missing key): python-memcached
        marks every server it failed to reach (refused, timed out) dead.
        """
        client = self._client
        self._share_dead_marks(client)
        if not any(not host.deaduntil and host.connect() for host in client.servers):
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


def closed_by_server(sock: Any) -> bool:
    """Whether memcached closed (or reset) an idle connection: it never sends unasked, so an
    idle socket with anything to read has been closed (or carries a reply no one read)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
