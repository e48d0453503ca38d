"""AMF remoting packets: a ``Packet`` holds ``Header``s and ``Message``s.

Data only.  The dispatch core (``amfast.remoting.dispatch``) answers a packet;
``Packet.invoke`` and ``Message.invoke`` are AmFast's entry points to it, kept as
shims that go through the packet's channel.
"""
from __future__ import annotations

import traceback
from typing import Any

from amfast.class_def.as_types import AsError
from amfast.decoder import is_request_target
from amfast.remoting.flex_messages import AbstractMessage


class Header:
    """A packet header: a named AMF value, which the receiver must understand if ``required``."""

    def __init__(self, name: str, required: bool = False, value: Any = None):
        self.name = name
        self.required = required
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Header) and (self.name, self.required, self.value) == (
            other.name, other.required, other.value)

    def __repr__(self) -> str:
        return f"Header({self.name!r}, required={self.required!r}, value={self.value!r})"


class Message:
    """A packet body: a call (``target`` 'Service.method', ``response`` '/n') or a reply."""

    SUCCESS_TARGET = "/onResult"
    FAILED_TARGET = "/onStatus"
    DEBUG_TARGET = "/onDebugEvents"

    def __init__(self, target: str | None = None, response: str | None = None, body: Any = None):
        self.target = target
        self.response = response
        self.body = body

    @staticmethod
    def isRequestTarget(target: str | None) -> bool:
        """A call's target (``Service.method``, ``null``), not a reply's (``/n/onResult``)."""
        return is_request_target(target)

    @property
    def is_request(self) -> bool:
        return is_request_target(self.target)

    @property
    def is_flex_msg(self) -> bool:
        """A Flex message call: target ``null`` and a Flex message as the only argument."""
        body = self.body
        return (self.target == "null" and isinstance(body, (list, tuple)) and len(body) == 1
                and isinstance(body[0], AbstractMessage))

    def result(self, body: Any) -> "Message":
        """The successful reply to this call, carrying ``body``."""
        return Message(f"{self.response}{self.SUCCESS_TARGET}", "", body)

    def failure(self, body: Any) -> "Message":
        """The failed reply to this call, carrying ``body`` (an AS Error or ErrorMessage)."""
        return Message(f"{self.response}{self.FAILED_TARGET}", "", body)

    def fault(self, exc: BaseException, debug: bool = False) -> "Message":
        """The fault reply reporting ``exc``: an ErrorMessage for Flex calls, an AS Error
        object otherwise; tracebacks only with ``debug``."""
        if self.is_flex_msg:
            return self.failure(self.body[0].fail(None, self, exc, debug))
        body = AsError(exc=exc)
        if debug:
            body.message = "".join(traceback.format_exception(exc))
        return self.failure(body)

    def invoke(self, packet: "Packet") -> "Message":
        """AmFast's entry point: the reply to this call, dispatched on ``packet.channel``."""
        return packet.channel.invokeMessage(packet, self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.target, self.response, self.body) == (
            other.target, other.response, other.body)

    def __repr__(self) -> str:
        return f"Message(target={self.target!r}, response={self.response!r}, body={self.body!r})"


class Packet:
    """An AMF remoting packet; ``client_type`` is the version field (0, 1 or 3).

    While a request is dispatched, ``channel`` is the channel it came in on,
    ``context`` the dispatch core's ``RequestContext`` (``context.request`` is the
    transport's own request object) and ``_authenticated`` is True once the
    packet's ``Credentials`` header was accepted (AmFast's attribute).
    """

    FLASH_8 = 0
    FLASH_COM = 1
    FLASH_9 = 3

    #: The channel that received the packet.
    channel: Any = None
    #: The dispatch core's RequestContext.
    context: Any = None
    #: Set when the packet's Credentials header was accepted.
    _authenticated = False

    def __init__(self, client_type: int | None = None, headers: list | None = None,
                 messages: list | None = None):
        self.client_type = self.FLASH_8 if client_type is None else client_type
        self.headers = [] if headers is None else headers
        self.messages = [] if messages is None else messages

    @classmethod
    def fromParts(cls, client_type: int, headers: list, messages: list) -> "Packet":
        """A packet from the fields the codec reads (``amfast.decoder.read_packet``)."""
        return cls(client_type, [Header(*h) for h in headers], [Message(*m) for m in messages])

    @property
    def is_amf3(self) -> bool:
        return self.client_type == self.FLASH_9

    @property
    def authenticated(self) -> bool:
        return self._authenticated

    @authenticated.setter
    def authenticated(self, value: bool) -> None:
        self._authenticated = value

    def invoke(self) -> "Packet":
        """AmFast's entry point: the reply packet, dispatched on ``self.channel``."""
        return self.channel.invoke(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packet) and (self.client_type, self.headers, self.messages) == (
            other.client_type, other.headers, other.messages)

    def __repr__(self) -> str:
        return (f"Packet(client_type={self.client_type!r}, headers={self.headers!r}, "
                f"messages={self.messages!r})")
