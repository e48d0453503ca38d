"""Connection state in Redis, shared by every process and host that uses it.

Each connection is a hash (``<prefix>:{c:<id>}``), one field per state field
(pickled) and a version number; it expires its connection's timeout after its
last touch, plus a margin so the cleaner sees it expire.  Fields are set by a
Lua script that fails when the connection is gone; a change computed in Python
(a session attribute) is written only if the version is still the one read, and
tried again otherwise.  While the listener of this process hears every change
(``redis_manager.LocalView``), the fields read at every wake-up of a stream
(connected, login, small messages) are remembered for up to a second: a change of
them through any process tells every process to forget them.  An index (``<prefix>:{index}:ids``, id -> channel) and
per-channel counts, changed together by one script, let the cleaner find
connections whose hash Redis already dropped, so their subscriptions go too.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterator

from amfast.remoting.connection import Connection
from amfast.remoting.connection_manager import ConnectionManager
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.redis_manager import (CACHED_FIELDS, RedisManager, dumps, loads,
                                           origin_of)

__all__ = ["RedisConnectionManager"]

#: Milliseconds a state hash outlives its connection's timeout, so the cleaner sees it expire.
CLEAN_MARGIN_MS = 60000
#: How often a contended read-modify-write is tried before giving up.
CAS_ATTEMPTS = 50
CACHED_FIELDS_SET = frozenset(CACHED_FIELDS)
#: How long (s) a process trusts the shared secret it read before reading it again.
SECRET_REFRESH = 10.0
#: How many connections the cleaner reads per round trip.
BATCH = 500

# The state hash's own fields, plain numbers: its version ``_v``, ``_ttl``, its lifetime
# in ms (the expiry each write restarts), and ``_at``, ``last_active`` in ms.
VERSION = "_v"

# KEYS: state; ARGV: field, value, ... -> 1, or 0 when the connection is gone.
SET_FIELDS = """
local lifetime = redis.call('HGET', KEYS[1], '_ttl')
if not lifetime then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('HINCRBY', KEYS[1], '_v', 1)
redis.call('PEXPIRE', KEYS[1], lifetime)
return 1
"""

# KEYS: state; ARGV: now (ms), now (pickled), CLEAN_MARGIN_MS -> nil when the connection is
# gone; else {1 if it was live and is touched now, 0 if it has expired; its fields}.
TOUCH = """
local at = redis.call('HGET', KEYS[1], '_at')
if not at then return nil end
local lifetime = redis.call('HGET', KEYS[1], '_ttl')
if tonumber(at) + tonumber(lifetime) - tonumber(ARGV[3]) < tonumber(ARGV[1]) then
  return {0, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'last_active', ARGV[2], '_at', ARGV[1])
