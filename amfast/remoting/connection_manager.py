"""Where connection state lives: the interface, and the in-memory manager."""
from __future__ import annotations

import copy
import hashlib
import hmac
import os
import threading
import secrets
import time
from typing import Any, Callable, Iterator

from amfast.remoting.connection import Connection
from amfast.remoting.errors import ConnectionError, NotConnectedError, SessionAttrError
from amfast.remoting.notifier import Notifier

__all__ = ["ConnectionManager", "MemoryConnectionManager", "NotConnectedError",
           "SessionAttrError", "ConnectionError"]

#: The fields of a connection's state, with their initial values.
INITIAL_STATE = {
    "connected": True,
    "last_active": 0.0,
    "last_polled": 0.0,
    "authenticated": False,
    "flex_user": None,
    "small_messages": False,
    "session": None,
}


class ConnectionManager:
    """Creates, finds and expires connections; subclasses store their state.

    Connection ids are 128 random bits signed with ``secret`` (HMAC-
    SHA256, 128 bits), so an id presented by a client can be told apart from a
    forged one even when its state is gone.  Without a ``secret``, a random one
    is made: ids then verify only in this manager's lifetime.

    A subclass implements ``loadState``, ``insertState``, ``updateState``,
    ``deleteState``, ``iterConnectionIds``, ``getConnectionCount`` and
    ``reset``.  ``notifier`` wakes this process's requests waiting for a
    connection's messages (AmFast's notify functions are kept there too).
    """

    #: Whether calls may wait on the network (an event loop then makes them in a thread).
    blocking = True

    def __init__(self, connection_class: type = Connection, connection_params: dict | None = None,
                 secret: bytes | str | None = None):
        self.connection_class = connection_class
        self.connection_params = dict(connection_params or {})
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.notifier = Notifier()

    @staticmethod
    def now() -> float:
        """The time in milliseconds."""
        return time.time() * 1000

    def getSecret(self) -> bytes:
        """The key that signs connection ids."""
        if self._secret is None:
            self._secret = os.urandom(32)
        return self._secret

    def _signature(self, token: str) -> str:
        return hmac.new(self.getSecret(), token.encode("ascii"), hashlib.sha256).hexdigest()[:32]

    def generateId(self) -> str:
        """A new signed connection id: ``<128 random bits>.<signature>``."""
        token = secrets.token_urlsafe(16)
        return f"{token}.{self._signature(token)}"

    def verifyId(self, connection_id: str) -> bool:
        """Whether this server (this secret) issued ``connection_id``."""
        token, _, signature = str(connection_id).rpartition(".")
        if not token or not token.isascii():
            return False
        return hmac.compare_digest(signature, self._signature(token))

    # -- connections --------------------------------------------------------

    def createConnection(self, channel: Any, connection_id: str | None = None) -> Connection:
        """A new connection on ``channel`` (ChannelError if the id is taken)."""
        if connection_id is None:
            connection_id = self.generateId()
        connection = self.connection_class(self, channel.name, connection_id,
                                           **self.connection_params)
        state = dict(INITIAL_STATE, channel_name=channel.name, timeout=connection.timeout,
                     last_active=self.now(), session={})
        if not self.insertState(connection_id, state):
            raise ConnectionError(f"Connection '{connection_id}' already exists.")
        return connection

    def getConnection(self, connection_id: str | None, touch: bool = True) -> Connection:
        """The live connection with this id; NotConnectedError when unknown or expired."""
        if connection_id is None:
            raise NotConnectedError("No connection id.")
        state = self.loadState(connection_id)
        if state is None:
            raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
        connection = self.connection_class(self, state["channel_name"], connection_id,
                                           state["timeout"])
        if self.isExpired(state):
            raise NotConnectedError(f"Connection '{connection_id}' has expired.")
        if touch:
            self.touchConnection(connection_id)
        return connection

    def getExpiredConnection(self, connection_id: str) -> Connection | None:
        """The connection with this id if it exists but has expired (to clean it up)."""
        state = self.loadState(connection_id)
        if state is None or not self.isExpired(state):
            return None
        return self.connection_class(self, state["channel_name"], connection_id,
                                     state["timeout"])

    def isExpired(self, state: dict, now: float | None = None) -> bool:
        return state["last_active"] + state["timeout"] < (self.now() if now is None else now)

    def iterExpired(self, now: float | None = None) -> Iterator[Connection]:
        """Connections whose idle time is over (for the cleaner)."""
        now = self.now() if now is None else now
        for connection_id in list(self.iterConnectionIds()):
            state = self.loadState(connection_id)
            if state is not None and self.isExpired(state, now):
                yield self.connection_class(self, state["channel_name"], connection_id,
                                            state["timeout"])

    def deleteConnection(self, connection: Connection) -> None:
        """Forget a connection; its waiters wake (and find it gone), its notify function
        is called once and forgotten."""
        self.deleteState(connection.id)
        self.notifier.notify(connection.id)
        self.notifier.unSetNotifyFunc(connection.id)

    # -- fields ---------------------------------------------------------------

    def getField(self, connection_id: str, name: str) -> Any:
        state = self.loadState(connection_id)
        return None if state is None else state.get(name)

    def setFields(self, connection_id: str, **fields: Any) -> None:
        self.updateState(connection_id, lambda state: state.update(fields))

    def touchConnection(self, connection_id: str) -> None:
        self.setFields(connection_id, last_active=self.now())

    def updateSession(self, connection_id: str, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the session dict atomically."""
        def apply(state: dict) -> None:
            session = dict(state.get("session") or {})
            change(session)
            state["session"] = session
        self.updateState(connection_id, apply)

    # -- AmFast's notify functions (this process only) -----------------------------

    def setNotifyFunc(self, connection_id: str, func: Callable) -> None:
        self.notifier.setNotifyFunc(connection_id, func)

    def unSetNotifyFunc(self, connection_id: str) -> None:
        self.notifier.unSetNotifyFunc(connection_id)

    def getNotifyFunc(self, connection_id: str) -> Callable | None:
        return self.notifier.getNotifyFunc(connection_id)

    # -- storage, implemented by subclasses ----------------------------------------

    def loadState(self, connection_id: str) -> dict | None:
        """A copy of the connection's state, or None."""
        raise NotImplementedError

    def insertState(self, connection_id: str, state: dict) -> bool:
        """Store a new connection's state; False when the id exists."""
        raise NotImplementedError

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the stored state atomically (NotConnectedError if missing)."""
        raise NotImplementedError

    def deleteState(self, connection_id: str) -> None:
        raise NotImplementedError

    def iterConnectionIds(self) -> Iterator[str]:
        raise NotImplementedError

    def getConnectionCount(self, channel_name: str) -> int:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every connection."""
        raise NotImplementedError


class MemoryConnectionManager(ConnectionManager):
    """Connections held in this process (the default): thread-safe, not shared."""

    blocking = False

    def __init__(self, connection_class: type = Connection, connection_params: dict | None = None,
                 secret: bytes | str | None = None):
        ConnectionManager.__init__(self, connection_class, connection_params, secret)
        self._lock = threading.Lock()
        self._states: dict[str, dict] = {}
        self._counts: dict[str, int] = {}

    def loadState(self, connection_id: str) -> dict | None:
        with self._lock:
            state = self._states.get(connection_id)
            return None if state is None else copy.copy(state)

    def getField(self, connection_id: str, name: str) -> Any:
        # No lock: a field is read by single dict lookups, each atomic; an open stream
        # reads one for every delivery.
        state = self._states.get(connection_id)
        return None if state is None else state.get(name)

    def insertState(self, connection_id: str, state: dict) -> bool:
        with self._lock:
            if connection_id in self._states:
                return False
            self._states[connection_id] = state
            channel = state["channel_name"]
            self._counts[channel] = self._counts.get(channel, 0) + 1
            return True

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        with self._lock:
            state = self._states.get(connection_id)
            if state is None:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            change(state)

    def deleteState(self, connection_id: str) -> None:
        with self._lock:
            state = self._states.pop(connection_id, None)
            if state is not None:
                self._counts[state["channel_name"]] -= 1

    def iterConnectionIds(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._states))

    def getConnectionCount(self, channel_name: str) -> int:
        with self._lock:
            return self._counts.get(channel_name, 0)

    def reset(self) -> None:
        with self._lock:
            self._states.clear()
            self._counts.clear()
        self.notifier.clear()
