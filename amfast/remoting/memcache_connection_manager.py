"""Connection state in memcached, shared by every process and host that uses it.

Each connection's state is one item (``<prefix>:conn:<hash>``) changed with
``cas``, living as long as the connection's timeout after its last touch; a
registry of ids, split in shards, lets the cleaner find connections whose
items memcached already dropped, so their subscriptions go too.  Notify
functions stay in the process that set them; waiters in other processes
re-check every ``poll_interval``.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Iterable, Iterator

from amfast.remoting.connection import Connection
from amfast.remoting.connection_manager import ConnectionManager
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.memcache_manager import MemcacheManager

__all__ = ["MemcacheConnectionManager"]

ID_SHARDS = 64


class MemcacheConnectionManager(MemcacheManager, ConnectionManager):
    """Connections in memcached (default server 127.0.0.1:11211).

    Give every process the same ``secret`` so connection ids verify across
    processes and memcached restarts; without one, a random secret is shared
    through memcached itself (and lost, with the connections, when it restarts).
    """

    def __init__(self, connection_class: type = Connection, connection_params: dict | None = None,
                 mc_servers: Iterable[str] | None = None, mc_debug: int = 0,
                 key_prefix: str = "amfast", socket_timeout: float = 1.0,
                 dead_retry: float = 1.0, secret: bytes | str | None = None):
        ConnectionManager.__init__(self, connection_class, connection_params, secret)
        self._init_memcache(mc_servers, mc_debug, key_prefix, socket_timeout, dead_retry)

    def getSecret(self) -> bytes:
        if self._secret is None:
            key = self.mc_key("secret")
            self.mc_add(key, os.urandom(32).hex())
            shared = self.mc_get(key)
            if shared is None:
                raise StoreUnavailableError("the shared id secret vanished from memcached")
            self._secret = bytes.fromhex(shared)
        return self._secret

    def _state_key(self, connection_id: str) -> str:
        return self.mc_key("conn", connection_id)

    def _shard_key(self, connection_id: str) -> str:
        return self.mc_key("ids", hash_shard(connection_id))

    def _count_key(self, channel_name: str) -> str:
        return self.mc_key("count", channel_name)

    @staticmethod
    def _lifetime(state: dict) -> int:
        """Seconds memcached keeps the item: the idle timeout, plus a margin for the cleaner."""
        return int(math.ceil(state["timeout"] / 1000)) + 60

    def loadState(self, connection_id: str) -> dict | None:
        return self.mc_get(self._state_key(connection_id))

    def insertState(self, connection_id: str, state: dict) -> bool:
        if not self.mc_add(self._state_key(connection_id), state, self._lifetime(state)):
            return False
        self.mc_set_add(self._shard_key(connection_id), connection_id)
        self.mc_incr(self._count_key(state["channel_name"]))
        return True

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        def apply(state: dict) -> dict:
            state = dict(state)
            change(state)
            return state
        if self.mc_update(self._state_key(connection_id), apply, self._lifetime) is None:
            raise NotConnectedError(f"Connection '{connection_id}' is not connected.")

    def deleteState(self, connection_id: str) -> None:
        state = self.mc_get(self._state_key(connection_id))
        self.mc_delete(self._state_key(connection_id))
        self.mc_set_discard(self._shard_key(connection_id), connection_id)
        if state is not None:
            self.mc_decr(self._count_key(state["channel_name"]))

    def iterConnectionIds(self) -> Iterator[str]:
        shards = self.mc_get_multi([self.mc_key("ids", n) for n in range(ID_SHARDS)])
        return iter([cid for members in shards.values() for cid in members])

    def iterExpired(self, now: float | None = None) -> Iterator[Connection]:
        """Expired connections, and those whose state memcached has already dropped."""
        now = self.now() if now is None else now
        for connection_id in list(self.iterConnectionIds()):
            state = self.loadState(connection_id)
            if state is None:
                yield self.connection_class(self, "", connection_id)
            elif self.isExpired(state, now):
                yield self.connection_class(self, state["channel_name"], connection_id,
                                            state["timeout"])

    def getConnectionCount(self, channel_name: str) -> int:
        """Connections of a channel (approximate: items memcached evicts are counted until
        the cleaner removes them)."""
        return int(self.mc_get(self._count_key(channel_name)) or 0)

    def reset(self) -> None:
        for connection_id in list(self.iterConnectionIds()):
            self.deleteState(connection_id)
        self._notify_funcs.clear()


def hash_shard(connection_id: str) -> int:
    """A stable shard number (Python's hash() differs between processes)."""
    return sum(connection_id.encode("utf-8")) % ID_SHARDS