redis.call('HINCRBY', KEYS[1], '_v', 1)
redis.call('PEXPIRE', KEYS[1], lifetime)
return {1, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: state; ARGV: version read, number of fields to set n, n field/value pairs, fields
# to delete -> 1; 0 when the version changed meanwhile; -1 when the connection is gone.
WRITE_IF_VERSION = """
local version = redis.call('HGET', KEYS[1], '_v')
if not version then return -1 end
if version ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
if #ARGV > 2 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * n)) end
redis.call('HINCRBY', KEYS[1], '_v', 1)
redis.call('PEXPIRE', KEYS[1], redis.call('HGET', KEYS[1], '_ttl'))
return 1
"""

# KEYS: state; ARGV: lifetime ms, field, value, ... -> 1, or 0 when the id exists.
INSERT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], '_v', 1, '_ttl', ARGV[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: ids, counts; ARGV: id, channel.
REGISTER = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
"""

# KEYS: ids, counts; ARGV: id.  Counts a connection out of its channel once.
UNREGISTER = """
local channel = redis.call('HGET', KEYS[1], ARGV[1])
if channel then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HINCRBY', KEYS[2], channel, -1) <= 0 then redis.call('HDEL', KEYS[2], channel) end
end
"""


class RedisConnectionManager(RedisManager, ConnectionManager):
    """Connections in Redis (default ``redis://127.0.0.1:6379/0``); every argument but
    AmFast's first two by name.

    Give every process the same ``secret`` so connection ids verify across processes
    and Redis restarts; without one, a random secret is shared through Redis itself (and
    replaced, like the connections, when Redis loses its data).
    """

    def __init__(self, connection_class: type = Connection,
                 connection_params: dict | None = None, *, url: str | None = None,
                 client: Any = None, key_prefix: str = "amfast",
                 socket_timeout: float = 1.0, secret: bytes | str | None = None):
        ConnectionManager.__init__(self, connection_class, connection_params, secret)
        self._init_redis(url, client, key_prefix, socket_timeout)
        self._shared_secret = secret is None
        self._secret_read = 0.0
        self._set_fields = self.script(SET_FIELDS)
        self._write_if_version = self.script(WRITE_IF_VERSION)
        self._insert = self.script(INSERT)
        self._touch = self.script(TOUCH)
        self._register = self.script(REGISTER)
        self._unregister = self.script(UNREGISTER)

    def getSecret(self) -> bytes:
        if self._shared_secret and time.monotonic() - self._secret_read > SECRET_REFRESH:
            key = self.index_key("secret")
            with self.unavailable():
                self.redis.set(key, os.urandom(32).hex(), nx=True)
                shared = self.redis.get(key)
            if shared is None:
                raise StoreUnavailableError("the shared id secret vanished from Redis")
            self._secret = bytes.fromhex(shared.decode("ascii"))
            self._secret_read = time.monotonic()
        return ConnectionManager.getSecret(self)

    @staticmethod
    def _lifetime(timeout: Any) -> int:
        return int(timeout or Connection.DEFAULT_TIMEOUT) + CLEAN_MARGIN_MS

    @staticmethod
    def _pairs(fields: dict) -> list:
        pairs = [item for name, value in fields.items() for item in (name, dumps(value))]
        if "last_active" in fields:
            pairs += ["_at", int(fields["last_active"])]
        return pairs

    def _index(self) -> list:
        return [self.index_key("ids"), self.index_key("counts")]

    # -- storage ----------------------------------------------------------------------

    def loadState(self, connection_id: str) -> dict | None:
        with self.unavailable():
            raw = self.redis.hgetall(self.connection_key(connection_id))
        if not raw:
            return None
        return self._decode(raw)

    @staticmethod
    def _decode(raw: dict) -> dict:
        """The state fields of a state hash (without its own ``_`` fields)."""
        return {name.decode(): loads(value) for name, value in raw.items()
                if not name.startswith(b"_")}

    def getField(self, connection_id: str, name: str) -> Any:
        if name not in CACHED_FIELDS:
            with self.unavailable():
                return loads(self.redis.hget(self.connection_key(connection_id), name))
        fields = self.view.state(connection_id)
        if fields is None:
            mark = self.view.mark()
            with self.unavailable():
                found = self.redis.hmget(self.connection_key(connection_id), CACHED_FIELDS)
            fields = self.remember_fields(mark, connection_id, found)
            if fields is None:
                return None
        return fields[name]

    def _changed(self, connection_id: str, names: Any) -> None:
        """Fields of a connection were written: when other processes may remember them, they
        are told to forget them."""
        if not CACHED_FIELDS_SET.isdisjoint(names):
            self.view.state_changed([connection_id])
            self.publish_state_change(origin_of(self.notifier), [connection_id])

    def getConnection(self, connection_id: str | None, touch: bool = True) -> Connection:
        """The live connection with this id, touched (one round trip); NotConnectedError
        when unknown or expired."""
        if connection_id is None or not touch:
            return ConnectionManager.getConnection(self, connection_id, touch)
        mark = self.view.mark()
        live, raw = self._touched(connection_id)
        state = self._decode(dict(zip(raw[::2], raw[1::2])))
        if not live:
            raise NotConnectedError(f"Connection '{connection_id}' has expired.")
        # The request reads some of them next (the small-messages flag, the login): no
        # round trip for those.
        self.view.remember_state(mark, connection_id,
                                 {name: state.get(name) for name in CACHED_FIELDS})
        return self.connection_class(self, state["channel_name"], connection_id,
                                     state["timeout"])

    def touchConnection(self, connection_id: str) -> None:
        """Mark the connection active now, unless it has expired."""
        self._touched(connection_id)

    def _touched(self, connection_id: str) -> tuple:
        """Touch the connection if it is live: (whether it was, its state hash's fields)."""
        now = self.now()
        found = self.run(self._touch, [self.connection_key(connection_id)],
                         [int(now), dumps(now), CLEAN_MARGIN_MS])
        if found is None:
            raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
        return found

    def insertState(self, connection_id: str, state: dict) -> bool:
        key = self.connection_key(connection_id)
        self.view.state_changed([connection_id])
        if not self.run(self._insert, [key],
                        [self._lifetime(state.get("timeout")), *self._pairs(state)]):
            return False
        self.run(self._register, self._index(), [connection_id, state["channel_name"]])
        return True

    def setFields(self, connection_id: str, **fields: Any) -> None:
        """Set fields without reading the state (one round trip); the expiry restarts."""
        if not self.run(self._set_fields, [self.connection_key(connection_id)],
                        self._pairs(fields)):
            raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
        self._changed(connection_id, fields)

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        key = self.connection_key(connection_id)
        for _ in range(CAS_ATTEMPTS):
            with self.unavailable():
                raw = self.redis.hgetall(key)
            if not raw:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            version = raw[VERSION.encode()]
            before = self._decode(raw)
            state = dict(before)
            change(state)
            changed = {name: value for name, value in state.items()
                       if name not in before or before[name] != value}
            removed = [name for name in before if name not in state]
            written = self.run(self._write_if_version, [key], [
                version, len(changed), *self._pairs(changed), *removed])
            if written == -1:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            if written:
                self._changed(connection_id, set(changed) | set(removed))
                return
        raise StoreUnavailableError(f"connection {connection_id} is updated too often to "
                                    f"change it")

    def deleteState(self, connection_id: str) -> None:
        self.view.state_changed([connection_id])
        with self.unavailable():
            self.redis.delete(self.connection_key(connection_id))
        self.run(self._unregister, self._index(), [connection_id])

    def deleteConnection(self, connection: Connection) -> None:
        """Forget a connection; its waiters in every process wake (and find it gone)."""
        ConnectionManager.deleteConnection(self, connection)
        self._changed(connection.id, CACHED_FIELDS)

    def _registry(self) -> dict:
        with self.unavailable():
            return {i.decode(): c.decode()
                    for i, c in self.redis.hgetall(self.index_key("ids")).items()}

    def iterConnectionIds(self) -> Iterator[str]:
        return iter(list(self._registry()))

    def iterExpired(self, now: float | None = None) -> Iterator[Connection]:
        """Expired connections, and those whose state Redis has already dropped."""
        now = self.now() if now is None else now
        registry = list(self._registry().items())
        for start in range(0, len(registry), BATCH):
            batch = registry[start:start + BATCH]
            with self.unavailable():
                pipe = self.redis.pipeline(transaction=False)
                for connection_id, _ in batch:
                    pipe.hmget(self.connection_key(connection_id), "last_active", "timeout")
                found = pipe.execute()
            for (connection_id, channel), (last_active, timeout) in zip(batch, found):
                if last_active is None:
                    yield self.connection_class(self, channel, connection_id)
                    continue
                state = {"last_active": loads(last_active), "timeout": loads(timeout)}
                if self.isExpired(state, now):
                    yield self.connection_class(self, channel, connection_id, state["timeout"])

    def getConnectionCount(self, channel_name: str) -> int:
        """Connections of a channel (states Redis dropped count until the cleaner runs)."""
        with self.unavailable():
            return int(self.redis.hget(self.index_key("counts"), channel_name) or 0)

    def reset(self) -> None:
        for connection_id in list(self.iterConnectionIds()):
            self.deleteState(connection_id)
        self.notifier.clear()
