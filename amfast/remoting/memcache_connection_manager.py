"""Connection state in memcached, shared by every process and host that uses it.

Each connection's state is one item changed with ``cas``, living as long as
the connection's timeout after its last touch (plus a margin); a registry of
``id -> channel`` split in shards lets the cleaner find connections whose
items memcached already dropped, so their subscriptions and counts go too.
Notify functions stay in the process that set them; waiters in other
processes re-check every ``poll_interval``.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterable, Iterator

from amfast.remoting.connection import Connection
from amfast.remoting.connection_manager import ConnectionManager
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.memcache_manager import MemcacheManager, lifetime

__all__ = ["MemcacheConnectionManager"]

ID_SHARDS = 64
#: How long (s) a process trusts the shared secret it read before reading it again.
SECRET_REFRESH = 10.0
#: Seconds a state item outlives its connection's timeout, so the cleaner sees it expire.
CLEAN_MARGIN_MS = 60000


class MemcacheConnectionManager(MemcacheManager, ConnectionManager):
    """Connections in memcached (default server 127.0.0.1:11211).

    AmFast's arguments come first, in AmFast's order; the others are best given by name.

    Give every process the same ``secret`` so connection ids verify across
    processes and memcached restarts; without one, a random secret is shared
    through memcached itself (and replaced, like the connections, when
    memcached restarts).
    """

    def __init__(self, connection_class: type = Connection, connection_params: dict | None = None,
                 mc_servers: Iterable[str] | None = None, mc_debug: int = 0,
                 key_prefix: str = "amfast", socket_timeout: float = 1.0,
                 dead_retry: float = 1.0, secret: bytes | str | None = None):
        ConnectionManager.__init__(self, connection_class, connection_params, secret)
        self._init_memcache(mc_servers, mc_debug, key_prefix, socket_timeout, dead_retry)
        self._shared_secret = secret is None
        self._secret_read = 0.0

    def getSecret(self) -> bytes:
        if self._shared_secret and time.monotonic() - self._secret_read > SECRET_REFRESH:
            key = self.mc_key("secret")
            self.mc_add(key, os.urandom(32).hex())
            shared = self.mc_get(key)
            if shared is None:
                raise StoreUnavailableError("the shared id secret vanished from memcached")
            self._secret = bytes.fromhex(shared)
            self._secret_read = time.monotonic()
        return ConnectionManager.getSecret(self)

    def _state_key(self, connection_id: str) -> str:
        return self.mc_key("conn", connection_id)

    def _registry_key(self, connection_id: str) -> str:
        return self.mc_shard("ids", "", connection_id, ID_SHARDS)

    def _count_key(self, channel_name: str) -> str:
        return self.mc_key("count", channel_name)

    @staticmethod
    def _lifetime(state: dict) -> int:
        return lifetime(state["timeout"] + CLEAN_MARGIN_MS)

    def loadState(self, connection_id: str) -> dict | None:
        return self.mc_get(self._state_key(connection_id))

    def insertState(self, connection_id: str, state: dict) -> bool:
        if not self.mc_add(self._state_key(connection_id), state, self._lifetime(state)):
            return False
        channel = state["channel_name"]
        self.mc_update(self._registry_key(connection_id),
                       lambda ids: {**ids, connection_id: channel}, default={})
        self.mc_incr(self._count_key(channel))
        return True

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        def apply(state: dict) -> dict:
            state = dict(state)
            change(state)
            return state
        if self.mc_update(self._state_key(connection_id), apply, self._lifetime) is None:
            raise NotConnectedError(f"Connection '{connection_id}' is not connected.")

    def deleteState(self, connection_id: str) -> None:
        """Forget a connection, and count it out of its channel once, even when memcached
        already dropped its state."""
        self.mc_delete(self._state_key(connection_id))
        registered = {}

        def unregister(ids: dict) -> dict:
            registered.clear()
            if connection_id in ids:
                registered[connection_id] = ids[connection_id]
            return {i: c for i, c in ids.items() if i != connection_id}
        self.mc_update(self._registry_key(connection_id), unregister)
        if connection_id in registered:
            self.mc_decr(self._count_key(registered[connection_id]))

    def _registry(self) -> dict:
        shards = self.mc_get_multi(self.mc_shards("ids", "", ID_SHARDS))
        return {i: c for members in shards.values() for i, c in members.items()}

    def iterConnectionIds(self) -> Iterator[str]:
        return iter(list(self._registry()))

    def iterExpired(self, now: float | None = None) -> Iterator[Connection]:
        """Expired connections, and those whose state memcached has already dropped."""
        now = self.now() if now is None else now
        for connection_id, channel in self._registry().items():
            state = self.loadState(connection_id)
            if state is None:
                yield self.connection_class(self, channel, connection_id)
            elif self.isExpired(state, now):
                yield self.connection_class(self, state["channel_name"], connection_id,
                                            state["timeout"])

    def getConnectionCount(self, channel_name: str) -> int:
        """Connections of a channel (items memcached dropped count until the cleaner runs)."""
        return int(self.mc_get(self._count_key(channel_name)) or 0)

    def reset(self) -> None:
        for connection_id in list(self.iterConnectionIds()):
            self.deleteState(connection_id)
        self.notifier.clear()
