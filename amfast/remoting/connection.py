"""A Flex client's connection (its ``DSId``): state, login and session attributes.

A ``Connection`` is a handle; its state lives in a connection manager, so that
several processes can share it (see ``memcache_connection_manager``).
"""
from __future__ import annotations

from typing import Any, Callable

from amfast.remoting.errors import ConnectionError, SessionAttrError

__all__ = ["Connection", "ConnectionError", "SessionAttrError"]


class Connection:
    """One Flex client of one channel; ``timeout`` is its idle lifetime in milliseconds."""

    DEFAULT_TIMEOUT = 1800000

    def __init__(self, manager: Any, channel_name: str, id: str,
                 timeout: int = DEFAULT_TIMEOUT):
        self.manager = manager
        self.channel_name = channel_name
        self.id = id
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Connection({self.id!r}, channel={self.channel_name!r})"

    def _field(self, name: str) -> Any:
        return self.manager.getField(self.id, name)

    @property
    def connected(self) -> bool:
        return bool(self._field("connected"))

    @property
    def last_active(self) -> float:
        return self._field("last_active") or 0

    @property
    def last_polled(self) -> float:
        return self._field("last_polled") or 0

    @property
    def authenticated(self) -> bool:
        return bool(self._field("authenticated"))

    @property
    def flex_user(self) -> str | None:
        return self._field("flex_user")

    @property
    def small_messages(self) -> bool:
        """The client negotiated small messages (``DSMessagingVersion`` >= 1)."""
        return bool(self._field("small_messages"))

    @property
    def notify_func(self) -> Callable | None:
        return self.manager.getNotifyFunc(self.id)

    def touch(self) -> None:
        """Mark the connection active now (it expires ``timeout`` ms after the last touch)."""
        self.manager.touchConnection(self.id)

    def touchPolled(self) -> None:
        self.manager.setFields(self.id, last_polled=self.manager.now())

    def connect(self) -> None:
        self.manager.setFields(self.id, connected=True)

    def disconnect(self) -> None:
        self.manager.setFields(self.id, connected=False)

    def delete(self) -> None:
        self.manager.deleteConnection(self)

    def authenticate(self, user: str) -> None:
        self.manager.setFields(self.id, authenticated=True, flex_user=user)

    def unAuthenticate(self) -> None:
        self.manager.setFields(self.id, authenticated=False, flex_user=None)

    def clearSession(self) -> None:
        """Forget every session attribute."""
        self.manager.setFields(self.id, session={})

    def useSmallMessages(self) -> None:
        self.manager.setFields(self.id, small_messages=True)

    def setNotifyFunc(self, func: Callable) -> None:
        """Called (in this process) when messages may be waiting for this connection."""
        self.manager.setNotifyFunc(self.id, func)

    def unSetNotifyFunc(self) -> None:
        self.manager.unSetNotifyFunc(self.id)

    def getSessionAttr(self, name: str) -> Any:
        session = self._field("session") or {}
        try:
            return session[name]
        except KeyError:
            raise SessionAttrError(f"Session attribute '{name}' does not exist.") from None

    def setSessionAttr(self, name: str, val: Any) -> None:
        self.manager.updateSession(self.id, lambda session: session.__setitem__(name, val))

    def delSessionAttr(self, name: str) -> None:
        def delete(session: dict) -> None:
            if name not in session:
                raise SessionAttrError(f"Session attribute '{name}' does not exist.")
            del session[name]
        self.manager.updateSession(self.id, delete)

    def personalizeMessage(self, client_id: str, msg: Any) -> Any:
        """A copy of ``msg`` addressed to the subscriber ``client_id`` of this connection."""
        return msg.personalize(client_id, self.small_messages)
